import math
import re

import numpy as np
import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError
from breathing_lib.checks import CheckFailed, Checks, rounding
from breathing_lib.inference import Prediction
from breathing_lib.metrics import shoelace_area
from breathing_lib.models import AnalyticField
from breathing_lib.problem import time_grid
from breathing_lib.solve import integrate
from breathing_lib.studies.solvers import (
    ORDERS,
    area_polynomial,
    cheapest_within,
    convergence_order,
    euler_growth,
    euler_motion,
    euler_scan,
    findings,
    first_fold,
    fold_free_step,
    folded,
    inference_errors,
    max_strain_rate,
    measured_orders,
    model_sweep,
    one_step_fold_steps,
    refine,
    secant_area_growth,
    secant_field,
    solver_summary,
    steepest,
    step_grid,
    sweep_table,
    target_distances,
    verdicts,
    work_precision,
)

PROBLEMS = [BreathingEllipse(2.0, 1.0), BreathingEllipse(3.0, 0.8)]


def _setup(problem, num_points=16):
    t = time_grid(1.5, 32).double()
    x0 = problem.sample(t[:1], num_points)[0]
    return t, x0, problem.flow(x0, t)


def test_refine_keeps_the_output_times_and_splits_evenly():
    t = torch.tensor([0.0, 0.5, 1.5], dtype=torch.float64)
    fine = refine(t, 4)
    assert len(fine) == 9
    torch.testing.assert_close(fine[::4], t)
    torch.testing.assert_close(fine.diff()[:4], torch.full((4,), 0.125, dtype=torch.float64))
    torch.testing.assert_close(fine.diff()[4:], torch.full((4,), 0.25, dtype=torch.float64))
    with pytest.raises(ConfigError, match="substeps"):
        refine(t, 0)


@pytest.mark.parametrize("problem", PROBLEMS, ids=["b2T1", "b3T0.8"])
def test_fixed_step_methods_converge_at_their_textbook_order(problem):
    t, x0, exact = _setup(problem)
    rows = work_precision(AnalyticField(problem), x0, t, {"exact": exact}, methods=tuple(ORDERS), substeps=(2, 4, 8, 16))
    orders = measured_orders(rows, "exact", finest=3)
    # float64, so only truncation error: its next term is O(omega h) relative to the leading one,
    # and omega h <= 0.1 over the fitted steps moves the fitted slope by up to ~0.1
    for method, order in ORDERS.items():
        assert abs(orders[method] - order) < 0.15, orders
    nfe = {r["method"]: r["nfe"] for r in rows if r["step"] == rows[0]["step"]}
    assert nfe == {"euler": 62, "midpoint": 124, "rk4": 248}  # 1, 2, 4 evaluations a step, 62 steps


def test_dopri5_error_falls_and_cost_rises_as_the_tolerance_tightens(problem):
    t, x0, exact = _setup(problem)
    rows = work_precision(AnalyticField(problem), x0, t, {"exact": exact}, methods=("dopri5",),
                          tolerances=(1e-3, 1e-5, 1e-7, 1e-9))
    errors, nfe = [r["max error vs exact"] for r in rows], [r["nfe"] for r in rows]
    assert all(a > 5 * b for a, b in zip(errors, errors[1:])), errors  # 100x tighter tolerance each row
    assert nfe == sorted(nfe) and nfe[0] < nfe[-1]
    assert all(r["step"] is None and r["rtol"] is not None for r in rows)


def test_convergence_order_recovers_a_power_law_and_rejects_bad_input():
    steps = np.array([0.1, 0.05, 0.025])
    assert convergence_order(steps, 3.0 * steps**2.5) == pytest.approx(2.5)
    with pytest.raises(ConfigError):
        convergence_order(steps, [1.0, 0.0, 1.0])
    with pytest.raises(ConfigError):
        convergence_order([0.1], [1.0])


