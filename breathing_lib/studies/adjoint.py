"""Adjoint vs direct backpropagation through the ODE solve: same gradient, different cost.

Direct backpropagation (`odeint`) differentiates the solver's own arithmetic, so it keeps
every intermediate activation until the backward pass: memory grows with the number of
solver steps. The adjoint method (`odeint_adjoint`) keeps only the observed states and
recovers the rest by solving a second ODE backwards in time: memory independent of the
number of steps, paid for with extra field evaluations and a gradient that is exact only
up to the discretisation error of that backward solve. This module measures both sides.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..checks import bounded, fact, rounding
from ..device import one_thread_on_cpu, synchronize
from ..memory import peak_memory
from ..models import trainable_parameters
from ..solve import FIXED_STEP, CountedField, integrate
from ..train import TrainConfig, fit, new_model, training_data
from ..validation import ConfigError, require_finite_tensor, require_int_at_least

# field evaluations per step of torchdiffeq's fixed-step methods: turns a counted NFE into steps
EVALS_PER_STEP = {"euler": 1, "midpoint": 2, "rk4": 4}
# how far an observed order may sit from 4: the untrained field is in the asymptotic regime; the trained
# one, whose velocity reverses within a period, is not yet at one step per snapshot (its orders sit further from 4)
ORDER_TOLERANCE = {"untrained": 0.5, "trained": 1.0}
ROUNDOFF = rounding(1.0, torch.float32)  # a relative difference of 64 float32 ulps: round-off, nothing else


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


def untrained_field(config: TrainConfig, t, truth) -> nn.Module:
    """The config's network at the random initialisation its seed gives (the one `fit` starts from),
    normalised to the data (t, truth) and on its device."""
    torch.manual_seed(config.seed)
    return new_model(config, t, truth).to(truth.device)


def refinement_study(model: nn.Module, t, truth, refinements) -> tuple[list[float], list[float]]:
    """The relative gradient difference in float64 (a copy, so round-off is out of the way) at each
    number of RK4 steps per interval in `refinements`, and the observed order between consecutive ones."""
    require_int_at_least("len(refinements)", len(refinements), 2)
    model64 = copy.deepcopy(model).double()
    diffs = [compare_gradients(model64, t.double(), truth.double(), steps_per_interval=m)["rel_diff"]
             for m in refinements]
    orders = [math.log(a / b) / math.log(m2 / m1)
              for a, b, m1, m2 in zip(diffs, diffs[1:], refinements, refinements[1:])]
    return diffs, orders


def memory_law(model: nn.Module, t, truth, steps_per_interval) -> dict:
    """memory_sweep's rows, its step counts and the log-log slope of each route's peak memory against
    them (keys rows, steps, slope): the exponent p of memory ~ steps^p."""
    rows = memory_sweep(model, t, truth, steps_per_interval=steps_per_interval)
    steps = [r["steps"] for r in rows]
    slope = {kind: loglog_slope(steps, [r[f"{kind} MB"] for r in rows]) for kind in ("direct", "adjoint")}
    return {"rows": rows, "steps": steps, "slope": slope}


def train_both_ways(config: TrainConfig, device) -> dict:
    """`config` trained with direct backpropagation and with the adjoint, one after the other in this
    process: each route's loss history (keys False, True: adjoint), its ms per epoch, and the largest
    relative gap between the two loss curves."""
    runs = {adjoint: fit(replace(config, adjoint=adjoint), device, progress=False) for adjoint in (False, True)}
    loss = {a: np.array(r.history["loss"]) for a, r in runs.items()}
    return {"epochs": config.epochs, "loss": loss,
            "ms_per_epoch": {a: 1000 * r.metrics["wall_seconds"] / config.epochs for a, r in runs.items()},
            "curve_gap": float(np.max(np.abs(loss[True] / loss[False] - 1)))}


def same_claims(config: TrainConfig, device, *, exact_grid: int, refinements, steps_per_interval) -> dict:
    """The chapter's claims re-measured at the untrained field of another problem (label: its beta0
    and period): rk4 and dopri5 (rtol 1e-7) gradient differences, float64 orders over `refinements`
    and the memory law, the last two on `exact_grid` snapshots."""
    t, truth = training_data(config, device)
    t_exact, truth_exact = training_data(replace(config, num_time_steps=exact_grid), device)
    field = untrained_field(config, t, truth)
    return {"label": f"beta0={config.beta0:g}, T={config.period:g}",
            "rk4": compare_gradients(field, t, truth, method="rk4")["rel_diff"],
            "dopri5": compare_gradients(field, t, truth, method="dopri5", rtol=1e-7, atol=1e-9)["rel_diff"],
            "orders": refinement_study(field, t_exact, truth_exact, refinements)[1],
            "memory": memory_law(field, t_exact, truth_exact, steps_per_interval)}


def findings(agreement: dict, refinement: dict, training: dict, evaluations: dict, memory: dict, other: dict, *,
             field: nn.Module, state: torch.Tensor, refinements, tolerances, intervals: int, exact_grid: int,
             trained_mse: float) -> dict:
    """Every number chapter 5 states and every claim it checks, in the chapter's order.

    agreement: compare_gradients per (field name, solver name: "rk4" or "dopri5 rtol=1e-03"...);
    refinement: refinement_study per field name over `refinements`; training: train_both_ways;
    evaluations: field_evaluations per adjoint flag, on `intervals` RK4 steps; memory: memory_law of
    the untrained `field` on `exact_grid` snapshots of one curve like `state`; other: same_claims."""
    return {
        "trained_mse": trained_mse,
        "exact_grid": exact_grid,
        **_gradient_findings(agreement, refinement, refinements, tolerances),
        **_training_findings(training, evaluations, intervals),
        **_memory_findings(memory, other, field, state),
        **_other_findings(other, refinements),
    }


def _gradient_findings(agreement: dict, refinement: dict, refinements, tolerances) -> dict:
    """How far the two routes' gradients agree: rk4 in float32 and float64, dopri5 at each tolerance."""
    untrained, trained = agreement[("untrained", "rk4")], agreement[("trained", "rk4")]
    loose, tight = f"dopri5 rtol={tolerances[0]:.0e}", f"dopri5 rtol={tolerances[-1]:.0e}"
    abs_diff = {name: diffs[0] * agreement[(name, "rk4")]["grad_norm"] for name, (diffs, _) in refinement.items()}
    orders = [p for _, found in refinement.values() for p in found]
    return {
        # RK4, float32: the backward solve's O(h^4) error is below float32 resolution for the smooth untrained
        # field (float64, below: ~1e-11), so only round-off is left
        "rk4_untrained": bounded("untrained field, rk4: adjoint vs direct gradient, relative", untrained["rel_diff"],
                                 ROUNDOFF, kind="exact"),
        # the trained field's difference is larger but still small next to the gradient
        "rk4_trained": bounded("trained field, rk4: adjoint vs direct gradient, relative", trained["rel_diff"], 1e-3),
        # float64: fourth order in the step, for both fields; absolute error larger for the moving field
        **{f"order_{name}_{m1}_{m2}": bounded(f"{name} field, float64: order from {m1} to {m2} steps minus 4",
                                              abs(p - 4), ORDER_TOLERANCE[name])
           for name, (_, found) in refinement.items()
           for m1, m2, p in zip(refinements, refinements[1:], found)},
        "order_min": min(orders),
        "order_max": max(orders),
        "f64_untrained": bounded("untrained field, float64, one step per snapshot: relative difference, below "
                                 "float32 eps / 10", refinement["untrained"][0][0], torch.finfo(torch.float32).eps / 10),
        "f64_ratio": bounded("float64 absolute difference, trained / untrained", abs_diff["trained"] / abs_diff["untrained"],
                             10, above=True),
        "grad_ratio": bounded("gradient norm, untrained / trained", untrained["grad_norm"] / trained["grad_norm"],
                              10, above=True),
        # dopri5: the agreement tightens with the tolerance
        "dopri_loose": agreement[("untrained", loose)]["rel_diff"],
        "dopri_tightening": bounded("untrained field, dopri5: relative difference at rtol 1e-3 / at rtol 1e-7",
                                    agreement[("untrained", loose)]["rel_diff"] / agreement[("untrained", tight)]["rel_diff"],
                                    10, above=True),
        "dopri_tight": bounded("untrained field, dopri5 rtol 1e-7: relative difference",
                               agreement[("untrained", tight)]["rel_diff"], 1e-5),
        "loose_inflation": bounded("trained field: direct gradient norm, rtol 1e-3 / rtol 1e-7",
                                   agreement[("trained", loose)]["grad_norm"] / agreement[("trained", tight)]["grad_norm"],
                                   2, above=True),
        "dopri_trained_loose": bounded("trained field, dopri5 rtol 1e-3: relative difference",
                                       agreement[("trained", loose)]["rel_diff"], 0.01, above=True),
    }


