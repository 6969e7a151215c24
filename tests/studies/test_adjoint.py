import math
import re

import pytest
import torch

from breathing_lib import ConfigError, TrainConfig, build_model, feature_stats
from breathing_lib.checks import CheckFailed, Checks, rounding
from breathing_lib.studies.adjoint import (
    ROUNDOFF,
    backward_cost,
    compare_gradients,
    field_evaluations,
    findings,
    loglog_slope,
    memory_law,
    memory_sweep,
    refinement_study,
    rollout_loss,
    same_claims,
    train_both_ways,
    untrained_field,
)
from breathing_lib.train import training_data


@pytest.fixture
def small():
    """An untrained time-input field on a small grid: 16 points, 9 snapshots over 1.5 periods."""
    t, truth = training_data(TrainConfig(num_points=16, num_time_steps=9))
    return build_model("time-input", feature_stats(t, truth)), t, truth


def test_rk4_adjoint_gradient_matches_direct_to_round_off(small):
    model, t, truth = small
    result = compare_gradients(model, t, truth, method="rk4")
    # same grid both ways: the backward solve's O(h^4) error is ~1e-9 here (see the float64
    # test), so in float32 only round-off is left: ~100 eps over a few hundred operations
    assert result["rel_diff"] < 1e-5, result
    assert result["grad_norm"] > 0.01


def test_rk4_adjoint_error_is_fourth_order_in_the_step(small):
    model, t, truth = small
    diffs, orders = refinement_study(model, t, truth, [1, 2, 4])  # float64: the discretisation error shows
    assert all(3.5 < p < 4.5 for p in orders), (diffs, orders)
    assert orders[0] == pytest.approx(math.log2(diffs[0] / diffs[1]))
    assert next(model.parameters()).dtype == torch.float32  # it studies a copy
    with pytest.raises(ConfigError, match="refinements"):
        refinement_study(model, t, truth, [1])


def test_dopri5_gradients_agree_to_the_solver_tolerance(small):
    model, t, truth = small
    loose = compare_gradients(model, t, truth, method="dopri5", rtol=1e-3, atol=1e-5)["rel_diff"]
    tight = compare_gradients(model, t, truth, method="dopri5", rtol=1e-6, atol=1e-8)["rel_diff"]
    # the adjoint's backward solve is only as accurate as its tolerances: tighter -> closer
    assert tight < 1e-4 and tight < loose / 10, (loose, tight)
    assert loose < 1e-2, loose


def test_memory_law_direct_linear_adjoint_flat(small):
    model, t, truth = small
    t, truth = t[:3], truth[:3]  # 2 observation intervals: 4, 8 and 16 solver steps
    law = memory_law(model, t, truth, steps_per_interval=(2, 4, 8))
    rows, steps = law["rows"], law["steps"]
    assert steps == [4, 8, 16]
    direct = [r["direct MB"] for r in rows]
    adjoint = [r["adjoint MB"] for r in rows]
    # direct backprop keeps every step's activations, the same bytes for every step: the
    # memory added per step must be the same from 4 to 8 steps as from 8 to 16 (the counter
    # counts bytes exactly; only the step-time grid adds a few bytes per step)
    per_step = [(b - a) / (sb - sa) for a, b, sa, sb in zip(direct, direct[1:], steps, steps[1:])]
    assert per_step[0] > 0 and per_step[1] == pytest.approx(per_step[0], rel=0.02), per_step
    # the adjoint keeps a fixed number of augmented states, whatever the number of steps
    assert abs(adjoint[-1] - adjoint[0]) < 0.01 * (direct[-1] - direct[0]), adjoint
    assert law["slope"]["adjoint"] < 0.01 < 0.8 < law["slope"]["direct"]
    assert law["slope"]["direct"] == loglog_slope(steps, direct)


def test_backward_cost_counts_steps_and_leaves_the_model_alone(small):
    model, t, truth = small
    cost = backward_cost(model, t, truth, adjoint=True, steps_per_interval=3)
    assert cost.steps == 3 * (len(t) - 1)
    assert cost.peak_bytes > 0 and cost.seconds > 0
    assert all(p.grad is None for p in model.parameters())


