"""Breathing Ellipse: learn the velocity field of a breathing ellipse with a neural ODE."""

from .models import VelocityField, build_model, feature_stats
from .problem import BreathingEllipse, generate_truth
from .solve import integrate
from .store import load_checkpoint, save_checkpoint, trained_model
from .train import TrainConfig, fit
from .validation import ConfigError

__version__ = "0.1.0"

__all__ = [
    "BreathingEllipse",
    "ConfigError",
    "TrainConfig",
    "VelocityField",
    "build_model",
    "feature_stats",
    "fit",
    "generate_truth",
    "integrate",
    "load_checkpoint",
    "save_checkpoint",
    "trained_model",
]
