"""Is what a model must output a function of what it sees? A data-only test.

A field can only be learned if the target (velocity, or acceleration) is a
reasonably smooth function of the model's inputs along the observed motion.
For each observed sample we find its nearest neighbour in the model's input
space (inputs and targets standardised) and take |target difference| /
|input distance|: a local slope. A smooth map keeps these slopes of order one;
two nearly equal inputs with different targets make them explode, and no
network can fit both.

Chapter 6 (autonomous fields) and chapter 7 (state augmentation) share this test;
each states its numbers and claims through its findings function here.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import Check, bounded, fact, rounding
from ..collocation import snapshot_velocities
from ..metrics import to_numpy
from ..models import trainable_parameters
from ..problem import BreathingEllipse


def neighbour_slopes(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Slope to the nearest neighbour for every sample: inputs (..., d_in), targets (..., d_out) -> (M,)."""
    x = inputs.reshape(-1, inputs.shape[-1]).double()
    y = targets.reshape(-1, targets.shape[-1]).double()
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-12)
    y = y / y.std(0).clamp_min(1e-12)
    distance = torch.cdist(x, x)
    distance.fill_diagonal_(float("inf"))
    nearest = distance.argmin(dim=1)
    gap = distance[torch.arange(len(x)), nearest].clamp_min(1e-12)
    return (y - y[nearest]).norm(dim=1) / gap


