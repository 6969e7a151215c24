"""Chapter 1's checks of the analytic field alpha(t) (x, -y) against the data it must produce.

Four independent routes to the same motion: finite differences of the sampled curves, a
numerical solve of the field from a disc far from the ellipse, the polygon's exact area, and
the closed-form flow map. Each returns one number; `findings` states them with their bounds.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..checks import Check, bounded, fact, rounding
from ..metrics import self_intersections, shoelace_area
from ..models import AnalyticField
from ..problem import NUM_POINTS, NUM_TIME_STEPS, T_FINAL, BreathingEllipse
from ..solve import integrate
from ..validation import require_int_at_least, require_positive

# The original study's printed statistics of its data (beta0 = 2, T = 1 on the default grid)
ORIGINAL_MEAN, ORIGINAL_STD = 0.004255517851561308, 0.7516494989395142


def finite_difference_error(problem: BreathingEllipse, t_final: float, num_points: int,
                            num_times: int = 3001) -> tuple[float, float]:
    """Largest |central difference - analytic velocity| over the largest speed, and the time step.

    The samples are float64 on a fine grid, so what remains is the O(dt^2) truncation error
    of the central difference, not rounding.
    """
    require_int_at_least("num_times", num_times, 3)
    fine_t = torch.linspace(0, t_final, num_times, dtype=torch.float64)
    fine = problem.sample(fine_t, num_points)
    dt = fine_t[1] - fine_t[0]
    finite_diff = (fine[2:] - fine[:-2]) / (2 * dt)
    analytic = problem.velocity(fine[1:-1], fine_t[1:-1, None])
    error = (finite_diff - analytic).norm(dim=-1).max() / analytic.norm(dim=-1).max()
    return error.item(), dt.item()


def disc_rim(num_points: int, seed: int = 0) -> torch.Tensor:
    """`num_points` random points (float64, sorted by angle) on a circle away from the ellipse:
    a curve the field was never fitted to, so carrying it tests the field, not the data."""
    require_int_at_least("num_points", num_points, 3)
    gen = torch.Generator().manual_seed(seed)
    angles = torch.sort(2 * math.pi * torch.rand(num_points, generator=gen, dtype=torch.float64)).values
    return torch.stack([0.5 + 0.3 * torch.cos(angles), -0.2 + 0.3 * torch.sin(angles)], dim=-1)


def carried_disc(problem: BreathingEllipse, num_points: int, t_final: float, tolerance: float) -> dict[str, float]:
    """Integrate the analytic field (dopri5, rtol = atol = tolerance) from a disc's rim to t_final.

    Returns the polygon's relative area change ("area_change") and the largest distance to the
    closed-form flow map ("flow_error"): two numbers that know nothing of each other.
    """
    require_positive("tolerance", tolerance)
    rim = disc_rim(num_points)
    ends = torch.tensor([0.0, t_final], dtype=torch.float64)
    carried = integrate(AnalyticField(problem), rim, ends, method="dopri5", rtol=tolerance, atol=tolerance).x
    return {"area_change": abs(float(shoelace_area(carried[-1]) / shoelace_area(carried[0])) - 1),
            "flow_error": (carried[-1] - problem.flow(rim, ends)[-1]).abs().max().item()}


def polygon_area(num_points: int, xi: float = 1.0) -> float:
    """The shoelace area of the sampled curve: an affine image of a regular polygon of M = N - 1
    distinct points (the first is repeated as the last), (M / 2) sin(2 pi / M) xi^2 at every time."""
    distinct = require_int_at_least("num_points", num_points, 4) - 1
    return 0.5 * distinct * math.sin(2 * math.pi / distinct) * xi**2


def area_spread(curves: torch.Tensor, xi: float = 1.0) -> float:
    """Largest relative deviation of the snapshots' (K, N, 2) polygon areas from the exact one."""
    exact = polygon_area(curves.shape[-2], xi)
    return float(np.abs(shoelace_area(curves) / exact - 1).max())


def most_self_intersections(curves: torch.Tensor) -> int:
    """The largest number of self-intersections in any snapshot of (K, N, 2)."""
    return max(self_intersections(curve) for curve in curves)


def findings(problem: BreathingEllipse, curves: torch.Tensor, *, t_final: float, num_points: int,
             num_time_steps: int, fd_error: float, carried: dict, blob_points: int, tight_rtol: float,
             area_spread: float, self_intersections: int, flow_error: float) -> dict[str, float | Check]:
    """Every number chapter 1 states and every claim it checks, in the chapter's order.

    curves: the data (K, N, 2) from `generate_truth`; carried: `carried_disc`'s result.
    """
    numbers: dict[str, float | Check] = {
        "beta_start": problem.beta(torch.tensor(0.0)).item(),
        "beta_half": problem.beta(torch.tensor(problem.period / 2)).item(),
        "data_shape": fact("one curve of num_points points per snapshot",
                           tuple(curves.shape) == (num_time_steps, num_points, 2)),
    }
    if (problem.beta0, problem.period, t_final, num_points, num_time_steps) == (2.0, 1.0, T_FINAL, NUM_POINTS,
                                                                                NUM_TIME_STEPS):
        # the original study's printed statistics: float32 sums of ~1-sized values, equal up to their rounding
        numbers["original_mean_gap"] = bounded(f"mean of the data minus the original's {ORIGINAL_MEAN}",
                                               abs(curves.mean().item() - ORIGINAL_MEAN),
                                               rounding(1.0, torch.float32), kind="exact")
        numbers["original_std_gap"] = bounded(f"std of the data minus the original's {ORIGINAL_STD}",
                                              abs(curves.std().item() - ORIGINAL_STD),
                                              rounding(1.0, torch.float32), kind="exact")
    return numbers | {
        "fd_error": bounded("analytic field vs central differences, relative (O(dt^2) truncation)", fd_error, 1e-4),
        "blob_points": blob_points,
        "tight_rtol": tight_rtol,
        # a dopri5 solve at rtol = atol = tight_rtol ends within a few tolerances of the exact answer: 30 x tight_rtol
        "blob_flow_error": bounded("integrated field vs the closed-form flow at t_final, largest distance "
                                   "(dopri5, float64)", carried["flow_error"], 30 * tight_rtol),
        "blob_area_change": bounded("area of a circle carried by the integrated field, relative change "
                                    "(dopri5, float64)", carried["area_change"], 30 * tight_rtol),
        "area_spread": bounded("relative spread of the polygon's area over time (float32 samples)", area_spread,
                               rounding(1.0, torch.float32), kind="exact"),
        "flow_error": bounded("exact flow map vs every snapshot (float32 samples)", flow_error,
                              rounding(curves.abs().max(), torch.float32), kind="exact"),
        "simple_curves": fact("no snapshot intersects itself", self_intersections == 0),
    }
