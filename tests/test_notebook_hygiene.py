"""Chapters as JupyterLab saves them, and the cell that installs the library outside the repository.

An unedited save in JupyterLab (`make lab`) must leave both files of every pair byte-identical;
a run and save must leave the tracked .ipynb as `make sync` writes it (the save hook); every
chapter's first cell installs the library from `_config.yml`'s repository where it is missing
(Colab, a fresh environment) and does nothing where it is importable.
"""

import copy
import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel
from jupyter_server.services.contents.largefilemanager import LargeFileManager
from jupytext import build_sync_jupytext_contents_manager_class
from traitlets.config.loader import PyFileConfigLoader

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from notebook_hygiene import (  # noqa: E402
    install_cell_source,
    is_install_cell,
    pip_requirement,
    pre_save_hook,
    repository,
    strip_run_state,
)
from sync_notebooks import refresh_install_cell  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.md"))
REQUIREMENT = pip_requirement(*repository())
# jupyter_server 2.21 validates a configured pre_save_hook after setting it, so it always warns that
# the hook overrides an existing one (itself)
CONFIGURED_HOOK_WARNING = "ignore:Overriding existing pre_save_hook"


def _diff(expected: Path, actual: Path) -> str:
    return "".join(difflib.unified_diff(expected.read_text().splitlines(True), actual.read_text().splitlines(True),
                                        str(expected), str(actual)))


