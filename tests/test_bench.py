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
