"""In-sample and held-out errors: a trained model scored against the exact flow on its training
grid and on grids it never saw.

A model is trained on one grid: N = config.num_points points of the problem's initial curve,
config.num_time_steps times evenly spaced over [0, t_final]. Its error there is in-sample.
`heldout_errors` also scores it, against the exact flow of the config's problem, on grids
that differ in one thing each (held-out):

- other numbers of points, by default N = 17 and N = 600 (same times, same window);
- 4x the time steps (by default): 4 K times evenly spaced over [0, t_final] (same N); with the training
  times they share t = 0 and t = t_final only (and two more when 3 divides K - 1, since
  gcd(K - 1, 4 K - 1) = gcd(K - 1, 3));
- beyond the window: the training times shifted by t_final, t_final + k dt for
  k = 1..K-1 with dt = t_final / (K - 1), so K - 1 times in (t_final, 2 t_final]
  (same N; the flow starts at t = 0 and crosses the window to get there).

Every flow starts from the exact initial curve (and, for a model whose state carries the
velocity, the exact V(0): `inference.flow`) and is integrated with dopri5 at
`solve.integrate`'s tolerances (rtol 1e-7, atol 1e-9), whatever solver the model was trained
with: an adaptive solver follows the same continuous flow on every output grid, so the
settings differ only in where the model is asked, not in the integrator's step. (A fixed-step
rk4 on the output grid, the training solver, would take 4x smaller steps on the finer
times and so change the flow itself; chapter 4 measures how little dopri5 moves the
in-sample error of an rk4-trained model.)

This is chapter 12's study: beside the held-out table, the largest point errors of the models its
pictures show (`point_errors`) and every number and claim of the chapter (`findings`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..checks import Check, bounded, fact
from ..device import one_thread_on_cpu
from ..inference import predict
from ..metrics import curve_errors
from ..models import field_device
from ..store import trained_model
from ..train import SECOND_ORDER_RECIPE, TrainConfig
from ..validation import ConfigError, require_int_at_least
from ..viz.tables import html_table

METHOD = "dopri5"  # every setting, every model: see the module's docstring
IN_SAMPLE = "training grid"
BEYOND = "beyond the window"
QUANTITIES = {"curve_mse": "curve MSE against the exact flow", "max_point_error": "largest point error"}

# the Fourier-descriptor model of chapter 8: its default problem, trained at N = 32 on 2-step
# shooting windows (chapter 8's parameters: modes, train_points, recipe)
FOURIER_CONFIG = TrainConfig(strategy="shooting", window=2, epochs=100, lbfgs_steps=200, num_points=32,
                             loss="fourier", fourier_modes=4)

# every model the book trains on its default problem, by the name its tables use
BOOK_MODELS: dict[str, TrainConfig] = {
    "original recipe": TrainConfig.original(),
    "default recipe": TrainConfig(),
    "autonomous": TrainConfig(model="autonomous"),
    "phase": TrainConfig(model="phase"),
    "second-order": TrainConfig(model="second-order", **SECOND_ORDER_RECIPE),
    "second-order with time": TrainConfig(model="second-order-time", **SECOND_ORDER_RECIPE),
    "stream function": TrainConfig(model="stream"),
    "Fourier loss": FOURIER_CONFIG,
}


def _window(t_final: float) -> str:
    return f"{t_final:g}"


def heldout_errors(model, config: TrainConfig, *, coarse_points: int = 17, fine_points: int = 600,
                   time_factor: int = 4) -> dict[str, dict]:
    """The model's errors against the exact flow, on its training grid and on held-out grids.

    Returns {setting: {"curve_mse", "max_point_error", "nfe", "in_sample", "grid"}}, settings in
    this order: "training grid" (in-sample: N = config.num_points, the config's K times over
    [0, t_final]), f"N = {coarse_points}", f"N = {fine_points}", f"{time_factor}x times"
    (time_factor * K times evenly spaced over [0, t_final]) and "beyond the window" (the K - 1
    times t_final + k t_final / (K - 1), k = 1..K-1, in (t_final, 2 t_final]). Only "grid"
    (a description) is text; the MSE is over every point and time of the setting, the largest
    point error the largest distance between a learned and a true point, nfe the dopri5 solve's
    field evaluations. Runs on one CPU thread (see device.one_thread_on_cpu): about a second
    of CPU a model.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a trained field (a torch.nn.Module), got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be the model's TrainConfig, got {type(config).__name__}")
    n, k, t_final = config.num_points, config.num_time_steps, config.t_final
    for name, value in (("coarse_points", coarse_points), ("fine_points", fine_points)):
        require_int_at_least(name, value, 3)
        if value == n:
            raise ConfigError(f"{name} must differ from config.num_points ({n}): that is the training grid")
    require_int_at_least("time_factor", time_factor, 2)

    window = f"[0, {_window(t_final)}]"
    grids = {  # setting: (N, number of times over [0, t_end], t_end, description)
        IN_SAMPLE: (n, k, t_final, f"N = {n}, {k} times in {window}"),
        f"N = {coarse_points}": (coarse_points, k, t_final, f"N = {coarse_points}, {k} times in {window}"),
        f"N = {fine_points}": (fine_points, k, t_final, f"N = {fine_points}, {k} times in {window}"),
        f"{time_factor}x times": (n, time_factor * k, t_final, f"N = {n}, {time_factor * k} times in {window}"),
        # 2K - 1 times over [0, 2 t_final]: the training step; the last K - 1 lie beyond the window
        BEYOND: (n, 2 * k - 1, 2 * t_final,
                 f"N = {n}, {k - 1} times in ({_window(t_final)}, {_window(2 * t_final)}]"),
    }
    errors = {}
    with one_thread_on_cpu(field_device(model)):
        for setting, (points, times, t_end, grid) in grids.items():
            p = predict(model, config.problem, num_points=points, num_time_steps=times, t_final=t_end,
                        method=METHOD)
            first = k if setting == BEYOND else 0  # beyond: score only the times after t_final
            errors[setting] = {**curve_errors(p.pred[first:], p.truth[first:]), "nfe": p.nfe,
                               "in_sample": setting == IN_SAMPLE, "grid": grid}
    return errors


