"""The live explorer: trained models run in the reader's browser (core.js draws nothing, view.js draws).

One front end, two homes. A book page embeds it as HTML (`explorer_html`): the model documents
as JSON and the module inline, so the page works offline and from file://, asking nothing of
any server. JupyterLab shows the same module as a widget (`widget.LiveExplorer`, anywidget).
Python's part is to export the models (`model_json`) and to write the float64 reference points
the browser's prediction is held to (`reference_points`).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import torch

from ...inference import predict
from ...model_json import model_document, model_from_document
from ...problem import BreathingEllipse
from ...store import trained_model
from ...studies.heldout import BOOK_MODELS
from ...validation import require_choice, require_int_at_least, require_positive

ASSETS = Path(__file__).resolve().parent
_IMPORT_CORE = re.compile(r'^import \{[^}]*\} from "\./core\.js";\n', re.M)
# how far the page's points may be from the library's float64 prediction (tests/test_explorer.py and the
# site tests): both sides compute in float64 with the same steps, only the order of the sums differs
# (measured: 3e-15 after 80 steps of every kind untrained, at most 2e-13 for the book's trained models on the
# site), so anything over this is a wrong formula, not rounding
BROWSER_TOLERANCE = 1e-9
# the explorer's menu: every model the book trains on its default problem, by its readable name
EXPLORER_MODELS = BOOK_MODELS


def bundle() -> str:
    """core.js and view.js as one self-contained ES module: an inline <script type="module"> (which
    file:// pages need) and anywidget's _esm cannot import a sibling file."""
    view, found = _IMPORT_CORE.subn("", (ASSETS / "view.js").read_text())
    if found != 1:
        raise RuntimeError("view.js must import core.js in exactly one import statement")
    return (ASSETS / "core.js").read_text() + "\n" + view


def explorer_documents(names=None, store=None) -> list[dict]:
    """The documents of the named explorer models (all by default), trained if the store lacks them."""
    names = list(EXPLORER_MODELS) if names is None else list(names)
    for name in names:
        require_choice("model", name, tuple(EXPLORER_MODELS))
    return [model_document(trained_model(EXPLORER_MODELS[name], store=store, progress=False), name) for name in names]


def _script_json(value) -> str:
    """JSON safe inside a <script> element: no '</' can close it early."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def explorer_html(documents: list[dict], **settings) -> str:
    """A self-contained explorer for a page: settings as view.js's mount() takes them (model, beta0,
    period, numPoints, dt, tMax, time, field, compact)."""
    if not documents:
        raise ValueError("documents: the explorer needs at least one model document")
    uid = f"be-{uuid.uuid4().hex[:10]}"
    return (
        f'<div class="breathing-explorer" id="{uid}"><noscript>The live explorer needs JavaScript.</noscript></div>\n'
        f'<script type="application/json" id="{uid}-models">{_script_json(documents)}</script>\n'
        f'<script type="module">\n{bundle()}\n'
        f'mount(document.getElementById("{uid}"), JSON.parse(document.getElementById("{uid}-models").textContent), '
        f"{_script_json(settings)});\n</script>\n"
    )


def reference_points(document: dict, *, beta0: float, period: float, num_points: int, dt: float,
                     steps: int) -> list[list[float]]:
    """The library's float64 prediction (torchdiffeq's rk4, step dt) of the problem's initial curve
    after `steps` steps: what the browser must draw for the same settings."""
    require_positive("dt", dt)
    require_int_at_least("steps", steps, 1)
    model, _ = model_from_document(document)
    p = predict(model, BreathingEllipse(beta0, period), num_points=num_points, num_time_steps=steps + 1,
                t_final=steps * dt, method="rk4", dtype=torch.float64)
    return p.pred[-1].tolist()
