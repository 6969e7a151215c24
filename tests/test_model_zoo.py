"""The augmented and structure-preserving fields: state conventions, exactness, training, checkpoints."""

import math

import pytest
import torch

from breathing_lib import ConfigError, TrainConfig, build_model, feature_stats, generate_truth
from breathing_lib.checks import rounding
from breathing_lib.inference import flow, predict
from breathing_lib.models import (
    MODELS,
    PhaseField,
    SecondOrderField,
    StreamFunctionField,
    TimedSecondOrderField,
    trainable_parameters,
)
from breathing_lib.store import load_checkpoint, save_checkpoint
from breathing_lib.train import fit


def _stats():
    t, curves = generate_truth(2.0, 2 * math.pi, 1.5, 32, 8)
    return t, curves, feature_stats(t, curves)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_flows_positions_and_keeps_the_seed_budget(name, problem):
    t, curves, stats = _stats()
    torch.manual_seed(0)
    model = build_model(name, stats)
    width = sum(p.numel() for p in model.net.parameters())
    inputs = model.net[0].in_features
    assert width == inputs * 32 + 32 + 32 * 64 + 64 + 64 * model.net[-1].out_features + model.net[-1].out_features
    positions, nfe = flow(model, problem, curves[0], t[:4], method="rk4")
    assert positions.shape == (4, 32, 2) and nfe == 12
    torch.testing.assert_close(positions[0], curves[0])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_features_are_what_the_first_layer_reads_in_a_forward_pass(name):
    t, curves, stats = _stats()
    model = build_model(name, stats)
    state = model.augment(t[3], curves[3], torch.ones_like(curves[3]) if model.needs_velocity else None)
    seen = []
    model.first_layer.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    model(t[3], state)
    features = model.features(t[3], state)
    assert model.first_layer is model.net[0] and features.shape == (32, model.first_layer.in_features)
    assert torch.equal(seen[0], features)


def test_autonomous_field_ignores_time():
    t, curves, stats = _stats()
    field = build_model("autonomous", stats)
    torch.testing.assert_close(field(torch.tensor(0.0), curves[3]), field(torch.tensor(1.2), curves[3]))


def test_phase_field_state_and_rate():
    t, curves, stats = _stats()
    field = PhaseField(stats, omega=5.0)
    state = field.augment(t[:, None].expand(curves.shape[:2]), curves, None)
    assert state.shape == (8, 32, 3)
    torch.testing.assert_close(state[..., 2], 5.0 * t[:, None].expand(8, 32))
    rate = field(None, state)
    assert torch.all(rate[..., 2] == 5.0)  # dphi/dt = omega, whatever the time argument
    # the field is periodic in the phase: phi and phi + 2 pi give the same velocity
    shifted = state.clone()
    shifted[..., 2] += 2 * math.pi
    torch.testing.assert_close(field(None, shifted), rate, atol=1e-5, rtol=1e-5)
    assert not field.omega.requires_grad and PhaseField(stats, learn_omega=True).omega.requires_grad
    with pytest.raises(ConfigError, match="omega"):
        PhaseField(stats, omega=0.0)


def test_trainable_parameters_leave_a_fixed_omega_out():
    _, _, stats = _stats()
    fixed, learned = PhaseField(stats), PhaseField(stats, learn_omega=True)
    def ids(params):  # parameters compare element-wise; which objects they are is what counts
        return [id(p) for p in params]

    assert ids(trainable_parameters(fixed)) == ids(fixed.net.parameters())
    assert ids(trainable_parameters(learned)) == ids([learned.omega, *learned.net.parameters()])


def test_second_order_state_needs_velocity():
    t, curves, stats = _stats()
    field = SecondOrderField(stats)
    v = torch.ones_like(curves[0])
    rate = field(None, field.augment(0.0, curves[0], v))
    torch.testing.assert_close(rate[..., :2], v)  # d(position)/dt is the velocity carried in the state
    assert field.velocity_at(0.0, curves[0]) is None
    with pytest.raises(ValueError, match="velocit"):
        field.augment(0.0, curves[0], None)


@pytest.mark.parametrize("kind", [SecondOrderField, TimedSecondOrderField])
def test_second_order_state_and_rate_follow_an_observed_motion_exactly(kind, problem):
    """augment builds [x, v]; augment_rate is [v, a]; the field's position rate is the carried velocity."""
    t = torch.linspace(0, 1.5, 8, dtype=torch.float64)
    x = problem.sample(t, 16)
    v = problem.velocity(x, t[:, None])
    a = torch.randn_like(x)
    field = kind(feature_stats(t.float(), x.float())).double()
    times = t[:, None].expand(x.shape[:2])
    state = field.augment(times, x, v)
    assert state.shape == (8, 16, 4)
    assert torch.equal(state, torch.cat([x, v], dim=-1)) and torch.equal(field.positions(state), x)
    assert torch.equal(field.augment_rate(times, v, a), torch.cat([v, a], dim=-1))
    rate = field(times, state)
    assert rate.shape == (8, 16, 4) and torch.equal(rate[..., :2], v)  # no rounding: a copy of the state
    assert field.needs_velocity and field.velocity_at(t[0], x[0]) is None


