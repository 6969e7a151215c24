"""A model with fixed random weights, normalised to its training data: what a test of export,
display or the browser core needs, without training (the model's numbers are not under test)."""

import torch

from breathing_lib import TrainConfig
from breathing_lib.models import MODELS
from breathing_lib.train import SECOND_ORDER_RECIPE, FitResult, new_model, training_data


def untrained_fit(kind: str, kept_epoch: int = 7) -> FitResult:
    config = TrainConfig(model=kind, **(SECOND_ORDER_RECIPE if MODELS[kind].needs_velocity else {}))
    torch.manual_seed(1)
    return FitResult(new_model(config, *training_data(config)), config, {}, {"best_epoch": kept_epoch})
