"""Perturbed starts, shape moments and the scores of a flow beyond the training data."""

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError, TrainConfig, build_model, feature_stats, generate_truth
from breathing_lib.checks import CheckFailed, Checks, rounding
from breathing_lib.inference import predict
from breathing_lib.metrics import self_intersections
from breathing_lib.models import AnalyticField
from breathing_lib.studies.extrapolation import (
    START_NAMES,
    StartFlow,
    aspect_and_angle,
    breathing_agreement,
    breathing_signal,
    cli_agreement,
    compare_flow,
    compare_flows,
    data_offset,
    extrapolation_study,
    findings,
    outside_swept,
    phase_periodicity,
    rank_correlation,
    reads_time,
    region_moments,
    saturated_fraction,
    shade_window,
    start_curves,
    start_table,
    time_variation,
    window_errors,
)


def _polygon_factor(n):
    """Area of the regular n-gon inscribed in the unit circle over pi: what sampling loses."""
    return n * math.sin(2 * math.pi / n) / (2 * math.pi)


def test_start_curves_have_the_intended_area_centroid_and_orientation(problem):
    n = 512
    starts = start_curves(problem, n, shift=(0.3, -0.2), angle=0.4, scale=1.5)
    assert tuple(starts) == START_NAMES
    moments = {name: region_moments(curve) for name, curve in starts.items()}
    ellipse_area = math.pi * problem.xi**2 * _polygon_factor(n)
    for name, curve in starts.items():
        assert curve.shape == (n, 2) and curve.dtype == torch.float32
        assert self_intersections(curve) == 0, name
        assert region_moments(curve)["area"] > 0
    for name in ("ellipse", "shifted", "rotated", "circle"):  # rigid motions, and the circle of equal area
        assert moments[name]["area"] == pytest.approx(ellipse_area, rel=1e-5), name
    assert moments["scaled"]["area"] == pytest.approx(1.5**2 * ellipse_area, rel=1e-5)
    assert moments["noisy"]["area"] == pytest.approx(ellipse_area, rel=0.02)  # 3% radial noise, averaged over 512
    np.testing.assert_allclose(moments["shifted"]["centroid"], [0.3, -0.2], atol=1e-6)
    for name in ("ellipse", "rotated", "scaled", "circle"):
        np.testing.assert_allclose(moments[name]["centroid"], [0.0, 0.0], atol=1e-6)
    aspect, angle = aspect_and_angle(moments["rotated"]["cov"])
    assert angle == pytest.approx(0.4, abs=1e-5)
    assert aspect == pytest.approx(problem.beta0, rel=1e-5)  # a / b = beta at t = 0
    assert aspect_and_angle(moments["circle"]["cov"])[0] == pytest.approx(1.0, abs=1e-5)


def test_noisy_start_is_reproducible_and_bad_input_names_the_parameter(problem):
    torch.testing.assert_close(start_curves(problem, 64, seed=3)["noisy"], start_curves(problem, 64, seed=3)["noisy"])
    assert not torch.equal(start_curves(problem, 64, seed=3)["noisy"], start_curves(problem, 64, seed=4)["noisy"])
    assert torch.equal(start_curves(problem, 64, noise=0.0)["noisy"], start_curves(problem, 64)["ellipse"])
    for kwargs, name in ((dict(noise=-0.1), "noise"), (dict(scale=0.0), "scale"), (dict(num_points=2), "num_points"),
                         (dict(shift=(1.0,)), "shift"), (dict(angle=float("nan")), "angle")):
        with pytest.raises(ConfigError, match=name):
            start_curves(problem, **{"num_points": 16, **kwargs})


def test_region_moments_of_known_shapes():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    m = region_moments(square)
    assert m["area"] == pytest.approx(1.0)
    np.testing.assert_allclose(m["centroid"], [0.5, 0.5])
    # the moments sum products of two coordinates: they round at max |p|^2
    np.testing.assert_allclose(m["cov"], np.eye(2) / 12, rtol=0, atol=rounding(np.abs(square).max() ** 2))
    # orientation and position of the polygon do not matter
    moved = square[::-1] + 5.0
    np.testing.assert_allclose(region_moments(moved)["cov"], m["cov"], rtol=0, atol=rounding(np.abs(moved).max() ** 2))
    theta = 2 * math.pi * np.arange(2000) / 2000
    a, b = 2.0, 0.5
    ellipse = np.stack([a * np.cos(theta), b * np.sin(theta)], axis=1)
    np.testing.assert_allclose(region_moments(ellipse)["cov"], np.diag([a**2, b**2]) / 4, rtol=1e-5, atol=1e-9)


