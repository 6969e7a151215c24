import pytest
import torch

from breathing_lib import BreathingEllipse, TrainConfig


@pytest.fixture
def problem():
    return BreathingEllipse(beta0=2.0, period=1.0)


@pytest.fixture
def tiny_config():
    """A few epochs on a small grid: exercises training end to end in about a second."""
    return TrainConfig(num_points=16, num_time_steps=8, epochs=3, lbfgs_steps=0)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
