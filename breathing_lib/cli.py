"""python -m breathing_lib train | predict | evaluate | bench  (the contract: README.md, "Command line")."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from .device import DEVICES
from .models import FORMER_NAMES, MODELS, TIME_SCALES
from .solve import METHODS
from .store import load_checkpoint, save_checkpoint
from .train import LOSSES, STRATEGIES, TrainConfig, fit
from .validation import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m breathing_lib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train", help="train a velocity field, write model.pt and metrics.json",
        description="Defaults: the fast recipe (TrainConfig()); --original starts from the original "
                    "study's recipe instead. Options given explicitly override either.")
    train.add_argument("--out", required=True, type=Path, help="output directory")
    train.add_argument("--original", action="store_true",
                       help="the original recipe: rollout, adjoint, Adam lr 5e-3, 2500 epochs, time "
                            "normalised by std(t)")
    fast = TrainConfig()
    options = [  # flag, type, help
        ("--beta0", float, "aspect ratio at t = 0"), ("--period", float, "breathing period T"),
        ("--t-final", float, "end of the training window"), ("--num-points", int, "points on the curve"),
        ("--num-time-steps", int, "snapshots in [0, t_final]"), ("--epochs", int, "Adam epochs"),
        ("--lr", float, "Adam learning rate"),
        ("--lbfgs-steps", int, "L-BFGS iterations on the strategy's loss after Adam"),
        ("--finetune-steps", int, "final L-BFGS iterations on the full rollout"),
        ("--window", int, "shooting window, in time steps"), ("--seed", int, "random seed"),
        ("--fourier-modes", int, "loss fourier: descriptors k = -modes..modes"),
        ("--omega", float, "phase model: angular frequency, or its first guess with --learn-omega"),
    ]
    for flag, kind, text in options:
        default = getattr(fast, flag[2:].replace("-", "_"))
        train.add_argument(flag, type=kind, default=None, help=f"{text} (default {default})")
    train.add_argument("--model", choices=(*MODELS, *FORMER_NAMES), default=None, metavar="{" + ",".join(MODELS) + "}",
                       help=f"the field: time-input f(x,y,t), autonomous f(x,y), phase (x,y,phi), second-order "
                            f"(x,y,vx,vy), second-order-time (x,y,vx,vy,t) or stream (divergence-free) "
                            f"(default {fast.model}; 'seed' is its former name for time-input)")
    train.add_argument("--time-scale", choices=TIME_SCALES, default=None,
                       help=f"normalise time by the window's length or, as the original did, by the std of the "
                            f"sample times (default {fast.time_scale}; the original: std)")
    train.add_argument("--loss", choices=LOSSES, default=None,
                       help=f"compare curves point by point or by Fourier descriptors (default {fast.loss})")
    train.add_argument("--learn-omega", action="store_true", default=None,
                       help="phase model: learn omega, starting from --omega")
    train.add_argument("--strategy", choices=STRATEGIES, default=None,
                       help=f"how the field is fitted (default {fast.strategy}; the original: rollout)")
    train.add_argument("--method", choices=METHODS, default=None, help=f"ODE solver (default {fast.method})")
    train.add_argument("--adjoint", action=argparse.BooleanOptionalAction, default=None,
                       help="backpropagate with the adjoint ODE (the original) or through the solver (default)")
    train.add_argument("--device", choices=DEVICES, default="auto")
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
        sub.add_argument("--device", choices=DEVICES, default="auto")
    bench = commands.add_parser("bench", help="time every training recipe side by side (prints a table)")
    bench.add_argument("--original-epochs", type=int, default=2500,
                       help="epochs of the original recipe (default: the original study's 2500)")
    bench.add_argument("--device", choices=DEVICES, default="auto")
    return parser


def train_config(argv: list[str]) -> TrainConfig:
    """The TrainConfig a `train` command line asks for (argv without the program name), so the
    book can check that the command it prints runs what its text says."""
    return _train_config(_parser().parse_args(argv))


def _train_config(args) -> TrainConfig:
    """The fast recipe, or with --original the original one, overridden by every option given."""
    base = TrainConfig.original() if args.original else TrainConfig()
    if args.model in FORMER_NAMES:
        print(f"--model {args.model} is deprecated: it is now called {FORMER_NAMES[args.model]}", file=sys.stderr)
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    return replace(base, **given)


def _train(args) -> None:
    config = _train_config(args)
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


def _bench(args) -> None:
    from .device import resolve_device
    from .studies.training_speed import race, recipes, record_header, table

    device = resolve_device(args.device)
    print(record_header(device))  # kept with the table, it makes the output a record (studies.training_speed.read_record)
    print(f"device: {device}")
    print(table(race(recipes(args.original_epochs), device)))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        {"train": _train, "predict": _predict, "evaluate": _evaluate, "bench": _bench}[args.command](args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    return 0
