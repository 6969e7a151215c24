"""python -m breathing_lib train | predict | evaluate  (the contract in DESIGN.md)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from .models import MODELS
from .solve import METHODS
from .train import STRATEGIES, TrainConfig, fit, load_checkpoint, save_checkpoint
from .validation import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m breathing_lib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a velocity field, write model.pt and metrics.json")
    train.add_argument("--out", required=True, type=Path, help="output directory")
    defaults = TrainConfig()
    train.add_argument("--beta0", type=float, default=defaults.beta0)
    train.add_argument("--period", type=float, default=defaults.period)
    train.add_argument("--t-final", type=float, default=defaults.t_final)
    train.add_argument("--num-points", type=int, default=defaults.num_points)
    train.add_argument("--num-time-steps", type=int, default=defaults.num_time_steps)
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--lr", type=float, default=defaults.lr)
    train.add_argument("--model", choices=tuple(MODELS), default=defaults.model)
    train.add_argument("--strategy", choices=STRATEGIES, default=defaults.strategy)
    train.add_argument("--adjoint", action=argparse.BooleanOptionalAction, default=defaults.adjoint,
                       help="backpropagate with the adjoint ODE (default) or directly through the solver")
    train.add_argument("--method", choices=METHODS, default=defaults.method)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    for name, text in (("predict", "write the learned flow of the initial curve to an .npz"),
                       ("evaluate", "print error, area drift and topology of a model as JSON")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("checkpoint", type=Path)
        if name == "predict":
            sub.add_argument("--out", required=True, type=Path, help="output .npz (arrays t, x)")
        sub.add_argument("--num-points", type=int, default=None, help="default: the training value")
        sub.add_argument("--num-time-steps", type=int, default=None, help="default: the training value")
        sub.add_argument("--t-final", type=float, default=None, help="default: the training value")
        sub.add_argument("--method", choices=METHODS, default="dopri5")
        sub.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return parser


def _train(args) -> None:
    config = TrainConfig(
        beta0=args.beta0, period=args.period, t_final=args.t_final, num_points=args.num_points,
        num_time_steps=args.num_time_steps, model=args.model, strategy=args.strategy, epochs=args.epochs,
        lr=args.lr, method=args.method, adjoint=args.adjoint, seed=args.seed,
    )
    result = fit(config, device=args.device, progress=not args.quiet)
    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out / "model.pt", result)
    (args.out / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    print(json.dumps(result.metrics))


def _inference_options(args, config: TrainConfig) -> dict:
    """The grid to infer on: the training grid unless overridden (validated like a config)."""
    given = {k: getattr(args, k) for k in ("num_points", "num_time_steps", "t_final")}
    grid = replace(config, **{k: v for k, v in given.items() if v is not None})
    return dict(num_points=grid.num_points, num_time_steps=grid.num_time_steps, t_final=grid.t_final, method=args.method)


def _predict(args) -> None:
    from .inference import predict

    loaded = load_checkpoint(args.checkpoint, args.device)
    p = predict(loaded.model, loaded.config.problem, **_inference_options(args, loaded.config))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, t=p.t.cpu().numpy(), x=p.pred.cpu().numpy())
    print(f"wrote {args.out}: t {tuple(p.t.shape)}, x {tuple(p.pred.shape)}")


def _evaluate(args) -> None:
    from .inference import evaluate

    loaded = load_checkpoint(args.checkpoint, args.device)
    print(json.dumps(evaluate(loaded.model, loaded.config.problem, **_inference_options(args, loaded.config))))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        {"train": _train, "predict": _predict, "evaluate": _evaluate}[args.command](args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    return 0
