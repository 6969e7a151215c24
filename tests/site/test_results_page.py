"""The results page (book/results.md) pastes every chapter's glued numbers and checks: none missing or stale.

MyST-NB resolves a cross-document paste only at build time, and an unknown key just drops the
value with a warning, so the built page is compared with the glue the notebooks recorded:
`_build/jupyter_execute/<notebook>.glue.json`. Needs a built book with book/results in _toc.yml
(`make book`); BREATHING_SITE names another built site (default `_build/html`; its glue is read
from the `jupyter_execute` folder beside it).
"""

import ast
import html
import json
import re

import pytest
from myst_nb.core.variables import format_plain_text
from site_helpers import ROOT, SITE

from breathing_lib.checks import MARGIN

SOURCE = ROOT / "book" / "results.md"
PAGE = SITE / "book" / "results.html"
GLUE = SITE.parent / "jupyter_execute"
# {glue:text}`/notebooks/NN_topic.md::key:format`: the one form this page uses (see its rows)
PASTE = re.compile(r"\{glue:text\}`/(?P<doc>[^`:]+)\.md::(?P<key>[^`:]+):(?P<fmt>[^`:]+)`")
# ```{glue} checks_table / :doc: ../notebooks/NN_topic.md: each chapter's table of checks
CHECKS_TABLE = re.compile(r"```\{glue\} checks_table\n:doc: \.\./(?P<doc>notebooks/[^\n]+)\.md\n```")
# ```{glue} heldout_table / :doc: ../notebooks/12_explorer.md: every book model's in-sample and held-out errors
HELDOUT_TABLE = re.compile(r"```\{glue\} heldout_table\n:doc: \.\./notebooks/12_explorer\.md\n```")
CHAPTERS = re.findall(r"file: (notebooks/\S+)", (ROOT / "_toc.yml").read_text())


def _pastes():
    return [m.groupdict() for m in PASTE.finditer(SOURCE.read_text())]


def test_every_paste_names_a_notebook_key_and_a_format():
    """A paste in another form (no format, no document) would escape the comparison below."""
    text = SOURCE.read_text()
    assert _pastes(), "the results page pastes nothing"
    tables = len(CHECKS_TABLE.findall(text)) + len(HELDOUT_TABLE.findall(text))
    assert len(_pastes()) + tables == text.count("{glue"), "a {glue...} of another form"
    for paste in _pastes():
        assert (ROOT / f"{paste['doc']}.md").is_file(), paste


def test_built_results_page_shows_every_glued_value():
    if not PAGE.is_file():
        pytest.fail(f"no built results page at {PAGE}: add book/results to _toc.yml and run `make book`")
    expected = []
    for paste in _pastes():
        glue_file = GLUE / f"{paste['doc']}.glue.json"
        assert glue_file.is_file(), f"{paste['doc']} was not executed in this build"
        glued = json.loads(glue_file.read_text())
        assert paste["key"] in glued, f"{paste['doc']} glues no {paste['key']!r}"
        expected.append(format_plain_text(glued[paste["key"]]["data"]["text/plain"], paste["fmt"]))
    pasted = [html.unescape(t) for t in re.findall(r'<span class="pasted-text">(.*?)</span>', PAGE.read_text())]
    assert pasted == expected


def _ledgers():
    ledgers = {}
    for chapter in CHAPTERS:
        glue_file = GLUE / f"{chapter}.glue.json"
        assert glue_file.is_file(), f"{chapter} was not executed in this build"
        glued = json.loads(glue_file.read_text())
        assert "checks_json" in glued, f"{chapter} published no checks (its checks cell ends with checks.publish())"
        ledgers[chapter] = json.loads(ast.literal_eval(glued["checks_json"]["data"]["text/plain"]))
    return ledgers


def test_the_results_page_shows_every_chapters_checks():
    assert CHECKS_TABLE.findall(SOURCE.read_text()) == CHAPTERS
    if not PAGE.is_file():
        pytest.fail(f"no built results page at {PAGE}: run `make book`")
    assert PAGE.read_text().count('<table class="table checks">') == len(CHAPTERS)


def test_the_results_page_shows_every_book_models_heldout_errors():
    from breathing_lib.studies.heldout import BOOK_MODELS

    assert len(HELDOUT_TABLE.findall(SOURCE.read_text())) == 1
    if not PAGE.is_file():
        pytest.fail(f"no built results page at {PAGE}: run `make book`")
    page = PAGE.read_text()
    assert page.count('<table class="table heldout">') == 1
    assert all(html.escape(name) in page for name in BOOK_MODELS)


def test_every_measured_check_holds_with_a_margin_of_at_least_3():
    """A measured bound closer than MARGIN to this build's value would fail on another CPU."""
    thin = [(chapter, c["claim"], c["value"], c["bound"], c["margin"])
            for chapter, ledger in _ledgers().items() for c in ledger["checks"]
            if c["kind"] == "measured" and not c["margin"] >= MARGIN]
    assert not thin, f"measured checks with a margin below {MARGIN}: {thin}"