def test_exact_flow_breathes_every_start_and_keeps_its_offset():
    problem = BreathingEllipse(beta0=3.0, period=0.8)
    t = torch.linspace(0, 2.0, 41, dtype=torch.float64)
    expected = torch.log(problem.beta(t) / problem.beta(t[:1])).numpy()
    for name, x0 in start_curves(problem, 96).items():
        traj = problem.flow(x0.double(), t)
        # a log of a ratio of two moments, each rounded relative to itself: rounding(1)
        np.testing.assert_allclose(breathing_signal(traj), expected, rtol=0, atol=rounding(1.0), err_msg=name)
        offsets = torch.stack([data_offset(problem, traj[k], t[k]) for k in range(len(t))])
        # |r - 1| rounds with r = 1 + offset
        torch.testing.assert_close(offsets, offsets[:1].expand_as(offsets), rtol=0, atol=rounding(1 + offsets.max()))
    assert float(data_offset(problem, problem.sample(t, 50), t[:, None]).max()) < rounding(1.0)  # the data: r = 1
    circle = start_curves(problem, 400)["circle"]
    assert float(data_offset(problem, circle, 0.0).max()) == pytest.approx(math.sqrt(3.0) - 1, rel=1e-4)


def test_outside_swept_region(problem):
    t = torch.linspace(0, 1.5, 30)
    assert outside_swept(problem, problem.sample(t, 64), 1.5) == 0.0
    far = torch.tensor([[3.0, 3.0], [0.0, 0.0]])
    assert outside_swept(problem, far, 1.5) == 0.5
    # against a dense grid of times: the union of the ellipses over [0, 0.3] (not yet half a period)
    points = torch.rand(4000, 2, generator=torch.Generator().manual_seed(1)) * 3.2 - 1.6
    a, b = problem.semi_axes(torch.linspace(0, 0.3, 3001, dtype=torch.float64))
    p = points.double()
    outside = ~(((p[:, None, 0] / a) ** 2 + (p[:, None, 1] / b) ** 2) <= 1).any(dim=1)
    assert outside_swept(problem, points, 0.3) == pytest.approx(float(outside.double().mean()), abs=2e-3)
    with pytest.raises(ConfigError, match="window"):
        outside_swept(problem, far, 0.0)


def test_exact_field_flows_every_start_to_solver_tolerance(problem):
    starts = start_curves(problem, 64)
    t = torch.linspace(0, 2.0, 33)
    results = compare_flows(AnalyticField(problem), problem, starts, t)
    for name, r in results.items():
        assert r.pred.shape == r.exact.shape == (33, 64, 2)
        assert r.point_error.max() < 2e-5, name  # float32 state, dopri5 at rtol 1e-7
        agree = breathing_agreement(r)
        assert agree["correlation"] == pytest.approx(1.0, abs=1e-6) and agree["swing_ratio"] == pytest.approx(1.0, abs=1e-4)
        assert agree["deviation"] < 1e-4
    alone = compare_flow(AnalyticField(problem), problem, starts["rotated"], t)
    # alone or in a batch, dopri5 picks other steps: measured 7.2e-6 apart
    torch.testing.assert_close(alone.pred, results["rotated"].pred, atol=3e-5, rtol=0)


def test_breathing_agreement_sees_a_weaker_breath(problem):
    weaker = BreathingEllipse(beta0=math.sqrt(2.0), period=problem.period)  # swing of log beta halved
    r = compare_flow(AnalyticField(weaker), problem, start_curves(problem, 64)["shifted"], torch.linspace(0, 1.0, 21))
    agree = breathing_agreement(r)
    assert agree["swing_ratio"] == pytest.approx(0.5, rel=1e-3)
    assert agree["deviation"] == pytest.approx(0.5, abs=0.05)  # at the extreme of beta, half the swing missing
    assert agree["correlation"] > 0.99  # the same rhythm (log beta is not a pure cosine, so not exactly 1)
    assert r.point_error.max() > 0.1


def test_time_variation_and_saturation(problem):
    t = torch.linspace(0, 1.0, 41)
    assert time_variation(AnalyticField(problem), problem, (1.0, 0.5), t) == pytest.approx(1.0, rel=1e-5)

    class Frozen(torch.nn.Module):
        def forward(self, t, h):
            return torch.ones_like(h)

    assert time_variation(Frozen(), problem, (1.0, 0.5), t) == 0.0
    times, curves = generate_truth(2.0, 2 * math.pi, 1.5, 32, 8)
    time_input = build_model("time-input", feature_stats(times, curves))
    inside = saturated_fraction(time_input, (1.0, 0.0), torch.linspace(0, 1.5, 5))
    far = saturated_fraction(time_input, (1.0, 0.0), torch.tensor([1e5]))
    assert inside.max() < 0.5 and far[0] == 1.0  # every unit with a time weight saturates as t grows
    for kind in ("autonomous", "phase", "second-order-time"):
        with pytest.raises(ConfigError, match="time input"):
            saturated_fraction(build_model(kind), (1.0, 0.0), t)


