"""Chapter 8's study: what Fourier descriptors see of a learned flow, at any resolution."""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from ..descriptors import (curve_descriptors, curve_from_descriptors, curve_spectrum, descriptor_area, descriptor_loss,
                           evaluate_descriptors, spectrum_wavenumbers, wavenumbers)
from ..checks import Check, bounded, rounding
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
    spectrum = curve_spectrum(fine_curves)
    q = spectrum_wavenumbers(spectrum.shape[-1], device=spectrum.device)
    k = wavenumbers(modes, device=spectrum.device)
    folds = ((q[:, None] - k[None, :]) % unique == 0).to(spectrum.dtype)  # (M_fine, 2 modes + 1)
    return spectrum @ folds


def spectral_tail(curves) -> float:
    """Largest |c_q| over the upper half of what the sampling resolves (M/4 <= |q| <= M/2).

    A curve the sampling resolves has a spectrum that has died out there; one with detail
    down to the sample spacing does not, and its descriptors then keep changing with N.
    """
    spectrum = curve_spectrum(curves)
    m = spectrum.shape[-1]
    q = spectrum_wavenumbers(m, device=spectrum.device).abs()
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


# A spectral tail below this: the fine sampling resolves the curve, and its descriptors have settled.
TAIL_CUT = 1e-6
# The curves rebuilt at N >= 128 and at the fine N agree within this: their gap follows the learned
# curves' high modes, so it varies with training, and the bound leaves room for that.
REBUILT_BOUND = 1e-3


def _key(*parts: str) -> str:
    """A glue name for a claim about a named configuration or change: word characters only."""
    return re.sub(r"\W+", "_", "_".join(parts)).strip("_")


def setup_numbers(modes: int, train_points: int, point_counts, fine_points: int, slide_phase: float,
                  wiggle_size: float) -> dict[str, float]:
    """The chapter's parameters, and what follows from them, as its prose states them."""
    return {"train_points": train_points, "unique_points": train_points - 1, "band_size": 2 * modes + 1,
            "modes": modes, "wiggle_mode": modes + 2, "n_min": min(point_counts), "n_max": max(point_counts),
            "fine_points": fine_points, "slide_phase": slide_phase, "wiggle_size": wiggle_size}


def encoding_findings(exact_pair: dict, curve_size: dict, area_rows: list[dict], area_slope: dict,
                      fine_points: int) -> dict[str, float | Check]:
    """What the encoding and the area section state: per configuration, the exact ellipse's distance
    from its two descriptors (`exact_pair`) at the size of its curve (`curve_size`); per row of
    `area_rows`, the relative area errors at N; per configuration the fitted slope of the shoelace
    error against M (`area_slope`)."""
    descriptor_area_err = max(r["descriptor rel. error"] for r in area_rows)
    numbers = {
        "exact_pair": max(exact_pair.values()),
        "desc_area": float(descriptor_area_err),
        "shoelace_16": float(max(r["shoelace rel. error"] for r in area_rows if r["N"] == 16)),
        "slope": float(max(area_slope.values(), key=lambda s: abs(s + 2))),
    }
    for name, error in exact_pair.items():  # float64 FFT of an exact two-mode curve
        numbers[_key("exact_pair", name)] = bounded(f"{name}: descriptors of the exact ellipse minus (a+b)/2, (a-b)/2 "
                                                f"at N = 16 and {fine_points}", error, rounding(curve_size[name]),
                                                kind="exact")
    numbers["desc_area_exact"] = bounded("descriptor area / pi a b - 1, every N (relative)", descriptor_area_err,
                                         rounding(1.0), kind="exact")
    for name, slope in area_slope.items():  # a power law fitted over N = 16 .. 2048: within 0.01 of the series' -2
        numbers[_key("slope", name)] = bounded(f"{name}: fitted slope of the shoelace error against M, minus -2",
                                           abs(slope + 2), 0.01)
    # 1 - sin(x)/x = x^2/6 (1 - x^2/20 + ...), x = 2 pi / M: the shoelace error is 2 pi^2 / (3 M^2) to a relative
    # pi^2 / (5 M^2); scaled by M^2 that is pi^2 / 5, and the bound five times it
    numbers["shoelace_series"] = bounded(
        "|shoelace error / (2 pi^2 / (3 M^2)) - 1| M^2, every N (series: pi^2 / 5)",
        max(abs(r["shoelace rel. error"] / r["2 pi^2 / (3 M^2)"] - 1) * (r["N"] - 1) ** 2 for r in area_rows),
        math.pi**2)
    return numbers


