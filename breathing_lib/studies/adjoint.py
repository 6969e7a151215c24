"""Adjoint vs direct backpropagation through the ODE solve: same gradient, different cost.

Direct backpropagation (`odeint`) differentiates the solver's own arithmetic, so it keeps
every intermediate activation until the backward pass: memory grows with the number of
solver steps. The adjoint method (`odeint_adjoint`) keeps only the observed states and
recovers the rest by solving a second ODE backwards in time: memory independent of the
number of steps, paid for with extra field evaluations and a gradient that is exact only
up to the discretisation error of that backward solve. This module measures both sides.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import torch
from torch import nn

from ..device import one_thread_on_cpu, synchronize
from ..memory import peak_memory
from ..models import trainable_parameters
from ..solve import FIXED_STEP, CountedField, integrate
from ..validation import ConfigError, require_finite_tensor, require_int_at_least

# field evaluations per step of torchdiffeq's fixed-step methods: turns a counted NFE into steps
EVALS_PER_STEP = {"euler": 1, "midpoint": 2, "rk4": 4}


def _check_data(t: torch.Tensor, truth: torch.Tensor) -> None:
    if t.ndim != 1 or len(t) < 2:
        raise ConfigError(f"t must be a 1-D tensor of at least 2 times, got shape {tuple(t.shape)}")
    if not bool((t[1:] > t[:-1]).all()):
        raise ConfigError("t must be strictly increasing")
    if truth.ndim < 2 or truth.shape[0] != len(t):
        raise ConfigError(f"truth must have one snapshot per time, shape (len(t)={len(t)}, ...); "
                          f"got {tuple(truth.shape)}")
    require_finite_tensor("truth", truth)


def _step_size(t: torch.Tensor, steps_per_interval: int) -> float | None:
    """The fixed step that puts `steps_per_interval` steps between consecutive observations.

    Give times whose spacing is exact in binary (e.g. 1.5 / 32): torchdiffeq rounds each
    interval's step count up, so where rounding makes gap / step a hair above an integer
    the backward solve inserts an extra, tiny step there (harmless, but not the same grid).
    """
    require_int_at_least("steps_per_interval", steps_per_interval, 1)
    if steps_per_interval == 1:
        return None  # step on the observation grid itself, as training does
    gaps = (t[1:] - t[:-1]).double()
    if float((gaps - gaps.mean()).abs().max()) > 1e-5 * float(gaps.mean()):
        raise ConfigError("steps_per_interval > 1 needs uniformly spaced times t")
    return float(gaps.mean()) / steps_per_interval


def rollout_loss(model: nn.Module, t, truth, *, adjoint: bool, method: str = "rk4",
                 steps_per_interval: int = 1, **tolerances) -> tuple[torch.Tensor, int]:
    """The original recipe's loss (MSE of the rollout from truth[0]) and the forward NFE."""
    _check_data(t, truth)
    step_size = _step_size(t, steps_per_interval) if method in FIXED_STEP else None
    if steps_per_interval != 1 and method not in FIXED_STEP:
        raise ConfigError(f"steps_per_interval applies to fixed-step methods, not {method!r}")
    solution = integrate(model, truth[0], t, method=method, adjoint=adjoint, step_size=step_size, **tolerances)
    return torch.mean((solution.x - truth) ** 2), solution.nfe


def parameter_gradient(model: nn.Module, t, truth, *, adjoint: bool, **solver) -> torch.Tensor:
    """dL/dtheta, flattened; computed with autograd.grad so the model's .grad is left alone."""
    params = trainable_parameters(model)
    loss, _ = rollout_loss(model, t, truth, adjoint=adjoint, **solver)
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])


def compare_gradients(model: nn.Module, t, truth, **solver) -> dict:
    """Relative L2 difference |g_adjoint - g_direct| / |g_direct| of the parameter gradient.

    Direct backprop gives the exact derivative of the discrete forward solve; the adjoint
    integrates the continuous adjoint ODE backwards, so the two differ by the backward
    solve's discretisation (or tolerance) error, plus round-off.
    """
    with one_thread_on_cpu(truth.device):
        direct = parameter_gradient(model, t, truth, adjoint=False, **solver)
        adjoint = parameter_gradient(model, t, truth, adjoint=True, **solver)
    return {
        "rel_diff": float((adjoint - direct).norm() / direct.norm()),
        "grad_norm": float(direct.norm()),
    }