def test_work_precision_checks_the_reference_shape(problem):
    t, x0, exact = _setup(problem)
    with pytest.raises(ConfigError, match="reference"):
        work_precision(AnalyticField(problem), x0, t, {"exact": exact[:-1]})
    with pytest.raises(ConfigError, match="method"):
        work_precision(AnalyticField(problem), x0, t, {"exact": exact}, methods=("leapfrog",))


@pytest.mark.parametrize("beta0, period", [(2.0, 1.0), (3.0, 0.8), (0.4, 2.0), (1.0, 1.0)])
def test_max_strain_rate_is_the_maximum_of_alpha(beta0, period):
    problem = BreathingEllipse(beta0, period)
    t = torch.linspace(0, period, 200001, dtype=torch.float64)
    sampled = problem.alpha(t).abs().max().item()
    # rel: the grid's sampling error; abs: rounding at the rate's scale omega, for beta0 = 1 where both are 0
    assert max_strain_rate(problem) == pytest.approx(sampled, rel=1e-8, abs=rounding(problem.omega))
    assert fold_free_step(problem) == (math.inf if beta0 == 1.0 else pytest.approx(1 / sampled, rel=1e-8))


def test_step_grid_is_the_grid_torchdiffeq_steps_on(problem):
    x0 = problem.sample(torch.zeros(1, dtype=torch.float64), 8)[0]
    field = AnalyticField(problem)
    for step in (0.3, 0.5, 0.07):
        grid = step_grid(1.5, step)
        assert grid[0] == 0 and grid[-1] == 1.5 and torch.all(grid.diff() <= step + rounding(1.5))  # times <= 1.5
        ours = integrate(field, x0, grid, method="euler")
        theirs = integrate(field, x0, grid[[0, -1]], method="euler", step_size=step)
        torch.testing.assert_close(ours.x[-1], theirs.x[-1], rtol=0, atol=rounding(ours.x.abs().max()))
        assert ours.nfe == theirs.nfe == len(grid) - 1
    assert len(step_grid(1.5, 0.5)) == 4  # 0, 0.5, 1, 1.5: no zero-length last step


@pytest.mark.parametrize("problem", PROBLEMS, ids=["b2T1", "b3T0.8"])
def test_euler_area_factor_is_one_minus_h_alpha_squared(problem):
    x0 = problem.sample(torch.zeros(1, dtype=torch.float64), 64)[0]
    grid = step_grid(1.5, 0.11)
    traj = integrate(AnalyticField(problem), x0, grid, method="euler").x
    area = shoelace_area(traj)
    predicted = np.cumprod(1 - euler_growth(problem, grid).numpy() ** 2)
    # each step rounds the curve and the product once
    np.testing.assert_allclose(area[1:] / area[0], predicted, rtol=rounding(len(grid) - 1))
    assert np.all(np.diff(area)[1:] < 0)  # Euler loses area at every step but the first (alpha(0) = 0)


@pytest.mark.parametrize("problem", PROBLEMS, ids=["b2T1", "b3T0.8"])
def test_euler_folds_exactly_where_the_growth_rate_says(problem):
    x0 = problem.sample(torch.zeros(1, dtype=torch.float64), 32)[0]
    safe = fold_free_step(problem)
    steps = np.linspace(0.02, 0.8, 157)
    rows = euler_scan(AnalyticField(problem), problem, x0, 1.5, steps)
    assert [r["folded"] for r in rows] == [r["predicted"] for r in rows]
    assert not any(r["folded"] for r in rows if r["step"] < safe)
    assert any(r["folded"] for r in rows)
    assert first_fold(rows) >= safe
    assert all(r["nfe"] == len(step_grid(1.5, r["step"])) - 1 for r in rows)
    # a fold means a point crossed its axis: the error exceeds the semi-minor axis at t=0
    assert all(r["max error"] > 1 / math.sqrt(problem.beta0 if problem.beta0 > 1 else 1 / problem.beta0)
               for r in rows if r["folded"])
    assert first_fold([r for r in rows if r["step"] < safe]) is None


