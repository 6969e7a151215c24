"""The live explorer's Python side and its numeric core (core.js, run by Node): exported models
round-trip exactly, and the browser's float64 RK4 prediction is the library's."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import torch

from breathing_lib import TrainConfig
from breathing_lib.model_json import model_document, model_from_document, read_model_json, write_model_json
from breathing_lib.models import MODELS
from breathing_lib.train import SECOND_ORDER_RECIPE, FitResult, new_model, training_data
from breathing_lib.validation import ConfigError
from breathing_lib.viz.explorer import BROWSER_TOLERANCE, EXPLORER_MODELS, bundle, explorer_html, reference_points
from breathing_lib.viz.explorer.widget import LiveExplorer

ROOT = Path(__file__).resolve().parents[2]


def _untrained(kind: str) -> FitResult:
    """A model of the kind, normalised to its training data, with fixed random weights."""
    config = TrainConfig(model=kind, **(SECOND_ORDER_RECIPE if MODELS[kind].needs_velocity else {}))
    torch.manual_seed(1)
    return FitResult(new_model(config, *training_data(config)), config, {}, {"best_epoch": 7})


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_document_rebuilds_the_model_bit_for_bit(kind, tmp_path):
    fit = _untrained(kind)
    path = write_model_json(tmp_path / f"{kind}.json", fit, name="readable name")
    model, config = read_model_json(path)
    assert config == fit.config
    original = fit.model.state_dict()
    assert set(model.state_dict()) == set(original)
    assert all(torch.equal(tensor, original[key]) for key, tensor in model.state_dict().items())
    document = json.loads(path.read_text())
    assert (document["name"], document["kind"], document["kept_epoch"]) == ("readable name", kind, 7)


def test_bad_documents_are_refused_naming_the_problem(tmp_path):
    document = model_document(_untrained("seed"))
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


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_browser_core_predicts_what_the_library_predicts(kind):
    """core.js (Node) against predict(..., method="rk4", dtype=float64) on a problem the model was not
    trained on, past its window, so every input of the field is exercised."""
    document = model_document(_untrained(kind))
    settings = dict(beta0=2.5, period=0.9, numPoints=40, dt=0.025, steps=80)
    expected = torch.tensor(reference_points(document, beta0=2.5, period=0.9, num_points=40, dt=0.025, steps=80),
                            dtype=torch.float64)
    run = subprocess.run(["node", str(ROOT / "tests/js/predict.mjs")], input=json.dumps({"document": document, **settings}),
                         capture_output=True, text=True, check=True)
    browser = torch.tensor(json.loads(run.stdout), dtype=torch.float64)
    assert browser.shape == expected.shape == (40, 2)
    assert (browser - expected).norm(dim=-1).max() < BROWSER_TOLERANCE


def test_the_core_passes_its_own_node_tests():
    run = subprocess.run(["node", "--test", str(ROOT / "tests/js")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def test_the_bundle_is_one_valid_module_without_imports(tmp_path):
    module = tmp_path / "explorer.mjs"
    module.write_text(bundle())
    assert not any(line.startswith("import ") for line in module.read_text().splitlines())
    subprocess.run(["node", "--check", str(module)], check=True)


def test_a_page_embeds_its_models_and_the_module():
    documents = [model_document(_untrained("seed"), "a</script>name")]
    html = explorer_html(documents, compact=True)
    assert "</script>name" not in html  # a name cannot end the JSON's script early
    data = html.split('type="application/json"', 1)[1].split(">", 1)[1].split("</script>", 1)[0]
    assert json.loads(data)[0]["name"] == "a</script>name"
    assert '"compact":true' in html and bundle() in html
    with pytest.raises(ValueError, match="documents"):
        explorer_html([])


def test_the_widget_runs_the_same_module_and_shows_the_page_version_without_a_kernel():
    documents = [model_document(_untrained("phase"), "phase")]
    widget = LiveExplorer(documents, numPoints=32)
    assert widget._esm == bundle()
    data, _ = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert 'id="be-' in data["text/html"] and '"numPoints":32' in data["text/html"]
    with pytest.raises(ValueError, match="documents"):
        LiveExplorer([])


def test_the_menu_offers_every_book_model_by_a_readable_name():
    # the store's labels end in a 12-digit config hash; the menu's names are words
    assert not any(re.search(r"[0-9a-f]{12}", name) for name in EXPLORER_MODELS)
    assert len({config.key() for config in EXPLORER_MODELS.values()}) == len(EXPLORER_MODELS)  # one per recipe
    assert {c.model for c in EXPLORER_MODELS.values()} == set(MODELS)  # every kind of field
