"""Structure measures: divergence by autograd, area drift and its parts, perturbed starts, psi error."""

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from breathing_lib import BreathingEllipse, ConfigError, build_model, feature_stats, generate_truth
from breathing_lib.checks import CheckFailed, Checks, rounding
from breathing_lib.metrics import area_ratios
from breathing_lib.models import AnalyticField
from breathing_lib.studies import structure
from breathing_lib.studies.extrapolation import start_curves
from breathing_lib.studies.solvers import max_strain_rate
from breathing_lib.studies.structure import (
    area_drift_by_points,
    area_table,
    beyond_window,
    divergence,
    divergence_map,
    drift_parts,
    drift_sources,
    findings,
    peak_strain_rate,
    perturbed_starts,
    polygon_bias,
    score_starts,
    seed_table,
    stream_function_error,
    table_row,
    worst,
)


class Linear(nn.Module):
    """v = M x: divergence trace(M) everywhere, area growth exp(trace(M) t)."""

    def __init__(self, matrix):
        super().__init__()
        self.register_buffer("m", torch.as_tensor(matrix, dtype=torch.float64))

    def forward(self, t, x):
        return x @ self.m.T.to(x.dtype)


class Shear(nn.Module):
    """u = sin y, v = sin x: divergence-free but nonlinear, so straight edges bend."""

    def forward(self, t, x):
        return torch.stack([torch.sin(x[..., 1]), torch.sin(x[..., 0])], dim=-1)


def test_divergence_of_known_fields(problem):
    points = (torch.rand(50, 2, dtype=torch.float64) - 0.5) * 4
    alpha = float(problem.alpha(torch.tensor(0.3, dtype=torch.float64)))
    assert divergence(AnalyticField(problem), 0.3, points).abs().max() < rounding(abs(alpha))  # alpha - alpha
    torch.testing.assert_close(divergence(Linear([[0.7, 2.0], [-1.0, 0.4]]), 0.0, points),
                               torch.full((50,), 1.1, dtype=torch.float64))
    assert divergence(Shear(), 0.0, points).abs().max() < rounding(1.0)  # derivatives |cos| <= 1
    # a field independent of position: autograd reports no dependence, divergence 0
    assert torch.all(divergence(lambda t, x: torch.ones_like(x).detach(), 0.0, points) == 0)


def test_divergence_of_a_network_matches_finite_differences():
    t, curves = generate_truth(2.0, 2 * math.pi, 1.5, 32, 8)
    field = build_model("time-input", feature_stats(t, curves)).double()
    points = (torch.rand(40, 2, dtype=torch.float64) - 0.5) * 3
    h = 1e-5
    ex, ey = torch.tensor([h, 0.0], dtype=torch.float64), torch.tensor([0.0, h], dtype=torch.float64)
    with torch.no_grad():
        du = (field(0.4, points + ex)[:, 0] - field(0.4, points - ex)[:, 0]) / (2 * h)
        dv = (field(0.4, points + ey)[:, 1] - field(0.4, points - ey)[:, 1]) / (2 * h)
    torch.testing.assert_close(divergence(field, 0.4, points), du + dv, rtol=1e-6, atol=1e-8)


def test_divergence_needs_a_positional_field():
    with pytest.raises(ConfigError, match="divergence"):
        divergence(build_model("second-order"), 0.0, torch.zeros(3, 2))


def test_divergence_map_over_the_swept_region(problem):
    t = torch.linspace(0, 1.5, 5)
    uniform = divergence_map(Linear([[0.5, 1.0], [0.0, 0.25]]), problem, t, grid_size=21)
    assert uniform.peak.shape == (21, 21) and uniform.axis.shape == (21,)
    inside = ~np.isnan(uniform.peak)
    assert 0 < inside.sum() < 21 * 21  # the square's corners lie outside every ellipse
    assert inside[10, 10] and not inside[0, 0]
    np.testing.assert_allclose(uniform.peak[inside], 0.75, rtol=1e-6)
    assert uniform.max_abs == pytest.approx(0.75) and uniform.rms == pytest.approx(0.75)
    exact = divergence_map(AnalyticField(problem), problem, t, grid_size=21)
    assert exact.max_abs < 1e-6
    with pytest.raises(ConfigError, match="grid_size"):
        divergence_map(AnalyticField(problem), problem, t, grid_size=1)


