"""The breathing ellipse: its law, its analytic velocity field and its exact flow.

An ellipse of constant area pi * xi**2 has semi-axes a = xi sqrt(beta) and
b = xi / sqrt(beta).  Its aspect ratio beta(t) oscillates between beta0 and
1/beta0 with period T.  Differentiating x = a cos(theta), y = b sin(theta) in
time gives the linear, divergence-free field

    dX/dt = alpha(t) (x, -y),    alpha = beta' / (2 beta),

which is the skew gradient of the stream function psi = alpha(t) x y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .validation import require_finite, require_int_at_least, require_positive


# The original study's grid: 128 points on the curve, 32 sample times over t in [0, 1.5].
NUM_POINTS, NUM_TIME_STEPS, T_FINAL = 128, 32, 1.5


@dataclass(frozen=True)
class BreathingEllipse:
    """Aspect-ratio law beta(t) = ((b0 + 1/b0) + (b0 - 1/b0) cos(omega t)) / 2."""

    beta0: float = 2.0
    period: float = 1.0
    xi: float = 1.0

    def __post_init__(self):
        require_positive("beta0", self.beta0)
        require_positive("period", self.period)
        require_positive("xi", self.xi)

    @property
    def omega(self) -> float:
        return 2.0 * math.pi / self.period

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        mean = self.beta0 + 1.0 / self.beta0
        swing = self.beta0 - 1.0 / self.beta0
        return 0.5 * (mean + swing * torch.cos(self.omega * t))

    def beta_dot(self, t: torch.Tensor) -> torch.Tensor:
        swing = self.beta0 - 1.0 / self.beta0
        return -0.5 * swing * self.omega * torch.sin(self.omega * t)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Strain rate beta'/(2 beta): the whole field is alpha(t) (x, -y)."""
        return self.beta_dot(t) / (2.0 * self.beta(t))

    def semi_axes(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        root = torch.sqrt(self.beta(t))
        return self.xi * root, self.xi / root

    def sample(self, t: torch.Tensor, num_points: int) -> torch.Tensor:
        """Curves at times t, shape (K, N, 2); theta = linspace(0, 2 pi, N) as the seed samples it."""
        require_int_at_least("num_points", num_points, 3)
        theta = torch.linspace(0, 2 * torch.pi, num_points, dtype=t.dtype, device=t.device)
        a, b = self.semi_axes(t)
        x = a[:, None] * torch.cos(theta)
        y = b[:, None] * torch.sin(theta)
        return torch.stack([x, y], dim=-1)

    def velocity(self, xy: torch.Tensor, t) -> torch.Tensor:
        """Analytic field at points xy (..., 2) and time t (scalar or broadcastable to xy[..., 0])."""
        alpha = self.alpha(torch.as_tensor(t, dtype=xy.dtype, device=xy.device))
        return alpha[..., None] * xy * xy.new_tensor([1.0, -1.0])

    def stream_function(self, xy: torch.Tensor, t) -> torch.Tensor:
        alpha = self.alpha(torch.as_tensor(t, dtype=xy.dtype, device=xy.device))
        return alpha * xy[..., 0] * xy[..., 1]

    def flow(self, x0: torch.Tensor, t: torch.Tensor, t0: float = 0.0) -> torch.Tensor:
        """Exact flow map: any initial points x0 (N, 2) at t0, carried to times t, shape (K, N, 2).

        Integrating dx/dt = x beta'/(2 beta) gives x(t) = x0 sqrt(beta(t) / beta(t0)),
        and y scales by the inverse factor.
        """
        stretch = torch.sqrt(self.beta(t) / self.beta(torch.as_tensor(t0, dtype=t.dtype)))
        factors = torch.stack([stretch, 1.0 / stretch], dim=-1)  # (K, 2)
        return factors[:, None, :] * x0[None, :, :]


def time_grid(t_final: float, num_time_steps: int, device=None, dtype=None) -> torch.Tensor:
    require_positive("t_final", t_final)
    require_int_at_least("num_time_steps", num_time_steps, 2)
    return torch.linspace(0, t_final, num_time_steps, device=device, dtype=dtype)


def generate_truth(beta_0, omega, t_final, num_locus_pts=64, num_time_steps=32, device=None):
    """The seed's data generator: (times (K,), curves (K, N, 2)) in float32.

    Same signature and the same float32 arithmetic as the original study, so its printed
    statistics are reproduced (mean 0.0042555, std 0.7516495 for the default problem).
    """
    require_positive("omega", omega)
    require_finite("beta_0", beta_0)
    problem = BreathingEllipse(beta0=float(beta_0), period=2.0 * math.pi / float(omega))
    t = time_grid(t_final, num_time_steps, device=device)
    return t, problem.sample(t, num_locus_pts)
