"""Inference: flow the initial curve with a learned field and score it against the exact motion."""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch

from .metrics import area_drift, curve_errors, field_rel_error, order_swaps, self_intersections
from .models import field_device
from .problem import NUM_POINTS, NUM_TIME_STEPS, T_FINAL, BreathingEllipse, time_grid
from .solve import integrate
from .validation import require_int_at_least


class Prediction(NamedTuple):
    t: torch.Tensor  # (K,)
    pred: torch.Tensor  # (K, N, 2), learned flow of the initial curve
    truth: torch.Tensor  # (K, N, 2), exact curve
    nfe: int


@torch.no_grad()
def predict(model, problem: BreathingEllipse, *, num_points=NUM_POINTS, num_time_steps=NUM_TIME_STEPS, t_final=T_FINAL, method="dopri5",
            dtype=None) -> Prediction:
    """Learned flow of the seed's initial curve (theta = linspace(0, 2 pi, N)) on a K-point time grid,
    to any t_final (beyond the training window too). dtype (e.g. torch.float64) computes in that
    precision with a copy of the model: the reference the browser's float64 explorer is held to."""
    require_int_at_least("num_points", num_points, 3)
    if dtype is not None:
        model = copy.deepcopy(model).to(dtype)
    device = field_device(model)
    t = time_grid(t_final, num_time_steps, device=device, dtype=dtype)
    truth = problem.sample(t, num_points)
    pred, nfe = flow(model, problem, truth[0], t, method=method)
    return Prediction(t, pred, truth, nfe)


@torch.no_grad()
def flow(model, problem: BreathingEllipse, x0: torch.Tensor, t: torch.Tensor, *, method="dopri5", **solver_options):
    """Positions (K, N, 2) of any start curve x0 flowed by the model, and the solver's NFE.

    solver_options (rtol, atol, step_size) go to solve.integrate.

    A model whose state carries the velocity starts from the exact V(0) = f(X(0), t0):
    the initial condition of a second-order system includes it.
    """
    v0 = problem.velocity(x0, t[0]) if getattr(model, "needs_velocity", False) else None
    start = model.augment(t[0], x0, v0) if hasattr(model, "augment") else x0
    solution = integrate(model, start, t, method=method, **solver_options)
    positions = model.positions(solution.x) if hasattr(model, "positions") else solution.x
    return positions, solution.nfe


def evaluate(model, problem: BreathingEllipse, *, num_points=NUM_POINTS, num_time_steps=NUM_TIME_STEPS, t_final=T_FINAL, method="dopri5") -> dict:
    """The command line's evaluate report: errors, area drift, topology and field error."""
    p = predict(model, problem, num_points=num_points, num_time_steps=num_time_steps, t_final=t_final, method=method)
    report = curve_errors(p.pred, p.truth)
    report.update(
        area_rel_drift=area_drift(p.pred),
        self_intersections=max(self_intersections(curve) for curve in p.pred.cpu()),
        order_swaps=order_swaps(p.pred),
        # on a fixed time sample, so the field's score does not depend on the requested K
        field_rel_error=field_rel_error(model, problem, time_grid(t_final, 64, device=p.t.device)),
        nfe=p.nfe,
    )
    return report
