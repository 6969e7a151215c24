"""Velocities of observed points, estimated from the snapshots themselves.

Every snapshot is observed, so each material point's path x_i(t_k) is known on
the time grid; high-order finite differences of it give dx/dt at every
(x_i(t_k), t_k). Regressing f_theta on these pairs ("collocation") needs no ODE
solve at all, which makes it a fast way to get close before fitting rollouts.
"""

from __future__ import annotations

import numpy as np
import torch

from .validation import require_int_at_least


def finite_difference_weights(num_times: int, order: int = 8) -> np.ndarray:
    """(K, K) matrix D with (D @ x) / dt ~ dx/dt on a uniform grid, accurate to O(dt^order).

    Central stencils inside, the same number of points shifted one-sided near the ends.
    """
    require_int_at_least("order", order, 1)
    require_int_at_least("num_times", num_times, order + 1)
    weights = np.zeros((num_times, num_times))
    moments = np.zeros(order + 1)
    moments[1] = 1.0  # the stencil must differentiate t exactly and kill 1, t^2, ..., t^order
    for k in range(num_times):
        first = min(max(0, k - order // 2), num_times - order - 1)
        nodes = np.arange(first, first + order + 1)
        vandermonde = np.vander(nodes - k, order + 1, increasing=True).T
        weights[k, nodes] = np.linalg.solve(vandermonde, moments)
    return weights


def snapshot_velocities(t: torch.Tensor, curves: torch.Tensor, order: int | None = None) -> torch.Tensor:
    """dx/dt at every observed point (K, N, 2), from a uniform time grid t (K,).

    order=None picks, among 2, 4, 6 and 8 (10 serves only as the last comparison), the
    order whose estimate changes least when the order is raised by two: higher orders
    win on finely sampled motion, but on a coarse grid their wide stencils do worse.
    """
    step = float(t[1] - t[0])
    x = curves.double()

    def estimate(p):
        d = torch.as_tensor(finite_difference_weights(len(t), p), device=curves.device)
        return torch.einsum("kj,jnd->knd", d, x) / step

    if order is None:
        candidates = [p for p in (2, 4, 6, 8, 10) if p < len(t)]
        if len(candidates) < 2:
            raise ValueError(f"need at least 5 snapshots to estimate velocities, got {len(t)}")
        estimates = [estimate(p) for p in candidates]
        changes = [torch.linalg.vector_norm(a - b) for a, b in zip(estimates, estimates[1:])]
        best = min(range(len(changes)), key=lambda i: changes[i])
        return estimates[best].to(curves.dtype)
    return estimate(order).to(curves.dtype)
