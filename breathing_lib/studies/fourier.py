"""Chapter 8's study: what Fourier descriptors see of a learned flow, at any resolution."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..descriptors import (
    as_real_curves,
    curve_descriptors,
    curve_from_descriptors,
    descriptor_area,
    descriptor_loss,
    evaluate_descriptors,
    require_closed,
    wavenumbers,
)
from ..inference import predict
from ..metrics import shoelace_area
from ..problem import NUM_TIME_STEPS, T_FINAL, BreathingEllipse
from ..validation import ConfigError, require_int_at_least


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
    fine = as_real_curves(fine_curves)
    require_closed(fine)
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
    curves = as_real_curves(curves)
    require_closed(curves)
    unique = curves[..., :-1, :]
    m = unique.shape[-2]
    spectrum = torch.fft.fft(torch.complex(unique[..., 0], unique[..., 1]), dim=-1) / m
    q = torch.fft.fftfreq(m, 1.0 / m, device=curves.device).round().abs()
    return float(spectrum[..., q >= m / 4].abs().max())


@torch.no_grad()
def resolution_study(model, problem: BreathingEllipse, modes: int, point_counts, *, fine_points: int = 2048,
                     num_time_steps: int = NUM_TIME_STEPS, t_final: float = T_FINAL, method: str = "dopri5") -> list[dict]:
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
