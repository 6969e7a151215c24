"""The training race: a stored race is returned as measured, and only with a store."""

import pytest

from breathing_lib import bench
from breathing_lib.train import TrainConfig


@pytest.fixture
def entrants():
    return {"a": TrainConfig(num_points=16, num_time_steps=8, epochs=3, lbfgs_steps=0),
            "b": TrainConfig(num_points=16, num_time_steps=8, epochs=4, lbfgs_steps=1)}


def test_a_stored_race_is_returned_without_training_again(entrants, tmp_path, monkeypatch):
    first = bench.race(entrants, "cpu", store=tmp_path)
    monkeypatch.setattr(bench, "fit", lambda *a, **k: pytest.fail("the stored race was run again"))
    again = bench.race(entrants, "cpu", store=tmp_path)
    assert [r["recipe"] for r in again] == ["a", "b"]
    for before, after in zip(first, again):
        assert after["history"] == before["history"] and after["train s"] == before["train s"]
        assert after["final MSE"] == before["final MSE"]


def test_other_entrants_or_no_store_run_afresh(entrants, tmp_path, monkeypatch):
    bench.race(entrants, "cpu", store=tmp_path)
    renamed = {"c" if k == "a" else k: v for k, v in entrants.items()}
    assert bench.race_folder(renamed, "cpu", tmp_path) != bench.race_folder(entrants, "cpu", tmp_path)
    calls = []
    real_fit = bench.fit
    monkeypatch.setattr(bench, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    bench.race(entrants, "cpu")
    assert len(calls) == 3  # the warm-up and both entrants


def test_network_calls_per_loss_evaluation_follow_each_strategy():
    grid = {"num_time_steps": 32}  # 31 RK4 steps of 4 stages
    assert bench.calls_per_step(TrainConfig.original(**grid)) == (2 * 31 * 4, 31 * 4)  # forward and adjoint
    assert bench.calls_per_step(TrainConfig(strategy="rollout", adjoint=False, **grid))[0] == 31 * 4
    assert bench.calls_per_step(TrainConfig(strategy="shooting", window=4, **grid))[0] == 4 * 4
    assert bench.calls_per_step(TrainConfig(**grid))[0] == 1  # collocation: one call on every point


def test_work_counts_adam_epochs_then_lbfgs_then_finetune_iterations():
    config = TrainConfig(num_time_steps=5, epochs=3, lbfgs_steps=2, finetune_steps=2)  # collocation: 1 call
    history = {"epoch": [0, 2, 4, 5, 7], "mse": [1.0, 0.5, 0.1, 0.05, 0.01]}
    evaluations, calls = bench.work_done(config, history)
    assert evaluations == [1, 3, 4, 5, 7]  # Adam's check at epoch e follows e + 1 evaluations
    assert calls == [1, 3, 4, 5, 5 + 2 * 16]  # the fine-tune's rollout: 4 steps of 4 stages
    assert bench.work_to(config, history, 0.1) == (4, 4)
    assert bench.work_to(config, history, 1e-3) == (None, None)
