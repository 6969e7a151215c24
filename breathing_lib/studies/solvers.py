"""Solvers compared on one field: work-precision sweeps, convergence orders, Euler's fold.

The exact field is linear, dX/dt = alpha(t) D X with D = diag(1, -1), so its growth
rates are +alpha(t) and -alpha(t).  One explicit Euler step of size h multiplies x by
(1 + h alpha) and y by (1 - h alpha), hence the enclosed area by 1 - (h alpha)^2:
Euler loses area at every step, and on a step where h |alpha| > 1 one factor turns
negative, the curve passes through a segment and comes out inside out (a fold, which
no flow can do).  Below h = 1 / max|alpha| no grid can fold.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from ..checks import Check, bounded, fact
from ..device import one_thread_on_cpu, synchronize
from ..metrics import area_drift, curve_errors, shoelace_area
from ..models import AnalyticField, field_device, field_dtype
from ..problem import NUM_POINTS, NUM_TIME_STEPS, T_FINAL, BreathingEllipse, time_grid
from ..solve import ADAPTIVE, FIXED_STEP, integrate
from ..validation import ConfigError, require_choice, require_int_at_least, require_positive

ORDER_TOLERANCE = 0.5  # half an order: a fitted slope then names the integer order it converges at
ORDERS = {"euler": 1, "midpoint": 2, "rk4": 4}  # the textbook orders the sweeps measure


def refine(t: torch.Tensor, substeps: int) -> torch.Tensor:
    """t with every interval split into `substeps` equal steps; t itself is every substeps-th node."""
    require_int_at_least("substeps", substeps, 1)
    frac = torch.arange(substeps, dtype=t.dtype, device=t.device) / substeps
    fine = (t[:-1, None] + frac * t.diff()[:, None]).reshape(-1)
    return torch.cat([fine, t[-1:]])


@torch.no_grad()
def solve_timed(field: nn.Module, x0: torch.Tensor, t: torch.Tensor, method: str, *, substeps: int = 1,
                rtol: float = 1e-7, atol: float = 1e-9) -> tuple[torch.Tensor, int, float]:
    """X at the times t, the forward NFE and the wall seconds of the solve.

    Fixed-step methods take `substeps` equal steps per interval of t, so every output
    time is a step and no interpolation error mixes into the method's own.
    """
    require_choice("method", method, FIXED_STEP + ADAPTIVE)
    with one_thread_on_cpu(x0.device):
        synchronize(x0.device)
        start = time.perf_counter()
        if method in FIXED_STEP:
            solution = integrate(field, x0, refine(t, substeps), method=method)
            x = solution.x[::substeps]
        else:
            solution = integrate(field, x0, t, method=method, rtol=rtol, atol=atol)
            x = solution.x
        synchronize(x0.device)
        seconds = time.perf_counter() - start
    return x, solution.nfe, seconds


def work_precision(field: nn.Module, x0: torch.Tensor, t: torch.Tensor, references: dict, *,
                   methods=("euler", "midpoint", "rk4", "dopri5"), substeps=(1, 2, 4, 8, 16),
                   tolerances=(1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10)) -> list[dict]:
    """One row per (method, step or tolerance): NFE, seconds, and for every named reference
    curve (K, N, 2) the largest point error "max error vs NAME" and the "mse vs NAME".

    Fixed steps are the snapshot spacing divided by each entry of `substeps`; adaptive
    methods run at rtol = each tolerance and atol = rtol / 100 (coordinates are of order 1).
    """
    for name, reference in references.items():
        if reference.shape != (len(t), *x0.shape):
            raise ConfigError(f"reference {name!r} must have shape {(len(t), *x0.shape)}, "
                              f"got {tuple(reference.shape)}")
    spacing = float(t[1] - t[0])
    rows = []
    for method in methods:
        require_choice("method", method, FIXED_STEP + ADAPTIVE)
        settings = [dict(substeps=m) for m in substeps] if method in FIXED_STEP else \
            [dict(rtol=tol, atol=tol / 100) for tol in tolerances]
        for setting in settings:
            x, nfe, seconds = solve_timed(field, x0, t, method, **setting)
            row = {"method": method, "step": spacing / setting["substeps"] if "substeps" in setting else None,
                   "rtol": setting.get("rtol"), "nfe": nfe, "seconds": seconds}
            for name, reference in references.items():
                errors = curve_errors(x, reference)
                row[f"max error vs {name}"] = errors["max_point_error"]
                row[f"mse vs {name}"] = errors["curve_mse"]
            rows.append(row)
    return rows


def convergence_order(steps, errors) -> float:
    """Least-squares slope of log(error) against log(step): p where error ~ C step^p."""
    steps, errors = np.asarray(steps, dtype=float), np.asarray(errors, dtype=float)
    if len(steps) < 2 or np.any(steps <= 0) or np.any(errors <= 0):
        raise ConfigError("convergence_order needs at least two positive steps and errors")
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def measured_orders(rows: list[dict], reference: str, finest: int = 3) -> dict[str, float]:
    """Order of each fixed-step method in `rows` (errors vs the named reference), from its
    `finest` smallest steps: the asymptotic range."""
    orders = {}
    for method in ORDERS:
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["step"])[:finest]
        if len(mine) >= 2:
            errors = [r[f"max error vs {reference}"] for r in mine]
            orders[method] = convergence_order([r["step"] for r in mine], errors)
    return orders


def cheapest_within(rows: list[dict], reference: str, floor: float, factor: float = 1.05) -> dict[str, int | None]:
    """Per method, the fewest NFE whose max error vs `reference` is within `factor` of `floor`
    (None if no row gets there): the cost of reaching the best error there is to reach."""
    cost = {}
    for row in rows:
        cost.setdefault(row["method"], None)
        if row[f"max error vs {reference}"] <= factor * floor:
            best = cost[row["method"]]
            cost[row["method"]] = row["nfe"] if best is None else min(best, row["nfe"])
    return cost


def max_strain_rate(problem: BreathingEllipse) -> float:
    """max over t of |alpha(t)| = omega |beta0 - 1/beta0| / 4.

    With beta = A + B cos(omega t), A = (b0 + 1/b0)/2, B = (b0 - 1/b0)/2 and A^2 - B^2 = 1,
    |alpha| = omega |B sin| / (2 (A + B cos)) peaks where cos(omega t) = -B/A, at omega |B| / 2.
    """
    return problem.omega * abs(problem.beta0 - 1.0 / problem.beta0) / 4.0


def fold_free_step(problem: BreathingEllipse) -> float:
    """1 / max|alpha|: the largest Euler step that cannot fold the curve on any grid."""
    rate = max_strain_rate(problem)
    return math.inf if rate == 0 else 1.0 / rate


def step_grid(t_final: float, step: float, dtype=torch.float64, device=None) -> torch.Tensor:
    """0, h, 2h, ... below t_final, then t_final: the grid torchdiffeq's fixed-step solvers use for step_size=h."""
    require_positive("t_final", t_final)
    require_positive("step", step)
    nodes = torch.arange(0.0, t_final, step, dtype=dtype, device=device)
    if t_final - float(nodes[-1]) <= 1e-9 * t_final:
        nodes = nodes[:-1]
    return torch.cat([nodes, torch.tensor([t_final], dtype=dtype, device=device)])


