"""Structure measures: divergence by autograd, area drift and its parts, perturbed starts, psi error."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from breathing_lib import ConfigError, build_model, feature_stats, generate_truth
from breathing_lib.checks import rounding
from breathing_lib.metrics import area_ratios
from breathing_lib.models import AnalyticField
from breathing_lib.studies.extrapolation import start_curves
from breathing_lib.studies.structure import (
    area_drift_by_points,
    divergence,
    divergence_map,
    score_starts,
    stream_function_error,
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
