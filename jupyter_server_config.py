"""JupyterLab's server configuration for this repository (`make lab` points JUPYTER_CONFIG_PATH here).

Before every save, a notebook is stripped of what running it adds that must not reach git:
plots and animations (outputs of cells tagged nbval-ignore-output), cell timings, widget
state and the kernel's Python version; the same function as `make sync` applies, so a chapter
run and saved in JupyterLab leaves the tracked .ipynb as `make sync` would write it.
"""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "breathing_notebook_hygiene", Path(__file__).resolve().parent / "tools" / "notebook_hygiene.py")
_hygiene = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hygiene)

c = get_config()  # noqa: F821 - provided by the traitlets loader that runs this file
c.ContentsManager.pre_save_hook = _hygiene.pre_save_hook
