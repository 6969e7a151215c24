"""The live explorer's static fallback: what FlowLab computes and what the pictures hold."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from breathing_lib import BreathingEllipse, ConfigError, TrainConfig, build_model
from breathing_lib.models import AnalyticField
from breathing_lib.train import FitResult
from breathing_lib.viz.plotting import quiver_grid
from breathing_lib.viz.widgets import FlowLab, Scene, reference_speed, small_multiples

N = 24  # points on a curve unless a test needs another count


def _exact(beta0=2.0, period=1.0) -> FitResult:
    """The analytic field as a 'trained' model: its flow is the truth of its own problem."""
    config = TrainConfig(beta0=beta0, period=period)
    return FitResult(AnalyticField(config.problem), config, {}, {})


def _untrained(kind: str) -> FitResult:
    return FitResult(build_model(kind), TrainConfig(model=kind), {}, {})


def _lab(models=None, **options) -> FlowLab:
    settings = dict(t_max=1.5, frames=31, grid_size=5, device="cpu")  # frames every 0.05
    return FlowLab(models or {"exact": _exact()}, **{**settings, **options})


def _truth(beta0, period, t, num_points=N) -> np.ndarray:
    return BreathingEllipse(beta0, period).sample(torch.tensor([t]), num_points)[0].numpy()


def _scene(lab: FlowLab) -> Scene:
    return Scene(Figure().add_subplot(), lab.extent, lab.grid_size)


def _uv(quiver) -> np.ndarray:
    return np.stack([quiver.U, quiver.V], axis=1)


def test_a_frame_puts_the_true_curve_at_its_time():
    lab = _lab()
    start, later = lab.frame("exact", 2.0, 1.0, N, 0.0), lab.frame("exact", 2.0, 1.0, N, 0.75)
    assert later.t == pytest.approx(0.75)
    np.testing.assert_allclose(later.truth, _truth(2.0, 1.0, 0.75), atol=1e-6)
    # at 3T/4 beta = 1.25: the semi-axis along x went from sqrt(2) to sqrt(1.25)
    assert np.abs(later.truth - start.truth).max() == pytest.approx(2**0.5 - 1.25**0.5, abs=1e-5)
    # on its own problem the exact field's flow is the truth, to the adaptive solver's tolerance
    np.testing.assert_allclose(later.pred, later.truth, atol=1e-4)


def test_a_time_between_frames_snaps_to_the_nearest_frame():
    lab = _lab()
    frame = lab.frame("exact", 2.0, 1.0, N, 0.76)  # grid step 0.05: nearest frame 0.75
    assert frame.t == pytest.approx(0.75)
    np.testing.assert_allclose(frame.truth, _truth(2.0, 1.0, 0.75), atol=1e-6)
    assert (lab.index(0.76), lab.index(-1.0), lab.index(9.0)) == (15, 0, 30)  # outside [0, t_max]: the ends


def test_another_beta0_moves_the_truth_and_shows_the_models_mismatch():
    frame = _lab().frame("exact", 3.0, 1.0, 25, 0.5)  # 25 samples put one at the top, theta = pi/2
    np.testing.assert_allclose(frame.truth, _truth(3.0, 1.0, 0.5, 25), atol=1e-6)
    # the model flows the new start curve with the field it knows (beta0 = 2): at t = T/2 that
    # halves x and doubles y, so the top point reaches 2/sqrt(3) = 1.15 where the truth's is at sqrt(3)
    start = BreathingEllipse(3.0, 1.0).sample(torch.tensor([0.0]), 25)[0]
    known = BreathingEllipse(2.0, 1.0).flow(start, torch.tensor([0.5]))[0].numpy()
    np.testing.assert_allclose(frame.pred, known, atol=1e-4)
    assert np.abs(frame.pred - frame.truth).max() == pytest.approx(3**0.5 - 2 / 3**0.5, abs=1e-4)


def test_another_period_changes_the_truth_not_the_learned_flow():
    lab = _lab()
    own, slower = lab.frame("exact", 2.0, 1.0, N, 0.5), lab.frame("exact", 2.0, 2.0, N, 0.5)
    np.testing.assert_allclose(slower.truth, _truth(2.0, 2.0, 0.5), atol=1e-6)
    np.testing.assert_allclose(slower.pred, own.pred, atol=1e-6)  # same start curve, same learned field


def test_the_number_of_points_resamples_both_curves():
    frame = _lab().frame("exact", 2.0, 1.0, 17, 0.5)
    assert frame.truth.shape == (17, 2) and frame.pred.shape == (17, 2)


def test_a_frame_holds_the_learned_and_the_analytic_field_on_the_grid():
    model = _untrained("time-input")
    lab = _lab({"time-input": model})
    grid = torch.tensor(lab.grid, dtype=torch.float32)
    learned = model.model.velocity_at(torch.tensor(0.25), grid).detach().numpy()
    frame = lab.frame("time-input", 2.0, 1.0, N, 0.25)
    np.testing.assert_allclose(frame.learned_uv, learned, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(frame.analytic_uv, BreathingEllipse(2.0, 1.0).velocity(grid, 0.25).numpy(),
                               rtol=1e-5, atol=1e-6)
    # the analytic field follows the chosen problem; the learned field does not
    other = lab.frame("time-input", 3.0, 1.0, N, 0.25)
    np.testing.assert_allclose(other.analytic_uv, BreathingEllipse(3.0, 1.0).velocity(grid, 0.25).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(other.learned_uv, learned, rtol=1e-5, atol=1e-6)


def test_the_still_frames_use_the_animations_quiver_grid():
    lab = _lab()
    np.testing.assert_array_equal(lab.grid, quiver_grid(lab.extent, lab.grid_size))
    scene = _scene(lab)
    np.testing.assert_array_equal(scene.learned_quiver.get_offsets(), lab.grid)
    assert scene.spacing == pytest.approx(lab.grid[1, 0] - lab.grid[0, 0])


def test_a_scene_draws_a_frame_with_one_arrow_scale_and_toggles():
    lab = _lab({"time-input": _untrained("time-input")})
    frame = lab.frame("time-input", 2.0, 1.0, N, 0.25)
    scene = _scene(lab)
    np.testing.assert_allclose(scene.grid, lab.grid)  # the arrows stand where the fields were evaluated
    speed = reference_speed(BreathingEllipse(2.0, 1.0), lab.extent)
    scene.show(frame, speed=speed, analytic_field=True, title="t = 0.25")
    q, a = scene.learned_quiver, scene.analytic_quiver
    np.testing.assert_allclose(_uv(q), frame.learned_uv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_uv(a), frame.analytic_uv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.stack(scene.truth_line.get_data(), axis=1),
                               np.concatenate([frame.truth, frame.truth[:1]]), atol=1e-6)
    assert q.get_visible() and a.get_visible() and scene.truth_line.get_visible()
    assert q.scale == a.scale == pytest.approx(speed / scene.spacing)
    assert scene.heading.get_text() == "t = 0.25"

    scene.show(frame, speed=2 * speed, truth=False, learned_field=False, analytic_field=False)
    assert q.scale == pytest.approx(2 * speed / scene.spacing)
    assert not (q.get_visible() or a.get_visible() or scene.truth_line.get_visible())
    assert scene.pred_line.get_visible()


def test_a_flow_is_solved_once_per_model_problem_and_points():
    lab = _lab()
    for t in (0.0, 0.25, 0.5, 1.0, 1.5):
        lab.frame("exact", 2.0, 1.0, N, t)
    assert lab.flow_solves == 1  # cached: other times only read the stored flow
    lab.frame("exact", 2.5, 1.0, N, 0.5)
    assert lab.flow_solves == 2
    lab.frame("exact", 2.0, 1.0, N, 0.5)
    assert lab.flow_solves == 2
    small = _lab(cache_size=1)  # the oldest flow is dropped once the cache is full
    for beta0 in (2.0, 2.5, 2.0):
        small.trajectory("exact", beta0, 1.0, N)
    assert small.flow_solves == 3


def test_a_second_order_model_flows_differently_and_has_no_field_of_position():
    lab = _lab({"exact": _exact(), "second order": _untrained("second-order")})
    exact, second = lab.frame("exact", 2.0, 1.0, N, 0.5), lab.frame("second order", 2.0, 1.0, N, 0.5)
    assert np.abs(second.pred - exact.pred).max() > 1e-3
    assert second.learned_uv is None and lab.learned_field("second order") is None
    scene = _scene(lab)
    scene.show(second, speed=1.0)  # asked for the learned field, there is none to draw
    assert not scene.learned_quiver.get_visible()
    scene.show(exact, speed=1.0)
    assert scene.learned_quiver.get_visible()


def test_max_point_error_measures_the_mismatch():
    lab = _lab()
    assert lab.max_point_error("exact", 2.0, 1.0, N) < 1e-3
    # the beta0 = 2 field halves x and doubles y of the beta0 = 3 start curve by T/2, where the truth's
    # axes have swapped: at theta = pi/2 the gap is sqrt(3) - 2/sqrt(3) (N = 25 samples theta = pi/2)
    assert lab.max_point_error("exact", 3.0, 1.0, 25) == pytest.approx(3**0.5 - 2 / 3**0.5, rel=1e-3)
    assert lab.max_point_error("exact", 3.0, 1.0, 25, t_to=0.0) < 1e-6  # the same start curve
    # after a whole period both flows are back at that start curve: the window [T, T] has no gap
    assert lab.max_point_error("exact", 3.0, 1.0, 25, t_from=1.0, t_to=1.0) < 1e-3


def test_a_model_reproduces_its_own_training_problem_beyond_the_window():
    lab = _lab({"b2": _exact(), "b3": _exact(beta0=3.0, period=0.8)}, t_max=2.0, frames=41)
    config = lab.config("b3")
    assert (config.beta0, config.period) == (3.0, 0.8)
    assert config.t_final < lab.t_max  # the frames run past the training window
    # the exact field of (3, 0.8) reproduces its own truth, even beyond the window
    assert lab.max_point_error("b3", 3.0, 0.8, N, t_from=config.t_final) < 1e-3
    assert lab.max_point_error("b2", 3.0, 0.8, N) > 0.1  # another model does not


def test_small_multiples_draw_each_setting_at_each_time():
    lab = _lab()
    rows = [{"model": "exact", "label": "own"}, {"model": "exact", "beta0": 3.0}]  # no beta0: the training one
    fig = small_multiples(lab, rows, [0.0, 0.5], num_points=N)
    axes = np.array(fig.axes).reshape(2, 2)
    for r, beta0 in ((0, 2.0), (1, 3.0)):
        truth = axes[r, 1].lines[0]
        np.testing.assert_allclose(np.stack(truth.get_data(), axis=1),
                                   np.concatenate([_truth(beta0, 1.0, 0.5), _truth(beta0, 1.0, 0.5)[:1]]), atol=1e-6)
    assert axes[0, 0].get_ylabel() == "own"
    matplotlib.pyplot.close(fig)


def test_reference_speed_is_the_peak_analytic_speed_on_the_square():
    # beta0 = 2, T = 1: alpha = beta'/(2 beta) peaks where cos(omega t) = -3/5, at 3 pi / 4 = 2.356
    assert reference_speed(BreathingEllipse(2.0, 1.0), 1.0) == pytest.approx(3 * np.pi / 4, rel=1e-4)
    assert reference_speed(BreathingEllipse(2.0, 0.5), 2.0) == pytest.approx(4 * 3 * np.pi / 4, rel=1e-4)
    assert reference_speed(BreathingEllipse(1.0, 1.0), 1.0) == 1.0  # nothing moves


def test_bad_settings_name_the_parameter():
    for options, name in [({"frames": 1}, "frames"), ({"t_max": 0.0}, "t_max"), ({"grid_size": 1}, "grid_size"),
                          ({"cache_size": 0}, "cache_size")]:
        with pytest.raises(ConfigError, match=name):
            _lab(**options)
    for models in ({}, [_exact()]):
        with pytest.raises(ConfigError, match="models"):
            FlowLab(models, device="cpu")
    lab = _lab()
    for args, name in [(("nonexistent", 2.0, 1.0, N), "model"), (("exact", -1.0, 1.0, N), "beta0"),
                       (("exact", 2.0, 1.0, 2), "num_points")]:
        with pytest.raises(ConfigError, match=name):
            lab.frame(*args, 0.0)


def test_a_failed_solve_gives_no_curve_and_an_infinite_error(monkeypatch):
    import breathing_lib.viz.widgets as widgets

    def underflow(*args, **kwargs):
        raise AssertionError("underflow in dt 0.0")

    monkeypatch.setattr(widgets, "flow", underflow)
    lab = _lab()
    frame = lab.frame("exact", 2.0, 1.0, N, 0.5)
    assert np.isnan(frame.pred).all() and frame.pred.shape == (N, 2)
    assert np.isfinite(frame.truth).all()
    assert lab.max_point_error("exact", 2.0, 1.0, N) == np.inf