def field_evaluations(model: nn.Module, t, truth, *, adjoint: bool, **solver) -> tuple[int, int]:
    """Field evaluations in one forward and in one backward pass.

    Direct backprop makes none backward (it differentiates the stored graph); the adjoint
    evaluates the field, and a vector-Jacobian product through it, at every backward stage.
    """
    counted = CountedField(model)
    params = trainable_parameters(model)
    with one_thread_on_cpu(truth.device):
        loss, _ = rollout_loss(counted, t, truth, adjoint=adjoint, **solver)
        forward = counted.nfe
        torch.autograd.grad(loss, params)
    return forward, counted.nfe - forward


class Cost(NamedTuple):
    steps: int  # solver steps of the forward solve, counted from its field evaluations
    peak_bytes: int  # allocated by one forward + backward at its worst moment, measured
    seconds: float  # one forward + backward, best of `repeats`, outside the memory counter


def backward_cost(model: nn.Module, t, truth, *, adjoint: bool, method: str = "rk4",
                  steps_per_interval: int = 1, repeats: int = 1) -> Cost:
    """Peak memory and time of one forward + backward pass of the rollout loss.

    Memory is measured first (breathing_lib.memory: CUDA's allocator, or a storage counter on
    the CPU, which slows the work it watches); that pass also warms up, then the work is
    timed again unobserved.
    """
    require_int_at_least("repeats", repeats, 1)
    if method not in EVALS_PER_STEP:
        raise ConfigError(f"method must be a fixed-step method ({', '.join(EVALS_PER_STEP)}) to count steps, "
                          f"got {method!r}")
    params = trainable_parameters(model)
    device = truth.device

    def once() -> int:
        loss, nfe = rollout_loss(model, t, truth, adjoint=adjoint, method=method,
                                 steps_per_interval=steps_per_interval)
        torch.autograd.grad(loss, params)
        return nfe

    with one_thread_on_cpu(device):
        with peak_memory(device) as measured:
            nfe = once()
        best = math.inf
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            once()
            synchronize(device)
            best = min(best, time.perf_counter() - start)
    return Cost(nfe // EVALS_PER_STEP[method], measured.bytes, best)


def memory_sweep(model: nn.Module, t, truth, steps_per_interval=(1, 2, 4, 8), method: str = "rk4",
                 repeats: int = 1) -> list[dict]:
    """backward_cost, adjoint and direct, for a growing number of solver steps between the same
    observations: the loss and its data stay fixed, only the work inside the solve grows."""
    if len(steps_per_interval) < 2:
        raise ConfigError("steps_per_interval needs at least 2 values to show a growth law")
    rows = []
    for m in steps_per_interval:
        direct = backward_cost(model, t, truth, adjoint=False, method=method, steps_per_interval=m, repeats=repeats)
        adjoint = backward_cost(model, t, truth, adjoint=True, method=method, steps_per_interval=m, repeats=repeats)
        if direct.steps != adjoint.steps:
            raise RuntimeError(f"direct and adjoint took different step counts ({direct.steps}, {adjoint.steps})")
        rows.append({
            "steps": direct.steps,
            "direct MB": direct.peak_bytes / 2**20,
            "adjoint MB": adjoint.peak_bytes / 2**20,
            "direct ms": 1000 * direct.seconds,
            "adjoint ms": 1000 * adjoint.seconds,
        })
    return rows


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x: the exponent p of y ~ x^p."""
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ConfigError(f"x and y must be 1-D of the same length >= 2, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not bool((x > 0).all() and (y > 0).all()):
        raise ConfigError("x and y must be positive for a log-log fit")
    lx, ly = x.log(), y.log()
    lx = lx - lx.mean()
    if float(lx.abs().max()) == 0:
        raise ConfigError("x must hold at least 2 distinct values")
    return float((lx * (ly - ly.mean())).sum() / (lx * lx).sum())
