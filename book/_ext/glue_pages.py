"""Pages that paste glue from notebooks ({glue:text}`/doc.md::key:fmt`) are re-read whenever a notebook is.

Sphinx rebuilds a page only when its own source changes; without this, re-running a notebook
would leave the results page showing the previous numbers.
"""

GLUE_PAGES = ("book/results",)


def _also_outdated(app, env, added, changed, removed):
    notebooks = {doc for doc in added | changed | removed if doc.startswith("notebooks/")}
    return [page for page in GLUE_PAGES if notebooks and page in env.found_docs]


def setup(app):
    app.connect("env-get-outdated", _also_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
