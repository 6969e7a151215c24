"""Every chapter page's launch and download buttons open the chapter's notebook, not its MyST source.

Colab (and Binder) open `notebooks/NN_topic.ipynb` of the repository `_config.yml` names, at its
branch; the page's ".ipynb" download is served by the site itself and is that same committed
notebook. Reads the built site at `_build/html` (`make book`), or at the path in the environment
variable BREATHING_SITE (`site_helpers.SITE`). The buttons are plain links in the page's HTML, so no
browser is needed; the download is fetched from the local HTTP server of conftest.py's `server`,
as a reader's browser would fetch it.
"""

import functools
import re
import subprocess
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import nbformat
import pytest
import yaml
from site_helpers import ROOT, SITE

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY, LAUNCH = CONFIG["repository"], CONFIG["launch_buttons"]
OWNER_REPO = urllib.parse.urlsplit(REPOSITORY["url"]).path.strip("/")
CHAPTERS = re.findall(r"file: (notebooks/\S+)", (ROOT / "_toc.yml").read_text())


class _Buttons(HTMLParser):
    """The theme's header buttons: each <a class="btn ..."> with its href, classes and label text."""

    def __init__(self):
        super().__init__()
        self.buttons, self._open = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "btn" in (attrs.get("class") or "").split():
            self._open = {"href": attrs.get("href"), "classes": attrs["class"].split(), "text": ""}
            self.buttons.append(self._open)

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data.strip()


@functools.lru_cache(maxsize=None)
def _buttons(chapter: str) -> tuple:
    page = SITE / f"{chapter}.html"
    if not page.exists():
        pytest.fail(f"no built page {page}: run `make book` (or set BREATHING_SITE)")
    parser = _Buttons()
    parser.feed(page.read_text())
    return tuple(parser.buttons)


def _one(chapter: str, matches) -> dict:
    found = [b for b in _buttons(chapter) if matches(b)]
    assert len(found) == 1, [b["text"] or b["classes"] for b in _buttons(chapter)]
    return found[0]


@functools.lru_cache(maxsize=None)
def _tracked() -> frozenset:
    listed = subprocess.run(["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True)
    return frozenset(listed.stdout.split())


def test_the_book_has_chapters():
    assert CHAPTERS and all(c.startswith("notebooks/") for c in CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_colab_opens_the_chapters_committed_notebook(chapter):
    colab = _one(chapter, lambda b: b["text"] == "Colab")
    notebook = f"{chapter}.ipynb"
    assert colab["href"] == f"{LAUNCH['colab_url']}/github/{OWNER_REPO}/blob/{REPOSITORY['branch']}/{notebook}"
    assert notebook in _tracked(), f"{notebook} is not committed: Colab would find nothing"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_binder_opens_the_chapters_notebook_in_jupyterlab(chapter):
    binder = _one(chapter, lambda b: b["text"] == "Binder")
    expected = f"{LAUNCH['binderhub_url']}/v2/gh/{OWNER_REPO}/{REPOSITORY['branch']}?urlpath=lab/tree/{chapter}.ipynb"
    assert binder["href"] == expected


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_ipynb_download_is_the_committed_notebook_served_by_the_site(chapter, server):
    download = _one(chapter, lambda b: "btn-download-notebook-button" in b["classes"])
    url = urllib.parse.urljoin(f"{server}/{chapter}.html", download["href"])
    assert url.startswith(server + "/"), f"{download['href']} is not on the site"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        body = response.read()
    nbformat.validate(nbformat.reads(body.decode(), as_version=4))
    assert body == (ROOT / f"{chapter}.ipynb").read_bytes(), "not the committed notebook Colab opens: rebuild the site"