def probe_findings(probes: dict, curve_size: dict, modes: int, wiggle_size: float,
                   default: str) -> dict[str, float | Check]:
    """What the section on what descriptors cannot see states: per configuration, the three rows of
    its `sliding_probe` (uniform slide, slide and wiggle above the band), at the size of its curve."""
    numbers = {
        "slide_loss": probes[default][0]["descriptor loss"],
        "hf_ratio": max(rows[1]["descriptor loss"] / rows[1]["point MSE"] for rows in probes.values()),
        "wiggle_off": min(rows[2]["off the ellipse"] for rows in probes.values()),
        "wiggle_loss": max(rows[2]["descriptor loss"] for rows in probes.values()),
    }
    for name, rows in probes.items():
        # float64 descriptors of a curve of size s are off by d = rounding(s) at most, so a loss mean |dc|^2 that
        # is `closed` exactly is off by at most d (2 sqrt(closed) + d): for a loss that is zero exactly, d^2
        d = rounding(curve_size[name])
        for r in rows:
            numbers[_key("closed_form", name, r["change"])] = bounded(
                f"{name}, {r['change']}: descriptor loss minus its closed form",
                abs(r["descriptor loss"] - r["closed form"]), d * (2 * math.sqrt(r["closed form"]) + d), kind="exact")
    for name, (uniform, slide, wiggle) in probes.items():
        numbers |= _probe_claims(name, uniform, slide, wiggle, rounding(curve_size[name]) ** 2, modes, wiggle_size)
    return numbers


def _probe_claims(name: str, uniform: dict, slide: dict, wiggle: dict, zero_loss: float, modes: int,
                  wiggle_size: float) -> dict[str, Check]:
    """The claims on one configuration's probe; `zero_loss` is what rounding leaves of a loss that is zero."""
    one = rounding(1.0)  # "off the ellipse" and "area change" are relative (of size 1)
    above = f"mode {modes + 2}"
    return {
        _key("uniform_on", name): bounded(f"{name}, uniform slide: off the ellipse", uniform["off the ellipse"], one,
                                      kind="exact"),
        _key("uniform_area", name): bounded(f"{name}, uniform slide: area change", abs(uniform["area change"]), one,
                                        kind="exact"),
        _key("uniform_parseval", name): bounded(
            f"{name}, uniform slide: descriptor loss / (2/(2m+1) of the point MSE) - 1 (Parseval)",
            abs(uniform["descriptor loss"] / (2 * uniform["point MSE"] / (2 * modes + 1)) - 1), one, kind="exact"),
        _key("uniform_moduli", name): bounded(f"{name}, uniform slide: |c_k| loss (blind to it)", uniform["|c_k| loss"],
                                          zero_loss, kind="exact"),
        # "sees it": a loss far above the rounding that the blind |c_k| loss stays at
        _key("uniform_seen", name): bounded(f"{name}, uniform slide: descriptor loss (sees it)",
                                        uniform["descriptor loss"], 1e-3, above=True),
        _key("slide_on", name): bounded(f"{name}, slide at {above}: off the ellipse", slide["off the ellipse"], one,
                                    kind="exact"),
        # fourth order in the slide's size: three orders of magnitude under its point MSE
        _key("slide_unseen", name): bounded(f"{name}, slide at {above}: descriptor loss / point MSE",
                                        slide["descriptor loss"] / slide["point MSE"], 1e-3),
        _key("wiggle_unseen", name): bounded(f"{name}, wiggle at {above}: descriptor loss", wiggle["descriptor loss"],
                                         zero_loss, kind="exact"),
        # max |(1 + eps cos L theta)^2 - 1| at theta = 0: 2 eps + eps^2, more than eps
        _key("wiggle_off", name): bounded(f"{name}, wiggle at {above}: off the ellipse minus (1 + eps)^2 - 1 = 2 eps + "
                                      "eps^2", abs(wiggle["off the ellipse"] - ((1 + wiggle_size) ** 2 - 1)), one,
                                      kind="exact"),
    }