def test_reads_time_asks_what_the_network_sees():
    xy = torch.tensor([[0.5, -0.3]])
    seen = {kind: reads_time(build_model(kind), xy)
            for kind in ("time-input", "stream", "autonomous", "phase", "second-order", "second-order-time")}
    # a phase model's clock is its state, and a second-order model's state needs a velocity
    assert seen == {"time-input": True, "stream": True, "autonomous": False, "phase": False, "second-order": False,
                    "second-order-time": False}
    assert not reads_time(AnalyticField(BreathingEllipse()), xy)  # no network at all


def test_window_errors_and_rank_correlation():
    t = np.linspace(0, 3, 7)
    errors = window_errors(np.array([0, 1, 2, 3, 9, 4, 5.0]), t, 1.5)
    assert errors == {"inside": 3.0, "beyond": 9.0, "final": 5.0}
    with pytest.raises(ConfigError):
        window_errors(np.zeros(7), t, 3.0)
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 99]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_start_table_with_the_exact_field(problem):
    starts = start_curves(problem, 48)
    rows, flows = start_table({"exact": AnalyticField(problem)}, problem, starts, torch.linspace(0, 1.5, 25))
    assert [r["start"] for r in rows] == list(START_NAMES) and len(flows) == len(START_NAMES)
    assert all(r["exact error"] < 2e-5 for r in rows)
    by_name = {r["start"]: r for r in rows}
    assert by_name["ellipse"]["offset"] < 1e-6 and by_name["ellipse"]["outside"] == 0.0
    assert by_name["circle"]["offset"] == pytest.approx(math.sqrt(2.0) - 1, rel=1e-3)
    assert by_name["scaled"]["outside"] > 0.5  # 25% larger than the data everywhere


def test_extrapolation_study_scores_the_exact_field_as_perfect(problem):
    times, curves = generate_truth(2.0, 2 * math.pi, 1.5, 32, 8)
    untrained = build_model("time-input", feature_stats(times, curves))
    study = extrapolation_study(untrained, AnalyticField(problem), problem, 1.5, periods=3, steps_per_period=8,
                                window_steps=13, num_points=32, long_starts=("circle",))
    assert tuple(study["phase_long"]) == ("ellipse", "circle")
    assert study["t_long"].shape == (25,) and study["saturation"].shape == (25,)
    assert study["errors"]["phase"]["beyond"] < 2e-5  # the exact field, standing in for the phase model
    assert study["variation"]["phase"] == pytest.approx(1.0, rel=1e-4)
    assert [r["start"] for r in study["rows"]] == list(START_NAMES)
    assert (study["problem"], study["window"], study["periods"], study["steps_per_period"]) == (problem, 1.5, 3, 8)
    with pytest.raises(ConfigError, match="periods"):
        extrapolation_study(untrained, AnalyticField(problem), problem, 1.5, periods=2)


def test_shade_window_marks_the_training_window():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    shade_window(ax, 1.5)
    (span,) = ax.patches
    assert (span.get_x(), span.get_x() + span.get_width()) == (0.0, 1.5) and span.get_label() == "training window"
    plt.close(fig)


def test_phase_periodicity_is_rounding_for_a_phase_model_only(problem):
    times, curves = generate_truth(2.0, 2 * math.pi, 1.5, 32, 8)
    stats = feature_stats(times, curves)
    phase = phase_periodicity(build_model("phase", stats), problem)
    # the claim chapter 9 makes: phi + 2 pi rounds at 4 pi eps of float32, passed on at the field's scale
    assert phase["scale"] > 0 and phase["gap"] < rounding(phase["scale"], torch.float32, ulps=256)
    time_input = phase_periodicity(build_model("time-input", stats), problem)
    assert time_input["gap"] > 1e-3 * time_input["scale"]  # t + T is another input to a time-input network


def test_cli_agreement_compares_with_the_librarys_predict(problem):
    config = TrainConfig(beta0=problem.beta0, period=problem.period, num_points=16)
    fits = {"exact": SimpleNamespace(model=AnalyticField(problem), config=config)}
    same = predict(fits["exact"].model, problem, num_points=16, num_time_steps=33, t_final=3.0)
    run = {"status": 0, "t": same.t.numpy(), "x": same.pred.numpy()}
    scores = cli_agreement({"exact": run}, fits, 3.0, 1.5)["exact"]
    assert scores["status"] == 0 and scores["gap"] == 0.0
    assert scores["scale"] == pytest.approx(math.sqrt(problem.beta0), rel=1e-4)  # the longest semi-axis
    assert scores["beyond"] < 2e-5  # the exact field: dopri5's error
    moved = cli_agreement({"exact": run | {"x": run["x"] + 0.25}}, fits, 3.0, 1.5)["exact"]
    assert moved["gap"] == pytest.approx(0.25, rel=1e-5)
    assert moved["beyond"] == pytest.approx(0.25 * math.sqrt(2), rel=1e-3)  # (0.25, 0.25) off the exact curve




