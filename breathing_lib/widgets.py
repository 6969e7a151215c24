"""The explorer of chapter 12: sliders and toggles over one picture of the breathing ellipse.

What it shows. The true curve follows the sliders (beta0, period, time, number of points).
The learned curve is the chosen model's flow of the *sliders'* initial curve. A learned
field has no beta0 or period input: it only knows the problem it was trained on. So on
that problem the two curves agree, and anywhere else the gap between them is the honest
answer to "what does the model know about this motion?". The learned quiver is the
model's own field f(x, y, t); the analytic quiver is alpha(t) (x, -y) of the sliders'
problem.

Why the picture is an `ipywidgets.Image` of PNG bytes. Without a live canvas backend
(ipympl is not a dependency) matplotlib's inline backend draws static images into the
output area. Re-displaying the figure in an `Output` widget after each change
(`clear_output(wait=True)` then `display(fig)`) removes and re-inserts the image node, so
the page reflows and the picture blinks; `draw_idle()` draws nothing visible without a
live canvas. An `Image` widget keeps its DOM node and the browser swaps the decoded bytes
in place: no reflow, no flicker. The figure persists (a plain `Figure`, outside pyplot,
so nothing is auto-displayed); each change updates its artists with `set_data` /
`set_UVC` and re-renders the PNG (measured: about 0.1 s of CPU per redraw).

Cost. A change of model, beta0, period or N integrates the learned flow once over the
whole time grid; moving the time slider then only redraws. Flows are cached per
(model, beta0, period, N), the learned field on the quiver grid per model.

The computations live in `FlowLab`, which has no widgets, so the book's static fallback
(`small_multiples`) and the tests use them without a kernel or a frontend.
"""

from __future__ import annotations

import io
import math
import warnings
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .device import one_thread_on_cpu, resolve_device
from .inference import flow
from .plotting import FIELD_COLOR, PRED_COLOR, TRUTH_COLOR
from .problem import BreathingEllipse
from .train import FitResult, TrainConfig, default_store, load_checkpoint
from .validation import ConfigError, require_choice, require_int_at_least, require_positive

ANALYTIC_ALPHA = 0.45  # the analytic quiver: the truth's colour, faded so the learned one stays readable


def recipe_label(config: TrainConfig) -> str:
    """How a model was trained, in a few words: stored models of one kind differ mostly here."""
    if config.strategy == "rollout" and config.adjoint and config.lbfgs_steps == 0 and config.finetune_steps == 0:
        words = [f"original recipe, {config.epochs} epochs"]
    else:
        words = [f"{config.strategy}, {config.epochs} Adam"]
        if config.lbfgs_steps:
            words.append(f"{config.lbfgs_steps} L-BFGS")
        if config.finetune_steps:
            words.append(f"{config.finetune_steps} rollout fine-tune")
    if config.loss == "fourier":
        words.append(f"Fourier loss ({config.fourier_modes} modes)")
    if config.learn_omega:
        words.append("learned omega")
    return " + ".join(words)


def model_label(config: TrainConfig) -> str:
    """A menu label: model, training problem and window, recipe."""
    return (f"{config.model} | beta0={config.beta0:g}, T={config.period:g}, t<={config.t_final:g} | "
            f"{recipe_label(config)}")


@dataclass(frozen=True)
class StoredModel:
    key: str  # the store's directory name, <model>-<config hash>
    label: str
    result: FitResult


def stored_models(store=None) -> list[StoredModel]:
    """Every loadable checkpoint `<model>-<hash>/model.pt` in the model store, labelled for a menu.

    Unreadable checkpoints are skipped with a warning: a store shared by many runs may hold
    a damaged or foreign file, which should not hide the good ones. Two checkpoints with the
    same label (the same config saved by different library versions) get their hash appended.
    """
    root = Path(store) if store is not None else default_store()
    found = []
    for path in sorted(root.glob("*/model.pt")):
        try:
            result = load_checkpoint(path, device="cpu")
        except ConfigError as err:
            warnings.warn(f"model store: skipped {path.parent.name}: {err}", stacklevel=2)
            continue
        found.append((path.parent.name, model_label(result.config), result))
    counts = Counter(label for _, label, _ in found)
    models = [StoredModel(key, f"{label} [{key.rsplit('-', 1)[-1]}]" if counts[label] > 1 else label, result)
              for key, label, result in found]
    return sorted(models, key=lambda m: m.label)


class Frame(NamedTuple):
    """Everything one picture shows, as numpy arrays on the host."""

    t: float
    truth: np.ndarray  # (N, 2), the sliders' problem
    pred: np.ndarray  # (N, 2), the model's flow of the sliders' initial curve (NaN if the solver failed)
    learned_uv: np.ndarray | None  # (G, 2) on the quiver grid; None when the model has no positional field
    analytic_uv: np.ndarray  # (G, 2)


