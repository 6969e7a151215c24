import math

import numpy as np
import pytest
import torch
from fft_helpers import FFT_ULPS, loss_rounding, random_band_limited, size

from breathing_lib import BreathingEllipse, ConfigError
from breathing_lib.checks import rounding
from breathing_lib.descriptors import (
    curve_descriptors,
    curve_from_descriptors,
    curve_spectrum,
    descriptor_area,
    descriptor_loss,
    evaluate_descriptors,
    out_of_band_fraction,
    spectrum_wavenumbers,
    wavenumbers,
)
from breathing_lib.metrics import shoelace_area

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
T64 = torch.linspace(0, 1.5, 7, dtype=torch.float64)


@pytest.mark.parametrize("beta0, period", [(2.0, 1.0), (3.0, 0.8)])
@pytest.mark.parametrize("n", [6, 17, 128])
def test_ellipse_has_exactly_two_descriptors(beta0, period, n):
    problem = BreathingEllipse(beta0, period)
    a, b = problem.semi_axes(T64)
    curves = problem.sample(T64, n)
    c = curve_descriptors(curves, modes=2)
    k = wavenumbers(2)
    tol = rounding(size(curves), ulps=FFT_ULPS)
    torch.testing.assert_close(c[:, k == 1][:, 0], ((a + b) / 2).to(c.dtype), rtol=0, atol=tol)
    torch.testing.assert_close(c[:, k == -1][:, 0], ((a - b) / 2).to(c.dtype), rtol=0, atol=tol)
    assert c[:, k.abs() != 1].abs().max() < tol


def test_descriptors_do_not_depend_on_the_number_of_points():
    coeffs = random_band_limited(3, batch=(4,))
    for n in (12, 17, 100, 513):  # n - 1 >= 2*5 + 1 unique points: no aliasing for modes <= 5
        curves = curve_from_descriptors(coeffs, n)
        c = curve_descriptors(curves, modes=5)
        tol = rounding(size(curves), ulps=FFT_ULPS)
        torch.testing.assert_close(c[:, 2:-2], coeffs, rtol=0, atol=tol)
        assert c[:, [0, 1, -2, -1]].abs().max() < tol


def test_open_sampling_gives_the_same_descriptors():
    coeffs = random_band_limited(2)
    theta = torch.arange(20, dtype=torch.float64) * 2 * math.pi / 20
    curves = evaluate_descriptors(coeffs, theta)
    torch.testing.assert_close(curve_descriptors(curves, 2, closed=False), coeffs,
                               rtol=0, atol=rounding(size(curves), ulps=FFT_ULPS))


def test_spectrum_holds_every_coefficient_at_its_signed_wavenumber():
    coeffs = random_band_limited(3, batch=(2,))
    curves = curve_from_descriptors(coeffs, 21)  # M = 20 unique points
    spectrum = curve_spectrum(curves)
    q = spectrum_wavenumbers(20)
    assert spectrum.shape == (2, 20) and sorted(q.tolist()) == list(range(-10, 10))
    tol = rounding(size(curves), ulps=FFT_ULPS)
    for column, k in enumerate(wavenumbers(3).tolist()):
        torch.testing.assert_close(spectrum[:, q == k][:, 0], coeffs[:, column], rtol=0, atol=tol)
    assert spectrum[:, q.abs() > 3].abs().max() < tol
    # the descriptors are its band |k| <= modes, the open sampling the same spectrum without the repeated point
    torch.testing.assert_close(curve_descriptors(curves, 3), spectrum[:, (wavenumbers(3) % 20)], rtol=0, atol=0)
    torch.testing.assert_close(curve_spectrum(curves[:, :-1], closed=False), spectrum, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="curves: the last point"):
        curve_spectrum(curves[:, :-1])


def test_descriptors_are_vectorised_over_leading_dims():
    curves = curve_from_descriptors(random_band_limited(3, batch=(2, 3)), 40)
    batched = curve_descriptors(curves, 4)
    assert batched.shape == (2, 3, 9)
    torch.testing.assert_close(batched[1, 2], curve_descriptors(curves[1, 2], 4))


def test_rebuilt_curve_at_any_resolution_is_the_curve():
    problem = BreathingEllipse(3.0, 0.8)
    coarse = curve_descriptors(problem.sample(T64, 9), modes=3)
    fine = problem.sample(T64, 301)
    torch.testing.assert_close(curve_from_descriptors(coarse, 301), fine, rtol=0,
                               atol=rounding(size(fine), ulps=FFT_ULPS))


@pytest.mark.parametrize("beta0", [2.0, 3.0])
def test_descriptor_area_is_exact_while_the_polygon_converges_as_inverse_square(beta0):
    problem = BreathingEllipse(beta0, 1.0)
    a, b = problem.semi_axes(T64)
    exact = (math.pi * a * b).numpy()
    counts = np.array([16, 32, 64, 128, 256, 512])
    polygon_err = []
    for n in counts:
        curves = problem.sample(T64, int(n))
        # pi sum k |c_k|^2: each term is at most pi size^2 and rounds with its c_k
        np.testing.assert_allclose(descriptor_area(curve_descriptors(curves, 4)).numpy(), exact, rtol=0,
                                   atol=rounding(math.pi * size(curves) ** 2, ulps=FFT_ULPS))
        polygon_err.append(np.max(np.abs(shoelace_area(curves) / exact - 1)))
    slope = np.polyfit(np.log(counts - 1), np.log(polygon_err), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.02)
    # the inscribed M-gon is an affine image of a regular one: 1 - sin(2 pi/M) / (2 pi/M) ~ 2 pi^2 / (3 M^2)
    m = counts[-1] - 1
    assert polygon_err[-1] == pytest.approx(2 * math.pi**2 / (3 * m**2), rel=1e-3)