def _require_errors(errors) -> list[str]:
    """The settings shared by every model of a {model: heldout_errors(...)} mapping."""
    if not isinstance(errors, dict) or not errors:
        raise ConfigError("errors must be a non-empty dict {model name: heldout_errors(...)}")
    settings = list(next(iter(errors.values())))
    for name, by_setting in errors.items():
        if not isinstance(by_setting, dict) or list(by_setting) != settings:
            raise ConfigError(f"errors[{name!r}] must have the settings {settings} of heldout_errors, in order")
    return settings


def _header(setting: str, by_setting: dict) -> str:
    where = "in-sample" if by_setting[setting]["in_sample"] else "held-out"
    if setting == BEYOND:
        return f"beyond the window, t_f < t ≤ 2 t_f ({where})"
    return f"{setting.replace('x times', '× the times')} ({where})"


def heldout_table(errors: dict[str, dict]) -> str:
    """An HTML table of {model name: heldout_errors(...)}: one row per model, the curve MSE and
    the largest point error in each setting, each column saying where it is measured."""
    settings = _require_errors(errors)
    first = next(iter(errors.values()))
    rows, labels = [], {"model": "model", "grid": "training grid: points, times, window t_f"}
    for name, by_setting in errors.items():
        row = {"model": name, "grid": by_setting[IN_SAMPLE]["grid"]}
        for quantity in QUANTITIES:
            for setting in settings:
                row[f"{quantity}/{setting}"] = by_setting[setting][quantity]
                labels[f"{quantity}/{setting}"] = _header(setting, first)
        rows.append(row)
    formats = {c: ".1e" for c in rows[0] if "/" in c}
    groups = [("", 2)] + [(title, len(settings)) for title in QUANTITIES.values()]
    return ('<div style="overflow-x: auto">'
            + html_table(rows, formats, labels=labels, groups=groups, css_class="table heldout") + "</div>")


