"""JupyterLab shows the book's explorer as a widget: the same module (view.js) through anywidget.

Starts JupyterLab on a free local port over a temporary folder holding one notebook that displays
`LiveExplorer`, opens it in headless Chromium with the network blocked, runs it, and plays the
explorer. The models are untrained (fixed random weights): what is tested is the widget, not them.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
from site_helpers import offline_page
from untrained import untrained_fit

from breathing_lib.model_json import model_document

TOKEN = "breathing-test"
EXPLORER = "document.querySelector('.breathing-explorer').breathingExplorer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    documents = [model_document(untrained_fit(kind), kind) for kind in ("time-input", "phase")]
    (folder / "documents.json").write_text(json.dumps(documents))
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(
        "import json\nfrom breathing_lib.viz.explorer.widget import LiveExplorer\n"
        "LiveExplorer(json.load(open('documents.json')), numPoints=48)")]
    nbformat.write(nb, folder / "explorer.ipynb")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):  # JupyterLab takes a few seconds to start
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("JupyterLab did not start within 60 s")
    yield base
    server.terminate()
    server.wait(timeout=30)


def test_jupyterlab_runs_the_books_explorer_as_a_widget(lab, browser):
    page, blocked, errors = offline_page(browser, lab, f"lab/tree/explorer.ipynb?token={TOKEN}")
    page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=90_000)
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("text=Run All Cells")
    page.wait_for_selector(".breathing-explorer canvas", timeout=90_000)
    assert page.evaluate(f"{EXPLORER}.models()") == ["time-input", "phase"]
    assert page.evaluate(f"{EXPLORER}.settings().numPoints") == 48
    page.click('.breathing-explorer [data-control="play"]')
    page.wait_for_timeout(500)
    assert page.evaluate(f"{EXPLORER}.settings().step") > 3
    assert not blocked, f"requests that left the machine: {blocked}"
    assert not errors, f"console errors: {errors}"
    page.context.close()
