"""Measures of structure: is a field divergence-free, does its flow keep area, is its psi the true one?

A divergence-free field keeps the area of every region it carries. What a
computation sees is the shoelace area of an N-gon whose vertices are flowed by
a numerical integrator, so even a field divergence-free to rounding shows two
residual drifts: the integrator's error, and the polygon's straight edges, which
a nonlinear flow would bend (O(1/N^2) in the area). These helpers measure each
part separately, for any field that exposes `velocity_at`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..inference import flow
from ..metrics import area_drift, curve_errors, swept_region_grid, swept_region_points
from ..models import field_device, field_dtype, velocity_function
from ..problem import BreathingEllipse
from ..validation import ConfigError, require_int_at_least


def divergence(field, t, points: torch.Tensor) -> torch.Tensor:
    """du/dx + dv/dy of the field at points (M, 2) and time t, by autograd (shape (M,)).

    Works for any pointwise field (each row's velocity depends only on that row), so the
    gradient of the summed component gives every point's own derivative in one pass.
    Computed in the dtype of `points`; pass float64 points to a float64 copy of the field
    to see rounding at 1e-16 rather than 1e-7.
    """
    velocity_at = velocity_function(field)
    with torch.enable_grad():
        x = points.detach().clone().requires_grad_(True)
        v = velocity_at(torch.as_tensor(t, dtype=x.dtype, device=x.device), x)
        if v is None:
            raise ConfigError("field has no velocity as a function of position and time (its state carries "
                              "the velocity); divergence is undefined")
        du = dv = None
        if v.requires_grad:  # a field that ignores its input has no graph to x: divergence 0
            du = torch.autograd.grad(v[..., 0].sum(), x, retain_graph=True, allow_unused=True)[0]
            dv = torch.autograd.grad(v[..., 1].sum(), x, allow_unused=True)[0]
    du = torch.zeros_like(x) if du is None else du
    dv = torch.zeros_like(x) if dv is None else dv
    return (du[..., 0] + dv[..., 1]).detach()


class DivergenceMap(NamedTuple):
    axis: np.ndarray  # (G,) grid coordinates, the same in x and y
    peak: np.ndarray  # (G, G) max over the times of |div f|, NaN outside the swept region
    max_abs: float  # max of peak over the swept region
    rms: float  # RMS of div f over the swept region and the times


def divergence_map(field, problem: BreathingEllipse, t, grid_size: int = 61) -> DivergenceMap:
    """|div f| over the region the curve sweeps during times t: a heat map and its summaries."""
    require_int_at_least("grid_size", grid_size, 2)
    t64 = torch.as_tensor(t).detach().to("cpu", torch.float64).reshape(-1)
    axis, pts, inside = swept_region_grid(problem, t64, grid_size)
    dtype = field_dtype(field, default=torch.float32)
    pts_dev = pts.to(device=field_device(field), dtype=dtype)
    div = torch.stack([divergence(field, tk, pts_dev).double().cpu() for tk in t64])  # (T, G*G)
    peak = div.abs().max(dim=0).values
    peak[~inside] = float("nan")
    inner = div[:, inside]
    return DivergenceMap(axis.numpy(), peak.reshape(grid_size, grid_size).numpy(),
                         float(inner.abs().max()), float(inner.pow(2).mean().sqrt()))


def area_drift_by_points(model, problem: BreathingEllipse, counts, t, *, start=None, method: str = "dopri5",
                         **solver_options) -> dict:
    """{N: max over t of |A(t)/A(0) - 1|} for the model's flow of a start curve sampled with N points.

    start(N) gives the (N, 2) start curve; by default the problem's curve at t[0] as the seed
    samples it. Comparing several N separates the polygon's O(1/N^2) share of the drift
    from what does not depend on N (the field's divergence, the integrator, rounding).
    solver_options (rtol, atol, step_size) go to solve.integrate. Computed in t's dtype:
    pass float64 t to a float64 copy of the model to take float32 rounding out.
    """
    device = field_device(model)
    t = torch.as_tensor(t, device=device)
    drifts = {}
    for n in counts:
        require_int_at_least("num_points", n, 3)
        x0 = problem.sample(t[:1], n)[0] if start is None else start(n)
        traj = flow(model, problem, x0.to(device=device, dtype=t.dtype), t, method=method, **solver_options)[0]
        drifts[n] = area_drift(traj)
    return drifts


def score_starts(models: dict, problem: BreathingEllipse, starts: dict, t, *, method: str = "dopri5") -> list[dict]:
    """For every model and start curve: the learned flow against the exact one (problem.flow),
    curve MSE, largest point error, and the learned flow's area drift. One row each."""
    rows = []
    for start_name, x0 in starts.items():
        for model_name, model in models.items():
            device = field_device(model)
            tt = torch.as_tensor(t, device=device)
            pred, _ = flow(model, problem, x0.to(device), tt, method=method)
            exact = problem.flow(x0.to(device), tt, t0=float(tt[0]))
            errors = curve_errors(pred, exact)
            rows.append({"start": start_name, "model": model_name, "curve MSE": errors["curve_mse"],
                         "max point error": errors["max_point_error"],
                         "area drift": area_drift(pred), "exact drift": area_drift(exact)})
    return rows


@torch.no_grad()
def stream_function_error(field, problem: BreathingEllipse, t, grid_size: int = 41) -> float:
    """Relative L2 distance between the learned psi and the true alpha(t) x y over the swept region.

    psi is defined up to a constant at each time, so each time's mean over the region is
    removed from both before comparing.
    """
    if not hasattr(field, "stream_function"):
        raise ConfigError("field has no stream function (only model 'stream' learns one)")
    t64 = torch.as_tensor(t).detach().to("cpu", torch.float64).reshape(-1)
    pts64 = swept_region_points(problem, t64, grid_size)
    dtype = field_dtype(field, default=torch.float32)
    pts = pts64.to(device=field_device(field), dtype=dtype)
    num, den = 0.0, 0.0
    for tk in t64:
        learned = field.stream_function(tk.to(pts), pts).double().cpu()
        exact = problem.stream_function(pts64, tk)
        learned, exact = learned - learned.mean(), exact - exact.mean()
        num += float(((learned - exact) ** 2).sum())
        den += float((exact**2).sum())
    return (num / den) ** 0.5
