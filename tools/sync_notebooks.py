"""Pair each notebooks/NN_topic.md with its .ipynb and refresh the nbval reference outputs.

The MyST .md is the source. Its first code cell is first made the install cell that
`_config.yml`'s repository asks for (the .md is rewritten only when that cell was missing
or stale). Each notebook is then executed top to bottom and stripped of what a run adds
that must not be committed (`notebook_hygiene.strip_run_state`, which JupyterLab's save hook
also applies: outputs of cells tagged nbval-ignore-output, timings, widget state, the
kernel's Python version), so the committed .ipynb stays small and holds only the outputs
nbval compares. The chapter's checks are printed with their margins (THIN: a measured
bound closer than MARGIN to its value).

    python tools/sync_notebooks.py [notebooks/03_inference.md ...]
"""

import sys
import time
from pathlib import Path

import jupytext
from jupytext.config import load_jupytext_config
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from breathing_lib.checks import MARGIN, published_checks
from notebook_hygiene import (INSTALL_CELL_TAGS, ROOT, install_cell_source, is_install_cell, pip_requirement,
                              repository, strip_run_state)


def keep_cell_ids(nb, previous) -> None:
    """Give each unchanged cell the id it had in the previous .ipynb: jupytext draws fresh random
    ids at every read, which would make every sync rewrite every cell in the diff."""
    ids = {}
    for cell in previous.cells:
        ids.setdefault((cell.cell_type, cell.source), []).append(cell.id)
    for cell in nb.cells:
        if ids.get((cell.cell_type, cell.source)):
            cell.id = ids[cell.cell_type, cell.source].pop(0)


def report_margins(nb) -> None:
    """Print the chapter's checks with their margins, flagging measured ones closer than MARGIN."""
    ledger = published_checks(nb)
    for c in ledger["checks"] if ledger else []:
        thin = c["kind"] == "measured" and c["margin"] is not None and c["margin"] < MARGIN
        numbers = ("holds" if c["kind"] == "logical" else f"margin {c['margin']:9.3g}  value {c['value']:10.3g} "
                   f"{'>' if c['above'] else '<'} {c['bound']:10.3g}")
        print(f"  {'THIN ' if thin else '     '}{c['kind']:8} {numbers:46}  {c['claim']}")


def unformattable_glue(nb) -> list[str]:
    """Glued values whose text the book cannot format with a spec like :.1e: a numpy scalar glues as
    'np.float64(...)', which MyST-NB's {glue:text}`key:.1e` refuses (a warning, an error in the build)."""
    return [f"{output['metadata']['scrapbook']['name']}: {output['data']['text/plain']}"
            for cell in nb.cells for output in cell.get("outputs", [])
            if "scrapbook" in output.get("metadata", {}) and output.get("data", {}).get("text/plain", "").startswith("np.")]


def refresh_install_cell(md: Path, requirement: str) -> None:
    """Make the chapter's first code cell the install cell for `requirement`, rewriting the .md as
    JupyterLab saves it (jupytext with the project's jupytext.toml) only when the cell changes."""
    nb = jupytext.read(md)
    source = install_cell_source(requirement)
    first = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    if is_install_cell(nb.cells[first]):
        if nb.cells[first].source == source:
            return
        nb.cells[first].source = source
    else:
        nb.cells.insert(first, new_code_cell(source, metadata={"tags": list(INSTALL_CELL_TAGS)}))
    md.write_text(jupytext.writes(nb, fmt="md:myst", config=load_jupytext_config(str(md))))
    print(f"{md.name}: install cell set to {requirement}")


def sync(md: Path) -> None:
    refresh_install_cell(md, pip_requirement(*repository()))
    nb = jupytext.read(md)
    start = time.perf_counter()
    # store_widget_state=False: a widget's saved state (chapter 12's explorer holds a PNG) would bloat
    # the committed .ipynb, and without a kernel it would only show controls that do nothing
    NotebookClient(nb, timeout=1800, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(md.parent)}}).execute()
    report_margins(nb)
    bad = unformattable_glue(nb)
    if bad:
        sys.exit(f"{md.name}: glue plain numbers, not numpy scalars (wrap them in float()):\n  " + "\n  ".join(bad))
    strip_run_state(nb)
    ipynb = md.with_suffix(".ipynb")
    if ipynb.exists():
        keep_cell_ids(nb, jupytext.read(ipynb))
    jupytext.write(nb, ipynb, fmt="ipynb")
    print(f"{md.name}: executed in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    targets = [Path(a).resolve() for a in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
    for md in targets:
        sync(md)
