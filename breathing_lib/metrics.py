"""Measures of a predicted motion: area, topology, errors against the truth and the field."""

from __future__ import annotations

import numpy as np
import torch

from .models import field_device, velocity_function
from .problem import BreathingEllipse


def to_numpy(x) -> np.ndarray:
    """x as a host numpy array: a tensor detached and copied off its device, anything else as numpy sees it."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def shoelace_area(curve) -> np.ndarray:
    """Signed area of closed polygons (..., N, 2); positive when counter-clockwise."""
    p = to_numpy(curve).astype(np.float64)
    x, y = p[..., 0], p[..., 1]
    return 0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)


def area_ratios(traj) -> np.ndarray:
    """A(t)/A(0) - 1 for each closed curve of a trajectory (K, N, 2), shoelace areas in float64."""
    area = shoelace_area(traj)
    return area / area[0] - 1.0


def area_drift(traj) -> float:
    """max over time of |A(t)/A(0) - 1| for a trajectory of closed curves (K, N, 2)."""
    return float(np.max(np.abs(area_ratios(traj))))


def _distinct_vertices(polygon: np.ndarray) -> np.ndarray:
    """Drop (near-)repeated consecutive vertices: the seed's samples repeat theta=0 at 2 pi."""
    step = np.linalg.norm(polygon - np.roll(polygon, 1, axis=0), axis=1)
    return polygon[step > 1e-6 * np.abs(polygon).max()]  # float32 sin(2 pi) is 1.7e-7, not 0


def self_intersections(polygon) -> int:
    """Number of pairs of non-adjacent edges of a closed polygon (N, 2) that cross."""
    p = _distinct_vertices(to_numpy(polygon).astype(np.float64))
    n = len(p)
    if n < 4:
        return 0
    a, b = p, np.roll(p, -1, axis=0)
    i, j = np.triu_indices(n, k=2)
    keep = ~((i == 0) & (j == n - 1))  # first and last edges share a vertex
    i, j = i[keep], j[keep]

    def orient(p0, p1, q):
        return np.sign((p1[:, 0] - p0[:, 0]) * (q[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (q[:, 0] - p0[:, 0]))

    d1 = orient(a[i], b[i], a[j])
    d2 = orient(a[i], b[i], b[j])
    d3 = orient(a[j], b[j], a[i])
    d4 = orient(a[j], b[j], b[i])
    return int(np.sum((d1 * d2 < 0) & (d3 * d4 < 0)))


def order_swaps(traj) -> int:
    """Times x neighbours where the cyclic order of material points (by polar angle
    about the centroid) differs from t=0: two trajectories passed through each other."""
    p = to_numpy(traj).astype(np.float64)
    p = p - p.mean(axis=-2, keepdims=True)
    angle = np.unwrap(np.arctan2(p[..., 1], p[..., 0]), axis=-1)
    gaps = np.diff(angle, axis=-1)
    keep = np.abs(gaps[0]) > 1e-3 * np.median(np.abs(gaps[0]))  # skip the repeated end point
    return int(np.sum(np.sign(gaps[:, keep]) != np.sign(gaps[0, keep])))


def curve_errors(pred, truth) -> dict:
    """MSE over all points and times, and the largest point distance."""
    diff = to_numpy(pred).astype(np.float64) - to_numpy(truth).astype(np.float64)
    dist = np.linalg.norm(diff, axis=-1)
    return {"curve_mse": float(np.mean(diff**2)), "max_point_error": float(dist.max())}


def swept_region_grid(problem: BreathingEllipse, t, grid_size: int = 41):
    """A square grid over the ellipses of times t: its axis (G,), points (G*G, 2) and which lie
    inside the union over t of the ellipses, the region the curve sweeps (G*G,) bool."""
    t = torch.as_tensor(t).detach().to("cpu", torch.float64)
    a, b = problem.semi_axes(t)
    reach = float(torch.max(torch.maximum(a, b)))
    axis = torch.linspace(-reach, reach, grid_size, dtype=torch.float64)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    pts = torch.stack([xx.ravel(), yy.ravel()], dim=-1)
    inside = ((pts[None, :, 0] / a[:, None]) ** 2 + (pts[None, :, 1] / b[:, None]) ** 2 <= 1.0).any(dim=0)
    return axis, pts, inside


def swept_region_points(problem: BreathingEllipse, t, grid_size: int = 41) -> torch.Tensor:
    """Grid points inside the union over t of the ellipses: the region the curve sweeps."""
    _, pts, inside = swept_region_grid(problem, t, grid_size)
    return pts[inside]


@torch.no_grad()
def field_rel_error(field, problem: BreathingEllipse, t, grid_size: int = 41) -> float | None:
    """Relative L2 error ||f_theta - f|| / ||f|| over the swept region and the times t.

    None for a model whose velocity is part of its state (no field of position and time).
    """
    velocity_at = velocity_function(field)
    t64 = torch.as_tensor(t).detach().to("cpu", torch.float64)
    pts64 = swept_region_points(problem, t64, grid_size)
    pts = pts64.to(device=field_device(field), dtype=torch.float32)
    num, den = 0.0, 0.0
    for tk in t64:
        learned = velocity_at(tk.to(pts), pts)
        if learned is None:
            return None
        learned = learned.double().cpu()
        exact = problem.velocity(pts64, tk)
        num += float(((learned - exact) ** 2).sum())
        den += float((exact**2).sum())
    return (num / den) ** 0.5