@pytest.fixture(scope="module")
def kernel_metadata():
    """What JupyterLab's notebook panel sets in the model once its python3 kernel is up, and sends on
    every save: the kernelspec built from the kernel's spec, keys in the order @jupyterlab/notebook
    writes them (name, display_name, language), and language_info from the kernel's info reply."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        language_info = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"kernelspec": {"name": "python3", "display_name": spec.display_name, "language": spec.language},
            "language_info": language_info}


def lab_contents_manager(served: Path):
    """The contents manager `make lab` runs: jupytext's, derived from jupyter_server's LargeFileManager as
    jupytext's server extension derives it, configured by the repository's jupyter_server_config.py."""
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(ROOT)).load_config()
    return build_sync_jupytext_contents_manager_class(LargeFileManager)(root_dir=str(served), config=config)


def served_copy(md: Path, tmp_path: Path) -> Path:
    """A copy of one chapter's pair and the jupytext configuration, as `make lab` serves notebooks/,
    with the .ipynb a minute newer than the .md, as `make sync` leaves them (jupytext then compares
    the pair before it opens it)."""
    served = tmp_path / "notebooks"
    served.mkdir()
    for source in (md, md.with_suffix(".ipynb"), NOTEBOOKS / "jupytext.toml"):
        shutil.copy(source, served)
    written = (served / md.name).stat().st_mtime
    os.utime(served / md.name, (written - 60, written - 60))
    return served


def save_as_jupyterlab(contents_manager, path: str, kernel_metadata: dict, edit=lambda nb: None) -> None:
    """Open `path`, let `edit` change the model as a reader would, and save it as the front end does."""
    notebook = contents_manager.get(path)["content"]
    notebook["metadata"].update(copy.deepcopy(kernel_metadata))
    edit(notebook)
    contents_manager.save({"type": "notebook", "format": "json", "content": notebook}, path)


@pytest.mark.filterwarnings(CONFIGURED_HOOK_WARNING)
@pytest.mark.parametrize("opened", [".md", ".ipynb"])
@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_an_unedited_save_in_jupyterlab_leaves_both_files_unchanged(md, opened, tmp_path, kernel_metadata):
    served = served_copy(md, tmp_path)
    save_as_jupyterlab(lab_contents_manager(served), md.stem + opened, kernel_metadata)
    for committed in (md, md.with_suffix(".ipynb")):
        assert _diff(committed, served / committed.name) == "", f"{committed.name}: run `make sync`"


def _as_if_run(notebook) -> None:
    """What running a chapter in JupyterLab adds beyond what nbval compares: plots in the cells nbval
    ignores, timings, widget state (the Python version comes with kernel_metadata)."""
    notebook["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["metadata"]["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
        if "nbval-ignore-output" in cell["metadata"].get("tags", []):
            cell["outputs"] = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]


@pytest.mark.filterwarnings(CONFIGURED_HOOK_WARNING)
def test_a_chapter_run_and_saved_in_jupyterlab_keeps_its_committed_ipynb(tmp_path, kernel_metadata):
    md = NOTEBOOKS / "01_problem.md"
    served = served_copy(md, tmp_path)
    save_as_jupyterlab(lab_contents_manager(served), md.name, kernel_metadata, edit=_as_if_run)
    assert _diff(md.with_suffix(".ipynb"), served / "01_problem.ipynb") == ""
    assert _diff(md, served / md.name) == ""


def test_the_save_hook_strips_what_sync_strips_and_nothing_else():
    kept = nbformat.v4.new_output("stream", text="kept\n")
    plot = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})
    notebook = nbformat.v4.new_notebook(
        metadata={"language_info": {"name": "python", "version": "3.99.0"}, "widgets": {"state": {}}},
        cells=[nbformat.v4.new_code_cell("print('kept')", outputs=[kept], metadata={"execution": {}}),
               nbformat.v4.new_code_cell("plot()", outputs=[plot], metadata={"tags": ["nbval-ignore-output"]}),
               nbformat.v4.new_code_cell("skip()", outputs=[plot], metadata={"tags": ["nbval-skip"]}),
               nbformat.v4.new_markdown_cell("prose")])
    expected = copy.deepcopy(notebook)
    strip_run_state(expected)
    pre_save_hook(model={"type": "notebook", "content": notebook}, path="x.ipynb", contents_manager=None)
    assert notebook == expected
    assert notebook.metadata == {"language_info": {"name": "python"}}
    assert [c.get("outputs") for c in notebook.cells] == [[kept], [], [], None]
    assert notebook.cells[0].metadata == {}
    text_file = {"type": "file", "format": "text", "content": "x = 1\n"}
    pre_save_hook(model=text_file, path="x.md", contents_manager=None)
    assert text_file["content"] == "x = 1\n"


def test_make_lab_starts_jupyterlab_with_the_save_hook():
    """`make lab`'s command, with `jupyter server` standing in for `jupyter lab` (the same server
    application loads the same configuration; `make test` does not install the lab extra)."""
    dry_run = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lab = [line for line in dry_run.splitlines() if "jupyter lab" in line]
    assert len(lab) == 1, dry_run
    server = lab[0].replace("jupyter lab", "jupyter server") + " --show-config"
    shown = subprocess.run(["bash", "-c", server], cwd=ROOT, capture_output=True, text=True, check=True,
                           timeout=120).stdout
    assert "pre_save_hook = <function pre_save_hook" in shown, shown


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_first_installs_the_library_from_the_configured_repository(md):
    for notebook in (jupytext.read(md), jupytext.read(md.with_suffix(".ipynb"))):
        first = next(cell for cell in notebook.cells if cell.cell_type == "code")
        assert is_install_cell(first), "the first code cell installs the library, tagged remove-cell: `make sync`"
        assert first.source == install_cell_source(REQUIREMENT), "not _config.yml's repository: run `make sync`"
    assert len(first.source.splitlines()) <= 6


def test_repository_must_be_a_github_url_with_a_branch(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://example.org/book\n  branch: main\n")
    with pytest.raises(ValueError, match="repository.url"):
        repository(config)
    config.write_text("repository:\n  url: https://github.com/owner/repo\n")
    with pytest.raises(ValueError, match="repository.branch"):
        repository(config)
    config.write_text("repository:\n  url: https://github.com/owner/repo/\n  branch: dev\n")
    assert pip_requirement(*repository(config)) == "breathing_lib[notebook] @ git+https://github.com/owner/repo@dev"


def test_sync_rewrites_only_a_stale_install_cell(tmp_path):
    md = served_copy(NOTEBOOKS / "01_problem.md", tmp_path) / "01_problem.md"
    committed = md.read_text()
    refresh_install_cell(md, REQUIREMENT)
    assert md.read_text() == committed
    refresh_install_cell(md, "git+https://github.com/other/fork@dev")
    changed = [line for line in difflib.ndiff(committed.splitlines(), md.read_text().splitlines())
               if line[:1] in "+-"]
    assert [line.strip(" +-") for line in changed] == [f'"{REQUIREMENT}"])', '"git+https://github.com/other/fork@dev"])']


def test_sync_adds_the_install_cell_to_a_chapter_without_one(tmp_path):
    md = served_copy(NOTEBOOKS / "01_problem.md", tmp_path) / "01_problem.md"
    notebook = jupytext.read(md)
    notebook.cells = [cell for cell in notebook.cells if not is_install_cell(cell)]
    jupytext.write(notebook, md, fmt="md:myst")
    refresh_install_cell(md, REQUIREMENT)
    code = [cell for cell in jupytext.read(md).cells if cell.cell_type == "code"]
    assert is_install_cell(code[0]) and code[0].source == install_cell_source(REQUIREMENT)
    assert "parameters" in code[1].metadata.get("tags", [])


def _chapter_install_code() -> str:
    first = next(cell for cell in jupytext.read(CHAPTERS[0]).cells if cell.cell_type == "code")
    assert REQUIREMENT in first.source
    return first.source


def test_the_install_cell_installs_the_library_into_a_fresh_environment(tmp_path):
    """The cell run in a new venv, against a local clone instead of GitHub. The clone holds the
    committed files only, and the cell under test comes from the working tree: the install needs only
    the committed package (pyproject.toml, breathing_lib/). PIP_NO_DEPS=1 installs the library alone,
    so torch, the other dependencies and the notebook extra are not downloaded; the build backend still is, from the
    configured package index, as for any reader."""
    clone, env = tmp_path / "clone", tmp_path / "venv"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = str(env / "bin" / "python")
    # file://localhost/...: a PEP 508 direct reference needs a host (pip 23 refuses file:///...)
    code = _chapter_install_code().replace(REQUIREMENT, f"breathing_lib[notebook] @ git+file://localhost{clone}")
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"PIP_NO_DEPS": "1"}
    subprocess.run([python, "-c", code], cwd=tmp_path, env=environment, check=True, timeout=600)
    origin = subprocess.run([python, "-c", "import importlib.util; print(importlib.util.find_spec('breathing_lib').origin)"],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, check=True).stdout
    assert Path(origin.strip()).is_relative_to(env), origin
    shown = subprocess.run([python, "-m", "pip", "show", "breathing_lib"], env=environment,
                           capture_output=True, text=True, check=True).stdout
    assert "Name: breathing_lib" in shown


def test_the_install_cell_does_nothing_where_the_library_is_importable(monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError(f"the install cell ran {args}")

    monkeypatch.setattr(subprocess, "check_call", no_pip)
    exec(_chapter_install_code(), {})