def plot_heldout(errors: dict[str, dict], quantity: str = "curve_mse", ax=None):
    """Grouped bars, log scale: one group per model, one bar per setting (in-sample first)."""
    import matplotlib.pyplot as plt

    if quantity not in QUANTITIES:
        raise ConfigError(f"quantity must be one of {', '.join(QUANTITIES)}; got {quantity!r}")
    settings = _require_errors(errors)
    first = next(iter(errors.values()))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(errors))
    width = 0.8 / len(settings)
    for i, setting in enumerate(settings):
        values = [max(by_setting[setting][quantity], math.ulp(0.0)) for by_setting in errors.values()]
        ax.bar(x + (i - (len(settings) - 1) / 2) * width, values, width, label=_header(setting, first))
    ax.set_xticks(x, list(errors), rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel(QUANTITIES[quantity])
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.figure.tight_layout()
    return ax


def book_heldout_errors(*, coarse_points: int, fine_points: int, time_factor: int) -> dict[str, dict]:
    """heldout_errors of every model of BOOK_MODELS, by name: each from the store (trained there if it lacks it)."""
    return {name: heldout_errors(trained_model(config, progress=False).model, config, coarse_points=coarse_points,
                                 fine_points=fine_points, time_factor=time_factor)
            for name, config in BOOK_MODELS.items()}


class Columns(NamedTuple):
    """The headers of point_errors' table, one per question asked of a model."""

    own: str  # its own problem, inside the training window
    beyond: str  # its own problem, beyond the window
    beta0: str  # another beta0, inside the window
    period: str  # another period, inside the window


def point_error_columns(training: TrainConfig, t_max: float, other_beta0: float, other_period: float) -> Columns:
    """The headers as the chapter's table prints them, from the training window and the questions' values."""
    window = training.t_final
    return Columns(f"own, t <= {window:g}", f"own, {window:g} < t <= {t_max:g}", f"beta0 = {other_beta0:g}",
                   f"T = {other_period:g}")


def point_errors(lab, models, training: TrainConfig, *, other_beta0: float, other_period: float,
                 num_points: int) -> dict[str, dict[str, float]]:
    """Each model's largest point error over the frames of a FlowLab's time grid, by point_error_columns:
    on its training problem inside and beyond the window (up to lab.t_max), and inside the window on
    the problem with another beta0 or another period."""
    columns = point_error_columns(training, lab.t_max, other_beta0, other_period)
    window, beta0, period = training.t_final, training.beta0, training.period
    asked = {columns.own: (beta0, period, {"t_to": window}),
             columns.beyond: (beta0, period, {"t_from": window + lab.step}),
             columns.beta0: (other_beta0, period, {"t_to": window}),
             columns.period: (beta0, other_period, {"t_to": window})}
    return {name: {column: lab.max_point_error(name, b, p, num_points, **span)
                   for column, (b, p, span) in asked.items()} for name in models}


# The chapter's checked claims (chapter 12): the bounds its text states
FIT_BOUND = 0.1  # a good fit: largest point error under this, a seventh of the smallest semi-axis
# Beyond the window within EXTRAPOLATION_BOUND x the fit's error: a per-period map close to the identity
# lets the error grow about linearly in time, 2x by t = 3, twice the window (measured 1.5x, 2.0x with
# ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1); 10x, an order of magnitude, leaves room for another
# machine's training path, and the time-input model fails it 30x over.
EXTRAPOLATION_BOUND = 10
INTERPOLATION_BOUND = 10  # "the sampling does not matter": each held-out MSE in the window within 10x of the in-sample one
READS_TIME = ("time-input", "stream", "second-order-time")  # the models that take t as an input
GLUE_NAMES = {"time-input": "xyt"}  # a model's name in the glue keys, where it is not the model's own


def _require_models(name: str, by_model, models: tuple[str, ...]) -> None:
    missing = [model for model in models if model not in by_model]
    if missing:
        raise ConfigError(f"{name} must have the models {missing}: the chapter's claims are about them")


def _semi_axes(training: TrainConfig) -> list[float]:
    """The semi-axes at t = 0 and half a period on: the scale the text compares errors with (closed form)."""
    return [float(a) for a in training.problem.semi_axes(torch.tensor([0.0, training.period / 2]))[0]]


def _explorer_findings(errors, columns: Columns, smallest_axis: float) -> dict:
    """The pictures' models on their own problem, on two others, and beyond the window."""
    numbers = {}
    for name, e in errors.items():
        key = f"headline_{GLUE_NAMES.get(name, name)}"
        numbers[f"{key}_own"] = bounded(f"{name}: largest point error on its own problem, in the window",
                                        e[columns.own], FIT_BOUND)
        # another problem: an error of the curve's size (over a fifth of the smallest semi-axis), > 10x the fit's
        for column, suffix in ((columns.beta0, "beta"), (columns.period, "period")):
            numbers[f"{key}_{suffix}"] = bounded(f"{name}, {column}: largest point error, over a fifth of the "
                                                 "smallest semi-axis", e[column], smallest_axis / 5, above=True)
            numbers[f"{key}_{suffix}_over_fit"] = bounded(f"{name}, {column}: largest point error over the fit's",
                                                          e[column] / e[columns.own], 10, above=True)
    phase, xyt = errors["phase"], errors["time-input"]
    extrapolates = [name for name, e in errors.items() if e[columns.beyond] < EXTRAPOLATION_BOUND * e[columns.own]]
    return numbers | {
        "fit_bound": FIT_BOUND,
        "extrapolation_bound": EXTRAPOLATION_BOUND,
        # the phase model extrapolates; the time-input model's error grows to the size of the curve
        "phase_beyond_over_fit": bounded("phase: error beyond the window over the fit's (it extrapolates)",
                                         phase[columns.beyond] / phase[columns.own], EXTRAPOLATION_BOUND),
        "headline_phase_beyond": phase[columns.beyond],
        "headline_xyt_beyond": bounded("time-input: largest point error beyond the window, over 0.5",
                                       xyt[columns.beyond], 0.5, above=True),
        "xyt_beyond_over_fit": bounded("time-input: error beyond the window over the fit's",
                                       xyt[columns.beyond] / xyt[columns.own], 10, above=True),
        "headline_extrapolates": ", ".join(extrapolates) or "none",
        "only_phase_extrapolates": fact("the results page's verdict: only the phase model extrapolates",
                                        extrapolates == ["phase"]),
    }


def _heldout_findings(heldout, training: TrainConfig, smallest_axis: float) -> dict:
    """Every book model on its training grid and on held-out grids (heldout_errors)."""
    k, window = training.num_time_steps, training.t_final
    mse = {name: {setting: e["curve_mse"] for setting, e in by_setting.items()} for name, by_setting in heldout.items()}
    in_window = [m[s] / m[IN_SAMPLE] for m in mse.values() for s in m if s not in (IN_SAMPLE, BEYOND)]
    time_models = [name for name, config in BOOK_MODELS.items() if config.model in READS_TIME]
    time_growth = [mse[name][BEYOND] / mse[name][IN_SAMPLE] for name in time_models]
    time_err = [heldout[name][BEYOND]["max_point_error"] for name in time_models]
    return {
        # 4k times over the window meet the k training times only where i (k - 1) = j (4k - 1)
        "heldout_trained_alike": fact("held-out table: every book model was trained on 32 times over [0, 1.5]",
                                      all(c.num_time_steps == k == 32 and c.t_final == window == 1.5
                                          for c in BOOK_MODELS.values())),
        "heldout_times_disjoint": fact("the 4x time grid shares only t = 0 and t = 1.5 with the training times",
                                       np.gcd(k - 1, 4 * k - 1) == 1),
        "heldout_interp_bound": INTERPOLATION_BOUND,
        "heldout_interp_max": bounded("held-out inside the window (17 or 600 points, 4x times): largest MSE / "
                                      "training-grid MSE, any model", max(in_window), INTERPOLATION_BOUND),
        "heldout_interp_min": bounded("held-out inside the window: smallest MSE / training-grid MSE, any model",
                                      min(in_window), 1 / INTERPOLATION_BOUND, above=True),
        "heldout_time_models": ", ".join(time_models),
        # time input: beyond the window an order of magnitude and more worse (30x; measured over 300x)
        "heldout_time_growth_min": bounded("time-input models: smallest MSE beyond the window / training-grid MSE",
                                           min(time_growth), 30, above=True),
        "heldout_time_err_min": bounded("time-input models: smallest largest point error beyond the window, over a "
                                        "fifth of the smallest semi-axis", min(time_err), smallest_axis / 5,
                                        above=True),
        "heldout_time_err_max": max(time_err),
        "heldout_phase_beyond": mse["phase"][BEYOND],
        # the phase model keeps its accuracy: beyond-window MSE within 50x its in-sample one (measured ~5x)
        "heldout_phase_growth": bounded("phase: MSE beyond the window / training-grid MSE",
                                        mse["phase"][BEYOND] / mse["phase"][IN_SAMPLE], 50),
        "heldout_phase_gap": bounded("default recipe / phase: MSE beyond the window",
                                     mse["default recipe"][BEYOND] / mse["phase"][BEYOND], 1e3, above=True),
        "heldout_auto_vs_default": bounded("autonomous / default recipe: MSE on the training grid",
                                           mse["autonomous"][IN_SAMPLE] / mse["default recipe"][IN_SAMPLE], 100,
                                           above=True),
    }


def findings(errors: dict[str, dict[str, float]], heldout: dict[str, dict], training: TrainConfig, *, t_max: float,
             other_beta0: float, other_period: float, heldout_points: tuple[int, int], time_factor: int,
             browser_tolerance: float) -> dict[str, float | str | Check]:
    """Every number chapter 12 states and every claim it checks, in its order.

    errors: point_errors of the pictures' models (the time-input and the phase model at least) on the
    problem they were trained on, `training`, up to t_max; heldout: book_heldout_errors (every book
    model, by BOOK_MODELS' names) with the held-out numbers of points `heldout_points` and time_factor;
    browser_tolerance: how close the site's tests hold the page's points to the library's.
    """
    _require_models("errors", errors, ("time-input", "phase"))
    _require_models("heldout", heldout, tuple(BOOK_MODELS))
    semi_axes = _semi_axes(training)
    columns = point_error_columns(training, t_max, other_beta0, other_period)
    return {
        "axis_min": min(semi_axes),
        "axis_max": max(semi_axes),
        "browser_tolerance": browser_tolerance,
        "t_max": t_max,
        "other_beta0": other_beta0,
        "other_period": other_period,
        "heldout_points_text": " or ".join(map(str, heldout_points)),
        "time_factor": time_factor,
        "axis_min_over_half": fact("the smallest semi-axis is over 0.5", min(semi_axes) > 0.5),
        "axis_max_under_three_halves": fact("the largest semi-axis is under 1.5", max(semi_axes) < 1.5),
    } | _explorer_findings(errors, columns, min(semi_axes)) | _heldout_findings(heldout, training, min(semi_axes))
