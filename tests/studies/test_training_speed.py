"""The training race: a stored race is returned as measured, and only with a store."""

import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from breathing_lib import ConfigError
from breathing_lib.checks import CheckFailed, Checks
from breathing_lib.studies import training_speed
from breathing_lib.train import TrainConfig


@pytest.fixture
def entrants():
    return {"a": TrainConfig(num_points=16, num_time_steps=8, epochs=3, lbfgs_steps=0),
            "b": TrainConfig(num_points=16, num_time_steps=8, epochs=4, lbfgs_steps=1)}


def test_a_stored_race_is_returned_without_training_again(entrants, tmp_path, monkeypatch):
    first = training_speed.race(entrants, "cpu", store=tmp_path)
    monkeypatch.setattr(training_speed, "fit", lambda *a, **k: pytest.fail("the stored race was run again"))
    again = training_speed.race(entrants, "cpu", store=tmp_path)
    assert [r["recipe"] for r in again] == ["a", "b"]
    for before, after in zip(first, again):
        assert after["history"] == before["history"] and after["train s"] == before["train s"]
        assert after["final MSE"] == before["final MSE"]


def test_other_entrants_or_no_store_run_afresh(entrants, tmp_path, monkeypatch):
    training_speed.race(entrants, "cpu", store=tmp_path)
    renamed = {"c" if k == "a" else k: v for k, v in entrants.items()}
    assert training_speed.race_folder(renamed, "cpu", tmp_path) != training_speed.race_folder(entrants, "cpu", tmp_path)
    calls = []
    real_fit = training_speed.fit
    monkeypatch.setattr(training_speed, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    training_speed.race(entrants, "cpu")
    assert len(calls) == 3  # the warm-up and both entrants


def test_counted_network_calls_are_those_rk4_and_the_adjoint_imply():
    """K = 5 snapshots: 4 intervals, and each solver steps on the output grid.

    torchdiffeq's rk4 (the 3/8 rule) evaluates the field 4 times a step: a rollout's loss calls it
    4 (K - 1) = 16 times. Its gradient, through the adjoint, integrates the augmented system
    (a, x, dL/dtheta) back over the same 4 intervals with the same 4-stage method, and each
    augmented evaluation calls the field once (plus a vector-Jacobian product, which calls
    nothing): 16 more. Without the adjoint, backpropagation replays the recorded graph: 0.
    Shooting with windows of w = 2 steps integrates all windows in one batch: 4 w = 8, then 0.
    Collocation evaluates the field once on every observed point, then 0.
    The fine-tune's count is the full rollout's, solved as the recipe solves it.
    """
    grid = {"num_points": 16, "num_time_steps": 5}
    original = TrainConfig.original(**grid)
    work = training_speed.loss_work(original)
    assert (work["loss"].field_calls, work["gradient"].field_calls) == (16, 16)
    direct = training_speed.loss_work(TrainConfig.original(adjoint=False, **grid))
    assert (direct["loss"].field_calls, direct["gradient"].field_calls) == (16, 0)
    assert training_speed.calls_per_step(original) == (32, 32)
    assert training_speed.calls_per_step(TrainConfig(strategy="shooting", window=2, **grid)) == (8, 16)
    assert training_speed.calls_per_step(TrainConfig(**grid)) == (1, 16)
    assert training_speed.calls_per_step(TrainConfig(finetune_steps=5, **grid)) == (1, 16)  # collocation, direct fine-tune


def test_work_is_counted_by_operator_and_nothing_is_left_hooked():
    model = torch.nn.Identity()
    x = torch.ones(3)
    with training_speed.count_work(model) as counted:
        y = (x * 2).sum()  # two kernels
        if y > 0:  # a comparison (a kernel) read back by Python: a sync
            x.view(3, 1)  # a view: no kernel
        torch.empty(3)  # an allocation: no kernel
        model(x), model(x)
    assert counted.work[:4] == (2, 6, 3, 1)  # field calls, operators, kernels, syncs
    (site, syncs), = counted.work.sync_sites
    assert syncs == 1 and site.startswith("test_training_speed.py:") and "if y > 0:" in site
    assert not model._forward_pre_hooks
    with training_speed.count_work(model, ops=False) as calls_only:
        model(x * 2)
    assert calls_only.work == training_speed.Work(field_calls=1, ops=0, kernels=0, syncs=0)


def test_collocation_never_waits_for_the_device_and_the_adjoint_rollout_does():
    grid = {"num_points": 16, "num_time_steps": 5}
    collocation = training_speed.loss_work(TrainConfig(**grid))
    assert sum(w.syncs for w in collocation.values()) == 0
    original = training_speed.loss_work(TrainConfig.original(**grid))
    assert original["loss"].syncs > 0 and original["gradient"].syncs > 0
    assert all(w.kernels <= w.ops for w in original.values())


def test_a_record_reads_back_its_table_and_says_what_it_does_not_know(tmp_path):
    rows = [{"recipe": "original (rollout, adjoint)", "ms/epoch": 269.4, "s to 6e-04": 162.65, "s to 1e-05": None,
             "final MSE": 4.49e-4, "train s": 188.6, "peak MB": 0.28},
            {"recipe": "collocation + L-BFGS (default)", "ms/epoch": 1.8, "s to 6e-04": 0.27, "s to 1e-05": 4.27,
             "final MSE": 8.49e-6, "train s": 4.8, "peak MB": 3.55}]
    path = tmp_path / "record.txt"
    path.write_text("# date: 2026-11-27\n# torch: 2.11.0+cu130\n# some comment, not a key\ndevice: cuda\n"
                    + training_speed.table(rows) + "\n")
    record = training_speed.read_record(path)
    assert record["meta"] == {"date": "2026-11-27", "commit": "unknown", "torch": "2.11.0+cu130", "device": "unknown"}
    original, default = record["rows"].values()
    assert original["ms/epoch"] == 269.4 and original["s to 1e-05"] is None and original["x faster"] == 1.0
    assert default["final MSE"] == 8.49e-6 and list(record["rows"])[1] == "collocation + L-BFGS (default)"
    path.write_text(training_speed.record_header("cpu") + "\n" + training_speed.table(rows) + "\n")
    header = training_speed.read_record(path)["meta"]
    assert header["torch"] == torch.__version__ and header["device"] == "CPU (cpu)" and header["commit"] == "unknown"


def test_the_stored_gpu_record_names_its_date_torch_and_device():
    meta = training_speed.read_record(Path(__file__).resolve().parents[2] / "benchmarks/results/bench_cuda_h200.txt")["meta"]
    assert all(meta[key] != "unknown" for key in ("date", "torch", "device"))


def test_work_counts_adam_epochs_then_lbfgs_then_finetune_iterations():
    config = TrainConfig(num_time_steps=5, epochs=3, lbfgs_steps=2, finetune_steps=2)  # collocation: 1 call
    history = {"epoch": [0, 2, 4, 5, 7], "mse": [1.0, 0.5, 0.1, 0.05, 0.01]}
    evaluations, calls = training_speed.work_done(config, history)
    assert evaluations == [1, 3, 4, 5, 7]  # Adam's check at epoch e follows e + 1 evaluations
    assert calls == [1, 3, 4, 5, 5 + 2 * 16]  # the fine-tune's rollout: 4 steps of 4 stages
    assert training_speed.work_to(config, history, 0.1) == (4, 4)
    assert training_speed.work_to(config, history, 1e-3) == (None, None)


GRID = {"num_points": 16, "num_time_steps": 5}  # 4 intervals: the original calls the network 16 times each way


def _row(recipe, reached_at, final_mse, seconds_to, ms_per_epoch, model=None):
    """A race row whose full-rollout MSE first reaches 6e-4 at epoch `reached_at` (never if None)."""
    epochs = [0, 4, 9, 19]
    mse = [1e-2 if reached_at is None or e < reached_at else final_mse for e in epochs]
    return {"recipe": recipe, "ms/epoch": ms_per_epoch, "s to 6e-04": seconds_to, "s to 1e-05": None,
            "final MSE": final_mse, "history": {"epoch": epochs, "seconds": [0.1 * e for e in epochs], "mse": mse},
            "model": model or torch.nn.Linear(3, 2)}


def _race():
    """A race on a small grid that tells the chapter's story: the default reaches 6e-4 after one loss
    evaluation (1 network call), shooting after one (8 calls: two-step windows), the original after 10
    (32 calls each: 320, over 100 times the default's)."""
    configs = {"original, window time": TrainConfig.original(epochs=20, time_scale="window", **GRID),
               "shooting (Adam)": TrainConfig(strategy="shooting", window=2, epochs=20, lbfgs_steps=0, **GRID),
               "shooting + L-BFGS": TrainConfig(strategy="shooting", window=2, epochs=20, lbfgs_steps=5, **GRID),
               training_speed.DEFAULT: TrainConfig(epochs=20, lbfgs_steps=5, **GRID)}
    rows = [_row("original, window time", 9, 4e-4, 50.0, 100.0), _row("shooting (Adam)", 0, 2e-4, 2.0, 10.0),
            _row("shooting + L-BFGS", 0, 8e-5, 2.0, 10.0), _row(training_speed.DEFAULT, 0, 8e-6, 0.3, 1.0)]
    faithful = SimpleNamespace(config=TrainConfig.original(epochs=20, **GRID), history=rows[0]["history"],
                               metrics={"train_mse": 4.5e-4, "device": "cpu"})
    return rows, configs, faithful


def _work(field_calls, ops, kernels, syncs):
    return {"loss": training_speed.Work(field_calls, ops, kernels, syncs),
            "gradient": training_speed.Work(field_calls, 2 * ops, 2 * kernels, syncs)}


def _findings(rows, configs, faithful, **changes):
    inputs = {"work": {"original": _work(16, 5000, 3000, 80), "shooting": _work(8, 400, 300, 0),
                       "collocation": _work(1, 60, 40, 0)},
              "faithful_work": _work(16, 5000, 3000, 80), "points": {"original": 16, "shooting": 48, "collocation": 80},
              "fd_error": {16: 2e-2, 32: 2e-3, 64: 2e-4},
              "record": {"meta": {"date": "2026-11-27", "device": "H200", "torch": "2.11", "commit": "abc"},
                         "rows": {training_speed.ORIGINAL: {"ms/epoch": 269.4},
                                  training_speed.DEFAULT: {"ms/epoch": 1.8}}}
              } | changes
    return training_speed.findings(rows, configs, faithful, inputs["work"], inputs["faithful_work"], inputs["points"],
                                   inputs["fd_error"], inputs["record"], build_device="the CPU", launch_us=(5, 20),
                                   original_study_final=5.78e-4)


def test_findings_state_every_number_of_the_prose_and_check_every_claim(glued, quoted):
    numbers = _findings(*_race())
    ledger = Checks("10")
    ledger.show(numbers)
    prose, results_page = quoted("10_training_speed")
    assert prose and results_page and prose | results_page - {"checks_table"} <= set(glued)
    kinds = [c.kind for c in ledger.records]
    assert (kinds.count("exact"), kinds.count("measured"), kinds.count("logical")) == (0, 13, 7)
    assert numbers["calls_ratio"].value == 320 and numbers["calls_ratio"].above  # 10 x 32 calls / 1
    assert numbers["shoot_calls_ratio"].value == 40 and numbers["fd_32"].kind == "measured"
    assert glued["orig_kernels"] == "9,000" and glued["orig_syncs"] == 160 and glued["fast_syncs"] == 0
    assert glued["record_caption"] == "made on 2026-11-27 on H200, with torch 2.11 (commit: abc)."
    assert glued["launch_floor_ms"] == pytest.approx(45.0) and glued["coarse_snapshots"] == 16
    assert glued["num_parameters"] == "8" and glued["orig_epochs"] == 20 and glued["num_windows"] == 3


@pytest.mark.parametrize("claim, spoil", [
    ("the default's best full-rollout MSE, of the order of 1e-5", lambda rows: rows[3].update({"final MSE": 1e-4})),
    ("side by side, shooting (Adam) reaches MSE 6e-4 in fewer seconds",
     lambda rows: rows[1].update({"s to 6e-04": 60.0})),
    ("shooting (Adam) levels off above 1e-5", lambda rows: rows[1].update({"final MSE": 5e-6})),
    ("the raced original (time over the window) reaches MSE 6e-4 within its 20 epochs",
     lambda rows: rows[0].update(_row(rows[0]["recipe"], None, 1e-2, None, 100.0))),
])
def test_a_race_that_breaks_a_claim_fails_the_chapter(glued, claim, spoil):
    rows, configs, faithful = _race()
    spoil(rows)
    with pytest.raises(CheckFailed, match=re.escape(claim)):
        Checks("10").show(_findings(rows, configs, faithful))


@pytest.mark.parametrize("claim, changes", [
    ("the default's epoch reads nothing back to the host", {"work": {"original": _work(16, 5000, 3000, 80),
                                                                     "shooting": _work(8, 400, 300, 0),
                                                                     "collocation": _work(1, 60, 40, 1)}}),
    ("the faithful original's epoch (time over std(t)) counts the same", {"faithful_work": _work(16, 5000, 3000, 81)}),
    ("finite-difference velocity error, K = 16", {"fd_error": {16: 5e-3, 32: 2e-3, 64: 2e-4}}),
])
def test_counts_that_break_a_claim_fail_the_chapter(glued, claim, changes):
    with pytest.raises(CheckFailed, match=re.escape(claim)):
        Checks("10").show(_findings(*_race(), **changes))


def test_findings_name_what_they_lack():
    rows, configs, faithful = _race()
    with pytest.raises(ConfigError, match="rows"):
        _findings(rows[:3], configs, faithful)
    with pytest.raises(ConfigError, match="fd_error"):
        _findings(rows, configs, faithful, fd_error={16: 2e-2, 32: 2e-3})


def test_the_calls_table_counts_each_recipe_against_the_default():
    rows, configs, faithful = _race()
    table = training_speed.calls_table(rows, configs, faithful)
    assert [r["recipe"] for r in table] == [training_speed.FAITHFUL, *configs]
    assert [r["network calls to 6e-04"] for r in table] == [320, 320, 8, 8, 1]
    assert table[0]["x fewer calls than the default"] == 320
    rows[3] = _row(training_speed.DEFAULT, None, 1e-2, None, 1.0)  # never reached: no ratio, and no error
    table = training_speed.calls_table(rows, configs, faithful)
    assert all(math.isnan(r["x fewer calls than the default"]) for r in table)


def test_batch_points_and_the_work_table():
    config = TrainConfig(**GRID)
    assert training_speed.batch_points(TrainConfig.original(**GRID)) == 16
    shooting = TrainConfig(strategy="shooting", window=2, **GRID)
    assert training_speed.batch_points(shooting) == 3 * 16  # every snapshot but the last `window` starts a window
    assert training_speed.batch_points(config) == 5 * 16
    table = training_speed.work_table({"collocation": _work(1, 60, 40, 0)}, {"collocation": 80})
    assert table == [{"recipe": "collocation", "points per call": 80, "loss: network calls": 1, "loss: operators": 60,
                      "loss: kernels": 40, "loss: syncs": 0, "gradient: network calls": 1, "gradient: operators": 120,
                      "gradient: kernels": 80, "gradient: syncs": 0}]
