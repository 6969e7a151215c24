"""The static fallback of the live explorer (breathing_lib/viz/explorer): the same picture as still
frames, for print and PDF, where no browser runs the models.

What it shows. The true curve of a chosen problem (beta0, period) with N points. The learned
curve is the chosen model's flow of *that* problem's initial curve. A learned field has no
beta0 or period input: it only knows the problem it was trained on. So on that problem the
two curves agree, and anywhere else the gap between them is the honest answer to "what does
the model know about this motion?". The learned quiver is the model's own field f(x, y, t);
the analytic quiver is alpha(t) (x, -y) of the chosen problem.

The computations live in `FlowLab` (flows, fields and errors, without any drawing), the
pictures in `small_multiples` (a grid of `Scene` panels, one per setting and time). A flow is
integrated once over the whole time grid and cached per (model, beta0, period, N), the learned
field on the quiver grid once per model, so a grid of panels costs at most one solve per row.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch

from ..device import one_thread_on_cpu, resolve_device
from ..inference import flow
from ..problem import BreathingEllipse
from ..train import FitResult, TrainConfig
from ..validation import ConfigError, require_choice, require_int_at_least, require_positive
from ..viz.plotting import FIELD_COLOR, PRED_COLOR, TRUTH_COLOR, closed_curve, quiver_grid

ANALYTIC_ALPHA = 0.45  # the analytic quiver: the truth's colour, faded so the learned one stays readable


class Frame(NamedTuple):
    """Everything one panel shows, as numpy arrays on the host."""

    t: float
    truth: np.ndarray  # (N, 2), the chosen problem
    pred: np.ndarray  # (N, 2), the model's flow of the chosen problem's initial curve (NaN if the solver failed)
    learned_uv: np.ndarray | None  # (G, 2) on the quiver grid; None when the model has no positional field
    analytic_uv: np.ndarray  # (G, 2)


def reference_speed(problem: BreathingEllipse, extent: float) -> float:
    """The analytic field's peak speed on a square of half-width `extent` over a period: max |alpha| extent.
    (At beta0 = 1 nothing moves; 1 keeps the arrow scale finite.)"""
    t = torch.linspace(0, problem.period, 257, dtype=torch.float64)
    return float(problem.alpha(t).abs().max()) * extent or 1.0


class Scene:
    """The artists of one panel (curves, two quivers, title), created once and updated in place.

    Both quivers share one scale, set per problem (`show(..., speed=)`): an arrow one grid
    spacing long is the analytic field's peak speed over a period, so within a problem the
    arrows compare across times and between the learned and the analytic field.
    """

    def __init__(self, ax, extent: float, grid_size: int, legend: bool = True):
        self.grid = quiver_grid(extent, grid_size)  # what the quivers draw and FlowLab evaluates fields on
        self.spacing = 2 * extent / (grid_size - 1)
        xx, yy = self.grid.T
        zeros = np.zeros(len(xx))
        scale = dict(angles="xy", scale_units="xy", scale=1.0, width=0.004)
        self.learned_quiver = ax.quiver(xx, yy, zeros, zeros, color=FIELD_COLOR, **scale)
        self.analytic_quiver = ax.quiver(xx, yy, zeros, zeros, color=TRUTH_COLOR, alpha=ANALYTIC_ALPHA, **scale)
        (self.truth_line,) = ax.plot([], [], color=TRUTH_COLOR, lw=2, label="truth")
        (self.pred_line,) = ax.plot([], [], color=PRED_COLOR, lw=1.6, ls="--", label="neural ODE")
        ax.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal")
        ax.grid(alpha=0.3)
        if legend:
            ax.legend(loc="upper right", fontsize=8)
        self.heading = ax.set_title("", fontsize=9)

    def show(self, frame: Frame, *, speed: float, truth=True, learned_field=True, analytic_field=False,
             title="") -> None:
        for quiver in (self.learned_quiver, self.analytic_quiver):
            quiver.scale = speed / self.spacing  # read when the quiver is next drawn
        self.truth_line.set_data(*closed_curve(frame.truth).T)
        self.truth_line.set_visible(truth)
        self.pred_line.set_data(*closed_curve(frame.pred).T)
        learned_field = learned_field and frame.learned_uv is not None
        if learned_field:
            self.learned_quiver.set_UVC(*frame.learned_uv.T)
        self.learned_quiver.set_visible(learned_field)
        if analytic_field:
            self.analytic_quiver.set_UVC(*frame.analytic_uv.T)
        self.analytic_quiver.set_visible(analytic_field)
        self.heading.set_text(title)


class FlowLab:
    """The static pictures' computations, without drawing: for any model and problem, the
    learned flow on a fixed time grid, the learned and analytic fields on the quiver grid, errors.

    models: label -> FitResult, moved to `device`; the caller chooses them (and loads them from
    the store), so the pictures show exactly the models a chapter names. Flows are integrated
    on `frames` times over [0, t_max], so t_max beyond a model's training window shows
    extrapolation. The square [-extent, extent]^2 holds the widest ellipse of beta0_range and
    of every model's training problem.
    """

    def __init__(self, models: Mapping[str, FitResult], *, t_max=3.0, frames=121, method="dopri5", device="auto",
                 grid_size=15, beta0_range=(0.5, 3.0), cache_size=64):
        if not isinstance(models, Mapping) or not models:
            got = "an empty mapping" if isinstance(models, Mapping) else f"a {type(models).__name__}"
            raise ConfigError(f"models must be a non-empty mapping label -> FitResult, got {got}")
        self.t_max = require_positive("t_max", t_max)
        require_int_at_least("frames", frames, 2)
        self.grid_size = require_int_at_least("grid_size", grid_size, 2)
        self._cache_size = require_int_at_least("cache_size", cache_size, 1)
        require_positive("beta0_range", min(beta0_range))
        self.method, self.device = method, resolve_device(device)
        self._models = {label: result.model.to(self.device).eval() for label, result in models.items()}
        self._configs = {label: result.config for label, result in models.items()}
        betas = [*beta0_range, *(c.beta0 for c in self._configs.values())]
        self.beta0_range = (min(betas), max(betas))
        # semi-axes reach sqrt(max(beta0, 1 / beta0)); a margin keeps the curve off the frame
        self.extent = 1.2 * math.sqrt(max(self.beta0_range[1], 1 / self.beta0_range[0]))
        self.grid = quiver_grid(self.extent, self.grid_size)
        self._t = torch.linspace(0, self.t_max, frames)  # host copy: truth, analytic field, titles
        self._flows: OrderedDict = OrderedDict()  # (label, beta0, period, N) -> (K, N, 2)
        self._fields: dict = {}  # label -> (K, G, 2) or None
        self.flow_solves = 0  # how many learned flows were integrated (cache misses)

    @property
    def labels(self) -> list[str]:
        return list(self._models)

    @property
    def times(self) -> np.ndarray:
        """The time grid (K,) that trajectories and fields share."""
        return self._t.numpy().copy()

    @property
    def step(self) -> float:
        return float(self._t[1])

    def config(self, label: str) -> TrainConfig:
        """The training config of a model: its problem, window and recipe."""
        return self._configs[require_choice("model", label, tuple(self._configs))]

    def index(self, time: float) -> int:
        """The frame nearest a time: a time between frames snaps to the nearest one."""
        return int(min(len(self._t) - 1, max(0, round(time / self.step))))

    def trajectory(self, label: str, beta0: float, period: float, num_points: int) -> np.ndarray:
        """The model's flow (K, N, 2) of the initial curve of problem (beta0, period), cached.

        A solver failure (a field that blows up away from its data) gives NaN, drawn as no curve.
        """
        self.config(label)
        key = (label, round(float(beta0), 9), round(float(period), 9), int(num_points))
        if key in self._flows:
            self._flows.move_to_end(key)
            return self._flows[key]
        problem = BreathingEllipse(float(beta0), float(period))
        t = self._t.to(self.device)
        x0 = problem.sample(t[:1], require_int_at_least("num_points", num_points, 3))[0]
        self.flow_solves += 1
        try:
            with one_thread_on_cpu():
                positions = flow(self._models[label], problem, x0, t, method=self.method)[0].cpu().numpy()
        except (AssertionError, RuntimeError):  # torchdiffeq: "underflow in dt" and the like
            positions = np.full((len(t), int(num_points), 2), np.nan, dtype=np.float32)
        self._flows[key] = positions
        if len(self._flows) > self._cache_size:
            self._flows.popitem(last=False)
        return positions

    @torch.no_grad()
    def learned_field(self, label: str) -> np.ndarray | None:
        """The model's velocity (K, G, 2) on the quiver grid at every frame time; None for a model
        whose velocity is part of its state (second order), which has no field of position alone."""
        self.config(label)
        if label not in self._fields:
            model = self._models[label]
            grid = torch.tensor(self.grid, dtype=torch.float32, device=self.device)
            with one_thread_on_cpu():
                frames = [model.velocity_at(tk, grid) for tk in self._t.to(self.device)]
            self._fields[label] = None if frames[0] is None else torch.stack(frames).cpu().numpy()
        return self._fields[label]

    def frame(self, model: str, beta0: float, period: float, num_points: int, time: float) -> Frame:
        """What a panel shows for one setting, at the frame nearest `time`."""
        k = self.index(time)
        problem = BreathingEllipse(float(beta0), float(period))
        t_k = self._t[k : k + 1]
        field = self.learned_field(model)
        return Frame(
            t=float(t_k[0]),
            truth=problem.sample(t_k, int(num_points))[0].numpy(),
            pred=self.trajectory(model, beta0, period, num_points)[k],
            learned_uv=None if field is None else field[k],
            analytic_uv=problem.velocity(torch.tensor(self.grid, dtype=torch.float32), t_k[0]).numpy(),
        )

    def max_point_error(self, model: str, beta0: float, period: float, num_points: int, t_from=0.0,
                        t_to=None) -> float:
        """Largest distance between learned and true points over the frames in [t_from, t_to]
        (infinite if the solver failed)."""
        k0, k1 = self.index(t_from), self.index(self.t_max if t_to is None else t_to)
        pred = self.trajectory(model, beta0, period, num_points)[k0 : k1 + 1]
        truth = BreathingEllipse(float(beta0), float(period)).sample(self._t[k0 : k1 + 1], int(num_points)).numpy()
        return float(np.nan_to_num(np.linalg.norm(pred - truth, axis=-1), nan=np.inf).max())


def small_multiples(lab: FlowLab, rows: Sequence[Mapping], times: Sequence[float], *, num_points=64, panel=2.1,
                    analytic_field=False):
    """The live explorer's picture as a static grid, one row per setting, one column per time:
    the fallback for print and PDF, where no browser runs the models.

    rows: dicts with a "model" label, optionally "beta0", "period" (default: the model's
    training problem), "num_points" and a "label" for the row. Returns a pyplot figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(times), figsize=(panel * len(times), panel * len(rows)),
                             squeeze=False, sharex=True, sharey=True)
    for r, row in enumerate(rows):
        config = lab.config(row["model"])
        beta0, period = row.get("beta0", config.beta0), row.get("period", config.period)
        speed = reference_speed(BreathingEllipse(beta0, period), lab.extent)
        for c, time in enumerate(times):
            scene = Scene(axes[r, c], lab.extent, lab.grid_size, legend=(r == 0 and c == 0))
            frame = lab.frame(row["model"], beta0, period, row.get("num_points", num_points), time)
            scene.show(frame, speed=speed, analytic_field=analytic_field, title=f"t = {frame.t:.2f}")
        axes[r, 0].set_ylabel(row.get("label", ""), fontsize=8)
    fig.tight_layout()
    return fig