def test_area_ratios_of_linear_maps(problem):
    curve = problem.sample(torch.zeros(1, dtype=torch.float64), 40)[0]
    shear = torch.tensor([[1.0, 0.8], [0.0, 1.0]], dtype=torch.float64)  # det 1
    traj = torch.stack([curve, curve @ shear.T, 1.5 * curve])
    np.testing.assert_allclose(area_ratios(traj), [0.0, 0.0, 1.25], rtol=0, atol=rounding(1.5**2))  # A / A0 <= 1.5^2


def test_area_drift_separates_divergence_from_the_polygon(problem):
    t = torch.linspace(0, 1.0, 11, dtype=torch.float64)
    start = lambda n: problem.sample(torch.zeros(1, dtype=torch.float64), n)[0]  # noqa: E731
    # uniform divergence c: every region grows by exp(c t), whatever the polygon's N
    grow = area_drift_by_points(Linear([[0.1, 0.0], [0.0, 0.1]]), problem, [16, 64], t, start=start)
    for drift in grow.values():
        assert drift == pytest.approx(math.exp(0.2) - 1, rel=1e-6)
    # the exact breathing flow is linear with det 1: polygon areas are kept up to the integrator's
    # error, which dopri5 at rtol 1e-7 leaves near 1e-6 over a period (whatever N)
    exact = area_drift_by_points(AnalyticField(problem), problem, [16, 64], t, start=start)
    assert max(exact.values()) < 1e-5
    # a nonlinear divergence-free flow bends the edges: the polygon's drift falls as 1/N^2
    shear = area_drift_by_points(Shear(), problem, [16, 64], t, start=start)
    assert shear[16] > 1e-4
    assert 16 / 2 < shear[16] / shear[64] < 16 * 2, shear
    # the integrator's share: a coarse fixed-step rk4 loses area that tight dopri5 keeps
    coarse = area_drift_by_points(Shear(), problem, [64], t[::10], start=start, method="rk4")  # one step
    tight = area_drift_by_points(Shear(), problem, [64], t, start=start, method="dopri5", rtol=1e-10, atol=1e-12)
    assert abs(tight[64] / shear[64] - 1) < 0.1  # at N = 64 the polygon's share dominates already
    assert coarse[64] > 10 * tight[64], (coarse, tight)
    with pytest.raises(ConfigError, match="num_points"):
        area_drift_by_points(Shear(), problem, [2], t)


PERTURBED = ("shifted", "rotated", "scaled", "circle")


def test_score_starts_against_the_exact_flow(problem):
    starts = {k: v for k, v in start_curves(problem, 32).items() if k in PERTURBED}
    t = torch.linspace(0, 1.0, 6)
    rows = score_starts({"exact": AnalyticField(problem), "still": Linear(torch.zeros(2, 2))}, problem, starts, t)
    assert len(rows) == 8
    for row in rows:
        assert row["exact drift"] < 1e-6
        if row["model"] == "exact":
            assert row["curve MSE"] < 1e-10 and row["area drift"] < 3e-6  # measured 6.3e-7: float32, dopri5
        else:  # a field that does not move: zero drift, but the curve error of the whole motion
            assert row["area drift"] < 1e-6 and row["max point error"] > 0.1


class FakeStream(nn.Module):
    """psi = gain * alpha(t) x y + c(t): its error up to a constant is |gain - 1|."""

    def __init__(self, problem, gain):
        super().__init__()
        self.problem, self.gain = problem, gain
        self.w = nn.Parameter(torch.zeros(1))

    def stream_function(self, t, h):
        return self.gain * self.problem.stream_function(h, t) + 5.0 + 3.0 * t


def test_stream_function_error_up_to_a_constant(problem):
    t = torch.linspace(0, 1.5, 7)
    assert stream_function_error(FakeStream(problem, 1.0), problem, t) < 2e-6  # measured 5.0e-7: float32
    assert stream_function_error(FakeStream(problem, 1.1), problem, t) == pytest.approx(0.1, rel=1e-4)
    with pytest.raises(ConfigError, match="stream"):
        stream_function_error(build_model("time-input"), problem, t)


def test_perturbed_starts_are_those_of_chapter_9(problem):
    starts = perturbed_starts(problem, 40, shift=(0.3, -0.2), angle_deg=30.0, scale=1.3)
    assert tuple(starts) == ("shifted", "rotated", "scaled", "circle")
    same = start_curves(problem, 40, shift=(0.3, -0.2), angle=math.pi / 6, scale=1.3)
    for name, curve in starts.items():
        torch.testing.assert_close(curve, same[name], rtol=0, atol=rounding(2.0, torch.float32))


