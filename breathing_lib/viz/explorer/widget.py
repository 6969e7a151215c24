"""The live explorer as a JupyterLab widget: the book's own module (view.js) through anywidget.

In a running notebook the widget view shows; a page built from the notebook, which has no
kernel, shows the same explorer as self-contained HTML (the text/html of the display).
"""

from __future__ import annotations

import anywidget
import traitlets

from . import bundle, explorer_html


class LiveExplorer(anywidget.AnyWidget):
    """The explorer of the given model documents (see `explorer_documents`); settings as
    `explorer_html` takes them."""

    _esm = bundle()
    models = traitlets.List().tag(sync=True)
    settings = traitlets.Dict().tag(sync=True)

    def __init__(self, documents: list[dict], **settings):
        if not documents:
            raise ValueError("documents: the explorer needs at least one model document")
        super().__init__(models=documents, settings=settings)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data, metadata = data if isinstance(data, tuple) else (data, {})
        data = {**(data or {}), "text/html": explorer_html(self.models, **self.settings)}
        return data, metadata
