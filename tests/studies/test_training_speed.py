"""The training race: a stored race is returned as measured, and only with a store."""

from pathlib import Path

import pytest
import torch

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