def test_bad_inputs_name_the_parameter(small):
    model, t, truth = small
    with pytest.raises(ConfigError, match="steps_per_interval"):
        rollout_loss(model, t, truth, adjoint=False, steps_per_interval=0)
    with pytest.raises(ConfigError, match="steps_per_interval"):
        rollout_loss(model, t, truth, adjoint=False, method="dopri5", steps_per_interval=2)
    with pytest.raises(ConfigError, match="uniformly"):
        uneven = torch.cat([t[:-1], t[-1:] + 0.3])
        rollout_loss(model, uneven, truth, adjoint=False, steps_per_interval=2)
    with pytest.raises(ConfigError, match="truth"):
        rollout_loss(model, t, truth[:-1], adjoint=False)
    with pytest.raises(ConfigError, match="truth"):
        rollout_loss(model, t, truth.clone().index_fill_(0, torch.tensor([3]), float("nan")), adjoint=False)
    with pytest.raises(ConfigError, match="increasing"):
        rollout_loss(model, t.flip(0), truth, adjoint=False)
    with pytest.raises(ConfigError, match="method"):
        backward_cost(model, t, truth, adjoint=True, method="dopri5")
    with pytest.raises(ConfigError, match="steps_per_interval"):
        memory_sweep(model, t, truth, steps_per_interval=(1,))
    with pytest.raises(ConfigError, match="positive"):
        loglog_slope([1, 2], [1, 0])
    with pytest.raises(ConfigError, match="distinct"):
        loglog_slope([2, 2], [1, 3])


def test_loglog_slope_recovers_a_power_law():
    x = [32, 64, 128, 256]
    y = [3 * v**1.5 for v in x]
    # the fit divides centred log y by a spread of log x of order 1: it rounds at max |log y|
    assert loglog_slope(x, y) == pytest.approx(1.5, abs=rounding(math.log(max(y))))
    assert loglog_slope(x, [7.0] * 4) == pytest.approx(0.0, abs=rounding(math.log(7.0)))


def test_only_the_adjoint_evaluates_the_field_backwards(small):
    model, t, truth = small
    steps = len(t) - 1
    assert field_evaluations(model, t, truth, adjoint=False) == (4 * steps, 0)  # RK4: 4 per step
    assert field_evaluations(model, t, truth, adjoint=True) == (4 * steps, 4 * steps)


def test_untrained_field_is_the_initialisation_fit_starts_from():
    config = TrainConfig.original(num_points=16, num_time_steps=8, seed=3)
    t, truth = training_data(config)
    first = untrained_field(config, t, truth)
    torch.rand(5)  # whatever ran before, the seed decides
    second = untrained_field(config, t, truth)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    other_seed = untrained_field(TrainConfig.original(num_points=16, num_time_steps=8, seed=4), t, truth)
    assert not torch.equal(first.net[0].weight, other_seed.net[0].weight)


def test_training_both_ways_gives_the_same_loss_curve():
    training = train_both_ways(TrainConfig.original(num_points=16, num_time_steps=8, epochs=5), "cpu")
    assert training["epochs"] == 5 and [len(training["loss"][a]) for a in (False, True)] == [5, 5]
    assert training["curve_gap"] < 1e-4  # gradients that agree to round-off give the same Adam steps
    assert all(ms > 0 for ms in training["ms_per_epoch"].values())


def test_same_claims_on_another_problem():
    config = TrainConfig.original(num_points=16, num_time_steps=8, beta0=3.0, period=0.8)
    other = same_claims(config, "cpu", exact_grid=9, refinements=[1, 2], steps_per_interval=(1, 2))
    assert other["label"] == "beta0=3, T=0.8"
    assert other["rk4"] < ROUNDOFF and other["dopri5"] < 1e-4
    assert len(other["orders"]) == 1 and abs(other["orders"][0] - 4) < 0.5
    assert other["memory"]["steps"] == [8, 16]


STATE = torch.zeros(128, 2)  # a float32 curve of 128 points
FIELD = torch.nn.Linear(10, 10)  # 110 parameters
AUGMENTED_MB = (1 + 2 * 256 + 110) * 4 / 2**20  # [t, X, a, dL/dtheta] in float32