def test_folded_detects_orientation_reversal_and_collapse():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    assert not folded(np.stack([square, 2 * square]))
    assert folded(np.stack([square, square * [1, -1]]))  # mirrored: inside out
    assert folded(np.stack([square, square * [1, 0]]))  # flattened onto a segment


@pytest.mark.parametrize("problem", PROBLEMS, ids=["b2T1", "b3T0.8"])
def test_secant_field_steps_onto_the_flow_and_matches_its_expansion(problem):
    t = torch.linspace(0, 1.4, 15, dtype=torch.float64)
    curves = problem.sample(t, 24)
    h = 0.05
    landed = curves + h * secant_field(problem, t, curves, h)
    exact = torch.stack([problem.flow(curves[k], t[k : k + 1] + h, t0=float(t[k]))[0] for k in range(len(t))])
    torch.testing.assert_close(landed, exact, rtol=0, atol=rounding(exact.abs().max()))
    # secant - velocity = (h/2)(alpha' D X + alpha^2 X) + O(h^2): the remainder shrinks 4x when h halves
    tt = t.clone().requires_grad_(True)
    alpha_dot = torch.autograd.grad(problem.alpha(tt).sum(), tt)[0][:, None, None]
    alpha = problem.alpha(t)[:, None, None]
    d = curves.new_tensor([1.0, -1.0])
    remainders = []
    for step in (4e-3, 2e-3, 1e-3):
        first_order = (step / 2) * (alpha_dot * d * curves + alpha**2 * curves)
        velocity = problem.velocity(curves, t[:, None])
        remainders.append((secant_field(problem, t, curves, step) - velocity - first_order).norm().item())
    ratios = [a / b for a, b in zip(remainders, remainders[1:])]
    assert all(3.6 < r < 4.4 for r in ratios), ratios
    with pytest.raises(ConfigError, match="step"):
        secant_field(problem, t, curves, 0.0)


class SecantField(torch.nn.Module):
    """The secant field of step h as a field of (t, X): what a perfect Euler-trained network would be."""

    def __init__(self, problem, step):
        super().__init__()
        self.problem, self.step = problem, step

    def forward(self, t, x):
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        stretch = torch.sqrt(self.problem.beta(t + self.step) / self.problem.beta(t))
        return (torch.stack([stretch, 1 / stretch], dim=-1) - 1) * x / self.step


@pytest.mark.parametrize("problem", PROBLEMS, ids=["b2T1", "b3T0.8"])
def test_area_polynomial_and_one_step_fold_of_the_exact_field(problem):
    t = torch.linspace(0, 1.5, 32, dtype=torch.float64)
    curves = problem.sample(t, 40)
    velocity = problem.velocity(curves, t[:, None])
    a0, a1, a2 = area_polynomial(curves, velocity)
    size, speed = curves.abs().max(), velocity.abs().max()
    for h in (0.1, 0.7):  # shoelace sums of products of coordinates, each at most (size + h speed)^2
        np.testing.assert_allclose(a0 + a1 * h + a2 * h**2, shoelace_area(curves + h * velocity), rtol=0,
                                   atol=rounding((size + h * speed) ** 2))
    torch.testing.assert_close(a1, torch.zeros_like(a1), rtol=0, atol=rounding(size * speed))  # divergence-free
    torch.testing.assert_close(a2, -problem.alpha(t) ** 2 * a0)
    steps = one_step_fold_steps(AnalyticField(problem), problem, t, 40)
    alpha = problem.alpha(t).abs()
    moving = alpha > 1e-3
    torch.testing.assert_close(steps[moving], 1 / alpha[moving], rtol=1e-9, atol=0)  # float64: no parameters
    assert math.isinf(steps[0])  # alpha(0) = 0: no step folds


