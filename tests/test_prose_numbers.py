"""No typed results: every number in a chapter's prose comes from the build, or is not a result.

A number in a markdown cell must be glued (`{glue:text}`), be math or code, be a parameter of the
chapter (its `parameters` cell) or of the book's recipes (`TrainConfig()`, `TrainConfig.original()`),
or be listed below with the reason it is not a measurement. A result typed by hand goes stale on
the next build and on every other machine; this test fails on it.
"""

import ast
import dataclasses
import re
from pathlib import Path

import jupytext
import pytest

from breathing_lib import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))

NUMBER = re.compile(r"(?<![\w.\-/^])\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?(?![\w(])")
NOT_PROSE = [  # removed before looking for numbers
    re.compile(r"```.*?```", re.S),  # code cells, directives and their bodies
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"\$[^$\n]+\$"),  # inline math
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # roles: glue:text, cite, doc, ref
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
]
NAMES = [  # numbers that name things rather than measure them
    re.compile(r"(?i)\b(?:chapters?|checks?|sections?)\s+\d+(?:(?:,\s*|\s+and\s+|\s+to\s+|-)\d+)*"),
    re.compile(r"^#+\s+\d+\.", re.M),  # the chapter's number in its title
    re.compile(r"^\s*\d+\.\s", re.M),  # numbered lists
    re.compile(r"\b\d+(?:-\d+){2,}\b"),  # layer widths, 3-32-64-2
    re.compile(r"Dormand[-–]Prince 5\(4\)"),  # the method's name: orders 5 and 4
]
# The original study's printed results are the spec this book reproduces: quoting them is not measuring.
ORIGINAL_STUDY = {5.8e-4: "its last printed loss", 6e-4: "the quality it reached", 1244: "its training seconds",
                  250: "its print interval", 251: "an epoch it printed", 2251: "the last epoch it printed"}
# Definitions and thresholds the prose states as such (not results), by chapter.
DEFINITIONS = {
    ("06_autonomous", 100): "the error of the zero field, 100 %, by definition of the relative error",
    ("08_fourier", 0): "t = 0, the start",
    ("10_training_speed", 1e-5): "the race's second quality level (breathing_lib.studies.training_speed.THRESHOLDS)",
}


def _recipe_numbers() -> set[float]:
    numbers = set()
    for config in (TrainConfig(), TrainConfig.original()):
        numbers |= {float(v) for v in dataclasses.asdict(config).values()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return numbers


def _parameters(notebook) -> set[float]:
    numbers = set()
    for cell in notebook.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            numbers |= {float(node.value) for node in ast.walk(ast.parse(cell.source))
                        if isinstance(node, ast.Constant) and type(node.value) in (int, float)}
    return numbers


def typed_numbers(md: Path) -> list[str]:
    """The lines of a chapter's prose that hold a number the build did not produce."""
    notebook = jupytext.read(md)
    allowed = _recipe_numbers() | _parameters(notebook) | set(ORIGINAL_STUDY)
    allowed |= {number for chapter, number in DEFINITIONS if chapter == md.stem}
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for pattern in NOT_PROSE + NAMES:
        text = pattern.sub(" ", text)
    return [f"{number!r} in: {line.strip()}" for line in text.splitlines()
            for number in NUMBER.findall(line) if float(number.replace(",", "")) not in allowed]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_no_typed_numbers_in_a_chapters_prose(md):
    assert typed_numbers(md) == []


def test_the_scan_catches_a_typed_result(tmp_path):
    md = tmp_path / "99_demo.md"
    md.write_text("---\njupytext:\n  formats: md:myst\n---\n\n# 99. Demo\n\n"
                  "Chapter 3 trains on 128 points; the MSE is $10^{-4}$, {glue:text}`mse:.1e` here,\n"
                  "and 7.7e-6 on the machine that wrote this.\n")
    assert typed_numbers(md) == ["'7.7e-6' in: and 7.7e-6 on the machine that wrote this."]


def test_the_readme_carries_no_results():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    assert NUMBER.findall(section) == []
