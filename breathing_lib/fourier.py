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

import numpy as np
import torch

from .inference import predict
from .metrics import shoelace_area
from .problem import BreathingEllipse
from .validation import ConfigError, require_int_at_least

# The closing gap must be this small next to the mean spacing of the points: float32
# samples of theta = 2 pi leave a gap of ~1e-7, a curve without the repeated point ~1.
_CLOSURE_TOLERANCE = 0.01


def wavenumbers(modes: int, device=None) -> torch.Tensor:
    """k = -modes, ..., modes: the order in which descriptors are stored."""
    require_int_at_least("modes", modes, 1)
    return torch.arange(-modes, modes + 1, device=device)


def _as_real_curves(curves) -> torch.Tensor:
    curves = torch.as_tensor(curves)
    if curves.is_complex() or curves.ndim < 2 or curves.shape[-1] != 2:
        raise ConfigError(f"curves must be real with shape (..., N, 2), got {tuple(curves.shape)} {curves.dtype}")
    if curves.dtype not in (torch.float32, torch.float64):
        curves = curves.to(torch.float32)
    return curves


def _check_closed(curves: torch.Tensor) -> None:
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


def curve_descriptors(curves, modes: int, closed: bool = True) -> torch.Tensor:
    """Complex descriptors c_k, k = -modes..modes, of curves (..., N, 2): shape (..., 2 modes + 1).

    closed=True (the package's sampling) drops the repeated last point; closed=False takes
    all N points as the uniform samples.  Differentiable, on the curves' device.
    """
    require_int_at_least("modes", modes, 1)
    curves = _as_real_curves(curves)
    unique = curves.shape[-2] - int(closed)
    if unique < 2 * modes + 1:  # fewer samples than coefficients: modes would alias onto each other
        raise ConfigError(f"num_points: {modes} modes need at least {2 * modes + 1 + int(closed)} points"
                          f"{' (the last repeats the first)' if closed else ''}, got {curves.shape[-2]}")
    if closed:
        _check_closed(curves)
        curves = curves[..., :-1, :]
    z = torch.complex(curves[..., 0], curves[..., 1])
    spectrum = torch.fft.fft(z, dim=-1) / unique
    index = wavenumbers(modes, device=curves.device) % unique  # negative k wrap to the end
    return spectrum[..., index]


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


def aliased_descriptors(fine_curves, modes: int, num_points: int) -> torch.Tensor:
    """Descriptors that sampling the same curve at num_points would give, predicted from a finer sampling.

    M = num_points - 1 uniform samples cannot tell mode q from q + l M, so each c_k picks
    up every coefficient with q = k (mod M): c_k^(M) = sum_l c_{k + l M}.  The fine
    sampling supplies the c_q, |q| < M_fine / 2; this is how far descriptors of a curve
    that is not band-limited depend on N.
    """
    require_int_at_least("modes", modes, 1)
    unique = num_points - 1
    if unique < 2 * modes + 1:
        raise ConfigError(f"num_points: {modes} modes need at least {2 * modes + 2} points, got {num_points}")
    fine = _as_real_curves(fine_curves)
    _check_closed(fine)
    fine = fine[..., :-1, :]
    fine_unique = fine.shape[-2]
    spectrum = torch.fft.fft(torch.complex(fine[..., 0], fine[..., 1]), dim=-1) / fine_unique
    q = torch.fft.fftfreq(fine_unique, 1.0 / fine_unique, device=fine.device).round().long()  # signed wavenumbers
    k = wavenumbers(modes, device=fine.device)
    folds = ((q[:, None] - k[None, :]) % unique == 0).to(spectrum.dtype)  # (M_fine, 2 modes + 1)
    return spectrum @ folds


def spectral_tail(curves) -> float:
    """Largest |c_q| over the upper half of what the sampling resolves (M/4 <= |q| <= M/2).

    A curve the sampling resolves has a spectrum that has died out there; one with detail
    down to the sample spacing does not, and its descriptors then keep changing with N.
    """
    curves = _as_real_curves(curves)
    _check_closed(curves)
    unique = curves[..., :-1, :]
    m = unique.shape[-2]
    spectrum = torch.fft.fft(torch.complex(unique[..., 0], unique[..., 1]), dim=-1) / m
    q = torch.fft.fftfreq(m, 1.0 / m, device=curves.device).round().abs()
    return float(spectrum[..., q >= m / 4].abs().max())


def out_of_band_fraction(pred, truth, modes: int) -> float:
    """Share of the point error energy above `modes`, where a descriptor loss cannot see it (same N).

    By Parseval, (1/M) sum_j |e_j|^2 over the M unique points is the energy of all M
    coefficients of the error e = pred - truth; the in-band part is the |k| <= modes sum.
    """
    error = _as_real_curves(pred) - _as_real_curves(truth)
    unique = error.shape[-2] - 1
    total = error[..., :-1, :].pow(2).sum(dim=(-1, -2)) / unique
    in_band = curve_descriptors(_as_real_curves(pred), modes) - curve_descriptors(_as_real_curves(truth), modes)
    in_band = (in_band.real**2 + in_band.imag**2).sum(dim=-1)
    if float(total.sum()) == 0.0:
        return 0.0
    return float(1.0 - in_band.sum() / total.sum())