def model_views(t: torch.Tensor, curves: torch.Tensor, period: float) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, target) of each model along the observed motion, from the snapshots alone.

    time-input: (x, y, t) -> v; autonomous: (x, y) -> v; phase: (x, y, sin phi, cos phi) -> v;
    second-order: (x, y, vx, vy) -> acceleration; second-order-time: (x, y, vx, vy, t) ->
    acceleration. Velocities and accelerations are
    finite differences of the snapshots, as collocation training uses them.
    """
    velocity = snapshot_velocities(t, curves)
    acceleration = snapshot_velocities(t, velocity)
    times = t[:, None, None].expand(*curves.shape[:2], 1)
    phase = 2 * torch.pi * times / period
    return {
        "time-input": (torch.cat([curves, times], dim=-1), velocity),
        "autonomous": (curves, velocity),
        "phase": (torch.cat([curves, torch.sin(phase), torch.cos(phase)], dim=-1), velocity),
        "second-order": (torch.cat([curves, velocity], dim=-1), acceleration),
        "second-order-time": (torch.cat([curves, velocity, times], dim=-1), acceleration),
    }


def mirror_in_time(problem: BreathingEllipse, t: float, num_points: int = 64) -> dict[str, float]:
    """The curve at t and at T - t, and the exact velocities on it, in float64.

    beta(T - t) = beta(t) makes the two curves one set of points, alpha(T - t) = -alpha(t)
    makes the velocities there opposite: no field of position alone can give both. The
    sizes are the scales at which the two differences round.
    """
    t1 = torch.tensor([t], dtype=torch.float64)
    t2 = problem.period - t1
    curve1, curve2 = problem.sample(t1, num_points), problem.sample(t2, num_points)
    v1, v2 = problem.velocity(curve1[0], t1), problem.velocity(curve2[0], t2)
    return {"t": t, "curve gap": (curve1 - curve2).abs().max().item(), "curve size": curve1.abs().max().item(),
            "velocity sum": (v1 + v2).abs().max().item(), "velocity size": v1.abs().max().item()}


def direction_reversals(x) -> int:
    """How many times a sampled coordinate x(t) turns back (dx/dt changes sign)."""
    return int(np.sum(np.diff(np.sign(np.diff(to_numpy(x)))) != 0))


def autonomous_findings(mirror: dict, alpha: torch.Tensor, slopes: dict, reports: dict, reversals: dict,
                        others: list[dict]) -> dict[str, float | Check]:
    """Every number chapter 6 states and every claim it checks, in the chapter's order.

    mirror: `mirror_in_time`; alpha: the exact strain rate over the window; slopes: the
    `neighbour_slopes` of the "time-input" and "autonomous" views; reports: `evaluate` of
    each trained model; reversals: `direction_reversals` of one material point, "truth" and
    "autonomous"; others: per other problem, its beta0, period, "MSE ratio" (autonomous /
    time-input) and "autonomous median slope".
    """
    auto, timed = reports["autonomous"], reports["time-input"]
    median = {name: s.median() for name, s in slopes.items()}
    t = mirror["t"]
    numbers = {
        # exact identities of the law, in float64: rounding at the size of the curve and of its velocity
        "same_curve": bounded(f"curve at t = {t:g} minus curve at T - {t:g}", mirror["curve gap"],
                              rounding(mirror["curve size"]), kind="exact"),
        "mirror_velocity_sum": bounded("v(T - t) + v(t) on that curve", mirror["velocity sum"],
                                       rounding(mirror["velocity size"]), kind="exact"),
        "alpha_reverses": fact("the field at a fixed point reverses within the window (alpha changes sign twice "
                               "or more)", (alpha[:-1] * alpha[1:] < 0).sum() >= 2),
        "auto_slope": float(median["autonomous"]),
        "xyt_slope": float(median["time-input"]),
        # the data alone (no training): position -> velocity is far steeper than (position, time) -> velocity,
        # "far" meaning more than an order of magnitude
        "slope_ratio": bounded("median neighbour slope, autonomous view / time-input view",
                               median["autonomous"] / median["time-input"], 15, above=True),
        "xyt_mse": timed["curve_mse"],
        "auto_mse": auto["curve_mse"],
        # "far worse": at least two orders of magnitude
        "ratio": bounded("curve MSE, autonomous / time-input", auto["curve_mse"] / timed["curve_mse"], 100,
                         above=True),
        "auto_field": auto["field_rel_error"],
        "xyt_field": timed["field_rel_error"],
        # "barely better than the 100 % of a zero field": within a quarter of it
        "auto_field_vs_zero": bounded("autonomous field error: distance from a zero field's 100%",
                                      abs(1 - auto["field_rel_error"]), 0.25),
        # an ordering (their ratio is about 3)
        "field_ordering": fact("the autonomous field's error exceeds the time-input field's",
                               auto["field_rel_error"] > timed["field_rel_error"]),
        "true_rev": reversals["truth"],
        "auto_rev": reversals["autonomous"],
        "truth_reverses": fact("the true material point reverses at least twice", reversals["truth"] >= 2),
        "auto_reverses_less": fact("under the autonomous field it reverses fewer times",
                                   reversals["autonomous"] < reversals["truth"]),
        "min_other_ratio": min(r["MSE ratio"] for r in others),
    }
    for i, r in enumerate(others):
        where = f"beta0 = {r['beta0']}, T = {r['period']}"
        # the same verdicts as on the default problem: two orders of magnitude, a slope far from order one
        numbers[f"other_{i}_ratio"] = bounded(f"{where}: curve MSE, autonomous / time-input", r["MSE ratio"], 100,
                                              above=True)
        numbers[f"other_{i}_slope"] = bounded(f"{where}: median neighbour slope of the autonomous view",
                                              r["autonomous median slope"], 30, above=True)
    return numbers


def augmentation_findings(fits: dict, reports: dict, fast: dict, learned: list[dict], slope_rows: list[dict],
                          other: dict, *, omega_guesses, long_periods: float,
                          omega_recovered: float) -> dict[str, float | str | Check]:
    """Every number chapter 7 states and every claim it checks, in the chapter's order.

    fits, reports: the trained models and their `evaluate`, under the same keys; fast: the
    second-order models (by model name) as the fast recipe leaves them; learned: one row per
    omega guess and window ("first guess", "window (periods)", "learned omega", "relative
    error", "phase turns in the window", "rollout MSE, training grid"); slope_rows: the 99 %
    neighbour slope per model; other: the other problem's "beta0", "period", "points",
    "omega error" and curve MSE per model ("curve MSE").
    """
    mse = {fit.config.model: reports[name]["curve_mse"] for name, fit in fits.items()}
    fit_of = {fit.config.model: fit for fit in fits.values()}
    params = {model: sum(p.numel() for p in trainable_parameters(fit.model)) for model, fit in fit_of.items()}
    gain = {name: fit_of[name].metrics["train_mse"] / fit_of[name].history["mse"][0]
            for name in ("second-order", "second-order-time")}
    fast_loss = {name: min(fit.history["loss"]) / fit.history["loss"][0] for name, fit in fast.items()}
    long_rows = [r for r in learned if r["window (periods)"] == long_periods]
    short_rows = [r for r in learned if r["window (periods)"] != long_periods]
    worst_short = max(short_rows, key=lambda r: r["relative error"])
    slope99 = {r["model"]: r["99% slope"] for r in slope_rows}
    where = f"beta0 = {other['beta0']}, T = {other['period']}"
    numbers = {
        "long_periods": long_periods,
        "mse_phase": mse["phase"],
        "mse_xyt": mse["time-input"],
        # "as well or better": the ratio is above one
        "phase_fits": bounded("curve MSE on the training grid, time input / phase (omega fixed): the phase model "
                              "fits as well or better", mse["time-input"] / mse["phase"], 1, above=True),
        # a good fit: curve MSE below 1e-4, the bound of every good fit this chapter claims
        "xyt_fits": bounded("curve MSE of the time-input field on the training grid", mse["time-input"], 1e-4),
        "mse_second": mse["second-order"],
        "mse_time": mse["second-order-time"],
        "mse_auto": mse["autonomous"],
        "auto_vs_second": mse["autonomous"] / mse["second-order"],
        "second_vs_xyt": mse["second-order"] / mse["time-input"],
        "time_vs_xyt": mse["second-order-time"] / mse["time-input"],
        "params_phase": params["phase"],
        "params_xyt": params["time-input"],
        "guesses": " and ".join(f"{g:g}" for g in omega_guesses),
        "omega_err_long": max(r["relative error"] for r in long_rows),
        "omega_err_short": worst_short["relative error"],
        "worst_guess": worst_short["first guess"],
        "omega_short_worst": worst_short["learned omega"],
        "turns_short_worst": worst_short["phase turns in the window"],
        "omega_err_other": other["omega error"],
        # omega: recovered means a relative error below omega_recovered; each claim on its own inputs
        "omega_long_recovered": bounded(f"omega learned over {long_periods} periods: every guess recovered (worst "
                                        "relative error)", max(r["relative error"] for r in long_rows),
                                        omega_recovered),
        "omega_other_recovered": bounded(f"omega learned on {where} over {long_periods} periods: recovered",
                                         other["omega error"], omega_recovered),
        "omega_short_not_recovered": bounded("omega learned over 1.5 periods: some guess not recovered (worst "
                                             "relative error)", worst_short["relative error"], omega_recovered,
                                             above=True),
        "omega_short_why": fact("why: over 1.5 periods, every guess not recovered learned an omega whose phase "
                                "turns less than once", all(r["phase turns in the window"] < 1 for r in short_rows
                                                            if r["relative error"] >= omega_recovered)),
        # "the fit stays excellent": the same quality target as the time-input field's
        "omega_short_fits": bounded("rollout MSE on the training grid of the worst 1.5-period guess (good though "
                                    "omega is off)", worst_short["rollout MSE, training grid"], 1e-4),
        # the second-order models: the fast recipe keeps the initial weights, the shooting recipe trains them
        "fast_kept_second": fast["second-order"].kept_epoch,
        "fast_kept_time": fast["second-order-time"].kept_epoch,
        "fast_untrained": fact("fast recipe: both second-order models keep their initial weights (kept epoch 0)",
                               all(fit.kept_epoch == 0 for fit in fast.values())),
        "fast_loss_second": fast_loss["second-order"],
        "fast_loss_time": fast_loss["second-order-time"],
    }
    for name, ratio in fast_loss.items():
        # "the regression improves": its loss falls at least fivefold
        numbers[f"fast_improves_{name}"] = bounded(f"fast recipe, {name}: the acceleration regression improves "
                                                   "(lowest loss / first)", ratio, 0.2)
    numbers |= {
        "kept_second": fit_of["second-order"].kept_epoch,
        "kept_time": fit_of["second-order-time"].kept_epoch,
        "gain_second": gain["second-order"],
        "gain_time": gain["second-order-time"],
        # "both train": the kept rollout is at least five (without time) and twenty (with time) times better
        "second_trains": bounded("second-order, no time: rollout MSE on the training grid, kept epoch / initial "
                                 "weights", gain["second-order"], 0.2),
        "time_trains": bounded("second-order with time: rollout MSE on the training grid, kept epoch / initial "
                               "weights", gain["second-order-time"], 0.05),
        "train_s_second": fit_of["second-order"].metrics["wall_seconds"],
        "train_s_time": fit_of["second-order-time"].metrics["wall_seconds"],
        # orderings (above one), then "far behind": at least ten and a hundred times
        "velocity_helps": bounded("curve MSE on the training grid, autonomous / second-order: the velocity in the "
                                  "state helps", mse["autonomous"] / mse["second-order"], 1, above=True),
        "time_helps": bounded("curve MSE on the training grid, second-order / second-order with time: time helps",
                              mse["second-order"] / mse["second-order-time"], 1, above=True),
        "time_far_behind": bounded("curve MSE on the training grid, second-order with time / time input: far "
                                   "behind", mse["second-order-time"] / mse["time-input"], 10, above=True),
        "second_far_behind": bounded("curve MSE on the training grid, second-order / time input: far behind",
                                     mse["second-order"] / mse["time-input"], 100, above=True),
        "slope_second": slope99["second-order"],
        "slope_time": slope99["second-order-time"],
        "slope_phase": slope99["phase"],
        # the data alone (no training): without time the acceleration map has a far steeper tail
        "slope_vs_phase": bounded("99% neighbour slope, second-order / phase", slope99["second-order"]
                                  / slope99["phase"], 5, above=True),
        "slope_vs_time": bounded("99% neighbour slope, second-order / second-order with time",
                                 slope99["second-order"] / slope99["second-order-time"], 3, above=True),
        "other_points": other["points"],
        "other_second": other["curve MSE"]["second-order"],
        "other_time": other["curve MSE"]["second-order-time"],
        "other_xyt": other["curve MSE"]["time-input"],
        # the verdicts of the default problem, with the same bounds
        "other_phase_fits": bounded(f"{where}: curve MSE on the training grid of the phase model",
                                    other["curve MSE"]["phase"], 1e-4),
    }
    for name in ("second-order", "second-order-time"):
        numbers[f"other_{name}_behind"] = bounded(f"{where}: curve MSE on the training grid, {name} / time input",
                                                  other["curve MSE"][name] / other["curve MSE"]["time-input"], 100,
                                                  above=True)
    return numbers
