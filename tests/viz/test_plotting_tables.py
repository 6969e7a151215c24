import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from breathing_lib import ConfigError
from breathing_lib.inference import evaluate, predict
from breathing_lib.models import AnalyticField
from breathing_lib.viz.plotting import animate, closed_curve, plot_history, quiver_grid, use_style
from breathing_lib.viz.tables import markdown_table


def test_animation_is_an_embedded_video_with_every_frame(problem):
    use_style()
    t = torch.linspace(0, 1, 6)
    curves = problem.sample(t, 32)
    html = animate(t, curves, curves * 1.01, AnalyticField(problem)).data
    assert html.lstrip().startswith("<video") and "base64," in html
    assert not plt.get_fignums()  # the figure is closed, not left to be drawn again


def test_animation_falls_back_to_the_javascript_player(problem, monkeypatch):
    import matplotlib.animation

    def no_ffmpeg(self, *args, **kwargs):
        raise RuntimeError("no encoder")

    monkeypatch.setattr(matplotlib.animation.Animation, "to_html5_video", no_ffmpeg)
    t = torch.linspace(0, 1, 4)
    html = animate(t, problem.sample(t, 16)).data
    assert "<video" not in html and "animation" in html.lower()


def test_the_quiver_grid_covers_the_square_row_by_row():
    grid = quiver_grid(2.0, 5)
    assert grid.shape == (25, 2)
    np.testing.assert_array_equal(grid[:5, 0], [-2, -1, 0, 1, 2])  # x varies fastest
    np.testing.assert_array_equal(grid[::5, 1], [-2, -1, 0, 1, 2])
    assert len(quiver_grid(1.0)) == 15 * 15
    with pytest.raises(ConfigError, match="grid_size"):
        quiver_grid(1.0, 1)
    with pytest.raises(ConfigError, match="extent"):
        quiver_grid(0.0, 5)


def test_plot_history_uses_log_axes():
    axes = plot_history({"epoch": [0, 1, 2], "mse": [1.0, 0.1, 0.01], "cum_abs_dev": [5.0, 3.0, 1.0]})
    assert all(ax.get_yscale() == "log" for ax in axes)
    plt.close("all")


def test_markdown_table_formats_columns():
    md = markdown_table([{"N": 21, "mse": 1.234e-4}, {"N": 512, "mse": None}], {"mse": ".1e"}).data
    assert md.splitlines() == ["| N | mse |", "|---|---|", "| 21 | 1.2e-04 |", "| 512 | never |"]


def test_markdown_table_escapes_bars_inside_cells():
    md = markdown_table([{"|g|": 1.5, "name": "a|b"}]).data
    assert md.splitlines() == [r"| \|g\| | name |", "|---|---|", r"| 1.5 | a\|b |"]


def test_evaluate_the_exact_field_scores_perfectly(problem):
    report = evaluate(AnalyticField(problem), problem, num_points=64, num_time_steps=16, t_final=1.5)
    assert report["max_point_error"] < 1e-5  # dopri5 at rtol 1e-7, float32 state
    assert report["area_rel_drift"] < 1e-5
    assert report["self_intersections"] == 0 and report["order_swaps"] == 0
    assert report["field_rel_error"] < 1e-6


def test_predict_shapes(problem):
    p = predict(AnalyticField(problem), problem, num_points=10, num_time_steps=5, t_final=2.0)
    assert p.pred.shape == p.truth.shape == (5, 10, 2) and p.t[-1].item() == 2.0


def test_closed_curve_repeats_the_first_point_at_the_end():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    closed = closed_curve(square)
    assert closed.shape == (5, 2)
    np.testing.assert_array_equal(closed[:4], square)
    np.testing.assert_array_equal(closed[4], square[0])
