"""The package's layout is its architecture: the core at the top, `studies/` and `viz/` built on it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "breathing_lib"
ENTRY_POINTS = {"cli.py", "__main__.py"}  # the command line runs studies (bench): it sits above them
CORE = sorted(p for p in PACKAGE.glob("*.py") if p.name not in ENTRY_POINTS)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (deferred imports too), as a dotted name."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_core_is_the_top_level_and_studies_and_viz_are_subpackages():
    assert {p.stem for p in CORE} >= {"problem", "models", "solve", "collocation", "descriptors", "train",
                                      "inference", "metrics", "store", "validation", "device", "memory"}
    assert (PACKAGE / "studies" / "__init__.py").is_file() and (PACKAGE / "viz" / "__init__.py").is_file()


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_the_core_imports_no_study_and_no_display(path):
    upward = sorted(m for m in imported_modules(path)
                    if m.startswith(("breathing_lib.studies", "breathing_lib.viz")))
    assert not upward, f"{path.name} imports {upward}"


def test_the_import_reader_sees_relative_and_deferred_imports():
    study = imported_modules(PACKAGE / "studies" / "fourier.py")
    assert "breathing_lib.descriptors" in study and "breathing_lib.inference.predict" in study
    assert "breathing_lib.studies.training_speed" in imported_modules(PACKAGE / "cli.py")  # inside a function