def _training_findings(training: dict, evaluations: dict, intervals: int) -> dict:
    """The same training both ways, its time per epoch, and the adjoint's extra evaluations."""
    ms = training["ms_per_epoch"]
    return {
        "train_epochs": training["epochs"],
        # gradients that agree to round-off give the same Adam steps
        "curve_gap": bounded("largest relative gap between the two loss curves", training["curve_gap"], 1e-4),
        "ms_adjoint": ms[True],
        "ms_direct": ms[False],
        "time_ratio": ms[True] / ms[False],
        "evals_adjoint": sum(evaluations[True]),
        "evals_direct": sum(evaluations[False]),
        "direct_evaluations": fact("direct: 4 field evaluations per RK4 step forward, none backward",
                                   evaluations[False] == (4 * intervals, 0)),
        "adjoint_evaluations": fact("adjoint: 4 field evaluations per RK4 step forward, as many backward",
                                    evaluations[True] == (4 * intervals,) * 2),
    }


def _memory_findings(memory: dict, other: dict, field: nn.Module, state: torch.Tensor) -> dict:
    """The memory law on both problems, and what the adjoint's peak is made of.

    On the CPU the counts are exact bytes of tensor storages, the same for every CPU kernel, thread count
    and GC schedule, so these are yes/no facts; on a GPU, the CUDA allocator's peak (512 B blocks)."""
    rows, steps = memory["rows"], memory["steps"]
    adjoint_mb = [r["adjoint MB"] for r in rows]
    adjoint_growth = (adjoint_mb[-1] - adjoint_mb[1]) * 2**20  # bytes, once the intervals are split
    n_params = sum(p.numel() for p in field.parameters())
    # the augmented state of the backward solve: time, X, a = dL/dX and the parameter-gradient accumulator
    augmented_bytes = (1 + 2 * state.numel() + n_params) * state.element_size()
    split_copies = (adjoint_mb[1] - adjoint_mb[0]) * 2**20 / augmented_bytes
    laws = {}
    for key, label, slope in (("", "", memory["slope"]), ("other_", f"{other['label']}: ", other["memory"]["slope"])):
        laws[f"{key}direct_law"] = fact(f"{label}direct memory grows as steps^1 (exponent 0.9..1.05)",
                                        0.9 < slope["direct"] < 1.05)
        laws[f"{key}adjoint_law"] = fact(f"{label}adjoint memory flat (|exponent| < 0.1)", abs(slope["adjoint"]) < 0.1)
    return {
        "slope_direct": memory["slope"]["direct"],
        "slope_adjoint": memory["slope"]["adjoint"],
        "kb_per_step": (rows[-1]["direct MB"] - rows[0]["direct MB"]) / (steps[-1] - steps[0]) * 1024,
        "split_copies": split_copies,
        "n_params": n_params,
        "max_steps": steps[-1],
        "adjoint_growth_bytes": adjoint_growth,
        "memory_ratio": rows[-1]["direct MB"] / rows[-1]["adjoint MB"],
        "direct_max_mb": rows[-1]["direct MB"],
        **laws,
        # past the first split the adjoint's peak moves only by the step grid (tens of bytes; CUDA rounds to 512 B)
        "adjoint_flat_past_split": fact("past the first split the adjoint's peak changes by < 1% of itself",
                                        abs(adjoint_growth) < 0.01 * adjoint_mb[1] * 2**20),
        "split_raises_adjoint": fact("the first split raises the adjoint's peak by about 3 augmented states (2.5..3.5)",
                                     2.5 < split_copies < 3.5),
        "direct_needs_more": fact("at the most steps direct backpropagation needs > 50x the adjoint's memory",
                                  rows[-1]["direct MB"] > 50 * rows[-1]["adjoint MB"]),
    }


def _other_findings(other: dict, refinements) -> dict:
    """The gradient claims at another problem's untrained field (its memory law is with the others)."""
    return {
        "other_rk4": bounded(f"{other['label']}, untrained field, rk4: relative difference", other["rk4"], ROUNDOFF,
                             kind="exact"),
        "other_dopri5": bounded(f"{other['label']}, untrained field, dopri5 rtol 1e-7: relative difference",
                                other["dopri5"], 1e-5),
        **{f"other_order_{m1}_{m2}": bounded(f"{other['label']}, untrained field, float64: order from {m1} to {m2} "
                                             "steps minus 4", abs(p - 4), ORDER_TOLERANCE["untrained"])
           for m1, m2, p in zip(refinements, refinements[1:], other["orders"])},
        "other_direct": other["memory"]["slope"]["direct"],
        "other_adjoint": other["memory"]["slope"]["adjoint"],
    }