def test_timed_second_order_sees_normalised_time_and_the_plain_one_does_not():
    t, curves, stats = _stats()
    state = SecondOrderField(stats).augment(0.0, curves[3], torch.ones_like(curves[3]))
    plain, timed = SecondOrderField(stats), TimedSecondOrderField(stats)
    assert plain.net[0].in_features == 4 and timed.net[0].in_features == 5
    torch.testing.assert_close(plain(torch.tensor(0.0), state), plain(torch.tensor(1.2), state))
    assert not torch.allclose(timed(torch.tensor(0.0), state), timed(torch.tensor(1.2), state))
    seen = []
    timed.net[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    timed(torch.tensor(0.75), state)
    span = float(stats["t_max"] - stats["t_min"])
    assert torch.equal(seen[0][..., 4], torch.full((32,), (0.75 - float(stats["t_min"])) / span))
    # one time per batch row (shooting windows start at different times)
    starts = torch.stack([state, state])
    rates = timed(torch.tensor([[0.0], [1.2]]), starts)
    torch.testing.assert_close(rates[1], timed(torch.tensor(1.2), state))


@pytest.mark.parametrize("model", ["second-order", "second-order-time"])
def test_second_order_models_train_beyond_their_initial_weights(model):
    """Short shooting windows, then L-BFGS on the full rollout: the kept epoch is not the initial one."""
    config = TrainConfig(model=model, strategy="shooting", window=4, num_points=16, epochs=60, lbfgs_steps=0,
                         finetune_steps=30)
    result = fit(config, device="cpu", progress=False)
    assert result.kept_epoch > config.epochs  # the rollout fine-tune improved on the windows' best
    # the full rollout on the training grid, kept epoch against the initial weights (measured 0.18 and 0.10)
    assert result.metrics["train_mse"] < 0.5 * result.history["mse"][0]


def _divergence(field, t, points):
    """du/dx + dv/dy, the velocity, and max |du/dx|, |dv/dy|: the size of the two terms that cancel."""
    points = points.clone().requires_grad_(True)
    v = field(t, points)
    du_dx = torch.autograd.grad(v[:, 0].sum(), points, create_graph=True)[0][:, 0]
    dv_dy = torch.autograd.grad(v[:, 1].sum(), points)[0][:, 1]
    return du_dx + dv_dy, v, torch.maximum(du_dx.abs(), dv_dy.abs()).max().item()


def test_stream_field_is_divergence_free_and_the_skew_gradient_of_psi():
    t, curves, stats = _stats()
    torch.manual_seed(1)
    field = StreamFunctionField(stats).double()
    points = (torch.rand(200, 2, dtype=torch.float64) - 0.5) * 3
    times = torch.rand(200, dtype=torch.float64) * 1.5
    divergence, v, terms = _divergence(field, times, points)
    scale = v.abs().max().item()
    # float64: the two mixed second derivatives cancel to rounding of their size; a generic field does not
    assert divergence.abs().max() < rounding(terms)
    seed_divergence, seed_v, _ = _divergence(build_model("time-input", stats).double(), times, points)
    assert seed_divergence.abs().max() > 1e-3 * seed_v.abs().max()
    h = 1e-5  # central differences of psi: error O(h^2) ~ 1e-10 relative
    ex, ey = torch.tensor([h, 0.0], dtype=torch.float64), torch.tensor([0.0, h], dtype=torch.float64)
    dpsi_dx = (field.stream_function(times, points + ex) - field.stream_function(times, points - ex)) / (2 * h)
    dpsi_dy = (field.stream_function(times, points + ey) - field.stream_function(times, points - ey)) / (2 * h)
    torch.testing.assert_close(v, torch.stack([dpsi_dy, -dpsi_dx], dim=-1), rtol=1e-7, atol=1e-8 * scale)


def test_phase_model_learns_omega_when_the_window_spans_periods():
    """From a wrong guess the learned omega reaches 2 pi / T once the phase wraps inside the window."""
    config = TrainConfig(model="phase", omega=5.0, learn_omega=True, t_final=3.0, num_points=32, lbfgs_steps=300)
    result = fit(config, device="cpu", progress=False)
    assert abs(result.model.omega.item() / config.problem.omega - 1) < 2e-3
    assert result.metrics["train_mse"] < 1e-4


def test_models_round_trip_through_checkpoints(tmp_path, problem):
    config = TrainConfig(model="phase", omega=5.5, learn_omega=True, num_points=16, epochs=5, lbfgs_steps=0)
    result = fit(config, device="cpu", progress=False)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.pt", result), device="cpu")
    torch.testing.assert_close(loaded.model.omega, result.model.omega)
    a = predict(result.model, problem, num_points=16, num_time_steps=5)
    b = predict(loaded.model, problem, num_points=16, num_time_steps=5)
    torch.testing.assert_close(a.pred, b.pred)


@pytest.mark.parametrize("changes, name", [
    (dict(model="time-input", omega=3.0), "omega"),
    (dict(model="phase", omega=-1.0), "omega"),
    (dict(model="time-input", learn_omega=True), "learn_omega"),
    (dict(model="second-order", strategy="rollout", num_time_steps=4), "num_time_steps"),
    (dict(model="second-order-time", strategy="rollout", num_time_steps=4), "num_time_steps"),
    (dict(loss="fourier"), "fourier"),
    (dict(loss="fourier", strategy="shooting", num_points=8, fourier_modes=4), "fourier_modes"),
    (dict(loss="l1"), "loss"),
])
def test_config_rejects_options_that_do_not_apply(changes, name):
    with pytest.raises(ConfigError, match=name):
        TrainConfig(**changes)
