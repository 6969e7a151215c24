"""Input checks that fail early with a message naming the parameter."""

from __future__ import annotations

import math
import numbers


class ConfigError(ValueError):
    """A bad parameter or input; its message names what is wrong in one line."""


def require_finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return float(value)


def require_positive(name: str, value) -> float:
    value = require_finite(name, value)
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return value


def require_int_at_least(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def require_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def require_finite_tensor(name: str, tensor) -> None:
    import torch

    if not bool(torch.isfinite(tensor).all()):
        raise ConfigError(f"{name} contains NaN or infinite values")