def training_findings(quality: list[dict], modes: int, default: str, harder: str) -> dict[str, float | Check]:
    """What training on descriptors states, from one `quality` row per configuration and loss
    ("fourier" or "points"): the descriptor loss leaves more error, most of it above the band, and in
    the `harder` configuration that error grows from the windows to the whole rollout."""
    by = {(r["config"], r["loss"]): r for r in quality}
    configs = list(dict.fromkeys(r["config"] for r in quality))
    above = f"MSE above mode {modes}"
    mse_ratio = {name: by[name, "fourier"]["point MSE"] / by[name, "points"]["point MSE"] for name in configs}
    above_ratio = {name: by[name, "fourier"][above] / by[name, "points"][above] for name in configs}
    fourier, points = by[harder, "fourier"], by[harder, "points"]
    # how much the loss each field was fitted on grows from its short windows to the full rollout
    drift = fourier["rollout descriptor loss"] / fourier["window loss at the end"]
    drift_points = points["point MSE"] / points["window loss at the end"]
    above_bound, drift_bound = 3, 5  # "several times more" above the band, and in the growth
    numbers = {
        "window_other": fourier["window loss at the end"],
        "drift": drift,
        "drift_points": drift_points,
        "ratio_default": mse_ratio[default],
        "ratio_other": mse_ratio[harder],
        "above_min": math.floor(min(above_ratio.values())),  # "x or more": rounded down
        "bad_tail": fourier["spectral tail"],
    }
    for name in configs:
        numbers[_key("mse_ratio", name)] = bounded(f"{name}: point MSE, descriptor loss / point loss", mse_ratio[name],
                                               1, above=True)
        numbers[_key("above_ratio", name)] = bounded(f"{name}: {above}, descriptor loss / point loss",
                                                 above_ratio[name], above_bound, above=True)
    numbers["drift_ratio"] = bounded(f"{harder.split(',')[0]}: growth from windows to rollout, descriptor loss / "
                                     "point loss", drift / drift_points, drift_bound, above=True)
    return numbers


def resolved_fields(quality: list[dict], tail_cut: float = TAIL_CUT) -> list[tuple[str, str]]:
    """The (config, loss) whose learned curve the fine sampling resolves: spectral tail below tail_cut."""
    return [(r["config"], r["loss"]) for r in quality if r["spectral tail"] < tail_cut]


def resolution_findings(studies: dict, quality: list[dict], curve_size: dict, harder: str) -> dict[str, float | Check]:
    """What the section on the same descriptors at every N states, from the `resolution_study` of each
    (config, loss): the field trained on descriptors in the `harder` configuration failed, and its curve
    is not resolved; every other one is, and its descriptors depend on N through aliasing alone."""
    tail = {(r["config"], r["loss"]): r["spectral tail"] for r in quality}
    failed = (harder, "fourier")
    smooth = resolved_fields(quality)
    settled = {key: [r for r in studies[key] if r["N"] >= 128] for key in smooth}
    unexplained = max(r["unexplained by aliasing"] for key in smooth for r in studies[key])
    change = max(r["descriptor change"] for key in smooth for r in studies[key])
    loss_spread = max(max(r["descriptor loss"] for r in rows) / min(r["descriptor loss"] for r in rows) - 1
                      for rows in settled.values())
    rebuilt_gap = max(r["rebuilt gap"] for rows in settled.values() for r in rows)
    cross_n = max(abs(r["vs fine truth"] / r["descriptor loss"] - 1) for rows in studies.values() for r in rows)
    numbers = {"loss_spread": loss_spread, "rebuilt_gap": rebuilt_gap, "rebuilt_bound": REBUILT_BOUND,
               "change": change, "unexplained": unexplained}
    # the failed field's curve has detail at the finest scales, so it still moves at N = 512; the others are resolved
    numbers["failed_tail"] = bounded(f"spectral tail of the failed field ({harder} / fourier)", tail[failed],
                                     TAIL_CUT, above=True)
    numbers["failed_moves"] = bounded(f"{harder} / fourier: descriptor change at N = {studies[failed][-1]['N']}",
                                      studies[failed][-1]["descriptor change"], 1e-5, above=True)
    for key in tail:
        if key != failed:
            numbers[_key("resolved", *key)] = bounded(f"spectral tail of {key[0]} / {key[1]} (resolved)",
                                                             tail[key], TAIL_CUT)
    # measurement: N-free up to aliasing, which the fine sampling predicts to the float32 rounding of the flow
    # (the same curve at two N differs by float32 rounding of its size)
    numbers |= {
        "unexplained_exact": bounded("descriptor change not explained by aliasing, resolved fields", unexplained,
                                     rounding(max(curve_size.values()), torch.float32), kind="exact"),
        "change_seen": bounded("descriptor change with N, resolved fields (aliasing)", change, 1e-5, above=True),
        "loss_spread_small": bounded("descriptor loss spread over N >= 128 (relative)", loss_spread, 0.01),
        "rebuilt_close": bounded("gap between the curves rebuilt at N >= 128 and at the fine N", rebuilt_gap,
                                 REBUILT_BOUND),
        # float32 samples of the truth differ by ~1e-8 between samplings
        "cross_n": bounded("pred at N vs truth at the fine N, relative to vs truth at N", cross_n, 1e-4),
    }
    return numbers
