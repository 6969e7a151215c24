"""The explorer driven headlessly: set the controls, check what the picture holds."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError, TrainConfig, build_model
from breathing_lib.models import AnalyticField
from breathing_lib.train import FitResult, save_checkpoint
from breathing_lib.widgets import (
    Explorer,
    model_label,
    recipe_label,
    reference_speed,
    small_multiples,
    stored_models,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _exact(beta0=2.0, period=1.0) -> FitResult:
    """The analytic field as a 'trained' model: its flow is the truth of its own problem."""
    config = TrainConfig(beta0=beta0, period=period)
    return FitResult(AnalyticField(config.problem), config, {}, {})


def _untrained(kind: str) -> FitResult:
    return FitResult(build_model(kind), TrainConfig(model=kind), {}, {})


def _explorer(models=None, **options):
    settings = dict(t_max=1.5, frames=31, num_points=24, grid_size=5, device="cpu")
    return Explorer(models=models or {"exact": _exact()}, **{**settings, **options})


def _closed(curve):
    return np.concatenate([curve, curve[:1]])


def _truth_xy(explorer):
    return np.stack(explorer.scene.truth_line.get_data(), axis=1)


def _pred_xy(explorer):
    return np.stack(explorer.scene.pred_line.get_data(), axis=1)


def test_time_slider_puts_the_true_curve_at_the_new_time():
    ex = _explorer()
    before = _truth_xy(ex).copy()
    ex.time.value = 0.75
    t = torch.tensor([0.75])
    expected = BreathingEllipse(2.0, 1.0).sample(t, 24)[0].numpy()
    np.testing.assert_allclose(_truth_xy(ex), _closed(expected), atol=1e-6)
    # at 3T/4 beta = 1.25: the semi-axis along x went from sqrt(2) to sqrt(1.25)
    assert np.abs(_truth_xy(ex) - before).max() == pytest.approx(2**0.5 - 1.25**0.5, abs=1e-5)
    # on its own problem the exact field's flow is the truth, to the adaptive solver's tolerance
    np.testing.assert_allclose(_pred_xy(ex), _truth_xy(ex), atol=1e-4)
    assert "t = 0.750" in ex.scene.heading.get_text()


def test_programmatic_time_snaps_to_the_frame_grid():
    ex = _explorer()
    ex.time.value = 0.76  # grid step 0.05: nearest frame 0.75
    expected = BreathingEllipse(2.0, 1.0).sample(torch.tensor([0.75]), 24)[0].numpy()
    np.testing.assert_allclose(_truth_xy(ex), _closed(expected), atol=1e-6)


def test_other_beta0_moves_the_truth_and_shows_the_models_mismatch():
    ex = _explorer(time=0.5, num_points=25)  # 25 samples put one at the top, theta = pi/2
    ex.beta0.value = 3.0
    expected = BreathingEllipse(3.0, 1.0).sample(torch.tensor([0.5]), 25)[0].numpy()
    np.testing.assert_allclose(_truth_xy(ex), _closed(expected), atol=1e-6)
    # the model flows the new start curve with the field it knows (beta0 = 2): at t = T/2 that
    # halves x and doubles y, so the top point reaches 2/sqrt(3) = 1.15 where the truth's is at sqrt(3)
    start = BreathingEllipse(3.0, 1.0).sample(torch.tensor([0.0]), 25)[0]
    known = BreathingEllipse(2.0, 1.0).flow(start, torch.tensor([0.5]))[0].numpy()
    np.testing.assert_allclose(_pred_xy(ex), _closed(known), atol=1e-4)
    gap = np.abs(_pred_xy(ex) - _truth_xy(ex)).max()
    assert gap == pytest.approx(3**0.5 - 2 / 3**0.5, abs=1e-4)
    assert "not the training problem" in ex.status.value


def test_period_slider_changes_the_truth_not_the_learned_flow():
    ex = _explorer(time=0.5)
    pred = _pred_xy(ex).copy()
    ex.period.value = 2.0
    expected = BreathingEllipse(2.0, 2.0).sample(torch.tensor([0.5]), 24)[0].numpy()
    np.testing.assert_allclose(_truth_xy(ex), _closed(expected), atol=1e-6)
    np.testing.assert_allclose(_pred_xy(ex), pred, atol=1e-6)  # same start curve, same learned field


def test_number_of_points_resamples_both_curves():
    ex = _explorer()
    ex.num_points.value = 17
    assert _truth_xy(ex).shape == (18, 2) and _pred_xy(ex).shape == (18, 2)


def test_quivers_show_the_learned_and_analytic_fields_and_toggle():
    model = _untrained("seed")
    ex = _explorer({"seed": model}, show_analytic_field=True, time=0.25)
    grid = torch.tensor(ex.scene.grid, dtype=torch.float32)
    learned = model.model.velocity_at(torch.tensor(0.25), grid).detach().numpy()
    analytic = BreathingEllipse(2.0, 1.0).velocity(grid, 0.25).numpy()
    q = ex.scene.learned_quiver
    np.testing.assert_allclose(np.stack([q.U, q.V], axis=1), learned, rtol=1e-5, atol=1e-6)
    a = ex.scene.analytic_quiver
    np.testing.assert_allclose(np.stack([a.U, a.V], axis=1), analytic, rtol=1e-5, atol=1e-6)
    assert q.get_visible() and a.get_visible() and ex.scene.truth_line.get_visible()

    spacing, extent = ex.scene.spacing, ex.lab.extent
    assert q.scale == a.scale == pytest.approx(reference_speed(BreathingEllipse(2.0, 1.0), extent) / spacing)
    ex.beta0.value = 3.0  # the analytic field and the arrow scale follow the sliders; the learned field does not
    assert q.scale == pytest.approx(reference_speed(BreathingEllipse(3.0, 1.0), extent) / spacing)
    analytic3 = BreathingEllipse(3.0, 1.0).velocity(grid, 0.25).numpy()
    np.testing.assert_allclose(np.stack([a.U, a.V], axis=1), analytic3, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.stack([q.U, q.V], axis=1), learned, rtol=1e-5, atol=1e-6)

    ex.show_learned_field.value = False
    ex.show_analytic_field.value = False
    ex.show_truth.value = False
    assert not (q.get_visible() or a.get_visible() or ex.scene.truth_line.get_visible())
    assert ex.scene.pred_line.get_visible()


def test_moving_time_only_redraws_and_the_image_changes_in_place():
    ex = _explorer()
    assert ex.lab.flow_solves == 1 and bytes(ex.image.value).startswith(PNG)
    image = ex.image
    first = bytes(image.value)
    for t in (0.25, 0.5, 1.0, 1.5):
        ex.time.value = t
    assert ex.lab.flow_solves == 1  # cached: one solve per (model, beta0, period, N)
    assert ex.image is image and bytes(image.value) != first
    ex.beta0.value = 2.5
    assert ex.lab.flow_solves == 2
    ex.beta0.value = 2.0
    assert ex.lab.flow_solves == 2


def test_model_menu_switches_flow_and_disables_a_missing_field():
    ex = _explorer({"exact": _exact(), "second order": _untrained("second-order")}, time=0.5)
    exact_pred = _pred_xy(ex).copy()
    ex.model.value = "second order"
    assert np.abs(_pred_xy(ex) - exact_pred).max() > 1e-3
    assert ex.show_learned_field.disabled and not ex.scene.learned_quiver.get_visible()
    assert "no field of position alone" in ex.status.value
    ex.model.value = "exact"
    assert not ex.show_learned_field.disabled and ex.scene.learned_quiver.get_visible()


def test_training_problem_button_and_extrapolation_note():
    ex = _explorer({"b2": _exact(), "b3": _exact(beta0=3.0, period=0.8)}, t_max=2.0, frames=41)
    ex.model.value = "b3"
    assert "not the training problem" in ex.status.value
    ex.match.click()
    assert (ex.beta0.value, ex.period.value) == (3.0, 0.8)
    assert "not the training problem" not in ex.status.value
    ex.time.value = 1.75  # the training window ends at 1.5
    assert "beyond the training window" in ex.status.value
    # the exact field of (3, 0.8) reproduces its own truth, even beyond the window
    assert ex.lab.max_point_error("b3", 3.0, 0.8, 24) < 1e-3


def test_max_point_error_measures_the_mismatch():
    lab = _explorer().lab
    assert lab.max_point_error("exact", 2.0, 1.0, 24) < 1e-3
    # the beta0 = 2 field halves x and doubles y of the beta0 = 3 start curve by T/2, where the truth's
    # axes have swapped: at theta = pi/2 the gap is sqrt(3) - 2/sqrt(3) (N = 25 samples theta = pi/2)
    assert lab.max_point_error("exact", 3.0, 1.0, 25) == pytest.approx(3**0.5 - 2 / 3**0.5, rel=1e-3)
    assert lab.max_point_error("exact", 3.0, 1.0, 25, t_to=0.0) < 1e-6  # the same start curve


def test_small_multiples_draw_each_setting_at_each_time():
    ex = _explorer()
    ex.beta0.value = 2.5  # a row without beta0 shows the model's training problem, not the slider's
    rows = [{"model": "exact", "label": "own"}, {"model": "exact", "beta0": 3.0}]
    fig = small_multiples(ex.lab, rows, [0.0, 0.5], num_points=24)
    axes = np.array(fig.axes).reshape(2, 2)
    for r, beta0 in ((0, 2.0), (1, 3.0)):
        truth = axes[r, 1].lines[0]
        expected = BreathingEllipse(beta0, 1.0).sample(torch.tensor([0.5]), 24)[0].numpy()
        np.testing.assert_allclose(np.stack(truth.get_data(), axis=1), _closed(expected), atol=1e-6)
    assert axes[0, 0].get_ylabel() == "own"
    matplotlib.pyplot.close(fig)


def test_reference_speed_is_the_peak_analytic_speed_on_the_square():
    # beta0 = 2, T = 1: alpha = beta'/(2 beta) peaks where cos(omega t) = -3/5, at 3 pi / 4 = 2.356
    assert reference_speed(BreathingEllipse(2.0, 1.0), 1.0) == pytest.approx(3 * np.pi / 4, rel=1e-4)
    assert reference_speed(BreathingEllipse(2.0, 0.5), 2.0) == pytest.approx(4 * 3 * np.pi / 4, rel=1e-4)
    assert reference_speed(BreathingEllipse(1.0, 1.0), 1.0) == 1.0  # nothing moves


def test_bad_settings_name_the_parameter():
    for options, name in [({"frames": 1}, "frames"), ({"t_max": 0.0}, "t_max"), ({"time": 2.0}, "time"),
                          ({"beta0": -1.0}, "beta0"), ({"num_points": 2}, "num_points")]:
        with pytest.raises(ConfigError, match=name):
            _explorer(**options)
    with pytest.raises(ConfigError, match="model"):
        _explorer().lab.frame("nonexistent", 2.0, 1.0, 24, 0.0)
    with pytest.raises(ConfigError, match="model"):
        _explorer(model="nonexistent")


def test_labels_name_model_problem_and_recipe():
    assert recipe_label(TrainConfig.original()) == "original recipe, 2500 epochs"
    assert recipe_label(TrainConfig()) == "collocation, 200 Adam + 500 L-BFGS"
    assert recipe_label(TrainConfig(model="phase", omega=5.0, learn_omega=True)).endswith("learned omega")
    assert model_label(TrainConfig(beta0=3.0)).startswith("seed | beta0=3, T=1, t<=1.5 |")


def test_stored_models_lists_good_checkpoints_and_skips_bad_ones(tmp_path):
    configs = {"seed-aaa": TrainConfig(), "seed-bbb": TrainConfig(), "phase-ccc": TrainConfig(model="phase")}
    for key, config in configs.items():
        model = build_model(config.model, **config.model_options())
        save_checkpoint(tmp_path / key / "model.pt", FitResult(model, config, {}, {}))
    (tmp_path / "seed-bad").mkdir()
    (tmp_path / "seed-bad" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="seed-bad"):
        found = stored_models(tmp_path)
    labels = [m.label for m in found]
    assert len(found) == 3
    base = model_label(TrainConfig())
    assert f"{base} [aaa]" in labels and f"{base} [bbb]" in labels  # same config twice: hashes tell apart
    assert model_label(TrainConfig(model="phase")) in labels
    with pytest.warns(UserWarning, match="seed-bad"):
        ex = Explorer(store=tmp_path, frames=11, grid_size=5, device="cpu")
    assert set(ex.model.options) == set(labels)


def test_empty_store_is_a_config_error(tmp_path):
    assert stored_models(tmp_path) == []
    with pytest.raises(ConfigError, match="models"):
        Explorer(store=tmp_path)


def test_a_failed_solve_shows_no_curve_and_says_so(monkeypatch):
    import breathing_lib.widgets as widgets

    def underflow(*args, **kwargs):
        raise AssertionError("underflow in dt 0.0")

    monkeypatch.setattr(widgets, "flow", underflow)
    ex = _explorer()
    assert np.isnan(_pred_xy(ex)).all()
    assert "solver failed" in ex.status.value
    assert ex.lab.max_point_error("exact", 2.0, 1.0, 24) == np.inf