def _closed(curve: np.ndarray) -> np.ndarray:
    return np.concatenate([curve, curve[:1]], axis=0)


def _grid(extent: float, grid_size: int) -> np.ndarray:
    """The quiver grid (G, 2), row by row: what `Scene` draws and `FlowLab` evaluates fields on."""
    axis = np.linspace(-extent, extent, grid_size)
    xx, yy = np.meshgrid(axis, axis)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


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
        self.grid = _grid(extent, grid_size)
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
        self.truth_line.set_data(*_closed(frame.truth).T)
        self.truth_line.set_visible(truth)
        self.pred_line.set_data(*_closed(frame.pred).T)
        learned_field = learned_field and frame.learned_uv is not None
        if learned_field:
            self.learned_quiver.set_UVC(*frame.learned_uv.T)
        self.learned_quiver.set_visible(learned_field)
        if analytic_field:
            self.analytic_quiver.set_UVC(*frame.analytic_uv.T)
        self.analytic_quiver.set_visible(analytic_field)
        self.heading.set_text(title)


class FlowLab:
    """The explorer's computations, without widgets: for any model and problem, the learned
    flow on a fixed time grid, the learned and analytic fields on the quiver grid, errors.

    models: label -> FitResult; by default every model in the store (`stored_models`), moved
    to `device`. Flows are integrated on `frames` times over [0, t_max], so t_max beyond a
    model's training window shows extrapolation. The square [-extent, extent]^2 holds the
    widest ellipse of beta0_range and of every model's training problem.
    """

    def __init__(self, models: Mapping[str, FitResult] | None = None, *, store=None, t_max=3.0, frames=121,
                 method="dopri5", device="auto", grid_size=15, beta0_range=(0.5, 3.0), cache_size=64):
        if models is None:
            models = {m.label: m.result for m in stored_models(store)}
        if not models:
            raise ConfigError(f"models: no trained model in the store {store or default_store()}; "
                              "train one first (e.g. python -m breathing_lib train, or run chapter 2)")
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
        self.grid = _grid(self.extent, self.grid_size)
        self._t = torch.linspace(0, self.t_max, frames)  # host copy: truth, analytic field, titles
        self._flows: OrderedDict = OrderedDict()  # (label, beta0, period, N) -> (K, N, 2)
        self._fields: dict = {}  # label -> (K, G, 2) or None
        self.flow_solves = 0  # how many learned flows were integrated (cache misses)

    @property
    def labels(self) -> list[str]:
        return list(self._models)

    @property
    def times(self) -> np.ndarray:
        """The time grid (K,) that trajectories, fields and the time slider share."""
        return self._t.numpy().copy()

    @property
    def step(self) -> float:
        return float(self._t[1])

    def config(self, label: str) -> TrainConfig:
        """The training config of a model: its problem, window and recipe."""
        return self._configs[require_choice("model", label, tuple(self._configs))]

    def index(self, time: float) -> int:
        """The frame nearest a time: sliders move on the grid, other values snap to it."""
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
        """What the picture shows for one setting, at the frame nearest `time`."""
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


