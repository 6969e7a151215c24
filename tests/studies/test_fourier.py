import math

import pytest
import torch
from fft_helpers import FFT_ULPS, loss_rounding, random_band_limited, size

from breathing_lib import BreathingEllipse, ConfigError
from breathing_lib.checks import rounding
from breathing_lib.descriptors import (
    curve_descriptors,
    curve_from_descriptors,
)
from breathing_lib.models import AnalyticField
from breathing_lib.studies.fourier import (
    aliased_descriptors,
    resolution_study,
    sliding_probe,
    spectral_tail,
)

T64 = torch.linspace(0, 1.5, 7, dtype=torch.float64)


def test_resolution_study_of_the_exact_field():
    problem = BreathingEllipse(3.0, 0.8)
    rows = resolution_study(AnalyticField(problem), problem, 4, [16, 64], fine_points=128,
                            num_time_steps=8, t_final=1.0)
    float32_rounding = loss_rounding(math.sqrt(problem.beta0), 0.0, ulps=16, dtype=torch.float32)  # a <= sqrt(beta0)
    for row in rows:
        # float32 curves through an adaptive solver at rtol 1e-7: errors at float32 rounding
        assert row["descriptor loss"] < float32_rounding and row["vs fine truth"] < float32_rounding
        assert row["rebuilt gap"] < 1e-5 and row["descriptor area err"] < 1e-5
        assert row["descriptor change"] < 1e-5 and row["unexplained by aliasing"] < 1e-5
    m = 15  # unique points at N = 16
    assert rows[0]["shoelace area err"] == pytest.approx(1 - math.sin(2 * math.pi / m) / (2 * math.pi / m), rel=1e-3)


def test_aliasing_of_a_curve_that_is_not_band_limited_is_predicted():
    """A curve with modes up to 20 sampled at N = 12 (M = 11): c_k picks up c_{k +- 11}, c_{k +- 22}."""
    coeffs = random_band_limited(20, batch=(2,), seed=3)
    coarse = curve_descriptors(curve_from_descriptors(coeffs, 12), 4)
    assert (coarse - coeffs[:, 16:25]).abs().max() > 1e-3  # aliasing is real here
    fine = curve_from_descriptors(coeffs, 200)
    tol = rounding(size(fine), ulps=FFT_ULPS)
    predicted = aliased_descriptors(fine, 4, 12)
    torch.testing.assert_close(predicted, coarse, rtol=0, atol=tol)
    # at the fine resolution itself there is nothing to fold
    torch.testing.assert_close(aliased_descriptors(fine, 4, 200), curve_descriptors(fine, 4), rtol=0, atol=tol)


@pytest.mark.parametrize("beta0, period", [(2.0, 1.0), (3.0, 0.8)])
def test_sliding_probe_matches_its_closed_forms(beta0, period):
    problem = BreathingEllipse(beta0, period)
    rows = {r["change"].split(" at")[0]: r for r in sliding_probe(problem, 4, t=0.3)}
    a, b = (float(s) for s in problem.semi_axes(torch.tensor([0.3], dtype=torch.float64)))
    scale = max(a, b)  # the curves' size, at which their points and descriptors round
    for row in rows.values():
        assert row["descriptor loss"] == pytest.approx(row["closed form"], abs=loss_rounding(scale, row["closed form"]))
    uniform, slide, wiggle = rows["uniform slide"], rows["slide"], rows["wiggle"]
    # sliding keeps the curve: on the ellipse to rounding, same area up to the polygon's O(1/N^2)
    # ((x/a)^2 + (y/b)^2 and the area relative to pi a b round at size / min(a, b) = max(a, b) / min(a, b))
    on_curve = rounding(max(a, b) / min(a, b), ulps=FFT_ULPS)
    assert uniform["off the ellipse"] < on_curve and slide["off the ellipse"] < on_curve
    assert abs(uniform["area change"]) < on_curve and abs(slide["area change"]) < 1.5e-5  # measured 3.4e-6
    assert wiggle["off the ellipse"] > 0.09
    # the ellipse is band-limited, so a uniform slide is seen exactly as Parseval says ...
    assert uniform["descriptor loss"] == pytest.approx(2 * uniform["point MSE"] / 9,
                                                       abs=loss_rounding(scale, uniform["descriptor loss"]))
    assert uniform["|c_k| loss"] < loss_rounding(scale, 0.0)  # ... but not by the moduli, which forget the start
    # above the band: a slide is seen at fourth order in its size, a wiggle not at all
    assert slide["descriptor loss"] < 1e-3 * slide["point MSE"]
    assert wiggle["descriptor loss"] < loss_rounding(scale, 0.0) < 1e-4 < wiggle["point MSE"]


def test_sliding_probe_rejects_a_mode_inside_the_band():
    with pytest.raises(ConfigError, match="mode"):
        sliding_probe(BreathingEllipse(), 4, mode=5)


def test_spectral_tail_tells_resolved_from_unresolved_curves():
    problem = BreathingEllipse()
    curves = problem.sample(T64, 64)
    assert spectral_tail(curves) < rounding(size(curves), ulps=FFT_ULPS)
    theta = torch.linspace(0, 2 * math.pi, 64, dtype=torch.float64)
    ellipse = problem.sample(T64[:1], 64)[0]
    low = ellipse * (1 + 0.1 * torch.cos(10 * theta))[:, None]  # modes 9, 11 < 63/4
    high = ellipse * (1 + 0.1 * torch.cos(20 * theta))[:, None]  # modes 19, 21 >= 63/4
    assert spectral_tail(low) < rounding(size(low), ulps=FFT_ULPS)
    # z (1 + e cos 20 theta) puts e/2 c_1 at modes 21 and -19: c_1 = (a + b)/2 = (sqrt 2 + 1/sqrt 2)/2
    assert spectral_tail(high) == pytest.approx(0.05 * (2**0.5 + 0.5**0.5) / 2, abs=rounding(size(high), ulps=FFT_ULPS))
