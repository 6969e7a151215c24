"""Packaging and notebook hygiene: the two dependency lists agree, the notebook pairs are in sync."""

import json
import re
import sys
from pathlib import Path

import jupytext
import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


sys.path.insert(0, str(ROOT / "tools"))
from lock import CONDA_PYTHON, locked_requirements, pins_for  # noqa: E402

LOCK = locked_requirements((ROOT / "requirements.lock").read_text())


def _declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])]


def _python(version: str) -> dict:
    return CONDA_PYTHON | {"python_version": version, "python_full_version": f"{version}.0"}


@pytest.mark.parametrize("python", ["3.10", "3.11", "3.12", "3.13"])
def test_the_lock_pins_every_declared_dependency_within_its_range(python):
    pins = {canonicalize_name(n): v for n, v in pins_for(LOCK, _python(python)).items()}
    assert all(str(r.specifier).startswith("==") and "," not in str(r.specifier) for r in LOCK)
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock for Python {python}: run `make lock`"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} breaks {requirement}: run `make lock`"


def test_environment_yml_pins_what_the_lock_pins_for_its_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert len(pip_lists) == 1
    listed = dict(line.split("==") for line in pip_lists[0])
    assert listed == pins_for(LOCK, CONDA_PYTHON), "environment.yml and requirements.lock differ: run `make lock`"


def test_the_makefile_installs_through_the_lock_and_its_torch():
    makefile = (ROOT / "Makefile").read_text()
    torch = re.search(r"^TORCH\s*\?=\s*torch==(\S+)$", makefile, re.M).group(1)
    assert pins_for(LOCK, CONDA_PYTHON)["torch"] == torch
    installs = [line for line in makefile.splitlines() if "pip install" in line and "$(PIP)" not in line]
    assert installs and all("-c $(LOCK)" in line for line in installs if "$(UV)" not in line)


def test_jupyter_book_is_pinned_below_2():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    book = [r for r in project["optional-dependencies"]["book"] if r.startswith("jupyter-book")]
    assert book == ["jupyter-book>=1.0.4.post1,<2"]


def test_every_chapter_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    for md in NOTEBOOKS:
        assert f"notebooks/{md.stem}" in toc


def _cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("md", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_pair_is_in_sync(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `make sync`"
    assert _cells(jupytext.read(md)) == _cells(jupytext.read(ipynb)), f"{md.name} and {ipynb.name} differ: run `make sync`"


@pytest.mark.parametrize("md", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(md):
    nb = jupytext.read(md)
    code = [c for c in nb.cells if c.cell_type == "code"][1:]  # [0] installs the library: tests/test_notebook_hygiene.py
    assert "parameters" in code[0].metadata.get("tags", []), "the code cell after the install cell holds the knobs"
    checks = code[-1].source
    assert checks.lstrip().startswith("# Checks") and "Checks(" in checks and checks.rstrip().endswith("checks.publish()")
    assert not re.search(r"^\s*assert\b", checks, re.M), "the checks cell states each claim with checks.check/fact"
    assert "nbval-ignore-output" in code[-1].metadata.get("tags", []), "the checks table's numbers vary by machine"
    assert any(c.cell_type == "markdown" and re.search(r"^## What we found", c.source, re.M) for c in nb.cells)
    stored = json.loads(md.with_suffix(".ipynb").read_text())
    for cell in stored["cells"]:
        for out in cell.get("outputs", []):
            assert "image/png" not in out.get("data", {}), "plots belong in nbval-ignore-output cells"
            assert "<video" not in str(out.get("data", {})), "no animations in the committed notebook"


def test_committed_notebooks_are_small():
    total = sum(p.stat().st_size for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert total <= 2_000_000


def test_sync_keeps_the_ids_of_unchanged_cells():
    sys.path.insert(0, str(ROOT / "tools"))
    from sync_notebooks import keep_cell_ids

    text = "```{code-cell} ipython3\nx = 1\n```\n\nprose\n\n```{code-cell} ipython3\nx = 1\n```\n"
    previous = jupytext.reads(text, fmt="md:myst")
    edited = jupytext.reads(text.replace("prose", "new prose") + "\n```{code-cell} ipython3\ny = 2\n```\n",
                            fmt="md:myst")
    fresh = [cell.id for cell in edited.cells]
    keep_cell_ids(edited, previous)
    ids = [cell.id for cell in edited.cells]
    assert ids[0] == previous.cells[0].id and ids[2] == previous.cells[2].id  # same source twice: both kept, in order
    assert ids[1] == fresh[1] and ids[3] == fresh[3]  # edited and new cells keep their fresh ids
    assert len(set(ids)) == len(ids)
