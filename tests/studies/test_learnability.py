import torch

from breathing_lib.studies.learnability import model_views, neighbour_slopes
from breathing_lib.train import TrainConfig, training_data


def test_slopes_of_a_linear_map_are_bounded_by_its_gain():
    torch.manual_seed(0)
    x = torch.rand(400, 2, dtype=torch.float64)
    y = x @ torch.tensor([[3.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    slopes = neighbour_slopes(x, y)
    # standardising both sides turns an isotropic gain into 1 (x's two coordinates have equal spread)
    assert slopes.max() < 1.1 and slopes.min() > 0.9


def test_slopes_explode_where_equal_inputs_have_different_targets():
    x = torch.linspace(0, 1, 200, dtype=torch.float64)[:, None]
    x = torch.cat([x, x + 1e-6])  # every input appears twice ...
    y = torch.cat([torch.ones(200, 1), -torch.ones(200, 1)]).double()  # ... with opposite targets
    assert neighbour_slopes(x, y).min() > 1e5


def test_the_breathing_motion_is_a_function_of_time_but_not_of_position_alone():
    config = TrainConfig(num_points=64, num_time_steps=32)
    t, curves = training_data(config)
    slopes = {name: neighbour_slopes(*view) for name, view in model_views(t, curves, config.period).items()}
    median = {name: s.median().item() for name, s in slopes.items()}
    # with time (or phase) the velocity is smooth: slopes of order one (the field's own gain);
    # positions alone see the same point moving both ways at different times
    assert median["time-input"] < 3 and median["phase"] < 3
    assert slopes["phase"].max() < 5
    assert median["autonomous"] > 30 * median["time-input"]


def test_time_makes_the_second_order_map_smooth():
    """The acceleration is g(t) x, h(t) y: a smooth function of (x, y, vx, vy, t), not of (x, y, vx, vy)."""
    config = TrainConfig(num_points=64, num_time_steps=32)
    t, curves = training_data(config)
    views = model_views(t, curves, config.period)
    inputs, target = views["second-order-time"]
    assert inputs.shape == (32, 64, 5) and target.shape == (32, 64, 2)
    assert torch.equal(inputs[..., :4], views["second-order"][0]) and torch.equal(target, views["second-order"][1])
    assert torch.equal(inputs[:, 0, 4], t)
    timed, plain = neighbour_slopes(inputs, target), neighbour_slopes(*views["second-order"])
    assert timed.max() < 20 and plain.max() > 3 * timed.max()
