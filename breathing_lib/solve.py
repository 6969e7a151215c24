"""The one place that calls torchdiffeq: integrate a field and count its evaluations."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from .validation import ConfigError, require_choice, require_positive

FIXED_STEP = ("euler", "midpoint", "rk4")
ADAPTIVE = ("dopri5", "bosh3", "adaptive_heun", "dopri8")
METHODS = FIXED_STEP + ADAPTIVE


class Solution(NamedTuple):
    x: torch.Tensor  # (K, *x0.shape)
    nfe: int  # forward function evaluations


class CountedField(nn.Module):
    """Wraps a field to count its calls: read right after a solve, the forward NFE; after a
    backward pass, also the evaluations the adjoint made."""

    def __init__(self, field: nn.Module):
        super().__init__()
        self.field = field
        self.nfe = 0

    def forward(self, t, x):
        self.nfe += 1
        return self.field(t, x)


def integrate(
    field: nn.Module,
    x0: torch.Tensor,
    t: torch.Tensor,
    *,
    method: str = "rk4",
    adjoint: bool = False,
    step_size: float | None = None,
    rtol: float = 1e-7,
    atol: float = 1e-9,
) -> Solution:
    """Solve dX/dt = field(t, X) from x0 at t[0], reporting X at every t.

    Fixed-step methods step on the output grid unless step_size is given; adaptive
    methods use rtol/atol.  adjoint=True backpropagates with the adjoint ODE (memory
    independent of the number of steps) instead of through the solver's operations.
    """
    require_choice("method", method, METHODS)
    options = {}
    if step_size is not None:
        require_positive("step_size", step_size)
        if method not in FIXED_STEP:
            raise ConfigError(f"step_size applies to fixed-step methods, not {method!r}")
        options["step_size"] = step_size
    counted = CountedField(field)
    solver = odeint_adjoint if adjoint else odeint
    kwargs = dict(method=method, rtol=rtol, atol=atol, options=options)
    x = solver(counted, x0, t.to(x0), **kwargs)
    return Solution(x, counted.nfe)


def rk4_steps(field: nn.Module, x0: torch.Tensor, t0: torch.Tensor, step: float, num_steps: int) -> torch.Tensor:
    """Classic fixed-step RK4, written out: (num_steps + 1, *x0.shape).

    t0 holds one start time per batch row (broadcastable to x0[..., 0]), so many
    windows that start at different times integrate together in one batched solve.
    Without torchdiffeq's per-step bookkeeping it costs only the field evaluations.
    """
    require_positive("step", step)
    x, t = x0, torch.as_tensor(t0, dtype=x0.dtype, device=x0.device)
    states = [x]
    for _ in range(num_steps):
        k1 = field(t, x)
        k2 = field(t + step / 2, x + (step / 2) * k1)
        k3 = field(t + step / 2, x + (step / 2) * k2)
        k4 = field(t + step, x + step * k3)
        x = x + (step / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        t = t + step
        states.append(x)
    return torch.stack(states)