def euler_growth(problem: BreathingEllipse, grid: torch.Tensor) -> torch.Tensor:
    """h_k alpha(t_k) for every Euler step on `grid`: the step multiplies x by 1 + this, y by 1 - this."""
    return grid.diff() * problem.alpha(grid[:-1])


def euler_fold_predicted(problem: BreathingEllipse, grid: torch.Tensor) -> bool:
    """Euler on the exact field folds the curve iff some step has h |alpha| > 1."""
    return bool((euler_growth(problem, grid).abs() > 1).any())


def folded(trajectory) -> bool:
    """True if any curve of (K, N, 2) has zero area or the opposite orientation of the first."""
    area = shoelace_area(trajectory)
    return bool(np.any(area * np.sign(area[0]) <= 0))


@torch.no_grad()
def euler_scan(field: nn.Module, problem: BreathingEllipse, x0: torch.Tensor, t_final: float, steps) -> list[dict]:
    """Explicit Euler at each step size h, compared with the exact flow at its own grid nodes.

    Each row: step, nfe, max error, the largest |h alpha| met on the grid, whether the
    curve folded (measured) and whether the exact growth rate predicts a fold.
    """
    rows = []
    for step in steps:
        grid = step_grid(t_final, float(step))
        with one_thread_on_cpu(x0.device):
            solution = integrate(field, x0, grid.to(x0), method="euler")
        rows.append({
            "step": float(step),
            "nfe": solution.nfe,
            "max error": curve_errors(solution.x, problem.flow(x0.double().cpu(), grid))["max_point_error"],
            "max |h alpha|": float(euler_growth(problem, grid).abs().max()),
            "folded": folded(solution.x),
            "predicted": euler_fold_predicted(problem, grid),
        })
    return rows