class Explorer:
    """Sliders for beta0, period, time and N, a menu of trained models, toggles for the true
    curve and both fields, over one picture updated in place (see the module docstring).

    lab: the FlowLab to draw from; by default one over the store's models, built with
    `lab_options` (t_max, frames, device, ...). model: the first one shown; beta0 and period
    start at its training problem unless given. Display it with `explorer.widget`.
    """

    def __init__(self, lab: FlowLab | None = None, *, models=None, store=None, model=None, beta0=None, period=None,
                 time=0.0, num_points=64, period_range=(0.5, 2.0), show_truth=True, show_learned_field=True,
                 show_analytic_field=False, **lab_options):
        import ipywidgets as w  # only the explorer needs it (the book extra); FlowLab does not

        self.lab = lab = lab or FlowLab(models, store=store, **lab_options)
        model = lab.labels[0] if model is None else model
        first = lab.config(model)
        beta0 = first.beta0 if beta0 is None else beta0
        period = first.period if period is None else period
        BreathingEllipse(beta0, period)  # names a bad beta0 or period
        require_int_at_least("num_points", num_points, 3)
        if not 0 <= time <= lab.t_max:
            raise ConfigError(f"time must be in [0, t_max={lab.t_max}], got {time!r}")
        # the sliders cover every model's training problem as well as the asked ranges
        b_lo, b_hi = min(lab.beta0_range[0], beta0), max(lab.beta0_range[1], beta0)
        periods = [*period_range, period, *(lab.config(m).period for m in lab.labels)]
        require_positive("period_range", min(periods))

        style = {"description_width": "7em"}
        wide = w.Layout(width="30em")
        self.model = w.Dropdown(options=lab.labels, value=model, description="model", style=style,
                                layout=w.Layout(width="95%"))
        self.beta0 = w.FloatSlider(value=beta0, min=b_lo, max=b_hi, step=0.05, description="beta0",
                                   continuous_update=False, readout_format=".2f", style=style, layout=wide)
        self.period = w.FloatSlider(value=period, min=min(periods), max=max(periods), step=0.05,
                                    description="period T", continuous_update=False, readout_format=".2f",
                                    style=style, layout=wide)
        self.time = w.FloatSlider(value=time, min=0.0, max=lab.t_max, step=lab.step, description="time t",
                                  continuous_update=True, readout_format=".3f", style=style, layout=wide)
        self.num_points = w.IntSlider(value=num_points, min=3, max=max(512, num_points), description="points N",
                                      continuous_update=False, style=style, layout=wide)
        self.show_truth = w.Checkbox(value=show_truth, description="true curve", indent=False)
        self.show_learned_field = w.Checkbox(value=show_learned_field, description="learned field", indent=False)
        self.show_analytic_field = w.Checkbox(value=show_analytic_field, description="analytic field", indent=False)
        self.match = w.Button(description="use the model's training problem", layout=w.Layout(width="auto"))
        self.image = w.Image(format="png", layout=w.Layout(width="440px"))
        self.status = w.HTML()
        toggles = w.HBox([self.show_truth, self.show_learned_field, self.show_analytic_field])
        controls = w.VBox([self.beta0, self.period, self.time, self.num_points, toggles, self.match, self.status])
        self.widget = w.VBox([self.model, w.HBox([self.image, controls])])

        self.figure = Figure(figsize=(4.6, 4.6), dpi=96)
        ax = self.figure.add_subplot()
        ax.set(xlabel="x", ylabel="y")
        self.scene = Scene(ax, lab.extent, lab.grid_size)
        self.figure.tight_layout()

        self._held = False
        for control in (self.model, self.beta0, self.period, self.time, self.num_points, self.show_truth,
                        self.show_learned_field, self.show_analytic_field):
            control.observe(self._changed, names="value")
        self.match.on_click(lambda _: self.use_training_problem())
        self.redraw()

    def frame(self) -> Frame:
        """The data of the picture the controls ask for."""
        return self.lab.frame(self.model.value, self.beta0.value, self.period.value, self.num_points.value,
                              self.time.value)

    @contextmanager
    def hold(self):
        """Change several controls with one redraw at the end."""
        self._held = True
        try:
            yield self
        finally:
            self._held = False
            self.redraw()

    def use_training_problem(self) -> None:
        """Set beta0 and period to the chosen model's training problem."""
        config = self.lab.config(self.model.value)
        with self.hold():
            self.beta0.value, self.period.value = config.beta0, config.period

    def _changed(self, change) -> None:
        if not self._held:
            self.redraw()

    def redraw(self) -> None:
        frame = self.frame()
        has_field = frame.learned_uv is not None
        self.show_learned_field.disabled = not has_field
        speed = reference_speed(BreathingEllipse(self.beta0.value, self.period.value), self.lab.extent)
        self.scene.show(frame, speed=speed, truth=self.show_truth.value, learned_field=self.show_learned_field.value,
                        analytic_field=self.show_analytic_field.value, title=f"t = {frame.t:.3f}")
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
        self.status.value = self._status(frame, has_field)

    def _status(self, frame: Frame, has_field: bool) -> str:
        config = self.lab.config(self.model.value)
        error = float(np.linalg.norm(frame.pred - frame.truth, axis=1).max())
        lines = [f"trained on beta0 = {config.beta0:g}, T = {config.period:g}, t in [0, {config.t_final:g}]",
                 "max point error now: " + ("solver failed" if math.isnan(error) else f"{error:.3g}")]
        if not (math.isclose(self.beta0.value, config.beta0, abs_tol=1e-9)
                and math.isclose(self.period.value, config.period, abs_tol=1e-9)):
            lines.append("<b>not the training problem</b>: the model has no beta0 or period input, "
                         "it flows this start curve with the field it learned")
        if frame.t > config.t_final + 1e-9:
            lines.append("<b>beyond the training window</b>: extrapolation")
        if not has_field:
            lines.append("this model's velocity is part of its state: no field of position alone")
        return "<br>".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def small_multiples(lab: FlowLab, rows: Sequence[Mapping], times: Sequence[float], *, num_points=64, panel=2.1,
                    analytic_field=False):
    """The explorer's picture as a static grid, one row per setting, one column per time:
    the fallback for the published book, where no kernel answers the sliders.

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
