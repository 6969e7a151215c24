"""The live explorer in the book: a directive for Markdown pages, and the exported models.

```{live-explorer}
:models: default recipe, phase
:compact:
```

embeds the explorer (breathing_lib.viz.explorer.explorer_html) with the named models; without
:models: it offers every explorer model. Chapters embed it from Python (the widget's text/html).

When the build finishes, every explorer model is written to _static/explorer/models/<name>.json
(the documents readers may download), with _static/explorer/reference.json: the library's float64
predictions for a few settings, which the site tests hold the page's points to.
"""

import json
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

from breathing_lib.viz.explorer import EXPLORER_MODELS, explorer_documents, explorer_html, reference_points

# the settings the site tests reproduce with the page's controls: each model on its training problem
# past the window, and the default recipe on another problem with other N and dt
REFERENCE_SETTINGS = [
    *({"model": name, "beta0": 2.0, "period": 1.0, "numPoints": 48, "dt": 0.025, "step": 120} for name in EXPLORER_MODELS),
    {"model": "default recipe", "beta0": 3.0, "period": 0.8, "numPoints": 100, "dt": 0.0125, "step": 200},
]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class LiveExplorer(SphinxDirective):
    option_spec = {"models": directives.unchanged, "model": directives.unchanged, "compact": directives.flag,
                   "num-points": directives.positive_int}

    def run(self):
        names = [n.strip() for n in self.options["models"].split(",")] if "models" in self.options else None
        settings = {"compact": "compact" in self.options}
        if "model" in self.options:
            settings["model"] = self.options["model"]
        if "num-points" in self.options:
            settings["numPoints"] = self.options["num-points"]
        return [nodes.raw("", explorer_html(explorer_documents(names), **settings), format="html")]


def write_exports(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    folder = Path(app.outdir) / "_static" / "explorer"
    (folder / "models").mkdir(parents=True, exist_ok=True)
    documents = {d["name"]: d for d in explorer_documents()}
    for name, document in documents.items():
        (folder / "models" / f"{slug(name)}.json").write_text(json.dumps(document, separators=(",", ":")))
    references = [{**s, "points": reference_points(documents[s["model"]], beta0=s["beta0"], period=s["period"],
                                                   num_points=s["numPoints"], dt=s["dt"], steps=s["step"])}
                  for s in REFERENCE_SETTINGS]
    (folder / "reference.json").write_text(json.dumps(references))


def setup(app):
    app.add_directive("live-explorer", LiveExplorer)
    app.connect("build-finished", write_exports)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
