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

from ..checks import Check, bounded, fact
from ..device import one_thread_on_cpu, resolve_device
from ..memory import peak_memory
from ..models import TIME_SCALES
from ..store import load_checkpoint, save_checkpoint
from ..train import TrainConfig, fit, new_model, shooting_windows, strategy_loss, training_data
from ..validation import ConfigError, require_choice

THRESHOLDS = (6e-4, 1e-5)
QUALITY = THRESHOLDS[0]  # the original study's final quality, which every recipe races to
ORIGINAL = "original (rollout, adjoint)"  # the recipes' names, as a record's table spells them
DEFAULT = "collocation + L-BFGS (default)"
FAITHFUL = "original, time over std(t) (chapter 2's run)"


def recipes(original_epochs: int = 2500, original_time_scale: str = "std") -> dict[str, TrainConfig]:
    """The original recipe and the strategies that compete with it, on the default problem.

    original_time_scale "std" is the original study's normalisation of time (TrainConfig.original());
    "window" runs the same recipe with time divided by the window's length, and names it so.
    """
    require_choice("original_time_scale", original_time_scale, TIME_SCALES)
    name = ORIGINAL if original_time_scale == "std" else f"original, {original_time_scale} time"
    return {
        name: TrainConfig.original(epochs=original_epochs, time_scale=original_time_scale),
        "shooting (Adam)": TrainConfig(strategy="shooting", epochs=500, lbfgs_steps=0, finetune_steps=0),
        "shooting + L-BFGS": TrainConfig(strategy="shooting", epochs=300, lbfgs_steps=100, finetune_steps=20),
        DEFAULT: TrainConfig(),
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


def ratio(a, b) -> float:
    """a / b, NaN when either is None (a level never reached): a NaN fails every check it feeds."""
    return float("nan") if a is None or b is None else a / b


def work_to_quality(rows: list[dict], configs: dict[str, TrainConfig], faithful) -> dict[str, tuple]:
    """(loss evaluations, network calls) to QUALITY of the faithful original (a FitResult: chapter 2's
    run) and of each raced recipe (race's rows), by name; (None, None) for one that never got there."""
    return {FAITHFUL: work_to(faithful.config, faithful.history, QUALITY),
            **{r["recipe"]: work_to(configs[r["recipe"]], r["history"], QUALITY) for r in rows}}


def calls_table(rows: list[dict], configs: dict[str, TrainConfig], faithful) -> list[dict]:
    """The work each recipe needed to reach QUALITY, and how many times the default's (the last row)."""
    to_quality = work_to_quality(rows, configs, faithful)
    fast_calls = to_quality[rows[-1]["recipe"]][1]
    return [{"recipe": name, "loss evaluations to 6e-04": n, "network calls to 6e-04": calls,
             "x fewer calls than the default": ratio(calls, fast_calls)} for name, (n, calls) in to_quality.items()]


def shooting_window_count(config: TrainConfig) -> int:
    """How many windows a shooting recipe integrates together on the config's training data."""
    return len(shooting_windows(*training_data(config), config.window)[0])


def batch_points(config: TrainConfig) -> int:
    """Points in one network call of the recipe's loss: the curve (a rollout), every window's curve
    (shooting, all windows in one batch) or every observed (x, y, t) (collocation, one call)."""
    if config.strategy == "shooting":
        return shooting_window_count(config) * config.num_points
    return (config.num_time_steps if config.strategy == "collocation" else 1) * config.num_points


def work_table(work: dict[str, dict[str, Work]], points: dict[str, int]) -> list[dict]:
    """One row per recipe of {recipe: loss_work(...)}: its points per call and, for its loss and its
    gradient, the network calls, operators, kernels and syncs counted."""
    counts = (("network calls", "field_calls"), ("operators", "ops"), ("kernels", "kernels"), ("syncs", "syncs"))
    return [{"recipe": name, "points per call": points[name],
             **{f"{phase}: {what}": getattr(w[phase], key) for phase in ("loss", "gradient") for what, key in counts}}
            for name, w in work.items()]


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



# The chapter's checked claims (chapter 10): the bounds its text states
CALLS_BOUND = 100  # the default needs at least this many times fewer network calls to 6e-4
FAST_MSE_BOUND = 5e-5  # the default ends at an MSE of the order of 1e-5, under this


def _total(work: dict[str, Work], key: str) -> int:
    """A count of one epoch: its loss and its gradient together."""
    return sum(getattr(phase, key) for phase in work.values())


def _race_findings(rows, configs, faithful, original_study_final) -> dict:
    """The race, told in work (loss evaluations, network calls to QUALITY) and in MSEs on the training
    grid. Its seconds are checked only as orderings side by side: a loaded machine stretches them."""
    original, shooting, _, default = rows
    to_quality = work_to_quality(rows, configs, faithful)
    (faithful_steps, faithful_calls), (orig_steps, orig_calls) = to_quality[FAITHFUL], to_quality[original["recipe"]]
    fast_steps, fast_calls = to_quality[default["recipe"]]
    original_epochs = configs[original["recipe"]].epochs
    speedup, shoot_speedup = (ratio(original["s to 6e-04"], r["s to 6e-04"]) for r in (default, shooting))
    return {
        "faithful_reaches_6e4": fact("the faithful original (chapter 2's run) reaches MSE 6e-4 within its 2500 epochs",
                                     faithful_steps is not None),
        "faithful_steps_6e4": faithful_steps,
        "faithful_calls_6e4": f"{faithful_calls:,}",
        "faithful_6e4": time_to(faithful.history, QUALITY),
        "faithful_device": faithful.metrics["device"],
        "orig_reaches_6e4": fact(f"the raced original (time over the window) reaches MSE 6e-4 within its "
                                 f"{original_epochs} epochs", orig_steps is not None),
        "orig_epochs": original_epochs,
        "orig_steps_6e4": orig_steps,
        "orig_6e4": original["s to 6e-04"],
        "orig_ms": original["ms/epoch"],
        "faithful_mse": bounded("the faithful original's best full-rollout MSE, above 1e-5 (it never reaches 1e-5)",
                                faithful.metrics["train_mse"], 1e-5, above=True),
        "orig_mse": bounded("the raced original's best full-rollout MSE in its run, above 1e-5 (it never reaches 1e-5)",
                            original["final MSE"], 1e-5, above=True),
        "fast_mse": bounded(f"the default's best full-rollout MSE, of the order of 1e-5: under {FAST_MSE_BOUND:.0e}",
                            default["final MSE"], FAST_MSE_BOUND),
        "fast_mse_bound": FAST_MSE_BOUND,
        "original_study_final": original_study_final,
        "mse_ratio": bounded("the original study's final loss / the default's best full-rollout MSE: over 10",
                             original_study_final / default["final MSE"], 10, above=True),
        "fast_steps_6e4": fast_steps,
        "fast_6e4": default["s to 6e-04"],
        "calls_ratio": bounded("network calls to MSE 6e-4, raced original / default",
                               ratio(orig_calls, fast_calls), CALLS_BOUND, above=True),
        "calls_bound": CALLS_BOUND,
        "faithful_calls_ratio": bounded("network calls to MSE 6e-4, faithful original / default",
                                        ratio(faithful_calls, fast_calls), CALLS_BOUND, above=True),
        "speedup": speedup,  # seconds: only its order is checked
        "default_sooner": fact("side by side, the default reaches MSE 6e-4 in fewer seconds than the raced original",
                               speedup > 1),
        "shoot_speedup": shoot_speedup,
        "shooting_sooner": fact("side by side, shooting (Adam) reaches MSE 6e-4 in fewer seconds than the raced "
                                "original", shoot_speedup > 1),
        "shoot_calls_ratio": bounded("network calls to MSE 6e-4, raced original / shooting (Adam): shooting needs "
                                     "fewer", ratio(orig_calls, to_quality[shooting["recipe"]][1]), 1, above=True),
        "shoot_mse": bounded("shooting (Adam) levels off above 1e-5: its best full-rollout MSE",
                             shooting["final MSE"], 1e-5, above=True),
        "num_parameters": f"{sum(p.numel() for p in default['model'].parameters()):,}",
    }


def _work_findings(original_config, shooting_config, default_config, work, faithful_work, points) -> dict:
    """What an epoch of each recipe asks of the machine, counted (loss_work): network calls, operators,
    kernels, syncs. Counts, not seconds: they hold on any machine with the same torch and torchdiffeq."""
    orig_work, fast_work = work["original"], work["collocation"]
    intervals = original_config.num_time_steps - 1
    return {
        "orig_calls_per_step": calls_per_step(original_config)[0],
        "fast_calls_per_step": calls_per_step(default_config)[0],
        "orig_forward_calls": orig_work["loss"].field_calls,
        "orig_adjoint_calls": orig_work["gradient"].field_calls,
        "orig_points": points["original"],
        "num_windows": shooting_window_count(shooting_config),
        "shoot_calls": _total(work["shooting"], "field_calls"),
        "shoot_points": f"{points['shooting']:,}",
        "coll_calls": _total(fast_work, "field_calls"),
        "coll_points": f"{points['collocation']:,}",
        "orig_ops": f"{_total(orig_work, 'ops'):,}",
        "orig_kernels": f"{_total(orig_work, 'kernels'):,}",
        "orig_syncs": _total(orig_work, "syncs"),
        "fast_ops": _total(fast_work, "ops"),
        "fast_kernels": _total(fast_work, "kernels"),
        "fast_syncs": _total(fast_work, "syncs"),
        "intervals": intervals,
        "orig_calls_counted": fact("network calls per epoch of the original, counted: as many in the adjoint solve as "
                                   "forward, 4 RK4 stages per interval each",
                                   orig_work["loss"].field_calls == orig_work["gradient"].field_calls == 4 * intervals),
        "faithful_counts_same": fact("the faithful original's epoch (time over std(t)) counts the same calls, "
                                     "operators and syncs",
                                     [w[:4] for w in faithful_work.values()] == [w[:4] for w in orig_work.values()]),
        "fast_never_syncs": fact("the default's epoch reads nothing back to the host (0 syncs)",
                                 _total(fast_work, "syncs") == 0),
        "orig_syncs_checked": bounded("syncs per epoch of the original: over 100", _total(orig_work, "syncs"), 100,
                                      above=True),
        "kernels_ratio": bounded("kernels per epoch, original / default: over 50",
                                 _total(orig_work, "kernels") / _total(fast_work, "kernels"), 50, above=True),
    }


def _fd_findings(fd_error: dict[int, float]) -> dict:
    """The finite-difference velocities collocation regresses on, by the number of snapshots K: good to
    well under 1% at the K it trains on (32), over 1% at 16, where a fine-tune is worth its cost."""
    return {
        "coarse_snapshots": min(fd_error),
        "fd_ratio": bounded("finite-difference velocity error, K = 32 over K = 64: finer snapshots, smaller error",
                            fd_error[32] / fd_error[64], 1, above=True),
        "fd_32": bounded("finite-difference velocity error, K = 32 (good to well under 1%)", fd_error[32], 5e-3),
        "fd_16": bounded("finite-difference velocity error, K = 16 (over 1%: a fine-tune is worth its cost)",
                         fd_error[16], 1e-2, above=True),
    }


def _record_findings(rows, work, record, build_device, launch_us) -> dict:
    """The GPU record beside this build's counts. The record was not measured by this build: it is
    stated, with its date, device, torch and commit, and no claim rests on it."""
    original, *_, default = rows
    meta, gpu = record["meta"], record["rows"]
    gpu_original_ms, gpu_default_ms = gpu[ORIGINAL]["ms/epoch"], gpu[DEFAULT]["ms/epoch"]
    orig_kernels = _total(work["original"], "kernels")
    return {
        "build_device": build_device,
        "record_caption": f"made on {meta['date']} on {meta['device']}, with torch {meta['torch']} "
                          f"(commit: {meta['commit']}).",
        "record_date": meta["date"],
        "record_device": meta["device"],
        "record_torch": meta["torch"],
        "torch_version": torch.__version__,
        "gpu_orig_ms": gpu_original_ms,
        "gpu_fast_ms": gpu_default_ms,
        "gpu_vs_build": "longer than" if gpu_original_ms > original["ms/epoch"] else "shorter than",
        "launch_lo": launch_us[0],
        "launch_hi": launch_us[1],
        "launch_floor_ms": orig_kernels * launch_us[0] / 1000,
        "launch_ceiling_ms": orig_kernels * launch_us[1] / 1000,
        "record_us_per_kernel": 1000 * gpu_original_ms / orig_kernels,
        "gpu_batch_gain": gpu_original_ms / gpu_default_ms,
        "cpu_batch_gain": original["ms/epoch"] / default["ms/epoch"],
    }


def findings(rows: list[dict], configs: dict[str, TrainConfig], faithful, work: dict[str, dict[str, Work]],
             faithful_work: dict[str, Work], points: dict[str, int], fd_error: dict[int, float], record: dict, *,
             build_device: str, launch_us: tuple, original_study_final: float) -> dict[str, float | str | Check]:
    """Every number chapter 10 states and every claim it checks, in its order.

    rows: race(configs) (the raced original, shooting (Adam), shooting + L-BFGS, the default, as
    recipes(...) orders them); faithful: chapter 2's FitResult of TrainConfig.original();
    work: {"original", "shooting", "collocation": loss_work(...)} of the raced recipes and
    faithful_work the faithful original's; points: each of those recipes' batch_points; fd_error:
    the finite-difference velocities' relative error by number of snapshots (16, 32 and 64 at least);
    record: read_record of the GPU record; build_device: where this build ran, in words; launch_us:
    a kernel launch's typical host cost, lowest and highest, in microseconds.
    """
    if not (isinstance(rows, list) and len(rows) == 4):
        raise ConfigError("rows must be the four rows of race(recipes(...)): the original, shooting (Adam), "
                          "shooting + L-BFGS and the default")
    if not {16, 32, 64} <= set(fd_error):
        raise ConfigError(f"fd_error must have the errors at 16, 32 and 64 snapshots, got {sorted(fd_error)}")
    original_config, shooting_config, _, default_config = (configs[r["recipe"]] for r in rows)
    return (_race_findings(rows, configs, faithful, original_study_final)
            | _work_findings(original_config, shooting_config, default_config, work, faithful_work, points)
            | _fd_findings(fd_error)
            | _record_findings(rows, work, record, build_device, launch_us))
