"""Each chapter page's ".ipynb" download serves the chapter's paired notebook from the repository.

sphinx-book-theme 1.3 builds the launch buttons (Colab, Binder) from `_config.yml`'s
`repository` and `launch_buttons` keys, opening `notebooks/NN_topic.ipynb` because that file
exists beside the page's MyST source. Its download button offers `_sources/<page>.ipynb`, which
it fills with the build's executed copy: every plot and animation embedded, fresh cell ids, and
not the file the Colab button opens. This extension copies the repository's paired .ipynb
there instead, after the theme, so the download and Colab hold the same notebook.
"""

import shutil
from pathlib import Path

THEME_PRIORITY = 501  # sphinx-book-theme's add_launch_buttons copies its notebook at this priority


def serve_paired_notebook(app, pagename, templatename, context, doctree):
    """Replace the theme's executed copy of a chapter's notebook with the committed one."""
    paired = Path(app.srcdir, pagename).with_suffix(".ipynb")
    if context.get("ipynb_source") != f"{pagename}.ipynb" or not paired.is_file():
        return
    target = Path(app.outdir, "_sources", context["ipynb_source"])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paired, target)


def setup(app):
    app.connect("html-page-context", serve_paired_notebook, priority=THEME_PRIORITY + 1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
