"""Beyond the training data: later times, and start curves the model never saw.

The training data lie on one surface in (x, y, t): the breathing ellipse at each time
of the window. Asking for t past the window, or flowing a perturbed start (noisy,
shifted, rotated, scaled, a circle), queries the field where nothing constrained it.
The exact flow map `BreathingEllipse.flow` gives the right answer for any start and any
time, so the learned flow can be scored there.

Shapes are compared through the second moments of the region a closed curve encloses.
The exact flow is the linear map S = diag(s, 1/s), s = sqrt(beta(t)/beta(t0)); it maps
the moment matrix C to S C S whatever the shape, so the *breathing signal*
0.5 log(Cxx/Cyy) minus its value at t0 equals log(beta(t)/beta(t0)) for every start.
`findings` states what chapter 9 concludes from `extrapolation_study`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ..checks import Check, bounded, fact, rounding
from ..inference import flow, predict
from ..models import field_device, velocity_function
from ..problem import NUM_POINTS, BreathingEllipse
from ..validation import ConfigError, require_finite, require_int_at_least, require_positive

START_NAMES = ("ellipse", "noisy", "shifted", "rotated", "scaled", "circle")


def start_curves(problem: BreathingEllipse, num_points: int = NUM_POINTS, *, t0: float = 0.0, noise: float = 0.03,
                 shift: tuple[float, float] = (0.3, 0.2), angle: float = math.pi / 6, scale: float = 1.25,
                 seed: int = 0) -> dict[str, torch.Tensor]:
    """Named start curves (N, 2), float32, counter-clockwise, N distinct points each.

    ellipse: the training curve at t0; noisy: its radii times (1 + noise * e), e standard
    normal from a generator seeded with `seed` (radial, so the polygon stays simple);
    shifted by `shift`; rotated by `angle` about the origin; scaled by `scale` (area times
    scale^2); circle: the circle of the same area, radius xi.
    """
    require_int_at_least("num_points", num_points, 3)
    require_finite("t0", t0)
    if require_finite("noise", noise) < 0:
        raise ConfigError(f"noise must be >= 0, got {noise!r}")
    if len(shift) != 2:
        raise ConfigError(f"shift must be a pair (dx, dy), got {shift!r}")
    shift = torch.tensor([require_finite("shift", c) for c in shift], dtype=torch.float64)
    angle = require_finite("angle", angle)
    scale = require_positive("scale", scale)
    require_int_at_least("seed", seed, 0)
    theta = 2 * math.pi * torch.arange(num_points, dtype=torch.float64) / num_points
    a, b = problem.semi_axes(torch.tensor(t0, dtype=torch.float64))
    unit = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
    ellipse = unit * torch.stack([a, b])
    generator = torch.Generator().manual_seed(seed)
    bumps = 1.0 + noise * torch.randn(num_points, generator=generator, dtype=torch.float64)
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
    curves = {
        "ellipse": ellipse,
        "noisy": ellipse * bumps[:, None],
        "shifted": ellipse + shift,
        "rotated": ellipse @ rotation.T,
        "scaled": ellipse * scale,
        "circle": unit * problem.xi,
    }
    return {name: curve.float() for name, curve in curves.items()}


def region_moments(curves) -> dict[str, np.ndarray]:
    """Area, centroid and central second moments of the regions closed polygons (..., N, 2) enclose.

    Green's theorem edge by edge, so the result does not depend on how the points are spread
    along the curve. cov[..., i, j] is the mean of (p_i - c_i)(p_j - c_j) over the region:
    diag(a^2, b^2) / 4 for an axis-aligned ellipse with semi-axes a, b.
    """
    p = (curves.detach().cpu().numpy() if isinstance(curves, torch.Tensor) else np.asarray(curves)).astype(np.float64)
    x0, y0 = p[..., 0], p[..., 1]
    x1, y1 = np.roll(x0, -1, axis=-1), np.roll(y0, -1, axis=-1)
    cross = x0 * y1 - x1 * y0
    area = 0.5 * cross.sum(-1)
    cx = ((x0 + x1) * cross).sum(-1) / (6 * area)
    cy = ((y0 + y1) * cross).sum(-1) / (6 * area)
    cxx = ((x0**2 + x0 * x1 + x1**2) * cross).sum(-1) / (12 * area) - cx**2
    cyy = ((y0**2 + y0 * y1 + y1**2) * cross).sum(-1) / (12 * area) - cy**2
    cxy = ((x0 * y1 + 2 * x0 * y0 + 2 * x1 * y1 + x1 * y0) * cross).sum(-1) / (24 * area) - cx * cy
    cov = np.stack([np.stack([cxx, cxy], -1), np.stack([cxy, cyy], -1)], -2)
    return {"area": np.abs(area), "centroid": np.stack([cx, cy], -1), "cov": cov}


def aspect_and_angle(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Aspect ratio (major over minor axis, >= 1) and major-axis angle in (-pi/2, pi/2] of moment matrices."""
    cxx, cyy, cxy = cov[..., 0, 0], cov[..., 1, 1], cov[..., 0, 1]
    half_gap = np.hypot((cxx - cyy) / 2, cxy)
    mean = (cxx + cyy) / 2
    aspect = np.sqrt((mean + half_gap) / (mean - half_gap))
    return aspect, 0.5 * np.arctan2(2 * cxy, cxx - cyy)


