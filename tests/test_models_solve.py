import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError, VelocityField, build_model, feature_stats, generate_truth
from breathing_lib.models import AnalyticField, field_dtype
from breathing_lib.solve import integrate


def _stats():
    t, curves = generate_truth(2.0, 2 * torch.pi, 1.5, 32, 8)
    return t, curves, feature_stats(t, curves)


def test_feature_stats_uses_the_real_time_window():
    t, curves, stats = _stats()
    assert stats["t_min"].item() == 0.0 and stats["t_max"].item() == 1.5
    torch.testing.assert_close(stats["X_std"], curves.std(dim=(0, 1)) + 1e-6)


def test_feature_stats_can_reproduce_the_original_time_scale():
    """The original divided time by the unbiased std of the sample times (0.454 on [0, 1.5], 32 samples)."""
    t, curves = generate_truth(2.0, 2 * torch.pi, 1.5, 32, 32)
    stats = feature_stats(t, curves, time_scale="std")
    n = len(t)  # the unbiased variance of n equispaced samples on [0, L] is L^2 n (n + 1) / (12 (n - 1)^2)
    assert stats["t_max"].item() == pytest.approx(1.5 * (n * (n + 1) / 12) ** 0.5 / (n - 1), rel=1e-6)
    field = VelocityField(stats)  # time input t / std(t), output scaled by X_std / std(t)
    assert (1.5 - 0.0) / field.span.item() == pytest.approx(3.30, abs=5e-3)
    with pytest.raises(ConfigError, match="time_scale"):
        feature_stats(t, curves, time_scale="max")


def test_velocity_field_shapes_and_scaling():
    t, curves, stats = _stats()
    field = VelocityField(stats)
    assert sum(p.numel() for p in field.parameters()) == 3 * 32 + 32 + 32 * 64 + 64 + 64 * 2 + 2
    out = field(torch.tensor(0.3), curves[0])
    assert out.shape == (32, 2)
    batched = field(torch.tensor(0.3), curves[:3])  # any leading batch dimensions
    torch.testing.assert_close(batched[0], out)
    # the output is the MLP's scaled by X_std / (t_max - t_min)
    h = (curves[0] - stats["X_mean"]) / stats["X_std"]
    raw = field.net(torch.cat([h, torch.full((32, 1), 0.3 / 1.5)], dim=1))
    torch.testing.assert_close(out, raw * stats["X_std"] / 1.5)


def test_build_model_rejects_unknown_names():
    with pytest.raises(ConfigError, match="model"):
        build_model("transformer")


def test_integrate_exact_field_matches_exact_flow(problem):
    t = torch.linspace(0, 1.5, 32, dtype=torch.float64)
    x0 = problem.sample(t[:1], 64)[0]
    sol = integrate(AnalyticField(problem), x0, t, method="dopri5", rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(sol.x, problem.flow(x0, t), rtol=0, atol=1e-8)
    assert sol.nfe > 0


def test_rk4_on_the_grid_counts_four_evaluations_per_step(problem):
    t = torch.linspace(0, 1.5, 32)
    sol = integrate(AnalyticField(problem), problem.sample(t[:1], 16)[0], t, method="rk4")
    assert sol.nfe == 4 * 31  # torchdiffeq's rk4 uses the 3/8 rule: 4 evaluations a step


@pytest.mark.parametrize("name", ["time-input", "stream"])
def test_adjoint_and_direct_gradients_agree(name):
    """The stream field computes its velocity from psi's gradient in closed form: the adjoint's
    vector-Jacobian products must go through that as well as through a plain MLP."""
    t, curves, stats = _stats()
    grads = []
    for adjoint in (False, True):
        torch.manual_seed(0)
        field = build_model(name, stats)
        loss = ((integrate(field, curves[0], t, method="rk4", adjoint=adjoint).x - curves) ** 2).mean()
        loss.backward()
        # a parameter the output does not depend on (psi's constant offset) has no gradient
        grads.append(torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten()
                                for p in field.parameters()]))
    # the adjoint solves the backward ODE with the same rk4 grid: agreement to float32 accumulation
    assert ((grads[0] - grads[1]).norm() / grads[0].norm()).item() < 1e-4


def test_integrate_rejects_bad_options(problem):
    t = torch.linspace(0, 1, 4)
    x0 = torch.zeros(3, 2)
    with pytest.raises(ConfigError, match="method"):
        integrate(AnalyticField(problem), x0, t, method="leapfrog")
    with pytest.raises(ConfigError, match="step_size"):
        integrate(AnalyticField(problem), x0, t, method="rk4", step_size=-0.1)


def test_field_dtype_is_the_precision_the_field_computes_in():
    model = build_model("time-input")
    assert field_dtype(model) == torch.float32 and field_dtype(model.double()) == torch.float64
    exact = AnalyticField(BreathingEllipse())
    assert field_dtype(exact) == torch.float64 and field_dtype(exact, default=torch.float32) == torch.float32