def _results():
    """The chapter's measurements, made up to keep every claim (keyword arguments of findings)."""
    gradients = {"rk4": (1e-6, 1e-4, 1.0, 0.05), "dopri5 rtol=1e-03": (1e-3, 0.3, 1.0, 0.5),
                 "dopri5 rtol=1e-05": (1e-5, 0.01, 1.0, 0.06), "dopri5 rtol=1e-07": (1e-7, 1e-4, 1.0, 0.05)}
    agreement = {}
    for solver, (untrained, trained, untrained_norm, trained_norm) in gradients.items():
        agreement["untrained", solver] = {"rel_diff": untrained, "grad_norm": untrained_norm}
        agreement["trained", solver] = {"rel_diff": trained, "grad_norm": trained_norm}
    rows = [{"steps": 32 * m, "direct MB": m, "adjoint MB": 0.05 + (3 * AUGMENTED_MB if m > 1 else 0)}
            for m in (1, 2, 4, 8)]
    steps = [r["steps"] for r in rows]
    memory = {"rows": rows, "steps": steps,
              "slope": {k: loglog_slope(steps, [r[f"{k} MB"] for r in rows]) for k in ("direct", "adjoint")}}
    return dict(
        agreement=agreement,
        refinement={"untrained": ([1e-11, 6e-13, 4e-14], [4.06, 3.91]), "trained": ([1e-8, 7e-10, 5e-11], [3.8, 3.9])},
        training={"epochs": 40, "ms_per_epoch": {False: 10.0, True: 30.0}, "curve_gap": 1e-6},
        evaluations={False: (124, 0), True: (124, 124)}, memory=memory,
        other={"label": "beta0=3, T=0.8", "rk4": 1e-6, "dopri5": 1e-7, "orders": [4.01],
               "memory": {"slope": {"direct": 1.0, "adjoint": 0.0}}},
        field=FIELD, state=STATE, refinements=[1, 2, 4], tolerances=[1e-3, 1e-5, 1e-7], intervals=31,
        exact_grid=33, trained_mse=1e-5)


def test_findings_state_every_number_the_chapter_and_the_results_page_quote(glued, quoted):
    found = findings(**_results())
    prose, results_page = quoted("05_adjoint")
    assert prose and prose | results_page <= set(found), prose | results_page - set(found)
    ledger = Checks("5. Adjoint or direct backpropagation")
    ledger.show(found)  # made-up results that keep every claim
    assert set(glued) == set(found)
    kinds = [c.kind for c in ledger.records]
    # the chapter's claims (its publish adds one: every model it used is trained)
    assert (len(kinds), kinds.count("exact"), kinds.count("measured"), kinds.count("logical")) == (26, 2, 15, 9)
    assert len({c.claim for c in ledger.records}) == 26
    assert glued["split_copies"] == pytest.approx(3) and glued["n_params"] == 110
    assert found["rk4_untrained"].kind == "exact" and found["rk4_untrained"].bound == ROUNDOFF


def _break(results, key, *path_and_value):
    *path, last, value = (key, *path_and_value)
    target = results
    for step in path:
        target = target[step]
    target[last] = value


@pytest.mark.parametrize("change, claim", [
    (("agreement", ("untrained", "rk4"), "rel_diff", 1e-4), "untrained field, rk4: adjoint vs direct gradient, relative"),
    (("refinement", "trained", ([1e-8, 7e-10, 5e-11], [2.9, 3.9])), "trained field, float64: order from 1 to 2 steps"),
    (("training", "curve_gap", 1e-3), "largest relative gap between the two loss curves"),
    (("evaluations", True, (124, 0)), "adjoint: 4 field evaluations per RK4 step forward, as many backward"),
    (("memory", "slope", "direct", 0.5), "direct memory grows as steps^1"),
    (("other", "orders", [3.0]), "beta0=3, T=0.8, untrained field, float64: order from 1 to 2 steps minus 4"),
])
def test_a_result_that_breaks_a_claim_fails_the_chapter(glued, change, claim):
    results = _results()
    _break(results, *change)
    with pytest.raises(CheckFailed, match=re.escape(claim)):
        Checks("5. Adjoint or direct backpropagation").show(findings(**results))