def test_secant_area_growth_matches_integrating_the_secant_field(problem):
    h = 1.5 / 31
    x0 = problem.sample(torch.zeros(1, dtype=torch.float64), 256)[0]
    t = torch.tensor([0.0, 1.5], dtype=torch.float64)
    end = integrate(SecantField(problem, h), x0, t, method="dopri5", rtol=1e-10, atol=1e-12).x[-1]
    measured = shoelace_area(end) / shoelace_area(x0) - 1
    assert measured > 0.1  # the secant field expands: Euler's area loss, undone
    assert secant_area_growth(problem, h, 1.5) == pytest.approx(measured, rel=1e-6)


def test_inference_errors_and_target_distances(problem):
    exact = AnalyticField(problem)
    errors = inference_errors(exact, problem, num_points=32)
    assert [errors[m]["nfe"] for m in ("euler", "midpoint", "rk4")] == [31, 62, 124]
    assert errors["dopri5"]["max_point_error"] < 1e-4 < errors["euler"]["max_point_error"]
    distances = target_distances(exact, problem, num_points=32)
    assert distances["velocity"] < 1e-6
    assert distances["secant"] == pytest.approx(distances["secant vs velocity"], rel=1e-5)
    # secant - velocity ~ (h/2)(alpha' D X + alpha^2 X): a few percent of the velocity at h = 0.048
    assert 0.05 < distances["secant vs velocity"] < 0.5


@pytest.mark.parametrize("problem", PROBLEMS, ids=["b2T1", "b3T0.8"])
def test_verdicts_on_ideal_stand_ins(problem):
    """The exact field stands in for a perfect rk4-trained model and the secant field for a
    perfect Euler-trained one: every verdict holds but the one that needs a model error to
    dominate rk4's own (with no model error, rk4 and dopri5 differ by their solver errors)."""
    summary = solver_summary(problem, AnalyticField(problem), SecantField(problem, 1.5 / 31), num_points=32,
                             steps=np.arange(0.05, 0.8, 0.01), substeps=(4, 8, 16), tolerances=(1e-4,))
    assert {r["method"] for r in summary["exact sweep"]} == {"euler", "midpoint", "rk4", "dopri5"}
    results = {claim: check.holds for claim, check in verdicts(summary).items()}
    assert results.pop("model: dopri5 vs rk4 on the training grid, relative change of the MSE") is False
    assert all(results.values()), results
    # Euler on the secant field is exact: float32 rounding of curves of size a <= sqrt(beta0)
    assert summary["euler-trained"]["euler"]["curve_mse"] < rounding(math.sqrt(problem.beta0), torch.float32) ** 2


def test_one_step_fold_steps_of_a_float32_network_zero_the_area(problem):
    from breathing_lib import VelocityField, feature_stats

    t = torch.linspace(0, 1.5, 8)
    curves = problem.sample(t, 24)
    field = VelocityField(feature_stats(t, curves))
    steps = one_step_fold_steps(field, problem, t, 24)
    with torch.no_grad():
        velocity = field(t[:, None], curves)
    finite = torch.isfinite(steps)
    assert finite.any()
    for k in torch.nonzero(finite).flatten().tolist():
        after = shoelace_area((curves[k] + steps[k].float() * velocity[k]).double())
        assert abs(after) < 1e-4 * abs(shoelace_area(curves[k].double()))


def test_model_sweep_of_the_exact_field_has_no_error_of_its_own(problem):
    sweep = model_sweep(AnalyticField(problem), problem, num_points=8, substeps=(2, 4, 8), tolerances=(1e-6,),
                        reach_factor=1.05, num_time_steps=9)
    assert sweep["floor"] < 1e-9  # dopri5 at rtol 1e-11 on the exact field: the reference is the truth
    for row in sweep["rows"]:  # so the solver's own error is its error against the exact curve
        assert row["max error vs own reference"] == pytest.approx(row["max error vs exact"], rel=1e-3, abs=1e-9)
    assert abs(sweep["orders"]["rk4"] - 4) < 0.5 and sweep["cheapest"]["euler"] is None


