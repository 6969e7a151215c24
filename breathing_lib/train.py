"""Training: a config, the seed's full-rollout recipe, checkpoints and a small model store."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn
from tqdm.auto import tqdm

from .collocation import snapshot_velocities
from .device import one_thread_on_cpu, resolve_device
from .models import MODELS, TIME_SCALES, build_model, feature_stats, model_name, trainable_parameters
from .problem import NUM_POINTS, NUM_TIME_STEPS, T_FINAL, BreathingEllipse, time_grid
from .solve import METHODS, integrate, rk4_steps
from .validation import ConfigError, require_choice, require_int_at_least, require_positive

STRATEGIES = ("rollout", "shooting", "collocation")
LOSSES = ("points", "fourier")
# The second-order models' recipe (chapter 7): Adam on 4-step shooting windows, L-BFGS on them, then
# L-BFGS on the full rollout. The default recipe's acceleration regression never improves their
# rollout (it keeps epoch 0); short windows first give the rollout fine-tune a motion to refine.
SECOND_ORDER_RECIPE = dict(strategy="shooting", window=4, epochs=300, lbfgs_steps=100, finetune_steps=150)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model.

    The defaults are the fast recipe (collocation, then L-BFGS); TrainConfig.original()
    is the original study's recipe.
    """

    beta0: float = 2.0
    period: float = 1.0
    t_final: float = T_FINAL
    num_points: int = NUM_POINTS
    num_time_steps: int = NUM_TIME_STEPS
    model: str = "time-input"
    strategy: str = "collocation"
    epochs: int = 200  # Adam epochs on the strategy's loss
    lr: float = 2e-2
    lbfgs_steps: int = 500  # then L-BFGS iterations on the same loss
    finetune_steps: int = 0  # then L-BFGS iterations on the full rollout
    window: int = 4  # shooting: steps per window
    method: str = "rk4"
    adjoint: bool = False
    loss: str = "points"  # compare curves point by point, or by their first Fourier descriptors
    fourier_modes: int = 4  # loss "fourier": descriptors k = -modes..modes
    time_scale: str = "window"  # normalised time: t / t_final ("window"), or the original's t / std(t) ("std")
    omega: float | None = None  # phase model: omega (default 2 pi / period), or its first guess if learned
    learn_omega: bool = False  # phase model: train omega with the network
    seed: int = 0

    def __post_init__(self):
        BreathingEllipse(self.beta0, self.period)
        require_positive("t_final", self.t_final)
        require_int_at_least("num_points", self.num_points, 3)
        require_int_at_least("num_time_steps", self.num_time_steps, 2)
        object.__setattr__(self, "model", model_name(self.model))  # a former name reads as the current one
        require_choice("strategy", self.strategy, STRATEGIES)
        require_int_at_least("epochs", self.epochs, 0)
        require_positive("lr", self.lr)
        require_int_at_least("lbfgs_steps", self.lbfgs_steps, 0)
        require_int_at_least("finetune_steps", self.finetune_steps, 0)
        if self.epochs + self.lbfgs_steps + self.finetune_steps == 0:
            raise ConfigError("epochs, lbfgs_steps and finetune_steps are all 0: nothing to train")
        require_int_at_least("window", self.window, 1)
        require_choice("method", self.method, METHODS)
        require_int_at_least("seed", self.seed, 0)
        require_choice("loss", self.loss, LOSSES)
        require_choice("time_scale", self.time_scale, TIME_SCALES)
        require_int_at_least("fourier_modes", self.fourier_modes, 1)
        if self.loss == "fourier" and self.strategy == "collocation":
            raise ConfigError("loss 'fourier' compares curves: use strategy 'rollout' or 'shooting'")
        if self.loss == "fourier" and self.num_points < 2 * self.fourier_modes + 2:
            raise ConfigError(f"fourier_modes={self.fourier_modes} needs num_points >= "
                              f"{2 * self.fourier_modes + 2}, got {self.num_points}")
        if self.omega is not None:
            require_positive("omega", self.omega)
        if (self.omega is not None or self.learn_omega) and self.model != "phase":
            raise ConfigError(f"omega and learn_omega apply to model 'phase', not {self.model!r}")
        if MODELS[self.model].needs_velocity and self.num_time_steps < 5:
            raise ConfigError(f"model {self.model!r} needs num_time_steps >= 5 to estimate velocities, "
                              f"got {self.num_time_steps}")
        if self.strategy == "collocation" and self.num_time_steps < 5:
            raise ConfigError(f"collocation needs num_time_steps >= 5 to estimate velocities, got "
                              f"{self.num_time_steps}; use strategy 'rollout'")
        if self.strategy == "shooting" and self.window >= self.num_time_steps:
            raise ConfigError(f"window must be < num_time_steps ({self.num_time_steps}), got {self.window}")

    @classmethod
    def original(cls, **changes) -> "TrainConfig":
        """The original study's recipe: full rollout, adjoint, Adam 5e-3 for 2500 epochs, and its
        normalisation of time by std(t) (see feature_stats)."""
        recipe = dict(strategy="rollout", epochs=2500, lr=5e-3, lbfgs_steps=0, finetune_steps=0, adjoint=True,
                      time_scale="std")
        return cls(**{**recipe, **changes})

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def problem(self) -> BreathingEllipse:
        return BreathingEllipse(self.beta0, self.period)

    def model_options(self) -> dict:
        """Constructor options of the model beyond its normalisation statistics."""
        if self.model != "phase":
            return {}
        return {"omega": self.omega or self.problem.omega, "learn_omega": self.learn_omega}

    def key(self) -> str:
        """A short stable hash of the config, used to name stored models."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def label(self) -> str:
        """The model's name in the store: its kind and the config's hash."""
        return f"{self.model}-{self.key()}"


def new_model(config: TrainConfig, t, truth) -> nn.Module:
    """An untrained field of the config's kind, normalised to the data (t, truth)."""
    return build_model(config.model, feature_stats(t, truth, config.time_scale), **config.model_options())


