"""In-sample and held-out errors: a trained model scored against the exact flow on its training
grid and on grids it never saw.

A model is trained on one grid: N = config.num_points points of the seed's initial curve,
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
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from ..device import one_thread_on_cpu
from ..inference import predict
from ..metrics import curve_errors
from ..models import field_device
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