def breathing_signal(traj) -> np.ndarray:
    """0.5 log(Cxx/Cyy) of each curve of a trajectory (K, N, 2), minus its value at the first time.

    Under the exact flow it is log(beta(t)/beta(t0)) for any start shape: the breathing itself.
    """
    cov = region_moments(traj)["cov"]
    signal = 0.5 * np.log(cov[:, 0, 0] / cov[:, 1, 1])
    return signal - signal[0]


def data_offset(problem: BreathingEllipse, points: torch.Tensor, t) -> torch.Tensor:
    """|r - 1|, r = sqrt((x/a(t))^2 + (y/b(t))^2): how far points at time t are from that time's training
    curve, in units of its size. The exact flow conserves r, so a start keeps its offset at all times."""
    a, b = problem.semi_axes(torch.as_tensor(t, dtype=torch.float64))
    p = points.detach().cpu().double()
    return (torch.sqrt((p[..., 0] / a) ** 2 + (p[..., 1] / b) ** 2) - 1.0).abs()


def outside_swept(problem: BreathingEllipse, points: torch.Tensor, window: float) -> float:
    """Fraction of points (..., 2) outside the region the training curve sweeps over [0, window]: the union
    of its filled ellipses, as in metrics.swept_region_points (float32 rounding on the edge counts as in).

    A point is inside the ellipse of aspect beta when (x^2 / beta + beta y^2) / xi^2 <= 1; that is convex
    in beta, smallest at beta = |x/y|, so over the betas the window reaches it is smallest at that ratio
    clamped to their range, and the test is exact, with no grid of times.
    """
    require_positive("window", window)
    t = torch.linspace(0, window, 257, dtype=torch.float64)
    turns = torch.arange(1, int(2 * window / problem.period) + 1, dtype=torch.float64) * problem.period / 2
    beta = problem.beta(torch.cat([t, turns]))  # the extremes of beta are at 0, at half periods, or at the end
    lo, hi = float(beta.min()), float(beta.max())
    p = points.detach().cpu().double().reshape(-1, 2)
    x2, y2 = p[:, 0] ** 2, p[:, 1] ** 2
    best = (x2.sqrt() / y2.sqrt().clamp_min(1e-300)).clamp(lo, hi)
    return float(((x2 / best + best * y2) / problem.xi**2 > 1.0 + 1e-6).double().mean())


