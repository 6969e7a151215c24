"""Pair each notebooks/NN_topic.md with its .ipynb and refresh the nbval reference outputs.

The MyST .md is the source. Each notebook is executed top to bottom; outputs of cells
tagged nbval-ignore-output (animations, plots, timings) are dropped so the committed
.ipynb stays small and holds only the outputs nbval compares. The chapter's checks are
printed with their margins (THIN: a measured bound closer than MARGIN to its value).

    python tools/sync_notebooks.py [notebooks/03_inference.md ...]
"""

import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

from breathing_lib.checks import MARGIN, published_checks

ROOT = Path(__file__).resolve().parent.parent
IGNORED = {"nbval-ignore-output", "nbval-skip"}  # nbval's tag names


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


def sync(md: Path) -> None:
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
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps: noise in every diff
        if cell.cell_type == "code" and IGNORED & set(cell.metadata.get("tags", [])):
            cell.outputs = []
    ipynb = md.with_suffix(".ipynb")
    if ipynb.exists():
        keep_cell_ids(nb, jupytext.read(ipynb))
    jupytext.write(nb, ipynb, fmt="ipynb")
    print(f"{md.name}: executed in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    targets = [Path(a).resolve() for a in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
    for md in targets:
        sync(md)
