"""Checkpoints and the model store: a trained model on disk, and the one place that trains on demand.

A checkpoint is a plain dict of tensors, numbers and strings, so it loads with weights_only=True.
The store keeps one checkpoint per `TrainConfig.label()`: whichever chapter asks first pays for
training, and the rest load it.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch
from filelock import FileLock

from .device import resolve_device
from .models import build_model
from .train import FitResult, TrainConfig, fit
from .validation import ConfigError, require_finite_tensor


def save_checkpoint(path, result: FitResult) -> Path:
    """A plain dict of tensors, numbers and strings: loadable with weights_only=True."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    payload = {
        "format": "breathing_lib/1",
        "config": asdict(result.config),
        "state_dict": state,
        "history": result.history,
        "metrics": result.metrics,
    }
    partial = path.with_suffix(".partial")
    torch.save(payload, partial)
    partial.replace(path)  # atomic: a reader never sees half a file
    return path


def load_checkpoint(path, device="auto") -> FitResult:
    """Load a checkpoint safely (weights_only=True); bad files raise ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != "breathing_lib/1":
            raise ValueError("not a breathing_lib checkpoint")
        config = TrainConfig.from_dict(payload["config"])
        model = build_model(config.model, **config.model_options())
        model.load_state_dict(payload["state_dict"])
    except ConfigError:
        raise
    except Exception as err:  # torch raises many types for a damaged file
        raise ConfigError(f"checkpoint {path} is corrupt or not a breathing_lib checkpoint ({type(err).__name__})") from None
    for name, tensor in model.state_dict().items():
        require_finite_tensor(f"checkpoint {path} parameter {name}", tensor)
    model = model.to(resolve_device(device)).eval()
    return FitResult(model, config, payload.get("history", {}), payload.get("metrics", {}))


def default_store() -> Path:
    """BREATHING_MODEL_STORE, else .model_store beside the package source (git-ignored)."""
    env = os.environ.get("BREATHING_MODEL_STORE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / ".model_store"


_SERVED: dict[str, FitResult] = {}


def served_models() -> dict[str, FitResult]:
    """Every model `trained_model` returned in this process, by label: a chapter's checks confirm
    that each one is trained (kept an epoch after the initial weights)."""
    return dict(_SERVED)


def trained_model(config: TrainConfig, store=None, device="auto", progress: bool = True) -> FitResult:
    """The model for this config: loaded from the store if trained before, else trained and stored.

    Keeps notebooks independent of each other: whichever runs first pays for training, and one
    that asks for the same model meanwhile (in another process) waits for it instead of training twice.
    """
    result = _stored_or_trained(config, Path(store or default_store()), device, progress)
    _SERVED[config.label()] = result
    return result


def _stored_or_trained(config: TrainConfig, store: Path, device, progress: bool) -> FitResult:
    path = store / config.label() / "model.pt"
    if path.is_file():
        return load_checkpoint(path, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock")):  # notebooks run in parallel: one trains, the others wait
        if path.is_file():
            return load_checkpoint(path, device)
        result = fit(config, device=device, progress=progress)
        save_checkpoint(path, result)
    return result
