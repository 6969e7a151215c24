import numpy as np
import pytest
import torch

from breathing_lib import ConfigError, TrainConfig, fit
from breathing_lib.collocation import finite_difference_weights, snapshot_velocities
from breathing_lib.memory import peak_memory
from breathing_lib.models import AnalyticField
from breathing_lib.solve import integrate, rk4_steps
from breathing_lib.studies.training_speed import time_to
from breathing_lib.train import shooting_windows, training_data


@pytest.mark.parametrize("order", [2, 4, 8])
def test_finite_difference_weights_are_exact_on_polynomials(order):
    k = np.arange(12.0)
    d = finite_difference_weights(12, order)
    for p in range(order + 1):  # exact up to the stencil's order, at the ends too
        np.testing.assert_allclose(d @ k**p, p * k ** max(p - 1, 0) if p else 0 * k, atol=1e-7 * 12**p)


def test_snapshot_velocities_match_the_analytic_field(problem):
    config = TrainConfig()
    t, truth = training_data(config)
    v = snapshot_velocities(t, truth)
    exact = problem.velocity(truth, t[:, None])
    # 32 samples over 1.5 periods: the order-8 stencils are good to ~1e-3 of the field
    assert ((v - exact).norm() / exact.norm()).item() < 2e-3


def test_rk4_steps_matches_exact_flow_from_shifted_starts(problem):
    t = torch.linspace(0, 1.5, 32, dtype=torch.float64)
    truth = problem.sample(t, 16)
    starts, t0, targets = shooting_windows(t, truth, window=4)
    assert starts.shape == (28, 16, 2) and t0.shape == (28, 1) and targets.shape == (5, 28, 16, 2)
    h = float(t[1] - t[0])
    pred = rk4_steps(AnalyticField(problem), starts, t0, h, 4)
    # classic RK4: local error ~ (omega h)^5 / 120 of the amplitude (< 1.5) per step, 4 steps
    assert (pred - targets).abs().max().item() < 4 * (problem.omega * h) ** 5 / 120 * 1.5


def test_rk4_steps_agrees_with_torchdiffeq(problem):
    t = torch.linspace(0, 1.5, 32, dtype=torch.float64)
    x0 = problem.sample(t[:1], 16)[0]
    h = float(t[1] - t[0])
    ours = rk4_steps(AnalyticField(problem), x0, t[0], h, 31)
    reference = integrate(AnalyticField(problem), x0, t, method="dopri5", rtol=1e-10, atol=1e-12).x
    assert (ours - reference).abs().max().item() < 31 * (problem.omega * h) ** 5 / 120 * 1.5


@pytest.mark.parametrize("strategy", ["shooting", "collocation", "rollout"])
def test_each_strategy_learns(strategy):
    config = TrainConfig(num_points=16, num_time_steps=16, strategy=strategy, epochs=60, lbfgs_steps=20)
    result = fit(config, device="cpu", progress=False)
    h = result.history
    assert result.metrics["train_mse"] == min(h["mse"]) < 0.5 * h["mse"][0]
    assert h["seconds"] == sorted(h["seconds"])


def test_default_recipe_reaches_1e_5_on_the_original_problem():
    result = fit(TrainConfig(), device="cpu", progress=False)
    assert result.metrics["train_mse"] <= 1e-5
    assert time_to(result.history, 6e-4) is not None


def test_finetune_on_the_rollout_improves_a_collocation_start():
    base = TrainConfig(num_points=16, num_time_steps=12, epochs=100, lbfgs_steps=50, finetune_steps=0)
    tuned = fit(TrainConfig(**{**base.__dict__, "finetune_steps": 20}), device="cpu", progress=False)
    plain = fit(base, device="cpu", progress=False)
    assert tuned.metrics["train_mse"] < plain.metrics["train_mse"]


def test_strategy_specific_validation():
    with pytest.raises(ConfigError, match="num_time_steps"):
        TrainConfig(num_time_steps=4)  # collocation needs 5 snapshots
    with pytest.raises(ConfigError, match="window"):
        TrainConfig(strategy="shooting", num_time_steps=8, window=8)
    with pytest.raises(ConfigError, match="nothing to train"):
        TrainConfig(epochs=0, lbfgs_steps=0)
    assert TrainConfig.original() == TrainConfig(strategy="rollout", epochs=2500, lr=5e-3, lbfgs_steps=0, adjoint=True,
                                                 time_scale="std")


def test_peak_memory_counts_storages_and_their_release():
    with peak_memory("cpu") as m:
        a = torch.zeros(1000, 1000)
        view = a[:10]
        del a  # the view keeps the storage alive
        b = torch.zeros(1000, 1000)
        del view, b
        c = torch.zeros(1000, 1000)  # noqa: F841 (allocated after both were freed)
    assert m.bytes == 2 * 4_000_000


def test_adjoint_needs_less_memory_than_direct_backprop():
    config = TrainConfig.original(num_points=32, num_time_steps=32)
    t, truth = training_data(config)
    from breathing_lib.models import build_model, feature_stats

    model = build_model("time-input", feature_stats(t, truth))
    used = {}
    for adjoint in (False, True):
        with peak_memory("cpu") as m:
            loss = ((integrate(model, truth[0], t, method="rk4", adjoint=adjoint).x - truth) ** 2).mean()
            loss.backward()
        used[adjoint] = m.bytes
    # direct backprop keeps the activations of all 124 field calls; the adjoint keeps a few
    assert used[True] * 10 < used[False]


def test_bench_table_reports_speedups_against_the_first_row():
    from breathing_lib.studies.training_speed import table

    row = {"ms/epoch": 1.0, "final MSE": 1e-5, "train s": 1.0, "peak MB": 1.0, "s to 1e-05": None}
    text = table([{**row, "recipe": "slow", "s to 6e-04": 80.0}, {**row, "recipe": "fast", "s to 6e-04": 0.5}])
    lines = text.splitlines()
    assert lines[1].split()[3] == "1.0" and lines[2].split()[3] == "160.0"
    assert "never" in lines[2]
