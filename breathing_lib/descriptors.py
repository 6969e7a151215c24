"""Fourier descriptors of closed curves and a loss built on them.

A closed curve sampled at M points uniform in its parameter theta is one period of
z(theta) = x + i y.  Its descriptors are the Fourier coefficients

    z(theta) = sum_k c_k exp(i k theta),   c_k = (1/M) sum_j z_j exp(-i k theta_j),

kept for |k| <= modes.  Dividing by M makes them estimates of the curve's own
coefficients, so they do not depend on how many points sample it (up to aliasing
from modes |k| >= M - modes, which a smooth curve barely has).

Why this encoding: the curves here are *material* points at theta = linspace(0, 2 pi, N),
and the exact flow keeps each point at its theta, so the sample index is a meaningful
parameter.  The complex FFT of x + i y (Granlund's descriptors) is then one
differentiable call on any device; elliptic Fourier descriptors (Kuhl and Giardina)
hold the same information as four real numbers per harmonic, usually over arc length.
An ellipse x = a cos theta, y = b sin theta is exactly c_1 = (a + b)/2 and
c_-1 = (a - b)/2, and the enclosed area is pi * sum_k k |c_k|^2.

Limits: the descriptors describe the *parametrised* curve, not its shape alone
(points sliding along the same ellipse change them), and they are blind to
everything above `modes`.

The sampling convention of this package repeats the first point at the end
(theta = 0 and 2 pi); with closed=True that repeated point is dropped, leaving
N - 1 uniform samples of a periodic function.
"""

from __future__ import annotations

import math

import torch

from .validation import ConfigError, require_int_at_least

# The closing gap must be this small next to the mean spacing of the points: float32
# samples of theta = 2 pi leave a gap of ~1e-7, a curve without the repeated point ~1.
_CLOSURE_TOLERANCE = 0.01


def wavenumbers(modes: int, device=None) -> torch.Tensor:
    """k = -modes, ..., modes: the order in which descriptors are stored."""
    require_int_at_least("modes", modes, 1)
    return torch.arange(-modes, modes + 1, device=device)


def as_real_curves(curves) -> torch.Tensor:
    curves = torch.as_tensor(curves)
    if curves.is_complex() or curves.ndim < 2 or curves.shape[-1] != 2:
        raise ConfigError(f"curves must be real with shape (..., N, 2), got {tuple(curves.shape)} {curves.dtype}")
    if curves.dtype not in (torch.float32, torch.float64):
        curves = curves.to(torch.float32)
    return curves


def require_closed(curves: torch.Tensor) -> None:
    """The last point must repeat the first; otherwise dropping it would lose a real sample."""
    with torch.no_grad():
        gap = (curves[..., -1, :] - curves[..., 0, :]).norm(dim=-1)
        spacing = (curves[..., 1:, :] - curves[..., :-1, :]).norm(dim=-1).mean(dim=-1)
        ratio = torch.max(gap / spacing.clamp_min(torch.finfo(curves.dtype).tiny)).item()
    if ratio > _CLOSURE_TOLERANCE:  # NaN passes: the caller's loss reports divergence
        raise ConfigError(
            f"curves: the last point must repeat the first (theta = linspace(0, 2 pi, N)); the gap is "
            f"{ratio:.2g} x the mean spacing. Pass closed=False for curves without the repeated point"
        )


def curve_spectrum(curves, closed: bool = True) -> torch.Tensor:
    """All M coefficients c_q of curves (..., N, 2), in FFT order: shape (..., M).

    The one place a curve becomes a spectrum, so that descriptors, their aliasing and the
    spectral tail all divide by the same M and drop the same repeated point.  closed=True
    (the package's sampling) drops the repeated last point (M = N - 1); closed=False takes all
    N points as the uniform samples.  Differentiable, on the curves' device.
    """
    curves = as_real_curves(curves)
    if closed:
        require_closed(curves)
        curves = curves[..., :-1, :]
    z = torch.complex(curves[..., 0], curves[..., 1])
    return torch.fft.fft(z, dim=-1) / curves.shape[-2]


def spectrum_wavenumbers(unique: int, device=None) -> torch.Tensor:
    """The signed wavenumber q of each entry of a `curve_spectrum` of M = unique samples."""
    return torch.fft.fftfreq(unique, 1.0 / unique, device=device).round().long()


