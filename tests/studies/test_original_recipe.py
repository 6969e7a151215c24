from dataclasses import replace

import numpy as np
import pytest
import torch

from breathing_lib import TrainConfig
from breathing_lib.checks import Check, CheckFailed, Checks
from breathing_lib.studies import original_recipe as study
from breathing_lib.train import FitResult, new_model, training_data

CONFIG = TrainConfig.original()
FIXED = replace(CONFIG, time_scale="window")
PROSE_KEYS = {"tau", "time_end", "output_ratio", "map_gap", "start_ratio", "train_mse", "train_mse_fixed",
              "ratio_original", "loss_at_2250", "first_original", "first_fixed", "early_epoch", "early_ratio",
              "spike", "epochs", "wall_s", "device", "ms_per_epoch", "block_ms_min", "block_ms_max"}

pytestmark = pytest.mark.usefixtures("glued")  # Checks.show glues: keep the values


@pytest.fixture(scope="module")
def initial():
    """The faithful and the window model from the same seed, untrained, on the original's data."""
    t, truth = training_data(CONFIG)
    torch.manual_seed(0)
    model = new_model(CONFIG, t, truth)
    torch.manual_seed(0)
    return model, new_model(FIXED, t, truth), t, truth


def run(loss, *, config=CONFIG, ms_per_epoch=100.0) -> FitResult:
    """A hand-made run: `loss` per epoch, a steady clock, the best epoch kept."""
    loss = list(loss)
    seconds = list(np.arange(1, len(loss) + 1) * ms_per_epoch / 1000)
    history = {"loss": loss, "epoch": list(range(len(loss))), "mse": loss, "seconds": seconds}
    metrics = {"train_mse": min(loss), "best_epoch": int(np.argmin(loss)), "epochs": len(loss),
               "wall_seconds": seconds[-1], "device": "cpu"}
    return FitResult(None, config, history, metrics)


def decay(start, end, epochs=2500, spike_at=None):
    loss = np.geomspace(start, end, epochs)
    if spike_at is not None:
        loss[spike_at] *= 3  # climbs back above twice its best so far
    return loss


def runs(faithful=None, fixed=None):
    return {"original (std time scale)": faithful or run(decay(0.13, 5e-4, spike_at=1800)),
            "fixed (window time scale)": fixed or run(decay(0.05, 4e-4), config=FIXED)}


def findings(initial, result_runs=None, **changes):
    model, window_model, t, truth = initial
    scale = study.time_scale_effects(model, window_model, t, truth)
    options = dict(early_epoch=500, target_mse=6e-4, reloaded_identical=True,
                   command_line={"faithful": TrainConfig.original(), "fixed": FIXED})
    return study.findings(CONFIG, model, t, scale, result_runs or runs(), **options | changes)


def test_the_window_model_with_rescaled_weights_is_the_faithful_field(initial):
    model, window_model, t, truth = initial
    mapped = study.window_equivalent(model, window_model)
    x, times = truth.reshape(-1, 2), t.repeat_interleave(truth.shape[1])
    with torch.no_grad():
        reference = model(times, x)
        assert (mapped(times, x) - reference).abs().max() < 1e-5 * reference.abs().max()
        assert (window_model(times, x) - reference).abs().max() > 0.1 * reference.abs().max()  # unmapped differs
    assert torch.equal(window_model.first_layer.weight, model.first_layer.weight)  # the copy left it alone


def test_the_time_scale_effects_follow_from_the_std_of_the_times(initial):
    model, window_model, t, truth = initial
    scale = study.time_scale_effects(model, window_model, t, truth)
    assert scale["tau"] == pytest.approx(float(t.std()))
    assert scale["time_end"] == pytest.approx(float(t[-1] / t.std()))
    assert scale["output_ratio"] == pytest.approx(float(t[-1] / t.std()), rel=1e-6)
    assert scale["start_ratio"].shape == truth[0].shape
    assert torch.allclose(scale["start_ratio"], torch.full_like(scale["start_ratio"], scale["output_ratio"]))


def test_the_runs_table_and_the_first_epoch_at_a_target():
    faithful = run([0.5, 0.2, 0.3, 0.05, 0.01])
    assert study.first_epoch_at(faithful, 0.2) == 1 and study.first_epoch_at(faithful, 1e-3) is None
    rows, formats = study.runs_table({"a": faithful}, early_epoch=2, target_mse=0.06)
    assert rows[0]["best by epoch 2"] == 0.2 and rows[0]["first epoch <= 6e-02"] == 3
    assert formats["best by epoch 2"] == ".2e" and rows[0]["ms/epoch"] == pytest.approx(100)


def test_blocks_time_each_stretch_of_epochs():
    ms = study.block_ms(run(decay(1, 0.1, epochs=1001), ms_per_epoch=20.0))
    np.testing.assert_allclose(ms, 20.0)
    assert len(ms) == 4


def test_findings_hold_the_prose_numbers_and_every_claim(initial):
    numbers = findings(initial)
    assert PROSE_KEYS <= set(numbers)
    claims = [value for value in numbers.values() if isinstance(value, Check)]
    assert len(claims) == 23  # and publish adds that every model used is trained: 24
    assert sum(c.kind == "exact" for c in claims) == 2 and sum(c.kind == "measured" for c in claims) == 8
    assert numbers["first_original"] == "at epoch 2418" and numbers["device"] == "cpu"
    assert numbers["spike"] == pytest.approx(3 * (5e-4 / 0.13) ** (1 / 2499))  # the spike over the epoch before
    Checks("2").show(numbers)


def test_another_recipe_is_not_compared_with_the_original(initial):
    model, window_model, t, truth = initial
    short = replace(CONFIG, epochs=300)
    scale = study.time_scale_effects(model, window_model, t, truth)
    result_runs = runs(run(decay(0.1, 0.01, epochs=300)), run(decay(0.1, 0.01, epochs=300), config=FIXED))
    numbers = study.findings(short, model, t, scale, result_runs, early_epoch=500, target_mse=6e-4,
                             reloaded_identical=True, command_line={"faithful": CONFIG, "fixed": FIXED})
    assert "ratio_above" not in numbers and numbers["first_original"] == "never in 300 epochs"
    assert numbers["loss_at_2250"] == pytest.approx(0.01)


@pytest.mark.parametrize("change, claim", [
    (dict(reloaded_identical=False), "reloaded checkpoint"),
    (dict(command_line={"faithful": FIXED, "fixed": FIXED}), "--original is TrainConfig.original"),
    (dict(result_runs=runs(fixed=run(decay(0.2, 4e-4), config=FIXED))), "the fixed run is lower"),
    (dict(result_runs=runs(faithful=run(decay(0.13, 5e-2)))), "5.8e-4, below"),
    (dict(result_runs=runs(faithful=run(decay(0.13, 5e-4)))), "climbs back above twice"),
])
def test_findings_that_break_a_claim_fail_the_chapter(initial, change, claim):
    with pytest.raises(CheckFailed, match=claim):
        Checks("2").show(findings(initial, **change))
