import copy
import math

import pytest
import torch

from breathing_lib import ConfigError, TrainConfig, build_model, feature_stats
from breathing_lib.checks import rounding
from breathing_lib.studies.adjoint import (
    backward_cost,
    compare_gradients,
    field_evaluations,
    loglog_slope,
    memory_sweep,
    rollout_loss,
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
    model = copy.deepcopy(model).double()  # float64 so the discretisation error shows above round-off
    diffs = [compare_gradients(model, t.double(), truth.double(), steps_per_interval=m)["rel_diff"] for m in (1, 2, 4)]
    orders = [math.log2(a / b) for a, b in zip(diffs, diffs[1:])]
    assert all(3.5 < p < 4.5 for p in orders), (diffs, orders)


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
    rows = memory_sweep(model, t, truth, steps_per_interval=(2, 4, 8))
    steps = [r["steps"] for r in rows]
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
    assert loglog_slope(steps, adjoint) < 0.01 < 0.8 < loglog_slope(steps, direct)


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
