"""What a committed chapter carries, shared by `tools/sync_notebooks.py` and JupyterLab's save hook.

The tracked .ipynb holds the inputs and only the outputs nbval compares; a run adds what must
not reach git (plots and animations, widget state, timings, the Python version of the kernel
that ran it). `strip_run_state` drops all of that; the sync tool applies it after executing a
chapter and `jupyter_server_config.py` (used by `make lab`) before every save, so a chapter run
and saved in JupyterLab leaves the same file `make sync` writes.

Every chapter's first code cell installs the library where it is missing (Colab, a fresh
environment); `install_cell_source` writes it from `_config.yml`'s repository, the one place the
URL lives, so the cell and the site's Colab buttons point at the same repository.

This module imports only the standard library and PyYAML: JupyterLab's server loads it.
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
IGNORED = {"nbval-ignore-output", "nbval-skip"}  # nbval's tag names: outputs it does not compare
INSTALL_CELL_TAGS = ["remove-cell"]  # run in the notebook, not shown on the web page
LIBRARY = "breathing_lib"


def repository(config_path: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """The repository's URL and branch, as `_config.yml` states them for the site's buttons."""
    repo = yaml.safe_load(config_path.read_text()).get("repository") or {}
    url, branch = str(repo.get("url", "")).rstrip("/"), str(repo.get("branch", ""))
    if not url.startswith("https://github.com/") or len(url.split("/")) != 5:
        raise ValueError(f"repository.url in {config_path.name} must be https://github.com/<owner>/<repo>, got {url!r}")
    if not branch:
        raise ValueError(f"repository.branch in {config_path.name} is empty")
    return url, branch


def pip_requirement(url: str, branch: str) -> str:
    """What pip installs: the library with what the chapters import beside it (its `notebook` extra:
    MyST-NB's glue, anywidget), from the repository at the branch the Colab button opens."""
    return f"{LIBRARY}[notebook] @ git+{url}@{branch}"


def install_cell_source(requirement: str) -> str:
    """The first code cell of every chapter: installs the library only where it cannot be found,
    so it is a no-op in the book build, under nbval and in this repository's environment."""
    return (
        "# Outside this repository (Colab, a fresh environment): install the book's library\n"
        "import importlib.util, subprocess, sys\n"
        f'if importlib.util.find_spec("{LIBRARY}") is None:\n'
        '    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                           "{requirement}"])'
    )


def is_install_cell(cell) -> bool:
    return cell["cell_type"] == "code" and cell["metadata"].get("tags") == INSTALL_CELL_TAGS


def strip_run_state(nb) -> None:
    """Drop, in place, what running a notebook adds that must not be committed: outputs of the
    cells nbval ignores (plots, animations, timings), cell timings, widget state, and the
    kernel's Python version (it differs between machines; the rest of language_info does not)."""
    nb["metadata"].pop("widgets", None)
    nb["metadata"].get("language_info", {}).pop("version", None)
    for cell in nb["cells"]:
        cell["metadata"].pop("execution", None)
        if cell["cell_type"] == "code" and IGNORED & set(cell["metadata"].get("tags", [])):
            cell["outputs"] = []


def pre_save_hook(model, **kwargs) -> None:
    """jupyter_server's ContentsManager.pre_save_hook: a notebook is saved as it is committed."""
    if model["type"] == "notebook":
        strip_run_state(model["content"])
