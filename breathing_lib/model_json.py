"""A trained model as a small, versioned JSON document: what the browser explorer runs.

The document names the field's kind (a `models.MODELS` key; a former name reads as the current one), holds its whole state dict
(network weights, normalisation buffers, the phase model's omega) as flat lists with their
shapes, and the `TrainConfig` it was trained with (problem and recipe). Every value is a
float32 written as the shortest decimal that rounds back to the same float32: the document stays
small, `model_from_document` rebuilds the model bit for bit, and a float64 reader that rounds
each value to float32 (the browser's Math.fround) holds exactly the numbers torch holds.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from .models import FORMER_NAMES, build_model
from .train import FitResult, TrainConfig
from .validation import ConfigError

FORMAT = "breathing-ellipse-model"
VERSION = 1


def _shortest(values: torch.Tensor) -> list[float]:
    """The tensor's float32 values as the shortest decimals that read back to the same float32."""
    return [float(str(v)) for v in values.numpy().ravel()]  # str of a numpy float32: its shortest form


def model_document(result: FitResult, name: str | None = None) -> dict:
    """The JSON-ready document of a trained model; name defaults to the store's label."""
    config = result.config
    state = {key: tensor.detach().cpu().float() for key, tensor in result.model.state_dict().items()}
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": name or config.label(),
        "kind": config.model,
        "kept_epoch": result.kept_epoch,
        "config": asdict(config),
        "state": {key: {"shape": list(t.shape), "values": _shortest(t)} for key, t in state.items()},
    }


def model_from_document(document: dict) -> tuple[torch.nn.Module, TrainConfig]:
    """The torch model (float32, CPU, eval mode) and the config a document describes."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigError(f"document: not a {FORMAT} document")
    if document.get("version") != VERSION:
        raise ConfigError(f"document: version {document.get('version')!r} unsupported (this library reads {VERSION})")
    config = TrainConfig.from_dict(document["config"])
    if FORMER_NAMES.get(document.get("kind"), document.get("kind")) != config.model:
        raise ConfigError(f"document: kind {document.get('kind')!r} differs from its config's model {config.model!r}")
    model = build_model(config.model, **config.model_options())
    try:
        state = {key: torch.tensor(entry["values"], dtype=torch.float32).reshape(entry["shape"])
                 for key, entry in document["state"].items()}
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as err:
        raise ConfigError(f"document: state does not fit a {config.model!r} model ({err})") from None
    return model.eval(), config


def write_model_json(path, result: FitResult, name: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model_document(result, name), separators=(",", ":")))
    return path


def read_model_json(path) -> tuple[torch.nn.Module, TrainConfig]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model document not found: {path}")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"model document {path} is not JSON ({err.msg})") from None
    return model_from_document(document)
