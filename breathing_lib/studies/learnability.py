"""Is what a model must output a function of what it sees? A data-only test.

A field can only be learned if the target (velocity, or acceleration) is a
reasonably smooth function of the model's inputs along the observed motion.
For each observed sample we find its nearest neighbour in the model's input
space (inputs and targets standardised) and take |target difference| /
|input distance|: a local slope. A smooth map keeps these slopes of order one;
two nearly equal inputs with different targets make them explode, and no
network can fit both.
"""

from __future__ import annotations

import torch

from ..collocation import snapshot_velocities


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
