"""Velocity fields f_theta(x, y, t) for the neural ODE dX/dt = f_theta(X, t)."""

from __future__ import annotations

import torch
from torch import nn

from .validation import require_choice


def feature_stats(t: torch.Tensor, curves: torch.Tensor) -> dict[str, torch.Tensor]:
    """Normalisation statistics of a data set: per-coordinate mean/std and the time window.

    The seed stored std(t) under the name t_max; here t_max is the real end of the
    window, so normalised time runs over [0, 1].
    """
    return {
        "X_mean": curves.mean(dim=(0, 1)),
        "X_std": curves.std(dim=(0, 1)) + 1e-6,
        "t_min": t.min(),
        "t_max": t.max(),
    }


class VelocityField(nn.Module):
    """The seed's field: [x, y, t] normalised -> 3-32-64-2 tanh MLP -> velocity in physical units."""

    def __init__(self, feature_stats: dict | None = None):
        super().__init__()
        stats = feature_stats or {}
        self.register_buffer("X_mean", torch.as_tensor(stats.get("X_mean", torch.zeros(2))).float())
        self.register_buffer("X_std", torch.as_tensor(stats.get("X_std", torch.ones(2))).float())
        self.register_buffer("t_min", torch.as_tensor(stats.get("t_min", 0.0)).float())
        self.register_buffer("t_max", torch.as_tensor(stats.get("t_max", 1.0)).float())
        self.net = nn.Sequential(
            nn.Linear(3, 32),
            nn.Tanh(),
            nn.Linear(32, 64),
            nn.Tanh(),
            nn.Linear(64, 2),
        )

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """h (..., 2); t a scalar, or one time per batch row broadcastable to h[..., 0]."""
        span = self.t_max - self.t_min
        h_norm = (h - self.X_mean) / self.X_std
        t_norm = ((torch.as_tensor(t, device=h.device) - self.t_min) / span).to(h.dtype)
        t_col = t_norm[..., None].expand(*h.shape[:-1], 1)
        rate = self.net(torch.cat([h_norm, t_col], dim=-1))
        return rate * (self.X_std / span)


def field_device(field: nn.Module) -> torch.device:
    """Where a field's tensors live (its first parameter or buffer); CPU if it has none."""
    for tensor in (*field.parameters(), *field.buffers()):
        return tensor.device
    return torch.device("cpu")


class AnalyticField(nn.Module):
    """The exact field alpha(t) (x, -y) as a module, so it can be integrated and plotted like a learned one."""

    def __init__(self, problem):
        super().__init__()
        self.problem = problem

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.problem.velocity(h, t)


MODELS = {"seed": VelocityField}


def build_model(name: str, stats: dict | None = None) -> nn.Module:
    require_choice("model", name, tuple(MODELS))
    return MODELS[name](stats)