class StartFlow(NamedTuple):
    t: torch.Tensor  # (K,) on the CPU
    pred: torch.Tensor  # (K, N, 2), the learned flow of the start, on the CPU
    exact: torch.Tensor  # (K, N, 2), the exact flow map of the same start
    point_error: np.ndarray  # (K,), the largest point distance at each time
    nfe: int


@torch.no_grad()
def compare_flows(model, problem: BreathingEllipse, starts: dict, t: torch.Tensor, *,
                  method: str = "dopri5") -> dict[str, StartFlow]:
    """Flow named start curves (N_i, 2) from t[0] with the model and with the exact flow map, at times t.

    All starts go through the solver together, as one batch of points (each point's path does
    not depend on the others; the adaptive steps are shared), so the nfe is that of the batch.
    """
    device = field_device(model)
    sizes = [len(x0) for x0 in starts.values()]
    batch = torch.cat([x0.float() for x0 in starts.values()]).to(device)
    pred, nfe = flow(model, problem, batch, t.to(device), method=method)
    pred, t = pred.cpu(), t.cpu()
    results = {}
    for (name, x0), part in zip(starts.items(), torch.split(pred, sizes, dim=1)):
        exact = problem.flow(x0.cpu().double(), t.double(), float(t[0])).float()
        point_error = (part.double() - exact.double()).norm(dim=-1).amax(dim=-1).numpy()
        results[name] = StartFlow(t, part, exact, point_error, nfe)
    return results


def compare_flow(model, problem: BreathingEllipse, x0: torch.Tensor, t: torch.Tensor, *,
                 method: str = "dopri5") -> StartFlow:
    """One start curve x0 (N, 2): its learned and exact flows at times t, and the error over time."""
    return compare_flows(model, problem, {"start": x0}, t, method=method)["start"]


def breathing_agreement(result: StartFlow) -> dict[str, float]:
    """Does the predicted curve still breathe like the exact one? The correlation over time of the two
    breathing signals (the rhythm), the ratio of their swings, max - min (the amplitude), and their
    largest difference as a fraction of the exact swing (any drift): 1, 1 and 0 when it does."""
    pred, exact = breathing_signal(result.pred), breathing_signal(result.exact)
    return {"correlation": float(np.corrcoef(pred, exact)[0, 1]),
            "swing_ratio": float(np.ptp(pred) / np.ptp(exact)),
            "deviation": float(np.abs(pred - exact).max() / np.ptp(exact))}


@torch.no_grad()
def field_series(model, point, t: torch.Tensor) -> np.ndarray:
    """The model's velocity (K, 2) at one point (x, y) at each time of t: what it predicts there over time."""
    device = field_device(model)
    velocity_at = velocity_function(model)
    xy = torch.as_tensor(point, dtype=torch.float32, device=device).reshape(1, 2)
    return np.stack([velocity_at(tk.to(device), xy)[0].cpu().numpy() for tk in t])


@torch.no_grad()
def reads_time(model, xy: torch.Tensor) -> bool:
    """Does the model's network see the time itself at positions xy? It does when what it sees (`features`)
    changes with t at the same state. A phase model's state carries its clock instead (its features repeat
    whatever t), and a second-order model's state needs a velocity that a position alone does not give."""
    if not hasattr(model, "features") or getattr(model, "needs_velocity", False):
        return False
    state = model.augment(0.0, xy, None)
    return not torch.equal(model.features(0.0, state), model.features(1.0, state))


