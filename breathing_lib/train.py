"""Training: a config, the seed's full-rollout recipe, checkpoints and a small model store."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .device import resolve_device
from .models import MODELS, build_model, feature_stats
from .problem import BreathingEllipse, time_grid
from .solve import METHODS, integrate
from .validation import (
    ConfigError,
    require_choice,
    require_finite_tensor,
    require_int_at_least,
    require_positive,
)

STRATEGIES = ("rollout",)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model; the defaults are the seed's recipe."""

    beta0: float = 2.0
    period: float = 1.0
    t_final: float = 1.5
    num_points: int = 128
    num_time_steps: int = 32
    model: str = "seed"
    strategy: str = "rollout"
    epochs: int = 2500
    lr: float = 5e-3
    method: str = "rk4"
    adjoint: bool = True
    seed: int = 0

    def __post_init__(self):
        BreathingEllipse(self.beta0, self.period)
        require_positive("t_final", self.t_final)
        require_int_at_least("num_points", self.num_points, 3)
        require_int_at_least("num_time_steps", self.num_time_steps, 2)
        require_choice("model", self.model, tuple(MODELS))
        require_choice("strategy", self.strategy, STRATEGIES)
        require_int_at_least("epochs", self.epochs, 1)
        require_positive("lr", self.lr)
        require_choice("method", self.method, METHODS)
        require_int_at_least("seed", self.seed, 0)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def problem(self) -> BreathingEllipse:
        return BreathingEllipse(self.beta0, self.period)

    def key(self) -> str:
        """A short stable hash of the config, used to name stored models."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def training_data(config: TrainConfig, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Times (K,) and true curves (K, N, 2) of the config's problem."""
    t = time_grid(config.t_final, config.num_time_steps, device=device)
    return t, config.problem.sample(t, config.num_points)


@dataclass
class FitResult:
    model: nn.Module
    config: TrainConfig
    history: dict  # epoch, loss (every epoch); dev_epoch, cum_abs_dev (every log_every)
    metrics: dict  # train_mse, best_epoch, epochs, wall_seconds, device


def fit(config: TrainConfig, device="auto", progress: bool = True, log_every: int = 50) -> FitResult:
    """Train a field on the config's problem by full rollout from X(0) (the seed's recipe).

    Each epoch integrates the whole window from the first curve and takes one Adam
    step on the MSE over all snapshots.  The parameters with the lowest loss seen are
    kept, so the result does not depend on where the noisy Adam trajectory stops.
    """
    device = resolve_device(device)
    torch.manual_seed(config.seed)
    t, truth = training_data(config, device)
    model = build_model(config.model, feature_stats(t, truth)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = {"epoch": [], "loss": [], "dev_epoch": [], "cum_abs_dev": []}
    best_loss, best_state, best_epoch = math.inf, None, 0
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc=f"training {config.model}", disable=not progress, mininterval=1.0)
    for epoch in bar:
        optimizer.zero_grad()
        pred = integrate(model, truth[0], t, method=config.method, adjoint=config.adjoint).x
        loss = torch.mean((pred - truth) ** 2)
        loss.backward()
        value = loss.item()
        if not math.isfinite(value):
            raise ConfigError(f"training diverged at epoch {epoch} (loss {value}); lower lr or change method")
        if value < best_loss:
            best_loss, best_epoch = value, epoch
            best_state = copy.deepcopy(model.state_dict())
        history["epoch"].append(epoch)
        history["loss"].append(value)
        if epoch % log_every == 0 or epoch == config.epochs - 1:
            history["dev_epoch"].append(epoch)
            history["cum_abs_dev"].append(torch.abs(pred.detach() - truth).sum().item())
        optimizer.step()
        bar.set_postfix(loss=f"{value:.2e}", refresh=False)
    wall = time.perf_counter() - start
    model.load_state_dict(best_state)
    metrics = {
        "train_mse": best_loss,
        "best_epoch": best_epoch,
        "epochs": config.epochs,
        "wall_seconds": wall,
        "device": str(device),
    }
    return FitResult(model.eval(), config, history, metrics)


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
        model = build_model(config.model)
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


def trained_model(config: TrainConfig, store=None, device="auto", progress: bool = True) -> FitResult:
    """The model for this config: loaded from the store if trained before, else trained and stored.

    Keeps notebooks independent of each other: whichever runs first pays for training.
    """
    path = Path(store or default_store()) / f"{config.model}-{config.key()}" / "model.pt"
    if path.is_file():
        return load_checkpoint(path, device)
    result = fit(config, device=device, progress=progress)
    save_checkpoint(path, result)
    return result