def _good_results(problem, window=1.5, periods=4, steps_per_period=8):
    """What extrapolation_study returns, made by hand so that every claim of chapter 9 holds."""
    t_long = torch.linspace(0, periods * problem.period, periods * steps_per_period + 1)
    starts = start_curves(problem, 32)
    phase_long = {}
    for name, x0 in starts.items():
        exact = problem.flow(x0.double(), t_long.double()).float()
        # a slightly larger curve: off by about 1 %, breathing exactly as the truth does
        phase_long[name] = StartFlow(t_long, 1.01 * exact, exact, np.full(len(t_long), 0.01), 0)
    offsets = dict(zip(START_NAMES, (0.0, 0.1, 0.3, 0.4, 0.3, 0.5)))
    rows = [{"start": name, "offset": offset, "outside": 0.0}
            | {f"{label} {key}": value for label in ("time-input", "phase")
               for key, value in (("error", 0.01 + offset), ("correlation", 0.99), ("swing", 1.05),
                                  ("deviation", 0.1))}
            for name, offset in offsets.items()]
    saturation = np.where(t_long.numpy() <= window, 0.1, 0.6)
    return {"problem": problem, "window": window, "periods": periods, "steps_per_period": steps_per_period,
            "t_long": t_long, "starts": starts, "phase_long": phase_long, "rows": rows, "saturation": saturation,
            "errors": {"time-input": {"inside": 0.01, "beyond": 3.0}, "phase": {"inside": 0.01, "beyond": 0.03}},
            "variation": {"time-input": 0.1, "phase": 1.05}}


def _findings(results, other, cli=None):
    cli = cli or {"time-input": {"status": 0, "gap": 0.0, "scale": 2.0, "beyond": 3.0},
                  "phase": {"status": 0, "gap": 1e-7, "scale": 2.0, "beyond": 0.01}}
    return findings(results, other, periodicity={"gap": 1e-7, "scale": 1.0}, cli=cli,
                    perturbations=dict(noise=0.03, shift=(0.3, 0.2), angle=math.pi / 6, scale=1.25, seed=0),
                    animated_start="rotated", other_points=64)


def test_findings_state_every_number_of_the_prose_and_check_every_claim(problem, glued, shown):
    results, other = _good_results(problem), _good_results(BreathingEllipse(beta0=3.0, period=0.8))
    numbers = _findings(results, other)
    assert shown("09_extrapolation", numbers) == (3, 21, 16)
    assert numbers["period_gap"].kind == numbers["cli_gap_xyt"].kind == "exact"
    assert numbers["four_large"].kind == "logical" and numbers["xyt_growth"].above
    assert numbers["other_xyt_growth"].claim.startswith("beta0 = 3.0, T = 0.8: ")
    assert glued["shift_text"] == "(0.3, 0.2)" and glued["angle_deg"] == pytest.approx(30.0)
    assert glued["worst_drift_name"] == "time-input model, ellipse start"


@pytest.mark.parametrize("claim, spoil", [
    ("phase model: error beyond the window / inside", lambda r, o: r["errors"]["phase"].update(beyond=1.0)),
    ("time-input field's late change", lambda r, o: r["variation"].update({"time-input": 0.9})),
    ("phase model: training-start error < noisy-start error", lambda r, o: r["rows"][0].update({"phase error": 1.0})),
    ("four large perturbations", lambda r, o: r["rows"][2].update(offset=0.15)),
    ("phase model: last-period error", lambda r, o: r["phase_long"]["circle"].point_error.__setitem__(-1, 1.0)),
    ("beta0 = 3.0, T = 0.8: phase model, error beyond", lambda r, o: o["errors"]["phase"].update(beyond=1.0)),
])
def test_a_result_that_breaks_a_claim_fails_the_chapter(problem, glued, claim, spoil):
    results, other = _good_results(problem), _good_results(BreathingEllipse(beta0=3.0, period=0.8))
    spoil(results, other)
    with pytest.raises(CheckFailed, match=re.escape(claim)):
        Checks("9").show(_findings(results, other))


def test_a_command_line_that_differs_from_the_library_fails_the_chapter(problem, glued):
    results, other = _good_results(problem), _good_results(BreathingEllipse(beta0=3.0, period=0.8))
    cli = {"time-input": {"status": 0, "gap": 1e-3, "scale": 2.0, "beyond": 3.0},
           "phase": {"status": 0, "gap": 0.0, "scale": 2.0, "beyond": 0.01}}
    with pytest.raises(CheckFailed, match="command line minus the library's predict, time-input model"):
        Checks("9").show(_findings(results, other, cli))