@torch.no_grad()
def saturated_fraction(model, point, t: torch.Tensor, threshold: float = 2.0) -> np.ndarray:
    """For a model whose network sees the time (time-input, stream; `reads_time`): the fraction of its
    first-layer tanh units at one point with |pre-activation| > threshold (tanh' < 0.07 at 2), at each time
    of t. Saturated units no longer pass on a change of t, so the field stops changing in time."""
    device = field_device(model)
    xy = torch.as_tensor(point, dtype=torch.float32, device=device).reshape(1, 2)
    if not reads_time(model, xy):
        raise ConfigError(f"saturated_fraction needs a model with a time input, not {type(model).__name__}")
    fractions = [float((model.first_layer(model.features(tk.to(device), xy)).abs() > threshold).float().mean())
                 for tk in t]
    return np.array(fractions)


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation of two 1-d samples (no ties expected)."""
    ra = np.argsort(np.argsort(np.asarray(a)))
    rb = np.argsort(np.argsort(np.asarray(b)))
    return float(np.corrcoef(ra, rb)[0, 1])


def time_variation(model, problem: BreathingEllipse, point, t: torch.Tensor) -> float:
    """How much the model's field at one point changes over the times t, relative to the exact field's change
    there: the ratio of the ranges (max - min over t) of the two velocities, largest component. ~1 for a field
    that keeps breathing, ~0 for one frozen in time."""
    learned = field_series(model, point, t)
    exact = problem.velocity(torch.as_tensor(point, dtype=torch.float64).reshape(1, 2), t.double()[:, None])
    return float(np.ptp(learned, axis=0).max() / np.ptp(exact[:, 0].numpy(), axis=0).max())


def window_errors(error: np.ndarray, t, window: float) -> dict[str, float]:
    """Largest error inside the training window and beyond it, and the error at the last time."""
    t = np.asarray(t.cpu() if isinstance(t, torch.Tensor) else t)
    inside = t <= window + 1e-9
    if inside.all():
        raise ConfigError("the times must reach beyond the window to compare inside and beyond")
    return {"inside": float(error[inside].max()), "beyond": float(error[~inside].max()), "final": float(error[-1])}


def start_table(models: dict, problem: BreathingEllipse, starts: dict, t: torch.Tensor, *,
                method: str = "dopri5") -> tuple[list[dict], dict]:
    """Every start flowed by every model over the times t (the training window): one row per start with its
    offset from the data at t[0], the fraction of its exact path outside the region the training curve
    sweeps, and per model the largest point error and the breathing agreement. Also returns the flows,
    keyed (start, model)."""
    flows = {(name, label): result for label, model in models.items()
             for name, result in compare_flows(model, problem, starts, t, method=method).items()}
    rows = []
    for name, x0 in starts.items():
        exact = next(iter(flows[name, label] for label in models)).exact
        row = {"start": name, "offset": float(data_offset(problem, x0, float(t[0])).max()),
               "outside": outside_swept(problem, exact, float(t[-1]))}
        for label in models:
            agree = breathing_agreement(flows[name, label])
            row[f"{label} error"] = float(flows[name, label].point_error.max())
            row[f"{label} correlation"] = agree["correlation"]
            row[f"{label} swing"] = agree["swing_ratio"]
            row[f"{label} deviation"] = agree["deviation"]
        rows.append(row)
    return rows, flows


def extrapolation_study(time_model, phase_model, problem: BreathingEllipse, window: float, *, periods: float = 4.0,
                        steps_per_period: int = 16, window_steps: int = 37, num_points: int = NUM_POINTS, probe=None,
                        long_starts=None, method: str = "dopri5", **start_options) -> dict:
    """Everything chapter 9 measures for a pair of models trained on [0, window], with the settings it
    was measured at (problem, window, periods, steps_per_period):

    long: the training start flowed to `periods` periods by both (StartFlow per model) and its
    window_errors; phase_long: the starts named in long_starts (default: all) flowed that long by the
    phase model; variation: how much
    each field at the probe point (default (xi, 0), on the data when beta = 1) changes over the late
    times [window + T, periods T] relative to the exact field; saturation: the time model's saturated
    first-layer fraction over the long times; rows/flows: start_table over the window.
    """
    T = problem.period
    require_positive("periods", periods)
    if periods * T <= window + T:
        raise ConfigError(f"periods must reach more than one period beyond the window; got {periods}")
    require_int_at_least("steps_per_period", steps_per_period, 4)
    t_long = torch.linspace(0, periods * T, int(round(periods * steps_per_period)) + 1)
    starts = start_curves(problem, num_points, **start_options)
    models = {"time-input": time_model, "phase": phase_model}
    names = START_NAMES if long_starts is None else ("ellipse", *[n for n in long_starts if n != "ellipse"])
    phase_long = compare_flows(phase_model, problem, {n: starts[n] for n in names}, t_long, method=method)
    long = {"time-input": compare_flow(time_model, problem, starts["ellipse"], t_long, method=method),
            "phase": phase_long["ellipse"]}
    probe = (problem.xi, 0.0) if probe is None else probe
    late = torch.linspace(window + T, periods * T, 4 * steps_per_period)
    rows, flows = start_table(models, problem, starts, torch.linspace(0, window, window_steps), method=method)
    return {
        "problem": problem, "window": window, "periods": periods, "steps_per_period": steps_per_period,
        "t_long": t_long, "starts": starts, "long": long, "phase_long": phase_long,
        "errors": {label: window_errors(r.point_error, t_long, window) for label, r in long.items()},
        "probe": probe,
        "variation": {label: time_variation(m, problem, probe, late) for label, m in models.items()},
        "saturation": saturated_fraction(time_model, probe, t_long),
        "rows": rows, "flows": flows,
    }


def shade_window(ax, window: float) -> None:
    """Grey out [0, window] on a plot over time, so what lies beyond the training data stands out."""
    ax.axvspan(0, window, color="0.9", zorder=0, label="training window")


@torch.no_grad()
def phase_periodicity(model, problem: BreathingEllipse, num_points: int = 64, num_times: int = 9) -> dict[str, float]:
    """How far a phase model's field is from periodic: the largest |f(t + T) - f(t)| on the training curve
    at t = 0, over num_times times of one period, and the field's scale there (its largest |f|), which
    sets the rounding that gap is held to. The field sees (sin phi, cos phi), so only rounding separates them."""
    x = problem.sample(torch.zeros(1), num_points)[0].to(field_device(model))
    times = torch.linspace(0, problem.period, num_times)
    gap = max(float((model.velocity_at(t, x) - model.velocity_at(t + problem.period, x)).abs().max()) for t in times)
    scale = max(float(model.velocity_at(t, x).abs().max()) for t in times)
    return {"gap": gap, "scale": scale}


def cli_agreement(runs: dict, fits: dict, t_final: float, window: float) -> dict[str, dict[str, float]]:
    """The command line's predictions against the library's: runs maps a model's label to its run
    ({"status": exit status, "t": (K,), "x": (K, N, 2)} as `predict --out` saves them), fits the label to its
    FitResult. Per model: the exit status, the largest difference from `inference.predict` on the same grid,
    the scale of the points (whose float32 rounding bounds that difference), and the largest point error
    beyond the window against the exact curve."""
    scores = {}
    for label, run in runs.items():
        config = fits[label].config
        same = predict(fits[label].model, config.problem, num_points=config.num_points, num_time_steps=len(run["t"]),
                       t_final=t_final, method="dopri5")
        truth = same.truth.cpu().numpy()
        scores[label] = {
            "status": run["status"],
            "gap": float(np.abs(run["x"] - same.pred.cpu().numpy()).max()),
            "scale": float(np.abs(run["x"]).max()),
            "beyond": float(np.linalg.norm(run["x"] - truth, axis=-1).max(axis=1)[run["t"] > window].max()),
        }
    return scores


# The bounds of chapter 9's claims, and why each is where it is.
# an order of magnitude: the time-input model's error grows more past the window, the phase model's less
GROWTH_BOUND = 10
OFF_THE_CURVE = 0.5  # past the window the time-input model is off by more than half the curve's size (~1)
FROZEN_BELOW, BREATHING_WITHIN = 0.5, 0.25  # the late change of each field, as a fraction of the exact change
CLI_GAIN = 100  # beyond the window the command line's phase model beats its time-input model by this much
LARGE_OFFSET = 0.2  # the four big perturbations start at least this far off the data (the noise stays under it)
MIN_RHYTHM, SWING_WITHIN = 0.9, 0.3  # what "keeps breathing" claims: the correlation, and the swing's error
STABLE_GROWTH = 15  # the phase model's error stays bounded: after `periods` periods, within this factor of the first
MODELS = {"time-input": "xyt", "phase": "phase"}  # each model's label, and its short name in glue keys


def findings(results: dict, other: dict, *, periodicity: dict, cli: dict, perturbations: dict, animated_start: str,
             other_points: int) -> dict[str, float | str | Check]:
    """Every number chapter 9 states and every claim it checks, in the chapter's order: on results and
    other (`extrapolation_study` on the book's problem and on another one), the phase model's
    `phase_periodicity`, the command line's `cli_agreement`, and the settings the prose names (the
    perturbations as passed to `start_curves`, the animated start, the other problem's training points)."""
    return {"periods": results["periods"], "window": results["window"], "animated_start": animated_start,
            **_later_times(results, periodicity, cli),
            **_perturbed_starts(results, perturbations),
            **_another_problem(other, other_points)}


def _later_times(results: dict, periodicity: dict, cli: dict) -> dict:
    """(a): the training ellipse flowed past the window, why the time-input field freezes, the command line."""
    time_e, phase_e = results["errors"]["time-input"], results["errors"]["phase"]
    saturation = results["saturation"]
    inside_window = results["t_long"].numpy() <= results["window"]
    variation = results["variation"]
    linear_growth = results["periods"] * results["problem"].period / results["window"]
    return {
        "xyt_inside": time_e["inside"], "phase_inside": phase_e["inside"], "linear_growth": linear_growth,
        "sat_end": float(saturation[-1]), "sat_window": float(saturation[inside_window].max()),
        "phase_var": variation["phase"],
        # the time-input model: accurate inside, off by more than half the curve's size (~1) beyond
        "xyt_growth": bounded("time-input model: error beyond the window / inside", time_e["beyond"] / time_e["inside"],
                              GROWTH_BOUND, above=True),
        "xyt_beyond": bounded("time-input model: error beyond the window", time_e["beyond"], OFF_THE_CURVE,
                              above=True),
        # the phase model: a per-period map close to the identity adds about the same error every period, so the
        # error grows about linearly with time (by periods T / window from the window to the end), far from the
        # time-input's
        "phase_growth": bounded(f"phase model: error beyond the window / inside (linear growth: {linear_growth:.2f})",
                                phase_e["beyond"] / phase_e["inside"], GROWTH_BOUND),
        "phase_beyond": phase_e["beyond"],
        "xyt_var": bounded("time-input field's late change at the probe / the exact change", variation["time-input"],
                           FROZEN_BELOW),
        "phase_var_gap": bounded("phase field's late change at the probe / the exact change, minus 1",
                                 abs(1 - variation["phase"]), BREATHING_WITHIN),
        # orderings (a ratio near a few, so its bound of 1 is no measure of margin): facts
        "saturation_grows": fact("time-input model: more saturated units at the end than anywhere inside the window",
                                 saturation[-1] / saturation[inside_window].max() > 1),
        # float32: phi + 2 pi (up to 4 pi) rounds to about 4 pi eps, which the network passes on at the field's scale
        "period_gap": bounded("phase field: |f(t + T) - f(t)| on the training curve (float32)", periodicity["gap"],
                              rounding(periodicity["scale"], torch.float32, ulps=256), kind="exact"),
        "cli_status": fact("the command line exits with status 0 for each checkpoint",
                           all(run["status"] == 0 for run in cli.values())),
        **{f"cli_gap_{MODELS[label]}":  # the same solve, so only rounding may differ
           bounded(f"command line minus the library's predict, {label} model (float32)", run["gap"],
                   rounding(run["scale"], torch.float32), kind="exact") for label, run in cli.items()},
        "cli_gain": bounded("command line: error beyond the window, time-input / phase",
                            cli["time-input"]["beyond"] / cli["phase"]["beyond"], CLI_GAIN, above=True),
    }


def _perturbed_starts(results: dict, perturbations: dict) -> dict:
    """(b): errors follow the start's offset from the data; the breathing survives, over the window and
    (phase model) over every period."""
    rows = results["rows"]
    by_name = {r["start"]: r for r in rows}
    perturbed = [r for r in rows if r["start"] != "ellipse"]
    large = [r for r in perturbed if r["offset"] >= LARGE_OFFSET]
    errors = {label: [r[f"{label} error"] for r in rows] for label in MODELS}
    rank = {label: rank_correlation([r["offset"] for r in rows], errors[label]) for label in MODELS}
    circle_outside = outside_swept(results["problem"], results["starts"]["circle"], results["window"])
    shift = perturbations["shift"]
    numbers = {"noise_pct": 100 * perturbations["noise"], "shift_text": f"({shift[0]}, {shift[1]})",
               "angle_deg": float(np.degrees(perturbations["angle"])), "scale": perturbations["scale"],
               "noisy_offset": by_name["noisy"]["offset"], "min_large_offset": min(r["offset"] for r in large),
               "max_large_offset": max(r["offset"] for r in large)}
    for label, short in MODELS.items():
        ellipse, noisy = by_name["ellipse"][f"{label} error"], by_name["noisy"][f"{label} error"]
        numbers |= {
            f"ellipse_{short}": ellipse, f"noisy_{short}": noisy, f"noisy_gain_{short}": noisy / ellipse,
            f"max_{short}_error": max(r[f"{label} error"] for r in perturbed), f"rank_{short}": rank[label],
            # errors follow the offset; the circle: inside the swept region at t = 0, yet far off
            f"{short}_ellipse_below_noisy": fact(f"{label} model: training-start error < noisy-start error",
                                                 ellipse < noisy),
            f"{short}_large_above_noisy": fact(
                f"{label} model: every large perturbation errs more than the noisy start",
                min(r[f"{label} error"] for r in large) > noisy),
            f"{short}_rank_positive": fact(f"{label} model: errors grow with the offset (positive rank correlation)",
                                           rank[label] > 0),
            f"circle_gain_{short}": bounded(f"{label} model: circle-start error / noisy-start error",
                                            by_name["circle"][f"{label} error"] / noisy, 1, above=True),
        }
    return numbers | {
        "circle_inside_swept": fact("the circle starts inside the swept region", circle_outside == 0),
        "noisy_is_small": fact(f"the noisy start's offset is under the {LARGE_OFFSET} cut",
                               by_name["noisy"]["offset"] < LARGE_OFFSET),
        "four_large": fact(f"four large perturbations (offset {LARGE_OFFSET} or more)", len(large) == 4),
        **_breathing(rows),
        **_phase_over_periods(results),
    }


def _breathing(rows: list[dict]) -> dict:
    """Every start, under both models, keeps breathing in step with the exact flow over the window."""
    correlations = [r[f"{label} correlation"] for r in rows for label in MODELS]
    swing_error = max(abs(r[f"{label} swing"] - 1) for r in rows for label in MODELS)
    deviations = {(r["start"], label): r[f"{label} deviation"] for r in rows for label in MODELS}
    worst_start, worst_model = max(deviations, key=deviations.get)
    drift = deviations[worst_start, worst_model]
    return {
        "min_corr": min(correlations), "max_swing_pct": 100 * swing_error, "max_drift_pct": 100 * drift,
        "worst_drift_name": f"{worst_model} model, {worst_start} start",
        "rhythm_gap": bounded("1 - correlation of the breathing signals, worst start and model", 1 - min(correlations),
                              1 - MIN_RHYTHM),
        "swing_error": bounded("|swing ratio - 1|, worst start and model", swing_error, SWING_WITHIN),
        # "largely": the drift stays a fraction of the swing, though more than the swing error alone shows
        "max_drift": bounded(f"largest drift of the breathing signal / its swing ({worst_model}, {worst_start})",
                             drift, 1),
        "drift_exceeds_swing_error": fact("the largest drift exceeds the largest swing error", swing_error < drift),
    }


def _phase_over_periods(results: dict) -> dict:
    """The phase model carries every start over all the periods: its error stays bounded, its breathing right."""
    per_period, periods = results["steps_per_period"], results["periods"]
    growth = {name: r.point_error[-per_period - 1:].max() / r.point_error[: per_period + 1].max()
              for name, r in results["phase_long"].items()}
    agreement = [breathing_agreement(r) for r in results["phase_long"].values()]
    return {
        "max_growth": bounded("phase model: last-period error / first period's, worst start",
                              float(max(growth.values())), STABLE_GROWTH),
        "long_rhythm_gap": bounded(f"phase model after {periods} periods: 1 - breathing correlation, worst start",
                                   1 - min(a["correlation"] for a in agreement), 1 - MIN_RHYTHM),
        "long_swing_error": bounded(f"phase model after {periods} periods: |swing ratio - 1|, worst start",
                                    max(abs(a["swing_ratio"] - 1) for a in agreement), SWING_WITHIN),
    }


def _another_problem(other: dict, other_points: int) -> dict:
    """The same verdicts on another breathing law."""
    problem = other["problem"]
    where = f"beta0 = {problem.beta0}, T = {problem.period}"
    o_time, o_phase = other["errors"]["time-input"], other["errors"]["phase"]
    rows = other["rows"]
    by_name = {r["start"]: r for r in rows}
    large = [r for r in rows if r["offset"] >= LARGE_OFFSET]
    numbers = {
        "other_beta0": problem.beta0, "other_period": problem.period, "other_points": other_points,
        "other_xyt_growth": bounded(f"{where}: time-input model, error beyond the window / inside",
                                    o_time["beyond"] / o_time["inside"], GROWTH_BOUND, above=True),
        "other_xyt_beyond": bounded(f"{where}: time-input model, error beyond the window", o_time["beyond"],
                                    OFF_THE_CURVE, above=True),
        "other_phase_growth": bounded(f"{where}: phase model, error beyond the window / inside",
                                      o_phase["beyond"] / o_phase["inside"], GROWTH_BOUND),
        "other_xyt_var": bounded(f"{where}: time-input field's late change / the exact change",
                                 other["variation"]["time-input"], FROZEN_BELOW),
        "other_phase_var_gap": bounded(f"{where}: phase field's late change / the exact change, minus 1",
                                       abs(1 - other["variation"]["phase"]), BREATHING_WITHIN),
    }
    for label, short in MODELS.items():
        noisy = by_name["noisy"][f"{label} error"]
        numbers |= {
            f"other_{short}_ellipse_below_noisy": fact(
                f"{where}: {label} model, training-start error < noisy-start error",
                by_name["ellipse"][f"{label} error"] < noisy),
            f"other_{short}_large_above_noisy": fact(
                f"{where}: {label} model, every large perturbation errs more than the noisy start",
                min(r[f"{label} error"] for r in large) > noisy),
        }
    return numbers | {
        "other_rhythm_gap": bounded(f"{where}: 1 - correlation of the breathing signals, worst start and model",
                                    1 - min(r[f"{label} correlation"] for r in rows for label in MODELS),
                                    1 - MIN_RHYTHM),
        "other_swing_error": bounded(f"{where}: |swing ratio - 1|, worst start and model",
                                     max(abs(r[f"{label} swing"] - 1) for r in rows for label in MODELS),
                                     SWING_WITHIN),
    }
