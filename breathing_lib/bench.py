"""Training speed, measured side by side in one process: time to quality of each recipe.

    python -m breathing_lib bench [--original-epochs 2500] [--device auto]
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from .memory import peak_memory
from .train import TrainConfig, fit, load_checkpoint, new_model, save_checkpoint, strategy_loss, training_data

THRESHOLDS = (6e-4, 1e-5)


def recipes(original_epochs: int = 2500) -> dict[str, TrainConfig]:
    """The original recipe and the strategies that compete with it, on the default problem."""
    return {
        "original (rollout, adjoint)": TrainConfig.original(epochs=original_epochs),
        "shooting (Adam)": TrainConfig(strategy="shooting", epochs=500, lbfgs_steps=0, finetune_steps=0),
        "shooting + L-BFGS": TrainConfig(strategy="shooting", epochs=300, lbfgs_steps=100, finetune_steps=20),
        "collocation + L-BFGS (default)": TrainConfig(),
    }


def time_to(history: dict, mse: float) -> float | None:
    """Training seconds until the full-rollout MSE first reached `mse` (None if never)."""
    return next((s for s, m in zip(history["seconds"], history["mse"]) if m <= mse), None)


def calls_per_step(config: TrainConfig) -> tuple[int, int]:
    """Network calls per evaluation of the recipe's own loss (with its gradient), and of the full-rollout fine-tune.

    Rollout: 4 RK4 stages a step forward, and as many in the adjoint solve backward. Shooting: all
    windows in one batched solve. Collocation: one call on every observed point. The fine-tune
    backpropagates through its rollout, so it makes no second solve.
    """
    steps = config.num_time_steps - 1
    own = {"rollout": (2 if config.adjoint else 1) * 4 * steps,
           "shooting": 4 * config.window,
           "collocation": 1}[config.strategy]
    return own, 4 * steps


def work_done(config: TrainConfig, history: dict) -> tuple[list[int], list[int]]:
    """Loss evaluations and network calls behind each point of a fit's history: work, where seconds are load.

    The history counts Adam epochs from 0 (a check at epoch e follows e + 1 gradients), then L-BFGS
    iterations on the recipe's loss, then fine-tune iterations on the full rollout. An L-BFGS
    iteration evaluates the loss at least once (more when its line search backtracks): there the
    counts are lower bounds.
    """
    own, finetune = calls_per_step(config)
    first = config.epochs + config.lbfgs_steps
    evaluations = [e + 1 if e < config.epochs else e for e in history["epoch"]]
    return evaluations, [min(n, first) * own + max(n - first, 0) * finetune for n in evaluations]


def work_to(config: TrainConfig, history: dict, mse: float) -> tuple[int | None, int | None]:
    """(loss evaluations, network calls) when the full-rollout MSE first reached `mse`; (None, None) if never."""
    evaluations, calls = work_done(config, history)
    return next(((n, c) for n, c, m in zip(evaluations, calls, history["mse"]) if m <= mse), (None, None))


def epoch_peak_bytes(config: TrainConfig, device) -> int:
    """Peak memory allocated by one forward + backward pass of the strategy's loss."""
    t, truth = training_data(config, device)
    model = new_model(config, t, truth).to(device)
    loss_fn = strategy_loss(model, t, truth, config)
    with peak_memory(device) as measured:
        loss_fn()[0].backward()
    return measured.bytes


def race_folder(configs: dict[str, TrainConfig], device, store) -> Path:
    """Where a race is kept: named by its device type and a hash of its entrants' names and configs."""
    entrants = "|".join(f"{name}={config.key()}" for name, config in configs.items())
    return Path(store) / f"race-{torch.device(device).type}-{hashlib.sha256(entrants.encode()).hexdigest()[:12]}"


def timed_fits(configs: dict[str, TrainConfig], device, store=None) -> list:
    """Fit each config in turn, in this process, after one warm-up fit that pays PyTorch's one-off costs.

    With a store, the whole race is kept there and a later call with the same entrants on the same
    kind of device returns it unchanged: a chapter executed twice in one build (nbval, then the
    book) shows one side-by-side measurement instead of paying for a second. Without one
    (the benchmark), it always runs.
    """
    paths = [race_folder(configs, device, store) / f"{i}.pt" for i in range(len(configs))] if store else []
    if paths and all(p.is_file() for p in paths):
        return [load_checkpoint(p, device) for p in paths]
    fit(TrainConfig(num_points=8, num_time_steps=8, epochs=2, lbfgs_steps=2, finetune_steps=2), device, progress=False)
    results = [fit(config, device, progress=False) for config in configs.values()]
    for path, result in zip(paths, results):
        save_checkpoint(path, result)
    return results


def race(configs: dict[str, TrainConfig], device, store=None) -> list[dict]:
    """Each config's time to quality, memory and final MSE, measured side by side (see timed_fits)."""
    rows = []
    for (name, config), result in zip(configs.items(), timed_fits(configs, device, store)):
        h = result.history
        adam_seconds = next((s for e, s in zip(h["epoch"], h["seconds"]) if e >= config.epochs - 1), 0.0)
        rows.append({
            "recipe": name,
            "ms/epoch": 1000 * adam_seconds / config.epochs if config.epochs else float("nan"),
            **{f"s to {m:.0e}": time_to(h, m) for m in THRESHOLDS},
            "final MSE": result.metrics["train_mse"],
            "train s": result.metrics["wall_seconds"],
            "peak MB": epoch_peak_bytes(config, device) / 2**20,
            "history": h,
            "model": result.model,
        })
    return rows


def _fmt(value, spec) -> str:
    return "never" if value is None else format(value, spec)


def table(rows: list[dict]) -> str:
    """A plain-text table with each time divided into the first row's (the original's)."""
    base = rows[0]
    lines = [f"{'recipe':32} {'ms/epoch':>9} {'s to 6e-4':>10} {'x faster':>9} {'s to 1e-5':>10} "
             f"{'final MSE':>10} {'train s':>8} {'peak MB':>8}"]
    for r in rows:
        speedup = None if r["s to 6e-04"] is None or base["s to 6e-04"] is None else base["s to 6e-04"] / r["s to 6e-04"]
        lines.append(f"{r['recipe']:32} {r['ms/epoch']:9.1f} {_fmt(r['s to 6e-04'], '10.2f')} {_fmt(speedup, '9.1f')} "
                     f"{_fmt(r['s to 1e-05'], '10.2f')} {r['final MSE']:10.2e} {r['train s']:8.1f} {r['peak MB']:8.2f}")
    return "\n".join(lines)
