"""A trained model as a JSON document: it rebuilds the model bit for bit, and a bad one is refused by name."""

import json

import pytest
import torch
from untrained import untrained_fit

from breathing_lib.model_json import model_document, model_from_document, read_model_json, write_model_json
from breathing_lib.models import MODELS
from breathing_lib.validation import ConfigError


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_document_rebuilds_the_model_bit_for_bit(kind, tmp_path):
    fit = untrained_fit(kind)
    path = write_model_json(tmp_path / f"{kind}.json", fit, name="readable name")
    model, config = read_model_json(path)
    assert config == fit.config
    original = fit.model.state_dict()
    assert set(model.state_dict()) == set(original)
    assert all(torch.equal(tensor, original[key]) for key, tensor in model.state_dict().items())
    document = json.loads(path.read_text())
    assert (document["name"], document["kind"], document["kept_epoch"]) == ("readable name", kind, 7)


def test_bad_documents_are_refused_naming_the_problem(tmp_path):
    document = model_document(untrained_fit("time-input"))
    with pytest.raises(ConfigError, match="not a breathing-ellipse-model"):
        model_from_document({"format": "something else"})
    with pytest.raises(ConfigError, match="version 9"):
        model_from_document({**document, "version": 9})
    with pytest.raises(ConfigError, match="kind 'phase'"):
        model_from_document({**document, "kind": "phase"})
    with pytest.raises(ConfigError, match="state does not fit"):
        model_from_document({**document, "state": {k: v for k, v in document["state"].items() if k != "X_std"}})
    with pytest.raises(ConfigError, match="not found"):
        read_model_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        read_model_json(tmp_path / "bad.json")


def test_a_document_written_before_the_rename_reads_as_the_time_input_model():
    document = model_document(untrained_fit("time-input"))
    model, config = model_from_document({**document, "kind": "seed",
                                         "config": {**document["config"], "model": "seed"}})
    assert config.model == "time-input"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  untrained_fit("time-input").model.state_dict().values()))
