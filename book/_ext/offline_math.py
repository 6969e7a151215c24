"""MathJax served by the site itself, so every page renders its math with no network.

Sphinx loads MathJax from a CDN by default: a reader offline (a downloaded site, a train, an
intranet) sees raw `\\(\\beta_0\\)`. The package sphinx-mathjax-offline ships MathJax 3.2.2, but its
own extension copies all 24 MB of it into every build. A page needs only tex-chtml.js (TeX input,
CommonHTML output, the menu and assistive MathML in one file) and what that file loads later from
its own folder; this copies just those, a few MB, into `_static/mathjax`.
"""

import shutil
from importlib.util import find_spec
from pathlib import Path

from sphinx.errors import ExtensionError

MATHJAX_PACKAGE = "sphinx-mathjax-offline"  # a folder with hyphens: found, never imported
STATIC_FOLDER = "mathjax"  # under the site's _static
ENTRY = "tex-chtml.js"
# What tex-chtml.js fetches on demand, relative to its folder, each pattern with why.
ON_DEMAND = (
    "output/chtml/fonts/woff-v2/*.woff",  # one font per style a formula uses (bold, calligraphic, sizes...)
    "input/tex/extensions/*.js",  # autoload loads a TeX package when a page uses one of its macros
    "a11y/*.js",  # the menu's accessibility options: explorer, speech, collapsible math
    "input/mml.js",  # which enrich the math through its MathML
    "sre/mathmaps/base.json",  # the speech rule engine behind them reads its base rules
    "sre/mathmaps/en.json",  # and the speech language's: English (the menu's other languages: 3 MB more)
)
# all-packages.js is the whole TeX package set in one file, loaded only by tex-full configurations.
NEVER_LOADED = {"input/tex/extensions/all-packages.js"}


def mathjax_source():
    """The MathJax folder inside the installed package (the book's `book` extra installs it)."""
    spec = find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(f"{MATHJAX_PACKAGE} is not installed: pip install -e '.[book]'")
    return Path(spec.submodule_search_locations[0]) / "static" / "mathjax"


def files_to_serve(source):
    """ENTRY and ON_DEMAND's files, relative to source; a pattern that matches nothing means the package changed."""
    if not (source / ENTRY).is_file():
        raise ExtensionError(f"{MATHJAX_PACKAGE} has no {ENTRY} in {source}")
    files = [ENTRY]
    for pattern in ON_DEMAND:
        matched = sorted(p.relative_to(source).as_posix() for p in source.glob(pattern))
        if not matched:
            raise ExtensionError(f"{MATHJAX_PACKAGE} has no {pattern} in {source}")
        files += [f for f in matched if f not in NEVER_LOADED]
    return files


def use_local_mathjax(app, config):
    """Relative to _static: the page's script tag, and so MathJax's own later loads, stay on the site.
    Replaces any mathjax_path set elsewhere: a CDN URL is what this extension exists to avoid."""
    config.mathjax_path = f"{STATIC_FOLDER}/{ENTRY}"


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / STATIC_FOLDER
    for relative in files_to_serve(source):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, target / relative)


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