def test_sweep_table_names_each_setting():
    rows = [{"method": "rk4", "step": 0.05, "rtol": None, "nfe": 124, "seconds": 0.002,
             "max error vs exact": 1e-2, "max error vs own reference": 1e-4},
            {"method": "dopri5", "step": None, "rtol": 1e-5, "nfe": 80, "seconds": 0.001,
             "max error vs exact": 1e-2, "max error vs own reference": 1e-6}]
    table = sweep_table(rows)
    assert [r["step / tolerance"] for r in table] == ["h = 0.0500", "rtol = 1e-05"]
    assert table[0]["ms"] == pytest.approx(2.0) and table[1]["solver error"] == 1e-6


def test_euler_motion_steps_the_field_from_the_exact_start(problem):
    motion = euler_motion(AnalyticField(problem).double(), problem, 0.5, num_points=16, num_frames=7, t_final=1.5)
    assert motion.nfe == 3  # steps of 0.5 over 1.5
    torch.testing.assert_close(motion.pred[0], motion.truth[0])
    assert motion.pred.shape == motion.truth.shape == (7, 16, 2)
    assert steepest([{"max |h alpha|": 0.5, "step": 0.2}, {"max |h alpha|": 1.5, "step": 0.6}])["step"] == 0.6




def _inference(euler, dopri5, euler_area, dopri5_area):
    """inference_errors of a model whose rk4 MSE is 1e-5 on the 32-snapshot grid."""
    mse = {"euler": euler, "midpoint": 1e-5, "rk4": 1e-5, "dopri5": dopri5}
    area = {"euler": euler_area, "midpoint": 0.0, "rk4": 0.0, "dopri5": dopri5_area}
    nfe = {"euler": 31, "midpoint": 62, "rk4": 124, "dopri5": 200}
    return {m: {"curve_mse": mse[m], "area change": area[m], "area drift": abs(area[m]) + 1e-4, "nfe": nfe[m]}
            for m in mse}


def _scan(safe, first_fold):
    """An euler_scan whose folds start at `first_fold`, as the growth rate predicts."""
    return [{"step": h, "max |h alpha|": h / safe, "folded": h >= first_fold, "predicted": h >= first_fold}
            for h in (0.1, 0.3, 0.5, 0.7)]


def _summary(problem):
    """A solver_summary as the chapter measures it, with numbers that keep every claim."""
    safe = fold_free_step(problem)
    return {
        "label": f"beta0={problem.beta0:g}, T={problem.period:g}", "max strain rate": max_strain_rate(problem),
        "one-step fold error": 0.05, "orders": {"euler": 1.02, "midpoint": 2.01, "rk4": 4.07},
        "model": _inference(euler=1e-3, dopri5=1.001e-5, euler_area=-0.14, dopri5_area=1e-3),
        "euler-trained": _inference(euler=2e-6, dopri5=1e-3, euler_area=-0.1, dopri5_area=0.2),
        "exact scan": _scan(safe, 0.5), "learned scan": _scan(safe, 0.3), "fold-free step": safe,
        "distances": {"model": {"velocity": 0.01, "secant": 0.05, "secant vs velocity": 0.05},
                      "euler-trained": {"velocity": 0.05, "secant": 0.015, "secant vs velocity": 0.05}},
        "secant area growth": 0.2,
    }


def _sweep():
    """A model_sweep: every solver's error falls to the model's own, 0.01; euler does not get there."""
    errors = {"euler": (0.1, 0.05, 0.03), "midpoint": (0.02, 0.0101, 0.01001), "rk4": (0.0101, 0.01, 0.01)}
    rows = [{"method": m, "step": 0.05 / 2**k, "rtol": None, "nfe": 31 * n * 2**k, "max error vs exact": e,
             "max error vs own reference": max(e - 0.01, 1e-4 / 16**k)}
            for m, n in (("euler", 1), ("midpoint", 2), ("rk4", 4)) for k, e in enumerate(errors[m])]
    rows += [{"method": "dopri5", "step": None, "rtol": rtol, "nfe": nfe, "max error vs exact": e,
              "max error vs own reference": e - 0.01} for rtol, nfe, e in ((1e-3, 50, 0.0102), (1e-5, 90, 0.01))]
    return {"rows": rows, "floor": 0.01, "orders": {"euler": 1.0, "midpoint": 2.0, "rk4": 4.0},
            "cheapest": cheapest_within(rows, "exact", 0.01, factor=1.05)}