def test_area_table_of_the_exact_field_and_its_lookups(problem):
    models = {"exact": AnalyticField(problem), "still": Linear(torch.zeros(2, 2))}
    rows, runs = area_table(models, problem, [16, 32], num_time_steps=9, t_final=1.0)
    assert [(r["N"], r["model"]) for r in rows] == [(16, "exact"), (16, "still"), (32, "exact"), (32, "still")]
    assert set(runs) == {(name, n) for name in models for n in (16, 32)}
    assert table_row(rows, 32, "exact")["curve MSE"] < 1e-10  # dopri5's error, squared
    assert table_row(rows, 16, "still")["max point error"] > 0.1  # a field that does not move misses the breath
    assert worst(rows, "exact", "area drift") < 1e-5  # dopri5 at rtol 1e-7 over a period
    assert worst(rows, "still", "area drift") < rounding(1.0, torch.float32)  # the same polygon, float32 area


def test_peak_strain_rate_and_polygon_bias(problem):
    # sampled on 1001 times the peak is missed by at most its curvature over half a sample, squared
    assert peak_strain_rate(problem) == pytest.approx(max_strain_rate(problem), rel=1e-4)
    x = 2 * math.pi / (300 - 1)  # the sample repeats its first point: a regular 299-gon, stretched
    assert polygon_bias(problem, 300) == pytest.approx(-(1 - math.sin(x) / x), abs=rounding(1.0, torch.float32))


def test_seed_table_summarises_every_problem_and_seed(problem, monkeypatch):
    served = []

    def exact_model(config, device=None, progress=False):
        served.append((config.model, config.seed, config.beta0, config.num_points))
        return SimpleNamespace(model=AnalyticField(config.problem))

    monkeypatch.setattr(structure, "trained_model", exact_model)
    rows, mse = seed_table({"MLP": "time-input", "stream": "stream"}, [dict(beta0=3.0, period=0.8)], [0, 1],
                           other_points=16, num_points=16, num_time_steps=9)
    assert [(r["beta0"], r["period"]) for r in rows] == [(2.0, 1.0), (3.0, 0.8)]
    assert set(mse) == {(name, b) for name in ("MLP", "stream") for b in (2.0, 3.0)}
    assert ("stream", 1, 3.0, 16) in served and len(served) == 8  # 2 problems x 2 models x 2 seeds
    for r in rows:
        assert r["stream / MLP MSE"] == r["stream MSE"] / r["MLP MSE"]
        assert r["MLP spread"] >= 1 and r["stream drift"] < 1e-5  # the exact field keeps area to dopri5's error


def test_beyond_window_splits_the_error_at_the_window(problem):
    rows, predictions = beyond_window({"exact": AnalyticField(problem), "still": Linear(torch.zeros(2, 2))}, problem,
                                      num_points=16, num_time_steps=13, t_final=3.0, window=1.5)
    exact, still = rows
    assert set(predictions) == {"exact", "still"} and predictions["exact"].t[-1] == pytest.approx(3.0)
    assert exact["MSE in window"] < 1e-10 and exact["MSE beyond"] < 1e-9
    assert still["MSE in window"] > 1e-3 and still["area drift, whole run"] < rounding(1.0, torch.float32)


def test_drift_sources_separate_the_polygon_from_the_integrator(problem):
    t = torch.linspace(0, 1.0, 11)
    sources = drift_sources(Shear(), problem, [16, 64, 256], 64, t, tight_rtol=1e-10, rk4_grids=[2, 4], t_final=1.0)
    polygon, rk4 = sources["polygon"], sources["rk4"]
    assert sorted(polygon) == [16, 64] and sorted(rk4) == [2, 4]  # N up to num_points only
    assert 16 / 2 < polygon[16] / polygon[64] < 16 * 2  # the bent edges' 1/N^2
    assert rk4[2] > rk4[4] > polygon[64]  # coarser steps, more of the integrator's error
    area = [{"N": 64, "model": "stream", "area drift": 1e-6, "exact drift": 1e-8}]
    parts = drift_parts(sources, area, 64, 1e-10)
    assert [p["drift"] for p in parts] == [polygon[16], polygon[64], rk4[2], rk4[4], 1e-6, 1e-8]


