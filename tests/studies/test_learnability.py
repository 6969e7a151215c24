import math
from types import SimpleNamespace

import pytest
import torch

from breathing_lib import BreathingEllipse
from breathing_lib.checks import Check, CheckFailed, Checks, rounding
from breathing_lib.studies.learnability import (
    augmentation_findings,
    autonomous_findings,
    direction_reversals,
    mirror_in_time,
    model_views,
    neighbour_slopes,
)
from breathing_lib.train import TrainConfig, training_data


def test_slopes_of_a_linear_map_are_bounded_by_its_gain():
    torch.manual_seed(0)
    x = torch.rand(400, 2, dtype=torch.float64)
    y = x @ torch.tensor([[3.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    slopes = neighbour_slopes(x, y)
    # standardising both sides turns an isotropic gain into 1 (x's two coordinates have equal spread)
    assert slopes.max() < 1.1 and slopes.min() > 0.9


def test_slopes_explode_where_equal_inputs_have_different_targets():
    x = torch.linspace(0, 1, 200, dtype=torch.float64)[:, None]
    x = torch.cat([x, x + 1e-6])  # every input appears twice ...
    y = torch.cat([torch.ones(200, 1), -torch.ones(200, 1)]).double()  # ... with opposite targets
    assert neighbour_slopes(x, y).min() > 1e5


def test_the_breathing_motion_is_a_function_of_time_but_not_of_position_alone():
    config = TrainConfig(num_points=64, num_time_steps=32)
    t, curves = training_data(config)
    slopes = {name: neighbour_slopes(*view) for name, view in model_views(t, curves, config.period).items()}
    median = {name: s.median().item() for name, s in slopes.items()}
    # with time (or phase) the velocity is smooth: slopes of order one (the field's own gain);
    # positions alone see the same point moving both ways at different times
    assert median["time-input"] < 3 and median["phase"] < 3
    assert slopes["phase"].max() < 5
    assert median["autonomous"] > 30 * median["time-input"]


def test_time_makes_the_second_order_map_smooth():
    """The acceleration is g(t) x, h(t) y: a smooth function of (x, y, vx, vy, t), not of (x, y, vx, vy)."""
    config = TrainConfig(num_points=64, num_time_steps=32)
    t, curves = training_data(config)
    views = model_views(t, curves, config.period)
    inputs, target = views["second-order-time"]
    assert inputs.shape == (32, 64, 5) and target.shape == (32, 64, 2)
    assert torch.equal(inputs[..., :4], views["second-order"][0]) and torch.equal(target, views["second-order"][1])
    assert torch.equal(inputs[:, 0, 4], t)
    timed, plain = neighbour_slopes(inputs, target), neighbour_slopes(*views["second-order"])
    assert timed.max() < 20 and plain.max() > 3 * timed.max()


def test_mirror_in_time_of_the_exact_law_holds_to_rounding():
    problem = BreathingEllipse(3.0, 0.8)
    mirror = mirror_in_time(problem, 0.2)
    assert mirror["curve gap"] < rounding(mirror["curve size"]) and mirror["velocity size"] > 0.1
    assert mirror["velocity sum"] < rounding(mirror["velocity size"])


def test_direction_reversals_counts_turns_of_a_coordinate():
    t = torch.linspace(0, 1.5, 97, dtype=torch.float64)
    assert direction_reversals(torch.cos(2 * math.pi * t + 0.1)) == 3  # turns at t = 1/2 - c, 1 - c, 3/2 - c ...
    assert direction_reversals(t**2) == 0


def _autonomous_results(auto_mse=1e-2, auto_rev=0):
    """A hand-made set of chapter 6's results in which every claim holds (auto_mse, auto_rev aside)."""
    mirror = {"t": 0.2, "curve gap": 0.0, "curve size": 1.0, "velocity sum": 0.0, "velocity size": 1.0}
    alpha = torch.sin(torch.linspace(0, 3 * math.pi, 50))
    slopes = {"time-input": torch.full((10,), 2.0), "autonomous": torch.full((10,), 100.0)}
    reports = {"time-input": {"curve_mse": 1e-6, "field_rel_error": 0.3},
               "autonomous": {"curve_mse": auto_mse, "field_rel_error": 0.95}}
    others = [{"beta0": 3.0, "period": 0.8, "MSE ratio": 1e3, "autonomous median slope": 200.0}]
    return mirror, alpha, slopes, reports, {"truth": 4, "autonomous": auto_rev}, others


def test_autonomous_findings_state_what_chapter_6_glues_and_claims():
    numbers = autonomous_findings(*_autonomous_results())
    for key in ("same_curve", "auto_slope", "xyt_slope", "xyt_mse", "auto_mse", "ratio", "auto_field", "xyt_field",
                "true_rev", "auto_rev", "min_other_ratio"):
        assert key in numbers
    kinds = {key: n.kind for key, n in numbers.items() if isinstance(n, Check)}
    assert kinds["same_curve"] == kinds["mirror_velocity_sum"] == "exact"
    assert kinds["ratio"] == kinds["slope_ratio"] == kinds["other_0_ratio"] == "measured"
    assert kinds["truth_reverses"] == kinds["auto_reverses_less"] == "logical"
    assert len(kinds) == 11  # 9 on the default problem, 2 per other problem
    assert numbers["true_rev"] == 4 and numbers["ratio"].value == pytest.approx(1e4)
    checks = Checks("6")
    checks.show(numbers)
    assert len(checks.records) == 11


@pytest.mark.parametrize("broken", [{"auto_mse": 1e-5}, {"auto_rev": 4}])
def test_autonomous_findings_fail_when_the_autonomous_field_does_as_well(broken):
    with pytest.raises(CheckFailed):
        Checks("6").show(autonomous_findings(*_autonomous_results(**broken)))


def _fit(model, curve_mse_gain=0.01, kept_epoch=50, width=3):
    """A stand-in for a FitResult: what chapter 7's findings read of one trained model."""
    return SimpleNamespace(config=SimpleNamespace(model=model), model=torch.nn.Linear(width, 2), kept_epoch=kept_epoch,
                           metrics={"train_mse": curve_mse_gain, "wall_seconds": 1.0},
                           history={"mse": [1.0], "loss": [1.0, 0.01]})


def _augmentation_results(phase_mse=1e-6, short_error=0.4):
    """A hand-made set of chapter 7's results in which every claim holds (phase_mse, short_error aside)."""
    mse = {"time-input": 1e-5, "autonomous": 1e-1, "phase": phase_mse, "second-order": 1e-2,
           "second-order-time": 1e-3}
    fits = {f"{model} (shown as)": _fit(model) for model in mse}
    reports = {name: {"curve_mse": mse[fit.config.model]} for name, fit in fits.items()}
    fast = {model: _fit(model, kept_epoch=0) for model in ("second-order", "second-order-time")}
    learned = [{"first guess": guess, "window (periods)": periods, "learned omega": 6.0, "relative error": error,
                "phase turns in the window": turns, "rollout MSE, training grid": 1e-6}
               for guess in (5.0, 8.0) for periods, error, turns in ((1.5, short_error, 0.9), (3, 1e-4, 3.0))]
    slope_rows = [{"model": model, "99% slope": slope} for model, slope in
                  (("phase", 2.0), ("second-order", 100.0), ("second-order-time", 5.0))]
    other = {"beta0": 3.0, "period": 0.8, "points": 64, "omega error": 1e-4,
             "curve MSE": {"time-input": 1e-6, "phase": 1e-6, "second-order": 1e-3, "second-order-time": 1e-3}}
    return (fits, reports, fast, learned, slope_rows, other), dict(omega_guesses=[5.0, 8.0], long_periods=3,
                                                                    omega_recovered=2e-3)


def test_augmentation_findings_state_what_chapter_7_glues_and_claims():
    args, kwargs = _augmentation_results()
    numbers = augmentation_findings(*args, **kwargs)
    for key in ("long_periods", "mse_phase", "mse_xyt", "mse_second", "mse_time", "mse_auto", "auto_vs_second",
                "second_vs_xyt", "time_vs_xyt", "params_phase", "params_xyt", "fast_kept_second", "fast_kept_time",
                "fast_loss_second", "fast_loss_time", "kept_second", "kept_time", "gain_second", "gain_time",
                "train_s_second", "train_s_time", "guesses", "omega_err_long", "omega_err_short", "worst_guess",
                "omega_short_worst", "turns_short_worst", "omega_err_other", "slope_second", "slope_time",
                "slope_phase", "other_points", "other_second", "other_time", "other_xyt"):
        assert key in numbers
    claims = [n for n in numbers.values() if isinstance(n, Check)]
    assert len(claims) == 21 and sum(c.kind == "logical" for c in claims) == 2
    assert all(c.kind == "measured" for c in claims if c.kind != "logical")
    assert numbers["guesses"] == "5 and 8" and numbers["params_phase"] == 8  # a Linear(3, 2): 6 weights, 2 biases
    assert numbers["omega_err_short"] == 0.4 and numbers["time_vs_xyt"] == pytest.approx(100)
    Checks("7").show(numbers)


@pytest.mark.parametrize("broken", [{"phase_mse": 1e-4}, {"short_error": 1e-4}])
def test_augmentation_findings_fail_when_a_verdict_turns(broken):
    args, kwargs = _augmentation_results(**broken)
    with pytest.raises(CheckFailed):
        Checks("7").show(augmentation_findings(*args, **kwargs))