def _motion(end_scale=-1.0):
    """An Euler motion of a square that stays still for the first step (to t = 0.5) and ends scaled
    by `end_scale` in y: negative is inside out."""
    t = torch.linspace(0, 1.5, 7, dtype=torch.float64)
    square = torch.tensor([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=torch.float64)
    scales = torch.tensor([1, 1, 1, 0.5, -0.5, -1, end_scale], dtype=torch.float64)
    pred = square * torch.stack([torch.ones(7, dtype=torch.float64), scales], -1)[:, None, :]
    return Prediction(t, pred, square.expand(7, 4, 2), 3)


def _findings(summary=None, sweep=None, motion=None, other=None):
    return findings(summary or _summary(PROBLEMS[0]), sweep or _sweep(), motion or _motion(),
                    other or _summary(PROBLEMS[1]), finetune_steps=20, substeps=(1, 2, 4, 8), reach_factor=1.05,
                    num_time_steps=32)


def test_findings_state_every_number_the_chapter_and_the_results_page_quote(glued, quoted):
    found = _findings()
    prose, results_page = quoted("04_solvers")
    assert prose and prose | results_page <= set(found), prose | results_page - set(found)
    ledger = Checks("4. Solvers")
    ledger.show(found)  # consistent results keep every claim
    assert set(glued) == set(found)
    kinds = [c.kind for c in ledger.records]
    # the chapter's claims (its publish adds one: every model it used is trained)
    assert (len(kinds), kinds.count("measured"), kinds.count("logical")) == (57, 33, 24)
    assert len({c.claim for c in ledger.records}) == 57
    advantage = found["euler_advantage"]  # a number the prose quotes that is also a claim
    assert (advantage.claim, advantage.kind, advantage.bound, advantage.above) == (
        "under euler: rk4-trained MSE / euler-trained MSE", "measured", 5.0, True)
    assert advantage.value == pytest.approx(1e-3 / 2e-6)
    assert found["beta0_3_T_0_8_exact_field_order_of_rk4_minus_4"].claim == "beta0=3, T=0.8: exact field: order of rk4 minus 4"


def _unfolded_model(summary, sweep):
    summary["learned scan"] = [dict(r, folded=False) for r in summary["learned scan"]]


def _mispredicted_fold(summary, sweep):
    summary["exact scan"][0]["predicted"] = True


def _euler_trained_no_better(summary, sweep):
    summary["euler-trained"]["euler"]["curve_mse"] = 1e-3


def _rk4_beyond_its_grid(summary, sweep):
    sweep["cheapest"]["rk4"] = 248


def _solver_error_dominates(summary, sweep):
    next(r for r in sweep["rows"] if r["method"] == "rk4")["max error vs own reference"] = 0.005


@pytest.mark.parametrize("breaking, claim", [
    (_unfolded_model, "the model folds within the scan"),
    (_mispredicted_fold, "every scanned step folds iff"),
    (_euler_trained_no_better, "under euler: rk4-trained MSE / euler-trained MSE"),
    (_rk4_beyond_its_grid, "rk4 reaches the model's error on the training grid itself"),
    (_solver_error_dominates, "rk4's own error on the grid / the model's error"),
])
def test_a_result_that_breaks_a_claim_fails_the_chapter(glued, breaking, claim):
    summary, sweep = _summary(PROBLEMS[0]), _sweep()
    breaking(summary, sweep)
    with pytest.raises(CheckFailed, match=re.escape(claim)):
        Checks("4. Solvers").show(_findings(summary, sweep))


def test_a_motion_that_does_not_turn_inside_out_fails_the_chapter(glued):
    with pytest.raises(CheckFailed, match="ends inside out"):
        Checks("4. Solvers").show(_findings(motion=_motion(end_scale=0.5)))