def area_polynomial(curve: torch.Tensor, velocity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(a0, a1, a2) with shoelace area of curve + h velocity = a0 + a1 h + a2 h^2, exactly.

    The shoelace area is bilinear in x and y, so one Euler step changes it by a quadratic in h;
    for the exact field a1 = 0 (it is divergence-free) and a2 = -alpha^2 a0."""
    def cross(p, q):  # 1/2 sum over edges of p_x q_y' - p_x' q_y, the bilinear form behind the area
        return 0.5 * (p[..., 0] * q[..., 1].roll(-1, dims=-1) - p[..., 0].roll(-1, dims=-1) * q[..., 1]).sum(-1)

    return cross(curve, curve), cross(curve, velocity) + cross(velocity, curve), cross(velocity, velocity)


@torch.no_grad()
def one_step_fold_steps(field: nn.Module, problem: BreathingEllipse, t: torch.Tensor,
                        num_points: int = NUM_POINTS) -> torch.Tensor:
    """For each time t_k, the smallest step h > 0 at which one Euler step of `field` from the
    exact curve X(t_k) leaves a curve of zero area (inf if none does): where the fold begins.

    On the exact field this is 1/|alpha(t_k)|; on a learned one it tests the learned growth rate
    where training constrained it, before Euler's drift takes the curve off the data."""
    device = field_device(field)
    dtype = field_dtype(field)  # a network's float32, float64 for the analytic field
    curves = problem.sample(t.double().cpu(), num_points)
    velocity = field(t.to(device)[:, None], curves.to(device, dtype))
    a0, a1, a2 = area_polynomial(curves, velocity.double().cpu())
    steps = []
    for c0, c1, c2 in zip(a0.tolist(), a1.tolist(), a2.tolist()):
        roots = np.roots([c2, c1, c0]) if abs(c2) > 1e-300 else np.roots([c1, c0])
        positive = [r.real for r in np.atleast_1d(roots) if abs(r.imag) <= 1e-12 * abs(r) and r.real > 0]
        steps.append(min(positive, default=math.inf))
    return torch.tensor(steps, dtype=torch.float64)


def first_fold(rows: list[dict]) -> float | None:
    """The smallest step of an euler_scan that folded the curve (None if none did)."""
    return min((r["step"] for r in rows if r["folded"]), default=None)


def secant_field(problem: BreathingEllipse, t: torch.Tensor, curves: torch.Tensor, step: float) -> torch.Tensor:
    """(Phi_h(X) - X) / h at curves (K, N, 2) observed at times t (K,).

    The field whose single Euler step of size h lands exactly on the true flow Phi_h: a
    network fitted through Euler on a grid of step h is pulled toward it, not toward the
    velocity.  It differs from the velocity by (h/2)(alpha' D X + alpha^2 X) + O(h^2); the
    alpha^2 X part is an expansion that undoes Euler's area loss of 1 - (h alpha)^2 a step.
    """
    require_positive("step", step)
    stretch = torch.sqrt(problem.beta(t + step) / problem.beta(t))
    factors = torch.stack([stretch, 1.0 / stretch], dim=-1)[:, None, :]
    return (factors - 1.0) * curves / step


def secant_area_growth(problem: BreathingEllipse, step: float, t_final: float) -> float:
    """A(t_final)/A(0) - 1 for the secant field integrated exactly: exp of the time integral of its
    divergence, (s + 1/s - 2)/h >= 0 with s = sqrt(beta(t+h)/beta(t)).  The scale of the area a
    field fitted through Euler gains when it is then integrated accurately."""
    require_positive("step", step)
    t = torch.linspace(0.0, t_final, 20001, dtype=torch.float64)
    s = torch.sqrt(problem.beta(t + step) / problem.beta(t))
    return math.expm1(float(torch.trapezoid((s + 1 / s - 2) / step, t)))


@torch.no_grad()
def inference_errors(model: nn.Module, problem: BreathingEllipse, methods=("euler", "midpoint", "rk4", "dopri5"), *,
                     num_points: int = NUM_POINTS, num_time_steps: int = NUM_TIME_STEPS, t_final: float = T_FINAL) -> dict[str, dict]:
    """Each method flows X(0) with the model on the training grid (fixed-step methods step on the
    grid, dopri5 at the library's default tolerances) and is scored against the exact curves:
    curve_mse, max_point_error, area drift (largest |A/A0 - 1|), area change (at the end), nfe, seconds."""
    t = time_grid(t_final, num_time_steps, device=field_device(model))
    truth = problem.sample(t, num_points)
    out = {}
    for method in methods:
        x, nfe, seconds = solve_timed(model, truth[0], t, method)
        area = shoelace_area(x)
        out[method] = {**curve_errors(x, truth), "area drift": area_drift(x),
                       "area change": float(area[-1] / area[0] - 1), "nfe": nfe, "seconds": seconds}
    return out


@torch.no_grad()
def target_distances(model: nn.Module, problem: BreathingEllipse, *, num_points: int = NUM_POINTS, num_time_steps: int = NUM_TIME_STEPS,
                     t_final: float = T_FINAL) -> dict[str, float]:
    """L2 distance of a field to the velocity and to the secant field of the grid step, relative
    to the velocity's norm, at the observed points (t_k, X(t_k)), k < K-1, where training constrained it."""
    t = time_grid(t_final, num_time_steps, device=field_device(model))
    truth = problem.sample(t, num_points)
    times, points = t[:-1], truth[:-1]
    learned = model(times[:, None], points)
    velocity = problem.velocity(points, times[:, None])
    secant = secant_field(problem, times, points, float(t[1] - t[0]))

    scale = velocity.norm()  # one yardstick for all three distances

    def dist(a, b):
        return float((a - b).norm() / scale)

    return {"velocity": dist(learned, velocity), "secant": dist(learned, secant),
            "secant vs velocity": dist(secant, velocity)}


def solver_summary(problem: BreathingEllipse, model: nn.Module, euler_model: nn.Module, *,
                   steps=tuple(np.round(np.arange(0.02, 0.8, 0.005), 3)), substeps=(1, 2, 4, 8, 16),
                   tolerances=(1e-3, 1e-5, 1e-7, 1e-9), num_points: int = NUM_POINTS, num_time_steps: int = NUM_TIME_STEPS,
                   t_final: float = T_FINAL) -> dict:
    """Every number the chapter's verdicts use, for one problem: `model` is an accurate model of
    the ODE (trained through rk4, or without a solver), `euler_model` one trained through Euler
    on the same grid.  Keys: exact sweep (work_precision of the exact field, float64, errors
    "vs exact"; substeps and tolerances as there) and orders (from its three finest steps),
    model / euler-trained (inference_errors), exact scan / learned scan (euler_scan),
    fold-free step, one-step fold error (largest
    |h alpha - 1| of the model's one-step fold steps where |alpha| >= max/2), distances
    (target_distances of both) and secant area growth."""
    grid = dict(num_points=num_points, num_time_steps=num_time_steps, t_final=t_final)
    t = time_grid(t_final, num_time_steps).double()
    x0 = problem.sample(t[:1], num_points)[0]
    exact = AnalyticField(problem)
    sweep = work_precision(exact, x0, t, {"exact": problem.flow(x0, t)}, substeps=substeps, tolerances=tolerances)
    x0_model = x0.to(field_device(model), torch.float32)
    strong = problem.alpha(t).abs() >= max_strain_rate(problem) / 2  # where a fold step is short enough to matter
    fold_steps = one_step_fold_steps(model, problem, t, num_points)
    return {
        "one-step fold error": float((fold_steps * problem.alpha(t).abs() - 1)[strong].abs().max()),
        "exact sweep": sweep,
        "orders": measured_orders(sweep, "exact"),
        "model": inference_errors(model, problem, **grid),
        "euler-trained": inference_errors(euler_model, problem, **grid),
        "exact scan": euler_scan(exact, problem, x0, t_final, steps),
        "learned scan": euler_scan(model, problem, x0_model, t_final, steps),
        "fold-free step": fold_free_step(problem),
        "distances": {name: target_distances(m, problem, **grid)
                      for name, m in (("model", model), ("euler-trained", euler_model))},
        "secant area growth": secant_area_growth(problem, float(t[1] - t[0]), t_final),
    }


def _ratio(a: float, b: float) -> float:
    """a / b, infinite when only b is zero (an ideal stand-in's distance or error)."""
    return a / b if b else (math.inf if a else 1.0)


def verdicts(summary: dict) -> dict[str, Check]:
    """The chapter's claims on a solver_summary, each a Check (a bound with its margin, or a fact).

    Bounds, each well clear of what the chapter measures on both of its configurations, so that
    other CPUs' training paths keep them: orders within ORDER_TOLERANCE of 1, 2, 4; rk4 and dopri5
    MSE within 2% (rk4's own error on the grid is a few per mille of the model's point error); Euler's MSE
    at least 30x rk4's on the training grid (its own error there is >~10x the model's); the
    learned field's one-step fold steps within 50% of 1/|alpha| where |alpha| >= max/2 (a growth
    rate is a derivative of the fit, several times less accurate than the field's 1-4% at the data);
    an Euler-trained field is fitted to Euler's map, so it must beat an accurate model under Euler,
    and exact integration must cost it, by >= 5x in MSE (the secant and the velocity differ by
    ~h alpha / 2, several times the fit error), and grow the area >= 10x the model's drift."""
    rk4, euler = summary["model"], summary["euler-trained"]
    exact_scan = summary["exact scan"]
    d = summary["distances"]
    found = [
        *(bounded(f"exact field: order of {m} minus {p}", abs(summary["orders"][m] - p), ORDER_TOLERANCE)
          for m, p in ORDERS.items()),
        bounded("model: dopri5 vs rk4 on the training grid, relative change of the MSE",
                abs(_ratio(rk4["dopri5"]["curve_mse"], rk4["rk4"]["curve_mse"]) - 1), 0.02),
        bounded("model: euler / rk4 MSE on the training grid",
                _ratio(rk4["euler"]["curve_mse"], rk4["rk4"]["curve_mse"]), 30, above=True),
        fact("exact field: euler folds iff some step has h|alpha| > 1",
             all(r["folded"] == r["predicted"] for r in exact_scan) and any(r["folded"] for r in exact_scan)),
        fact("exact field: no fold below h = 1/max|alpha|",
             all(not r["folded"] for r in exact_scan if r["step"] < summary["fold-free step"])),
        bounded("model: one-step fold steps vs 1/|alpha|, relative", summary["one-step fold error"], 0.5),
        bounded("under euler on the grid: model MSE / euler-trained MSE",
                _ratio(rk4["euler"]["curve_mse"], euler["euler"]["curve_mse"]), 5, above=True),
        bounded("euler-trained: dopri5 MSE / euler MSE",
                _ratio(euler["dopri5"]["curve_mse"], euler["euler"]["curve_mse"]), 5, above=True),
        fact("euler-trained: nearer the secant than the velocity",
             d["euler-trained"]["secant"] < d["euler-trained"]["velocity"]),
        fact("model: nearer the velocity than the secant", d["model"]["velocity"] < d["model"]["secant"]),
        fact("euler-trained under dopri5 grows the area", euler["dopri5"]["area change"] > 0),
        bounded("under dopri5: euler-trained area drift / the model's",
                _ratio(euler["dopri5"]["area drift"], rk4["dopri5"]["area drift"]), 10, above=True),
    ]
    return {check.claim: check for check in found}
