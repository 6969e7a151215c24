"""The live explorer's Python side and its numeric core (core.js, run by Node): the browser's
float64 RK4 prediction is the library's."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import torch
from untrained import untrained_fit

from breathing_lib.model_json import model_document
from breathing_lib.models import MODELS
from breathing_lib.viz.explorer import BROWSER_TOLERANCE, EXPLORER_MODELS, bundle, explorer_html, reference_points
from breathing_lib.viz.explorer.widget import LiveExplorer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_browser_core_predicts_what_the_library_predicts(kind):
    """core.js (Node) against predict(..., method="rk4", dtype=float64) on a problem the model was not
    trained on, past its window, so every input of the field is exercised."""
    document = model_document(untrained_fit(kind))
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
    documents = [model_document(untrained_fit("time-input"), "a</script>name")]
    html = explorer_html(documents, compact=True)
    assert "</script>name" not in html  # a name cannot end the JSON's script early
    data = html.split('type="application/json"', 1)[1].split(">", 1)[1].split("</script>", 1)[0]
    assert json.loads(data)[0]["name"] == "a</script>name"
    assert '"compact":true' in html and bundle() in html
    with pytest.raises(ValueError, match="documents"):
        explorer_html([])


def test_the_widget_runs_the_same_module_and_shows_the_page_version_without_a_kernel():
    documents = [model_document(untrained_fit("phase"), "phase")]
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
