"""Shared by the tests of the chapter studies: what a study's findings glued, without a notebook."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def glued(monkeypatch) -> dict:
    """`Checks.show` glues through myst_nb, which needs a notebook kernel: keep the values instead."""
    import myst_nb

    values = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: values.update({name: value}))
    return values


@pytest.fixture
def quoted():
    """The glue keys a chapter's prose quotes, and those the results page quotes from it."""

    def keys(chapter: str) -> tuple[set[str], set[str]]:
        prose = set(re.findall(r"\{glue:text\}`([\w-]+)", (ROOT / "notebooks" / f"{chapter}.md").read_text()))
        results = set(re.findall(rf"/notebooks/{chapter}\.md::([\w-]+)", (ROOT / "book" / "results.md").read_text()))
        return prose, results

    return keys


@pytest.fixture
def shown(glued, quoted):
    """Show a chapter's findings in a fresh ledger, check that every key its prose and the results page
    quote was glued, and give the ledger's count of claims of each kind (exact, measured, logical)."""
    from breathing_lib.checks import KINDS, Checks

    def show(chapter: str, numbers: dict) -> tuple[int, ...]:
        ledger = Checks(chapter)
        ledger.show(numbers)
        prose, results_page = quoted(chapter)
        missing = (prose | results_page) - {"checks_table", "heldout_table"} - set(glued)
        assert prose and not missing, missing
        return tuple(sum(c.kind == kind for c in ledger.records) for kind in KINDS)

    return show