def curve_descriptors(curves, modes: int, closed: bool = True) -> torch.Tensor:
    """Complex descriptors c_k, k = -modes..modes, of curves (..., N, 2): shape (..., 2 modes + 1).

    closed=True (the package's sampling) drops the repeated last point; closed=False takes
    all N points as the uniform samples.  Differentiable, on the curves' device.
    """
    require_int_at_least("modes", modes, 1)
    curves = as_real_curves(curves)
    unique = curves.shape[-2] - int(closed)
    if unique < 2 * modes + 1:  # fewer samples than coefficients: modes would alias onto each other
        raise ConfigError(f"num_points: {modes} modes need at least {2 * modes + 1 + int(closed)} points"
                          f"{' (the last repeats the first)' if closed else ''}, got {curves.shape[-2]}")
    index = wavenumbers(modes, device=curves.device) % unique  # negative k wrap to the end
    return curve_spectrum(curves, closed)[..., index]


def descriptor_loss(pred, truth, modes: int) -> torch.Tensor:
    """Mean over curves and wavenumbers of |c_k(pred) - c_k(truth)|^2: a real scalar.

    pred and truth may be sampled with different numbers of points.  For a difference
    with no energy above `modes` it equals 2 / (2 modes + 1) times the point MSE over
    the unique points (Parseval).
    """
    diff = curve_descriptors(pred, modes) - curve_descriptors(truth, modes)
    return torch.mean(diff.real**2 + diff.imag**2)


def _modes_of(coeffs: torch.Tensor) -> int:
    if not coeffs.is_complex() or coeffs.ndim < 1 or coeffs.shape[-1] % 2 == 0:
        raise ConfigError(f"coeffs must be complex with an odd last dimension 2 modes + 1, got "
                          f"{tuple(coeffs.shape)} {coeffs.dtype}")
    return (coeffs.shape[-1] - 1) // 2


def evaluate_descriptors(coeffs: torch.Tensor, theta) -> torch.Tensor:
    """Points z(theta) = sum_k c_k exp(i k theta) of the descriptor curve: shape (..., P, 2) for P angles."""
    modes = _modes_of(coeffs)
    real_dtype = coeffs.real.dtype
    theta = torch.as_tensor(theta, dtype=real_dtype, device=coeffs.device)
    k = wavenumbers(modes, device=coeffs.device).to(real_dtype)
    basis = torch.polar(torch.ones_like(k[:, None] * theta), k[:, None] * theta)  # (2 modes + 1, P)
    z = coeffs @ basis.to(coeffs.dtype)
    return torch.stack([z.real, z.imag], dim=-1)


def curve_from_descriptors(coeffs: torch.Tensor, num_points: int) -> torch.Tensor:
    """The curve at theta = linspace(0, 2 pi, N), the package's sampling: (..., N, 2)."""
    require_int_at_least("num_points", num_points, 3)
    theta = torch.linspace(0, 2 * math.pi, num_points, dtype=coeffs.real.dtype, device=coeffs.device)
    return evaluate_descriptors(coeffs, theta)


def descriptor_area(coeffs: torch.Tensor) -> torch.Tensor:
    """Signed enclosed area pi * sum_k k |c_k|^2 (positive counter-clockwise), shape (...).

    Green's theorem, A = (1/2) Im of the integral of conj(z) dz, applied to the Fourier
    series: exact for the descriptor curve, with no polygon error.
    """
    modes = _modes_of(coeffs)
    k = wavenumbers(modes, device=coeffs.device).to(coeffs.real.dtype)
    return math.pi * torch.sum(k * (coeffs.real**2 + coeffs.imag**2), dim=-1)


def out_of_band_fraction(pred, truth, modes: int) -> float:
    """Share of the point error energy above `modes`, where a descriptor loss cannot see it (same N).

    By Parseval, (1/M) sum_j |e_j|^2 over the M unique points is the energy of all M
    coefficients of the error e = pred - truth; the in-band part is the |k| <= modes sum.
    """
    error = as_real_curves(pred) - as_real_curves(truth)
    unique = error.shape[-2] - 1
    total = error[..., :-1, :].pow(2).sum(dim=(-1, -2)) / unique
    in_band = curve_descriptors(as_real_curves(pred), modes) - curve_descriptors(as_real_curves(truth), modes)
    in_band = (in_band.real**2 + in_band.imag**2).sum(dim=-1)
    if float(total.sum()) == 0.0:
        return 0.0
    return float(1.0 - in_band.sum() / total.sum())
