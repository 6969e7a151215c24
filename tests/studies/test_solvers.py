import math

import numpy as np
import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError
from breathing_lib.checks import rounding
from breathing_lib.metrics import shoelace_area
from breathing_lib.models import AnalyticField
from breathing_lib.problem import time_grid
from breathing_lib.solve import integrate
from breathing_lib.studies.solvers import (
    ORDERS,
    area_polynomial,
    convergence_order,
    euler_growth,
    euler_scan,
    first_fold,
    fold_free_step,
    folded,
    inference_errors,
    max_strain_rate,
    measured_orders,
    one_step_fold_steps,
    refine,
    secant_area_growth,
    secant_field,
    solver_summary,
    step_grid,
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
