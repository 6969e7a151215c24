"""Training speed, measured side by side in one process: time to quality of each recipe.

    python -m breathing_lib bench [--original-epochs 2500] [--device auto]
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections import Counter
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..device import one_thread_on_cpu, resolve_device
from ..memory import peak_memory
from ..models import TIME_SCALES
from ..store import load_checkpoint, save_checkpoint
from ..train import TrainConfig, fit, new_model, strategy_loss, training_data
from ..validation import require_choice

THRESHOLDS = (6e-4, 1e-5)


def recipes(original_epochs: int = 2500, original_time_scale: str = "std") -> dict[str, TrainConfig]:
    """The original recipe and the strategies that compete with it, on the default problem.

    original_time_scale "std" is the original study's normalisation of time (TrainConfig.original());
    "window" runs the same recipe with time divided by the window's length, and names it so.
    """
    require_choice("original_time_scale", original_time_scale, TIME_SCALES)
    name = "original (rollout, adjoint)" if original_time_scale == "std" else f"original, {original_time_scale} time"
    return {
        name: TrainConfig.original(epochs=original_epochs, time_scale=original_time_scale),
        "shooting (Adam)": TrainConfig(strategy="shooting", epochs=500, lbfgs_steps=0, finetune_steps=0),
        "shooting + L-BFGS": TrainConfig(strategy="shooting", epochs=300, lbfgs_steps=100, finetune_steps=20),
        "collocation + L-BFGS (default)": TrainConfig(),
    }


def time_to(history: dict, mse: float) -> float | None:
    """Training seconds until the full-rollout MSE first reached `mse` (None if never)."""
    return next((s for s, m in zip(history["seconds"], history["mse"]) if m <= mse), None)


class Work(NamedTuple):
    """What one piece of PyTorch work asked for, counted as it ran."""

    field_calls: int  # calls of the network
    ops: int  # operators dispatched (after autograd, as a device backend receives them)
    kernels: int  # of which compute something: on a GPU each launches at least one kernel
    syncs: int  # of which read a value back to the host (.item(), `if tensor`): on a GPU each waits for it
    sync_sites: tuple = ()  # (source line, syncs there), most first


_NO_KERNEL = {"aten::empty.memory_format", "aten::empty_strided", "aten::_local_scalar_dense"}
_TORCH_DIR = os.path.join(os.path.dirname(torch.__file__), "")  # with the separator: not torchdiffeq, beside it


def _caller() -> str:
    """The innermost source line outside torch and this module: where Python asked for a tensor's value."""
    frame = next((f for f in reversed(traceback.extract_stack())
                  if not f.filename.startswith(_TORCH_DIR) and f.filename != __file__), None)
    if frame is None:
        return "torch"
    where = frame.filename.split("site-packages/")[-1] if "site-packages/" in frame.filename else Path(frame.filename).name
    return f"{where}:{frame.lineno}: {frame.line}"


class _OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = self.kernels = 0
        self.sync_sites = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        name = func.name()
        if name == "aten::_local_scalar_dense":
            self.sync_sites[_caller()] += 1
        self.kernels += not (func.is_view or name in _NO_KERNEL)  # views and allocations compute nothing
        return func(*args, **(kwargs or {}))


class count_work:
    """Context manager: `with count_work(model) as w: ...`, then w.work is the Work done inside.

    Calls of `model` are counted by a hook on its forward; with `ops`, operators too, by a dispatch
    mode that sees each one after autograd (forward, backward, and work under torch.no_grad). Views
    (which only relabel memory) and bare allocations are not kernels; a read-back to the host
    (aten::_local_scalar_dense, behind .item() and Python's `if` on a tensor) is a sync, and
    sync_sites says which source lines asked for them.
    Without `ops` those three counts stay 0 (and the work runs at full speed).
    """

    def __init__(self, model: nn.Module, ops: bool = True):
        self.model, self.ops = model, ops
        self.work = Work(0, 0, 0, 0)

    def __enter__(self):
        self._calls = 0
        self._hook = self.model.register_forward_pre_hook(self._count_call)
        self._counter = _OpCounter().__enter__() if self.ops else None
        return self

    def _count_call(self, module, args) -> None:
        self._calls += 1

    def __exit__(self, *exc):
        self._hook.remove()
        counted = (0, 0, 0, ())
        if self._counter is not None:
            self._counter.__exit__(*exc)
            sites = self._counter.sync_sites
            counted = (self._counter.ops, self._counter.kernels, sum(sites.values()), tuple(sites.most_common()))
        self.work = Work(self._calls, *counted)
        return False


def loss_work(config: TrainConfig, device="cpu", ops: bool = True) -> dict[str, Work]:
    """The work of one evaluation of the recipe's own loss ("loss") and of its gradient ("gradient"), counted.

    That is an Adam epoch of the recipe without its optimiser's update, on freshly initialised
    weights: the counts follow from the solver and the strategy, not from the weights. The
    operator counts are those of the installed torch and torchdiffeq. The caller's random
    state is left as it was.
    """
    device = resolve_device(device)
    with one_thread_on_cpu(device), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        t, truth = training_data(config, device)
        model = new_model(config, t, truth).to(device)
        loss_fn = strategy_loss(model, t, truth, config)
        with count_work(model, ops) as forward:
            loss = loss_fn()[0]
        with count_work(model, ops) as backward:
            loss.backward()
    return {"loss": forward.work, "gradient": backward.work}


@lru_cache(maxsize=None)
def _field_calls(config: TrainConfig) -> int:
    return sum(w.field_calls for w in loss_work(config, ops=False).values())


def calls_per_step(config: TrainConfig) -> tuple[int, int]:
    """Network calls per evaluation of the recipe's own loss with its gradient, and of the fine-tune's
    (the full rollout, solved as the recipe solves it): counted by running each once (loss_work)."""
    return _field_calls(config), _field_calls(replace(config, strategy="rollout"))


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


COLUMNS = ("ms/epoch", "s to 6e-04", "x faster", "s to 1e-05", "final MSE", "train s", "peak MB")
RECORD_KEYS = ("date", "commit", "torch", "device")  # what a stored record must say about itself


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


def record_header(device) -> str:
    """The lines that make a printed table a record: its date, torch version and device
    (the commit is the caller's to add: the library does not run git)."""
    import datetime

    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({device})"
    return "\n".join([f"# date: {datetime.date.today().isoformat()}", "# commit: unknown",
                      f"# torch: {torch.__version__}", f"# device: {name}"])


def read_record(path) -> dict:
    """A stored benchmark record (a `table` printed by `python -m breathing_lib bench`, under a header):
    {"meta": {key: text}, "rows": {recipe: {column: number or None}}}.

    The header's `# key: value` lines give the meta; each of RECORD_KEYS it does not give is
    "unknown", so a caption can always say what is and is not known about the record.
    """
    lines = Path(path).read_text().splitlines()
    meta = {}
    for line in lines:
        key, sep, value = line.removeprefix("# ").partition(": ")
        if line.startswith("# ") and sep and key.isidentifier():
            meta[key] = value.strip()
    meta = {key: meta.get(key, "unknown") for key in RECORD_KEYS} | meta
    heads = [i for i, line in enumerate(lines) if line.startswith("recipe ")]
    if not heads:
        raise ValueError(f"{path}: no table (a line starting with 'recipe')")
    rows = {}
    for line in lines[heads[0] + 1:]:
        values = line[32:].split()
        if len(values) != len(COLUMNS):
            break
        rows[line[:32].strip()] = {c: None if v == "never" else float(v) for c, v in zip(COLUMNS, values)}
    return {"meta": meta, "rows": rows}
