"""Run-time device choice: CUDA when present, else CPU; never a module-level global."""

from __future__ import annotations

import torch

from .validation import ConfigError, require_choice


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    name = require_choice("device", name or "auto", ("auto", "cpu", "cuda"))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but CUDA is not available")
    return torch.device(name)