def training_data(config: TrainConfig, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Times (K,) and true curves (K, N, 2) of the config's problem."""
    t = time_grid(config.t_final, config.num_time_steps, device=device)
    return t, config.problem.sample(t, config.num_points)


class UntrainedModelWarning(UserWarning):
    """Model selection kept the initial weights: training never improved the full rollout."""


@dataclass
class FitResult:
    model: nn.Module
    config: TrainConfig
    history: dict  # see _Progress
    metrics: dict  # train_mse, best_epoch, epochs, wall_seconds, device

    @property
    def kept_epoch(self) -> int:
        """The epoch whose parameters were kept; 0 means the initial weights."""
        return int(self.metrics["best_epoch"])


class _Progress:
    """The training clock, the history and the best parameters seen, ranked by the config's
    curve loss of the full rollout (the MSE, unless the loss compares Fourier descriptors).

    history, one entry per check: epoch, seconds (training time so far; checking is not
    counted), loss (the loss being optimised), mse (the full-rollout MSE) and
    cum_abs_dev (the sum of |X_theta - X| over the rollout).
    """

    def __init__(self, model: nn.Module, compare, start_velocity=None):
        self.model, self.compare = model, compare  # compare(rollout, truth) ranks parameters
        self.start_velocity = start_velocity  # V(0) for the checking rollout of a second-order model
        self.history = {k: [] for k in ("epoch", "seconds", "loss", "mse", "cum_abs_dev")}
        self.best_score, self.best_mse, self.best_epoch, self.best_state = math.inf, math.inf, 0, None
        self.seconds, self._since = 0.0, time.perf_counter()

    def pause(self) -> None:
        self.seconds += time.perf_counter() - self._since

    def resume(self) -> None:
        self._since = time.perf_counter()

    def check(self, epoch: int, loss: float, rollout: torch.Tensor, truth: torch.Tensor) -> float:
        """Record the loss and the full-rollout MSE of the parameters that produced `rollout`."""
        if not math.isfinite(loss):
            raise ConfigError(f"training diverged at epoch {epoch} (loss {loss}); lower lr or change method")
        mse = torch.mean((rollout - truth) ** 2).item()
        score = self.compare(rollout, truth).item()
        h = self.history
        for key, value in (("epoch", epoch), ("seconds", self.seconds), ("loss", loss), ("mse", mse),
                           ("cum_abs_dev", torch.abs(rollout - truth).sum().item())):
            h[key].append(value)
        if score < self.best_score:
            self.best_score, self.best_mse, self.best_epoch = score, mse, epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        return mse


def _full_rollout(model, t, truth, config: TrainConfig, adjoint: bool, v0=None) -> torch.Tensor:
    """Positions of the flow of the first observed state (v0: its velocity, if the state needs it)."""
    start = model.augment(t[0], truth[0], v0)
    return model.positions(integrate(model, start, t, method=config.method, adjoint=adjoint).x)


def shooting_windows(t, truth, window: int):
    """Every observed snapshot but the last `window` starts a window of `window` steps.

    Returns start states (W, N, 2), start times (W, 1) and targets (window + 1, W, N, 2).
    """
    starts = truth[:-window]
    targets = torch.stack([truth[k : k + window + 1] for k in range(len(starts))], dim=1)
    return starts, t[: len(starts), None], targets


def _curve_loss(config: TrainConfig):
    """How predicted curves are compared with true ones: point by point, or by Fourier descriptors."""
    if config.loss == "fourier":
        from .descriptors import descriptor_loss

        return lambda pred, truth: descriptor_loss(pred, truth, config.fourier_modes)
    return lambda pred, truth: torch.mean((pred - truth) ** 2)


def strategy_loss(model, t, truth, config: TrainConfig):
    """The loss a strategy optimises, as a closure returning (loss, full rollout or None).

    States are built by the model from the observed positions (and, for models that carry
    them, velocities estimated from the snapshots), so augmented models train the same way.
    """
    compare = _curve_loss(config)
    needs_rates = config.strategy == "collocation" or model.needs_velocity
    velocity = snapshot_velocities(t, truth) if needs_rates else None
    if config.strategy == "rollout":
        def rollout():
            pred = _full_rollout(model, t, truth, config, config.adjoint, None if velocity is None else velocity[0])
            return compare(pred, truth), pred

        return rollout
    if config.strategy == "shooting":
        starts, t0, targets = shooting_windows(t, truth, config.window)
        start_velocity = None if velocity is None else velocity[: len(starts)]
        step = float(t[1] - t[0])

        def shooting():
            states = model.augment(t0, starts, start_velocity)
            pred = model.positions(rk4_steps(model, states, t0, step, config.window))
            return compare(pred[1:], targets[1:]), None

        return shooting
    acceleration = snapshot_velocities(t, velocity) if model.needs_velocity else None
    times = t[:, None].expand(truth.shape[:2])

    def collocation():
        states = model.augment(times, truth, velocity)
        rates = model.augment_rate(times, velocity, acceleration)
        return torch.mean((model(times, states) - rates) ** 2), None

    return collocation


@dataclass
class _Run:
    """One training run's state, shared by its optimisers: the model, its data, the config, the
    progress tracker and the loss the current phase optimises (a closure, see strategy_loss)."""

    model: nn.Module
    t: torch.Tensor
    truth: torch.Tensor
    config: TrainConfig
    tracker: _Progress
    loss_fn: Callable[[], tuple[torch.Tensor, torch.Tensor | None]]

    def check(self, epoch: int, loss: float, rollout=None) -> None:
        """Record progress; a rollout already computed by the loss is reused, else one is run (off the clock)."""
        self.tracker.pause()
        if rollout is None:
            with torch.no_grad():
                rollout = _full_rollout(self.model, self.t, self.truth, self.config, adjoint=False,
                                        v0=self.tracker.start_velocity)
        self.tracker.check(epoch, loss, rollout.detach(), self.truth)
        self.tracker.resume()


def _adam(run: _Run, bar, check_every: int) -> None:
    optimizer = torch.optim.Adam(trainable_parameters(run.model), lr=run.config.lr)
    for epoch in bar:
        optimizer.zero_grad()
        loss, rollout = run.loss_fn()
        loss.backward()
        # a rollout loss is itself the full-rollout MSE: check every epoch, as the original did;
        # otherwise check (and synchronise with the device) only every check_every epochs
        if rollout is not None or epoch % check_every == 0 or epoch == run.config.epochs - 1:
            run.check(epoch, loss.item(), rollout)
            bar.set_postfix(mse=f"{run.tracker.history['mse'][-1]:.2e}", refresh=False)
        optimizer.step()


def _lbfgs(run: _Run, steps: int, first_epoch: int, chunk: int = 25) -> None:
    """L-BFGS with a strong-Wolfe line search, checked every `chunk` iterations: the problem
    is small and deterministic, so quasi-Newton steps converge far faster than Adam's."""
    if run.tracker.best_state is not None:
        run.model.load_state_dict(run.tracker.best_state)
    optimizer = torch.optim.LBFGS(trainable_parameters(run.model), lr=1.0, max_iter=chunk, history_size=50,
                                  tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = run.loss_fn()[0]
        loss.backward()
        return loss

    for done in range(0, steps, chunk):
        optimizer.param_groups[0]["max_iter"] = min(chunk, steps - done)
        loss = optimizer.step(closure).detach()
        run.check(first_epoch + min(done + chunk, steps), loss.item())


def fit(config: TrainConfig, device="auto", progress: bool = True, check_every: int = 25) -> FitResult:
    """Train a field on the config's problem: Adam, then L-BFGS, on the strategy's loss,
    then an optional L-BFGS fine-tune on the full rollout.

    "rollout" is the original recipe (integrate the whole window from X(0)); "shooting"
    fits short windows starting at every observed snapshot, batched in one solve;
    "collocation" regresses the field on velocities estimated from the snapshots.
    The parameters with the lowest full-rollout MSE seen are kept.
    """
    device = resolve_device(device)
    # An over-long L-BFGS step can saturate tanh units; their gradients then underflow to
    # subnormal floats, which CPUs process ~100x slower. Flush them to zero while training.
    torch.set_flush_denormal(True)
    try:
        with one_thread_on_cpu(device):
            return _fit(config, device, progress, check_every)
    finally:
        torch.set_flush_denormal(False)


def _fit(config: TrainConfig, device, progress: bool, check_every: int) -> FitResult:
    torch.manual_seed(config.seed)
    t, truth = training_data(config, device)
    model = new_model(config, t, truth).to(device)
    # V(0) estimated from the snapshots, once, for models whose state carries the velocity
    start_velocity = snapshot_velocities(t, truth)[0] if model.needs_velocity else None
    tracker = _Progress(model, _curve_loss(config), start_velocity)
    run = _Run(model, t, truth, config, tracker, strategy_loss(model, t, truth, config))
    bar = tqdm(range(config.epochs), desc=f"{config.strategy} {config.model}", disable=not progress, mininterval=1.0)
    _adam(run, bar, check_every)
    bar.close()
    _lbfgs(run, config.lbfgs_steps, config.epochs)
    if config.finetune_steps:
        finetune = replace(run, loss_fn=strategy_loss(model, t, truth, replace(config, strategy="rollout")))
        _lbfgs(finetune, config.finetune_steps, config.epochs + config.lbfgs_steps, chunk=5)
    tracker.pause()
    model.load_state_dict(tracker.best_state)
    if tracker.best_epoch == 0:
        warnings.warn(f"training {config.model!r} ({config.strategy}) never improved the full rollout on the "
                      f"initial weights (MSE {tracker.best_mse:.3g}): the kept model is untrained",
                      UntrainedModelWarning, stacklevel=3)
    metrics = {
        "train_mse": tracker.best_mse,
        "best_epoch": tracker.best_epoch,
        "epochs": config.epochs + config.lbfgs_steps + config.finetune_steps,
        "wall_seconds": tracker.seconds,
        "device": str(device),
    }
    return FitResult(model.eval(), config, tracker.history, metrics)