SETTINGS = dict(point_counts=[30, 100, 300], drift_points=300, drift_claim=1e-5, drift_claim_beyond=1e-4, same_order=3,
                num_time_steps=64, heat_times=16, window=1.5, t_beyond=3.0, other_points=64, seeds=[0, 1, 2],
                shift=(0.3, -0.2), angle_deg=30.0, scale=1.3, tight_rtol=1e-10)


def _measured():
    """What chapter 11 measures, made by hand so that every claim holds: the stream model keeps area to 1e-7,
    the MLP to 1e-3 on the data and 1e-1 off it; both fail beyond the window."""
    rows = [{"N": n, "model": name, "curve MSE": 1e-5, "max point error": 1e-2, "area drift": drift,
             "exact drift": 1e-8}
            for n in SETTINGS["point_counts"] for name, drift in (("MLP", 1e-3), ("stream", 1e-7))]
    seed_rows = [{"beta0": b, "period": 1.0, "MLP MSE": 1e-5, "MLP spread": 2.0, "MLP drift": 1e-3,
                  "stream MSE": 1.2e-5, "stream spread": 1.5, "stream drift": 1e-6, "stream / MLP MSE": 1.2}
                 for b in (2.0, 3.0, 1.5)]
    start_rows = [{"start": start, "model": name, "curve MSE": mse, "max point error": 0.1, "area drift": drift,
                   "exact drift": 1e-8} for start in ("shifted", "rotated", "scaled", "circle")
                  for name, mse, drift in (("MLP", 1e-2, 1e-1), ("stream", 1e-3, 1e-7))]
    beyond_rows = [{"model": "MLP", "MSE in window": 1e-6, "MSE beyond": 1.0, "area drift, whole run": 1e-1},
                   {"model": "stream", "MSE in window": 1e-6, "MSE beyond": 0.1, "area drift, whole run": 1e-6}]
    polygon = {30: 1e-8 * (299 / 29) ** 2, 100: 1e-8 * (299 / 99) ** 2, 300: 1e-8}
    return dict(rows=rows, maps={"MLP": SimpleNamespace(max_abs=3.0), "stream": SimpleNamespace(max_abs=1e-7)},
                map64=SimpleNamespace(max_abs=1e-16), psi_error=0.03, field_error={"MLP": 0.2, "stream": 0.03},
                seed_rows=seed_rows, start_rows=start_rows, beyond_rows=beyond_rows,
                sources={"polygon": polygon, "rk4": {16: 1e-3, 32: 1e-4, 64: 1e-5}})


def _findings(measured):
    problem = BreathingEllipse()
    models = {"MLP": build_model("time-input"), "stream": build_model("stream")}
    return findings(problem, models, **measured, settings=SETTINGS)


def test_findings_state_every_number_of_the_prose_and_check_every_claim(glued, shown):
    numbers = _findings(_measured())
    assert shown("11_structure_preserving", numbers) == (4, 23, 2)
    assert numbers["div64"].kind == numbers["polygon_deficit_error"].kind == "exact"
    assert numbers["same_order_holds"].kind == "logical" and numbers["ratio_min"].above
    assert glued["fewer_weights"] == 65  # one output fewer: its 64 weights and its bias
    assert glued["n_small"] == 30 and glued["rk4_coarse_steps"] == 16 and glued["num_seeds"] == 3
    assert glued["start_gain_min"] == pytest.approx(10.0) and glued["poly_expected"] == pytest.approx((299 / 29) ** 2)


@pytest.mark.parametrize("claim, spoil", [
    ("stream: worst area drift on the book's problem", lambda m: m["rows"][-1].update({"area drift": 2e-5})),
    ("between 1/3 and 3 on every problem", lambda m: m["seed_rows"][1].update({"stream / MLP MSE": 4.0})),
    ("stream, float64 copy: max |div f|", lambda m: m.update(map64=SimpleNamespace(max_abs=1e-10))),
    ("rk4 area drift, K = 16 over K = 32", lambda m: m["sources"]["rk4"].update({32: 2e-3})),
    ("beyond the window: MSE, MLP / stream", lambda m: m["beyond_rows"][1].update({"MSE beyond": 2.0})),
    ("perturbed starts: curve MSE, MLP / stream", lambda m: m["start_rows"][3].update({"curve MSE": 5e-3})),
])
def test_a_result_that_breaks_a_claim_fails_the_chapter(glued, claim, spoil):
    measured = _measured()
    spoil(measured)
    with pytest.raises(CheckFailed, match=re.escape(claim)):
        Checks("11").show(_findings(measured))