@torch.no_grad()
def resolution_study(model, problem: BreathingEllipse, modes: int, point_counts, *, fine_points: int = 2048,
                     num_time_steps: int = 32, t_final: float = 1.5, method: str = "dopri5") -> list[dict]:
    """Flow the initial curve sampled at each N and measure it through its descriptors.

    Per N: the descriptor loss against the truth at the same N and against the truth at
    `fine_points` (no point correspondence needed), the point MSE over all N points (as
    training computes it), how far the descriptors move from the fine sampling's and how
    much of that aliasing does not explain, the largest distance between the curves
    rebuilt (at fine_points) from the two, and the largest relative area error over time
    against the exact pi xi^2, from the descriptors and from the shoelace formula.
    Descriptors are taken in float64 so that only the flow itself is in float32.
    """
    def run(n):
        p = predict(model, problem, num_points=n, num_time_steps=num_time_steps, t_final=t_final, method=method)
        return p.pred.double().cpu(), p.truth.double().cpu()

    fine_pred, fine_truth = run(fine_points)
    fine_coeffs = curve_descriptors(fine_pred, modes)
    fine_curve = curve_from_descriptors(fine_coeffs, fine_points)
    exact_area = math.pi * problem.xi**2
    rows = []
    for n in point_counts:
        pred, truth = run(n)
        coeffs = curve_descriptors(pred, modes)
        rows.append({
            "N": n,
            "descriptor loss": descriptor_loss(pred, truth, modes).item(),
            "vs fine truth": descriptor_loss(pred, fine_truth, modes).item(),
            "point MSE": torch.mean((pred - truth) ** 2).item(),
            "descriptor change": (coeffs - fine_coeffs).abs().max().item(),
            "unexplained by aliasing": (coeffs - aliased_descriptors(fine_pred, modes, n)).abs().max().item(),
            "rebuilt gap": (curve_from_descriptors(coeffs, fine_points) - fine_curve).norm(dim=-1).max().item(),
            "descriptor area err": float(torch.max(torch.abs(descriptor_area(coeffs) / exact_area - 1))),
            "shoelace area err": float(np.max(np.abs(shoelace_area(pred) / exact_area - 1))),
        })
    return rows


def sliding_probe(problem: BreathingEllipse, modes: int, *, num_points: int = 512, t: float = 0.0,
                  phase: float = 0.3, mode: int | None = None, size: float = 0.05) -> list[dict]:
    """What a descriptor loss sees of three changes to the true ellipse at time t, with its closed form.

    - "uniform slide": every point moved by `phase` along the same ellipse: c_k -> c_k e^{i k phase}.
    - "slide at mode L": theta -> theta + size sin(L theta), still on the ellipse; by Jacobi-Anger
      only J_0(size) of each c_{+-1} stays in the band when L >= modes + 2.
    - "wiggle at mode L": radius times 1 + size cos(L theta), off the ellipse, all of it above the band.
    Columns: distance from the ellipse (max |(x/a)^2 + (y/b)^2 - 1|), relative area change
    (shoelace), point MSE over the unique points, the descriptor loss, its closed form, and
    the loss on |c_k| alone (blind to where the curve starts).
    """
    mode = modes + 2 if mode is None else mode
    if mode < modes + 2:
        raise ConfigError(f"mode must be >= modes + 2 = {modes + 2} to lie above the band, got {mode}")
    t64 = torch.tensor([t], dtype=torch.float64)
    ellipse = problem.sample(t64, num_points)[0]
    a, b = (float(s) for s in problem.semi_axes(t64))
    coeffs = curve_descriptors(ellipse, modes)
    k = wavenumbers(modes).double()
    theta = torch.linspace(0, 2 * math.pi, num_points, dtype=torch.float64)
    power = coeffs.abs() ** 2
    j0 = float(torch.special.bessel_j0(torch.tensor(size, dtype=torch.float64)))
    changes = {
        "uniform slide": (evaluate_descriptors(coeffs, theta + phase),
                          torch.mean(power * (torch.polar(torch.ones_like(k), k * phase) - 1).abs() ** 2)),
        f"slide at mode {mode}": (evaluate_descriptors(coeffs, theta + size * torch.sin(mode * theta)),
                                  torch.mean(power) * (1 - j0) ** 2),
        f"wiggle at mode {mode}": (ellipse * (1 + size * torch.cos(mode * theta))[:, None], torch.zeros(())),
    }
    true_area = shoelace_area(ellipse)
    rows = []
    for name, (curve, closed_form) in changes.items():
        moduli = curve_descriptors(curve, modes).abs() - coeffs.abs()
        rows.append({
            "change": name,
            "off the ellipse": float(((curve[:, 0] / a) ** 2 + (curve[:, 1] / b) ** 2 - 1).abs().max()),
            "area change": float(shoelace_area(curve) / true_area - 1),
            "point MSE": float(torch.mean((curve - ellipse)[:-1] ** 2)),
            "descriptor loss": float(descriptor_loss(curve, ellipse, modes)),
            "closed form": float(closed_form),
            "|c_k| loss": float(torch.mean(moduli**2)),
        })
    return rows
