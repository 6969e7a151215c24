import math

import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError, generate_truth
from breathing_lib.checks import rounding
from breathing_lib.metrics import shoelace_area


def test_generate_truth_reproduces_the_original_statistics():
    t, curves = generate_truth(2.0, 2.0 * torch.pi / 1.0, 1.5, 128, 32)
    assert curves.shape == (32, 128, 2) and curves.dtype == torch.float32
    assert t[0].item() == 0.0 and t[-1].item() == 1.5 and t.shape == (32,)
    # printed by the original study; float32 summation order may move the mean by ~1 ulp of 1.0
    assert curves.mean().item() == pytest.approx(0.004255517851561308, abs=6e-8)
    assert curves.std().item() == pytest.approx(0.7516494989395142, abs=6e-8)


@pytest.mark.parametrize("beta0, period", [(2.0, 1.0), (3.0, 2.5), (0.6, 0.7)])
def test_key_times(beta0, period):
    p = BreathingEllipse(beta0, period)
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64) * period
    mid = 0.5 * (beta0 + 1 / beta0)
    expected = torch.tensor([beta0, mid, 1 / beta0, mid, beta0], dtype=torch.float64)
    torch.testing.assert_close(p.beta(t), expected, rtol=0, atol=rounding(max(beta0, 1 / beta0)))  # beta's size


@pytest.mark.parametrize("beta0, period", [(2.0, 1.0), (3.0, 2.5)])
def test_analytic_field_matches_finite_differences_of_the_truth(beta0, period):
    p = BreathingEllipse(beta0, period)
    t = torch.linspace(0, 1.5 * period, 2001, dtype=torch.float64)
    x = p.sample(t, 40)
    dt = t[1] - t[0]
    fd = (x[2:] - x[:-2]) / (2 * dt)
    exact = p.velocity(x[1:-1], t[1:-1, None])
    # central differences: error ~ dt^2 |x'''| / 6, relative ~ (omega dt)^2
    rel = ((fd - exact).abs().max() / exact.abs().max()).item()
    assert rel < 2 * (p.omega * dt.item()) ** 2


def test_beta_dot_is_the_derivative_of_beta(problem):
    t = torch.linspace(0, 2, 101, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(problem.beta(t).sum(), t)
    torch.testing.assert_close(problem.beta_dot(t), grad)


def test_divergence_is_zero(problem):
    pts = (torch.rand(500, 2, dtype=torch.float64) * 4 - 2).requires_grad_(True)
    t = torch.rand(500, dtype=torch.float64) * 1.5
    v = problem.velocity(pts, t)
    div = sum(torch.autograd.grad(v[:, i].sum(), pts, retain_graph=True)[0][:, i] for i in range(2))
    assert div.abs().max().item() < rounding(problem.alpha(t).abs().max())  # alpha - alpha


def test_velocity_is_the_skew_gradient_of_the_stream_function(problem):
    pts = (torch.rand(100, 2, dtype=torch.float64) * 4 - 2).requires_grad_(True)
    t = torch.rand(100, dtype=torch.float64)
    (grad,) = torch.autograd.grad(problem.stream_function(pts, t).sum(), pts)
    skew = torch.stack([grad[:, 1], -grad[:, 0]], dim=-1)
    torch.testing.assert_close(problem.velocity(pts.detach(), t), skew)


def test_area_is_constant_and_equals_the_inscribed_polygon(problem):
    t = torch.linspace(0, 3, 50, dtype=torch.float64)
    n = 200
    curves = problem.sample(t, n)
    area = shoelace_area(curves)
    m = n - 1  # the first and last samples coincide
    exact_polygon = 0.5 * m * math.sin(2 * math.pi / m)
    assert abs(area - exact_polygon).max() < rounding(curves.abs().max() ** 2)  # sums of products x y


def test_exact_flow_matches_sampled_truth_and_composes(problem):
    t = torch.linspace(0, 1.5, 32, dtype=torch.float64)
    curves = problem.sample(t, 64)
    tol = rounding(curves.abs().max())
    torch.testing.assert_close(problem.flow(curves[0], t), curves, rtol=0, atol=tol)
    # flowing from t0 = 0.4 must also land on the truth
    torch.testing.assert_close(problem.flow(curves[10], t, t0=t[10].item()), curves, rtol=0, atol=tol)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"beta0": 0.0}, "beta0"), ({"beta0": -1.0}, "beta0"), ({"beta0": float("nan")}, "beta0"),
     ({"period": 0.0}, "period"), ({"period": float("inf")}, "period")],
)
def test_bad_problem_parameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BreathingEllipse(**kwargs)


@pytest.mark.parametrize(
    "args, message",
    [((2.0, 6.28, 1.5, 2, 32), "num_points"), ((2.0, 6.28, 0.0, 64, 32), "t_final"),
     ((2.0, 6.28, 1.5, 64, 1), "num_time_steps"), ((0.0, 6.28, 1.5, 64, 32), "beta0"),
     ((2.0, float("nan"), 1.5, 64, 32), "omega"), ((2.0, 6.28, 1.5, 64.5, 32), "num_points")],
)
def test_generate_truth_rejects_bad_input(args, message):
    with pytest.raises(ConfigError, match=message):
        generate_truth(*args)
