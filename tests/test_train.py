import dataclasses

import pytest
import torch

from breathing_lib import ConfigError, TrainConfig, fit, load_checkpoint, save_checkpoint, trained_model
from breathing_lib.store import served_models
from breathing_lib.train import UntrainedModelWarning, new_model, training_data


def test_fit_lowers_the_loss_and_keeps_the_best_epoch():
    config = TrainConfig.original(num_points=16, num_time_steps=8, epochs=40, adjoint=False)
    result = fit(config, device="cpu", progress=False)
    loss = result.history["loss"]
    assert len(loss) == 40
    assert result.metrics["train_mse"] == min(loss) < 0.5 * loss[0]
    assert loss[result.metrics["best_epoch"]] == result.metrics["train_mse"]
    assert result.history["epoch"] == list(range(40))  # the rollout loss is checked every epoch
    assert result.history["loss"] == result.history["mse"]
    assert {"train_mse", "epochs", "wall_seconds", "device"} <= set(result.metrics)


def test_fit_is_deterministic_for_a_seed(tiny_config):
    a = fit(tiny_config, device="cpu", progress=False)
    b = fit(tiny_config, device="cpu", progress=False)
    assert a.history["loss"] == b.history["loss"]



def test_each_phase_checks_on_its_own_schedule():
    """Adam checks every check_every epochs and at its last, L-BFGS every 25 iterations, the rollout
    fine-tune every 5: the phases share one run (model, data, tracker) and number epochs on from it."""
    config = TrainConfig(num_points=16, num_time_steps=8, epochs=16, lbfgs_steps=30, finetune_steps=10)
    result = fit(config, device="cpu", progress=False, check_every=7)
    assert result.history["epoch"] == [0, 7, 14, 15, 16 + 25, 16 + 30, 46 + 5, 46 + 10]
    assert result.metrics["epochs"] == 56
    assert result.history["mse"][result.history["epoch"].index(result.kept_epoch)] == result.metrics["train_mse"]

def test_checkpoint_round_trip_with_weights_only(tmp_path, tiny_config):
    result = fit(tiny_config, device="cpu", progress=False)
    path = save_checkpoint(tmp_path / "m" / "model.pt", result)
    payload = torch.load(path, weights_only=True)  # no pickled code needed
    assert payload["config"] == dataclasses.asdict(tiny_config)
    loaded = load_checkpoint(path, device="cpu")
    assert loaded.config == tiny_config
    x = torch.randn(10, 2)
    torch.testing.assert_close(loaded.model(torch.tensor(0.2), x), result.model(torch.tensor(0.2), x), rtol=0, atol=0)
    assert loaded.history == result.history


def test_load_checkpoint_errors(tmp_path, tiny_config):
    with pytest.raises(ConfigError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    good = save_checkpoint(tmp_path / "good.pt", fit(tiny_config, device="cpu", progress=False))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ConfigError, match="corrupt"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ConfigError, match="corrupt"):
        load_checkpoint(foreign)
    payload = torch.load(good, weights_only=True)
    payload["state_dict"]["net.0.weight"][0, 0] = float("nan")
    poisoned = tmp_path / "nan.pt"
    torch.save(payload, poisoned)
    with pytest.raises(ConfigError, match="NaN"):
        load_checkpoint(poisoned)


def test_model_store_trains_once(tmp_path, tiny_config):
    first = trained_model(tiny_config, store=tmp_path, device="cpu", progress=False)
    stored = list(tmp_path.glob("*/model.pt"))
    assert len(stored) == 1
    mtime = stored[0].stat().st_mtime_ns
    second = trained_model(tiny_config, store=tmp_path, device="cpu", progress=False)
    assert stored[0].stat().st_mtime_ns == mtime
    assert second.history == first.history
    other = dataclasses.replace(tiny_config, seed=1)
    trained_model(other, store=tmp_path, device="cpu", progress=False)
    assert len(list(tmp_path.glob("*/model.pt"))) == 2


def test_keeping_the_initial_weights_is_a_loud_warning(tiny_config):
    """Adam at a negligible rate cannot improve the rollout: selection keeps epoch 0 and says so."""
    untrained = dataclasses.replace(tiny_config, lr=1e-30)
    with pytest.warns(UntrainedModelWarning, match="untrained"):
        result = fit(untrained, device="cpu", progress=False)
    assert result.kept_epoch == 0


def test_the_original_config_normalises_time_as_the_original_did():
    assert TrainConfig.original().time_scale == "std" and TrainConfig().time_scale == "window"
    original = TrainConfig.original()
    t, truth = training_data(original)
    assert new_model(original, t, truth).t_max.item() == pytest.approx(t.std().item(), rel=1e-6)


def test_trained_model_registers_what_it_served(tmp_path, tiny_config):
    result = trained_model(tiny_config, store=tmp_path, device="cpu", progress=False)
    assert served_models()[tiny_config.label()] is result
    assert result.kept_epoch > 0


@pytest.mark.parametrize(
    "field, value",
    [("beta0", -2.0), ("period", 0.0), ("t_final", float("nan")), ("num_points", 2), ("num_time_steps", 1),
     ("epochs", -1), ("lr", 0.0), ("method", "leapfrog"), ("model", "gpt"), ("strategy", "guess"), ("seed", -1),
     ("time_scale", "max")],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})


def test_a_checkpoint_and_a_config_that_use_the_former_model_name_still_load(tiny_config, tmp_path):
    assert TrainConfig(model="seed") == TrainConfig(model="time-input")
    assert TrainConfig(model="seed").label() == TrainConfig().label()  # the same model in the store
    path = save_checkpoint(tmp_path / "model.pt", fit(tiny_config, device="cpu", progress=False))
    payload = torch.load(path, weights_only=True)
    payload["config"]["model"] = "seed"  # as checkpoints were written before the rename
    torch.save(payload, path)
    loaded = load_checkpoint(path, device="cpu")
    assert loaded.config.model == "time-input" and loaded.config == tiny_config
    with pytest.raises(ConfigError, match="model"):
        TrainConfig(model="MLP")