def test_descriptor_area_sign_follows_orientation():
    curves = BreathingEllipse().sample(T64, 32)
    area = descriptor_area(curve_descriptors(curves, 3))
    torch.testing.assert_close(descriptor_area(curve_descriptors(curves.flip(-2), 3)), -area)


def test_loss_is_parseval_for_band_limited_differences():
    modes = 4
    truth = curve_from_descriptors(random_band_limited(2, batch=(3,)), 64)
    pred = curve_from_descriptors(random_band_limited(modes, batch=(3,), seed=1), 64)
    point_mse = torch.mean((pred - truth)[:, :-1] ** 2)  # unique points only
    loss = descriptor_loss(pred, truth, modes)
    assert loss.ndim == 0 and not loss.is_complex()
    torch.testing.assert_close(loss, 2 * point_mse / (2 * modes + 1), rtol=0,
                               atol=loss_rounding(size(pred, truth), loss))


def test_loss_compares_curves_sampled_at_different_resolutions():
    problem = BreathingEllipse()
    truth_fine = problem.sample(T64, 500)
    pred_coarse = 1.01 * problem.sample(T64, 11)
    same_n = descriptor_loss(pred_coarse, problem.sample(T64, 11), 3)
    torch.testing.assert_close(descriptor_loss(pred_coarse, truth_fine, 3), same_n, rtol=0,
                               atol=loss_rounding(size(pred_coarse, truth_fine), same_n))
    assert same_n > 1e-6


def test_uniform_slide_along_the_curve_is_seen():
    """Same ellipse, every point moved by phase phi along it: c_k -> c_k exp(i k phi)."""
    coeffs = curve_descriptors(BreathingEllipse(3.0, 0.8).sample(T64, 65), 4)
    theta = torch.linspace(0, 2 * math.pi, 65, dtype=torch.float64)
    phi = 0.3
    slid = evaluate_descriptors(coeffs, theta + phi)
    k = wavenumbers(4).double()
    expected = torch.mean(coeffs.abs() ** 2 * (torch.polar(torch.ones_like(k), k * phi) - 1).abs() ** 2)
    truth = curve_from_descriptors(coeffs, 65)
    loss = descriptor_loss(slid, truth, 4)
    torch.testing.assert_close(loss, expected, rtol=0, atol=loss_rounding(size(slid, truth), loss))
    assert loss > 1e-3


def test_wiggles_above_the_band_are_invisible():
    problem = BreathingEllipse()
    truth = problem.sample(T64, 129)
    theta = torch.linspace(0, 2 * math.pi, 129, dtype=torch.float64)
    wiggly = truth * (1 + 0.05 * torch.cos(6 * theta))[:, None]  # modes 1 +- 6: above 4
    assert torch.mean((wiggly - truth) ** 2) > 1e-4
    assert descriptor_loss(wiggly, truth, 4) < loss_rounding(size(wiggly, truth), 0.0)

    def rounding_of_fraction(pred):
        """The fraction compares error energies: descriptors round at the curve's size, the error is smaller."""
        rms = torch.mean((pred - truth)[:-1] ** 2).sqrt()
        return rounding(size(pred, truth) / rms, ulps=FFT_ULPS)

    assert out_of_band_fraction(wiggly, truth, 4) == pytest.approx(1.0, abs=rounding_of_fraction(wiggly))
    in_band = truth * (1 + 0.05 * torch.cos(2 * theta))[:, None]  # modes 1 +- 2
    assert out_of_band_fraction(in_band, truth, 4) == pytest.approx(0.0, abs=rounding_of_fraction(in_band))


def test_gradient_flows_through_the_loss():
    truth = BreathingEllipse().sample(T64[:2], 12)
    pred = (truth * 1.05 + 0.01).requires_grad_(True)
    torch.autograd.gradcheck(lambda p: descriptor_loss(p, truth, 3), (pred,))
    loss = descriptor_loss(pred, truth, 3)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().max() > 0


@pytest.mark.parametrize("device", DEVICES)
def test_float32_on_any_device(device):
    problem = BreathingEllipse()
    t = torch.linspace(0, 1.5, 5, device=device)
    curves = problem.sample(t, 128)
    c = curve_descriptors(curves, 4)
    assert c.dtype == torch.complex64 and c.device.type == device
    rel = (descriptor_area(c) / math.pi - 1).abs().max().item()
    assert rel < 1e-6  # float32 rounding, not the 4e-4 polygon error at N = 128
    assert curve_from_descriptors(c, 50).device.type == device


def test_bad_input_names_the_parameter():
    curves = BreathingEllipse().sample(T64, 32)
    with pytest.raises(ConfigError, match="curves: the last point"):
        curve_descriptors(curves[:, :-1], 4)  # the repeated point was dropped already
    with pytest.raises(ConfigError, match="num_points"):
        curve_descriptors(curves[:, :9], 4)
    with pytest.raises(ConfigError, match="modes"):
        curve_descriptors(curves, 0)
    with pytest.raises(ConfigError, match="curves must be real"):
        curve_descriptors(curves[..., 0], 2)
    with pytest.raises(ConfigError, match="coeffs"):
        curve_from_descriptors(torch.ones(4, dtype=torch.complex128), 10)
