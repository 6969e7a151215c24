import math

import pytest
import torch
from fft_helpers import FFT_ULPS, loss_rounding, random_band_limited, size

from breathing_lib import BreathingEllipse, ConfigError
from breathing_lib.checks import Check, CheckFailed, Checks, rounding
from breathing_lib.descriptors import (
    curve_descriptors,
    curve_from_descriptors,
)
from breathing_lib.models import AnalyticField
from breathing_lib.studies.fourier import (
    REBUILT_BOUND,
    TAIL_CUT,
    aliased_descriptors,
    encoding_findings,
    probe_findings,
    resolution_findings,
    resolution_study,
    resolved_fields,
    setup_numbers,
    sliding_probe,
    spectral_tail,
    training_findings,
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


def _claims(numbers):
    return {key: n for key, n in numbers.items() if isinstance(n, Check)}


def test_setup_numbers_state_the_parameters_the_prose_names():
    numbers = setup_numbers(4, 32, [16, 512], 2048, 0.3, 0.05)
    assert numbers == {"train_points": 32, "unique_points": 31, "band_size": 9, "modes": 4, "wiggle_mode": 6,
                       "n_min": 16, "n_max": 512, "fine_points": 2048, "slide_phase": 0.3, "wiggle_size": 0.05}


def _area_rows(shoelace_16=0.029):
    """Relative area errors as the chapter tabulates them, the shoelace one on its series 2 pi^2 / (3 M^2)."""
    rows = [{"N": n, "shoelace rel. error": 2 * math.pi**2 / (3 * (n - 1) ** 2), "descriptor rel. error": 1e-16,
             "2 pi^2 / (3 M^2)": 2 * math.pi**2 / (3 * (n - 1) ** 2)} for n in (16, 128)]
    rows[0]["shoelace rel. error"] = shoelace_16
    return rows


def test_encoding_findings_state_what_the_encoding_and_area_sections_claim():
    numbers = encoding_findings({"default": 1e-16, "beta0=3, T=0.8": 2e-16}, {"default": 1.5, "beta0=3, T=0.8": 1.8},
                                _area_rows(), {"default": -2.001, "beta0=3, T=0.8": -1.999}, 2048)
    assert {"exact_pair", "desc_area", "shoelace_16", "slope"} <= set(numbers)
    assert numbers["exact_pair"] == 2e-16 and numbers["shoelace_16"] == 0.029
    kinds = [c.kind for c in _claims(numbers).values()]
    assert kinds == ["exact", "exact", "exact", "measured", "measured", "measured"]
    assert _claims(numbers)["exact_pair_beta0_3_T_0_8"].claim.endswith("at N = 16 and 2048")
    Checks("8").show(numbers)
    # a shoelace error off its series by more than the next term's five times fails
    with pytest.raises(CheckFailed, match="shoelace error"):
        Checks("8").show(encoding_findings({"default": 0.0}, {"default": 1.0}, _area_rows(0.05), {"default": -2.0},
                                           2048))


def test_probe_findings_of_the_real_probe_hold_and_catch_a_loss_off_its_closed_form():
    problem = BreathingEllipse()
    probes = {"default": sliding_probe(problem, 4)}
    size = {"default": math.sqrt(problem.beta0)}  # a <= sqrt(beta0) at t = 0
    numbers = probe_findings(probes, size, 4, 0.05, "default")
    assert {"slide_loss", "hf_ratio", "wiggle_off", "wiggle_loss"} <= set(numbers)
    claims = _claims(numbers)
    assert len(claims) == 3 + 9 and sum(c.kind == "measured" for c in claims.values()) == 2
    Checks("8").show(numbers)
    probes["default"][0]["closed form"] *= 1.01
    with pytest.raises(CheckFailed, match="closed form"):
        Checks("8").show(probe_findings(probes, size, 4, 0.05, "default"))


def _quality(above_other=1e-3):
    """One row per configuration and loss, as chapter 8 tabulates its trained fields."""
    def row(config, loss, mse, above, window, tail=1e-8):
        return {"config": config, "loss": loss, "window loss at the end": window, "rollout descriptor loss": 1e-3,
                "point MSE": mse, "MSE above mode 4": above, "spectral tail": tail}
    return [row("default", "fourier", 1e-5, 1e-6, 1e-6), row("default", "points", 1e-6, 1e-8, 1e-6),
            row("hard", "fourier", 1e-3, above_other, 1e-5, tail=1e-4), row("hard", "points", 1e-5, 1e-6, 1e-5)]


def test_training_findings_state_the_ratios_and_fail_when_the_descriptor_loss_does_as_well():
    numbers = training_findings(_quality(), 4, "default", "hard")
    assert numbers["ratio_default"] == pytest.approx(10) and numbers["ratio_other"] == pytest.approx(100)
    assert numbers["above_min"] == 100 and numbers["bad_tail"] == 1e-4
    assert numbers["drift"] == pytest.approx(100) and numbers["drift_points"] == pytest.approx(1)
    claims = _claims(numbers)
    assert len(claims) == 5 and all(c.kind == "measured" and c.above for c in claims.values())
    assert claims["drift_ratio"].claim.startswith("hard: growth")
    Checks("8").show(numbers)
    with pytest.raises(CheckFailed, match="hard: MSE above mode 4"):
        Checks("8").show(training_findings(_quality(above_other=1e-6), 4, "default", "hard"))


def _resolution_rows(unexplained=1e-8, failed=False):
    return [{"N": n, "descriptor loss": 1e-4, "vs fine truth": 1e-4, "descriptor change": 1e-3 if failed else 1e-4,
             "unexplained by aliasing": unexplained, "rebuilt gap": 1e-5} for n in (16, 128, 512)]


def test_resolution_findings_tell_the_failed_field_from_the_resolved_ones():
    quality = _quality()
    assert resolved_fields(quality) == [("default", "fourier"), ("default", "points"), ("hard", "points")]
    studies = {(r["config"], r["loss"]): _resolution_rows(failed=r["spectral tail"] >= TAIL_CUT) for r in quality}
    numbers = resolution_findings(studies, quality, {"default": 1.5, "hard": 1.8}, "hard")
    assert numbers["rebuilt_bound"] == REBUILT_BOUND and numbers["unexplained"] == 1e-8
    assert numbers["change"] == 1e-4 and numbers["loss_spread"] == 0
    claims = _claims(numbers)
    assert claims["failed_moves"].claim == "hard / fourier: descriptor change at N = 512"
    assert len(claims) == 2 + 3 + 5 and claims["unexplained_exact"].kind == "exact"
    Checks("8").show(numbers)
    # a change with N that aliasing does not explain, beyond float32 rounding, breaks the claim
    studies["default", "points"] = _resolution_rows(unexplained=1e-4)
    with pytest.raises(CheckFailed, match="not explained by aliasing"):
        Checks("8").show(resolution_findings(studies, quality, {"default": 1.5, "hard": 1.8}, "hard"))
