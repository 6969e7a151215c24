"""The built book, walked in headless Chromium with the network blocked, as a reader offline sees it:
every page renders its math, loads its media, links nowhere broken, and asks nothing of another host.

Needs a built site (`make book`; the Makefile's `test` target builds it first; BREATHING_SITE names
another one) and Debian's chromium (or any Chromium-family browser named by the environment variable
CHROMIUM, as CI does with Chrome). One browser page visits every page of the site once (module fixture
`walk`); the tests then judge what it recorded, so the whole walk stays well under two minutes.
Full-page screenshots of the pages in the table of contents land next to the site, in
`_build/screenshots/<page>.png`, for a human look.
"""

import functools
import struct
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from site_helpers import INLINE, ROOT, SITE, VIEWPORT, offline_page

SCREENSHOTS = SITE.parent / "screenshots"
SITE_LIMIT_BYTES = 40_000_000  # GitHub Pages serves up to 1 GB, but readers download every animation
MEDIA_TIMEOUT_MS = 15_000
MATH_TIMEOUT_MS = 15_000
MATH_PAGE = "notebooks/01_problem.html"  # a chapter with inline and display math


def _toc_files(node):
    """Every `file:` of a Jupyter Book table of contents, in reading order, however deeply nested."""
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                yield from _toc_files(child)


_TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
TOC_FILES = [_TOC["root"], *_toc_files(_TOC)]
CHAPTERS = [f for f in TOC_FILES if f.startswith("notebooks/")]
# The pages the theme adds beside the table of contents (reachable from the navbar and the sidebar).
THEME_PAGES = ["genindex.html", "search.html"]
TOC_PAGES = [f"{Path(f).with_suffix('')}.html" for f in TOC_FILES]
PAGES = TOC_PAGES + THEME_PAGES

# Runs in the page: resolves when every <video> has its metadata (duration) or fails, and when every
# <img> has loaded or failed; a timer bounds both so a stuck element reads as a failure, not a hang.
MEDIA_JS = """async timeout => {
    const bounded = (promise, fallback) =>
        Promise.race([promise, new Promise(done => setTimeout(() => done(fallback), timeout))]);
    const videos = await Promise.all(Array.from(document.querySelectorAll('video')).map(v => bounded(
        new Promise(done => {
            if (v.readyState >= 1) return done(v.duration);
            v.addEventListener('loadedmetadata', () => done(v.duration), {once: true});
            v.addEventListener('error', () => done(-1), {once: true});
            v.load();
        }), -1)));
    const images = await Promise.all(Array.from(document.querySelectorAll('img')).map(async img => {
        img.loading = 'eager';
        if (!img.complete) {
            await bounded(new Promise(done => {
                img.addEventListener('load', done, {once: true});
                img.addEventListener('error', done, {once: true});
            }), null);
        }
        return {src: img.currentSrc || img.src, width: img.naturalWidth};
    }));
    return {videos, images};
}"""

# Runs in the page: waits (bounded) for MathJax's first typesetting, then counts the formulas Sphinx
# wrote (.math) and lists those MathJax did not turn into its output (mjx-container): still raw TeX.
# Without MathJax (its script failed to load) every formula is listed.
MATH_JS = """async timeout => {
    const startup = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    if (startup) await Promise.race([startup, new Promise(done => setTimeout(done, timeout))]);
    const formulas = Array.from(document.querySelectorAll('main .math'));
    return {
        formulas: formulas.length,
        rendered: document.querySelectorAll('main mjx-container').length,
        raw: formulas.filter(f => !f.querySelector('mjx-container')).map(f => f.textContent.trim().slice(0, 80)),
    };
}"""
# What a reader sees of a formula MathJax did not render: the delimiters Sphinx writes around TeX.
RAW_TEX = ("\\(", "\\)", "\\[", "\\]")

# Runs in the page: what it links to (resolved URLs) and the ids a fragment may point at.
LINKS_JS = """() => ({
    anchors: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    resources: [
        ...Array.from(document.querySelectorAll('link[href]')).map(e => e.href),
        ...Array.from(document.querySelectorAll('script[src], img[src], source[src], video[src]')).map(e => e.src),
    ],
    ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
    nav: Array.from(document.querySelectorAll('nav.bd-links a')).map(a => a.getAttribute('href')),
})"""


def _on_site(url, base):
    """Served by the site itself (or made by the page: data:, blob:), so it needs no network."""
    return url.startswith((base + "/", *INLINE))


def _record_missing(missing):
    """Every answer of 400 or more: a file some page or script asked for that the site lacks."""
    def record(response):
        if response.status >= 400:
            missing.append(f"{response.status} {response.url}")

    return record


def _record_console_errors(errors):
    def record(msg):
        if msg.type == "error":
            errors.append(msg.text)

    return record


def _visit(page, server, path):
    """Everything the tests judge about one page, gathered in one visit."""
    page.goto(f"{server}/{path}", wait_until="load")
    record = {"url": page.url}
    record.update(page.evaluate(MEDIA_JS, MEDIA_TIMEOUT_MS))
    record["math"] = page.evaluate(MATH_JS, MATH_TIMEOUT_MS)
    record.update(page.evaluate(LINKS_JS))
    # The first visible heading: the theme also puts an empty print-only <h1> on some pages.
    record["title"] = next((h.strip() for h in page.locator("main h1").all_inner_texts() if h.strip()), "")
    record["outputs"] = page.locator(".cell_output").count()
    record["error_outputs"] = page.locator(".output.error, .output.traceback").count()
    record["text"] = page.locator("main").inner_text() if page.locator("main").count() else ""
    if path in TOC_PAGES:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        record["screenshot"] = SCREENSHOTS / f"{Path(path).stem}.png"
        page.screenshot(path=record["screenshot"], full_page=True)
    return record


@pytest.fixture(scope="module")
def walk(server, browser):
    """Visit every page once with one browser page; a failure is recorded for that page, not raised."""
    assert len({Path(p).stem for p in TOC_PAGES}) == len(TOC_PAGES), "two pages would share a screenshot name"
    for old in SCREENSHOTS.glob("*.png"):  # a page removed from the book leaves no stale picture
        old.unlink()
    context = browser.new_context(viewport=VIEWPORT)
    seen = {"errors": [], "off_site": [], "missing": []}  # per page, emptied before each visit

    def block(route):
        seen["off_site"].append(route.request.url)
        route.abort()

    context.route(lambda url: not _on_site(url, server), block)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("console", _record_console_errors(seen["errors"]))
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("response", _record_missing(seen["missing"]))
    records = {}
    for path in PAGES:
        for events in seen.values():
            events.clear()
        try:
            records[path] = _visit(page, server, path)
        except Exception as exc:  # noqa: BLE001 - reported by every test of this page
            records[path] = {"failure": f"{type(exc).__name__}: {exc}"}
        records[path].update({name: list(events) for name, events in seen.items()})
    context.close()
    return records


def _record(walk, path):
    record = walk[path]
    assert "failure" not in record, record.get("failure")
    return record


def test_every_built_page_is_walked():
    """A page built outside the table of contents would escape every check below."""
    if not SITE.exists():
        pytest.fail(f"no built site at {SITE}: run `make book` first")
    built = {
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).parts[0].startswith("_")  # _static (theme templates), _sources
    }
    assert built == set(PAGES) | {"index.html"}


@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_console_error(walk, path):
    assert _record(walk, path)["errors"] == []


@pytest.mark.parametrize("path", PAGES)
def test_page_requests_nothing_off_site(walk, path):
    """A reader offline (a downloaded site, a train, an intranet) gets everything the page asks for."""
    assert walk[path]["off_site"] == []


@pytest.mark.parametrize("path", PAGES)
def test_page_requests_no_missing_file(walk, path):
    """Also what scripts load later (MathJax's fonts and TeX packages), which no link names."""
    assert walk[path]["missing"] == []


@pytest.mark.parametrize("path", PAGES)
def test_page_math_renders(walk, path):
    """Every formula became MathJax output; none is left as raw TeX."""
    math = _record(walk, path)["math"]
    assert math["raw"] == []
    assert math["rendered"] >= math["formulas"]


def test_math_page_shows_math_not_tex(walk):
    """A page with math (so the check above is not vacuous) shows no TeX delimiter to its reader."""
    record = _record(walk, MATH_PAGE)
    assert record["math"]["formulas"] > 0, f"{MATH_PAGE} has no math: pick another MATH_PAGE"
    assert [d for d in RAW_TEX if d in record["text"]] == []


def test_downloaded_page_renders_math_offline(browser):
    """Opened from the disk (file://) with no network, as a downloaded copy of the site is read."""
    page, off_site, errors = offline_page(browser, SITE.resolve().as_uri(), MATH_PAGE)
    math = page.evaluate(MATH_JS, MATH_TIMEOUT_MS)
    text = page.locator("main").inner_text()
    page.context.close()
    assert off_site == []
    assert errors == []
    assert math["formulas"] > 0 and math["raw"] == []
    assert [d for d in RAW_TEX if d in text] == []


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_without_error_output(walk, path):
    record = _record(walk, path)
    assert record["title"].strip(), "no page title"
    assert record["error_outputs"] == 0
    assert "Traceback" not in record["text"]


@pytest.mark.parametrize("path", PAGES)
def test_page_media_load(walk, path):
    """Every animation has a playable duration and every image decoded to a nonzero width."""
    record = _record(walk, path)
    assert all(d > 0 for d in record["videos"]), record["videos"]  # NaN and the -1 of an error fail
    broken = [img["src"][:120] for img in record["images"] if not img["width"] > 0]
    assert broken == []


def _ids_in_file(path):
    class Ids(HTMLParser):
        def __init__(self):
            super().__init__()
            self.ids = set()

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.ids.update(v for k, v in attrs.items() if k == "id" or (tag == "a" and k == "name"))

    parser = Ids()
    parser.feed(path.read_text(errors="replace"))
    return parser.ids


@functools.lru_cache(maxsize=None)
def _status(url):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("path", PAGES)
def test_internal_links_resolve(walk, server, path):
    """Every same-site link and resource answers 200 from the local server; every #fragment exists there."""
    record = _record(walk, path)
    same_site = [u for u in record["anchors"] + record["resources"] if u.startswith(server + "/")]
    assert same_site, "no internal links at all: the walk saw an empty page"
    broken = sorted({u for u in same_site if _status(urllib.parse.urldefrag(u).url) != 200})
    assert broken == []

    missing = []
    for url in record["anchors"]:
        target, fragment = urllib.parse.urldefrag(url)
        if not url.startswith(server + "/") or not fragment:
            continue
        relative = urllib.parse.unquote(urllib.parse.urlsplit(target).path).lstrip("/") or "index.html"
        if relative in walk and "ids" in walk[relative]:
            ids = set(walk[relative]["ids"])  # the DOM after the theme's scripts ran
        elif relative.endswith(".html"):
            ids = _ids_in_file(SITE / relative)
        else:
            continue  # a fragment into a non-HTML file (none today) means nothing to check
        if urllib.parse.unquote(fragment) not in ids:
            missing.append(f"{relative}#{fragment}")
    assert missing == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_plays_and_shows_no_error(walk, chapter):
    record = _record(walk, f"{chapter}.html")
    assert record["title"].split(".")[0].isdigit(), record["title"]  # "3. Inference ..."
    assert record["outputs"] > 0, "no executed outputs"
    assert len(record["videos"]) >= 1, "no animation on the page"


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("path", TOC_PAGES)
def test_page_screenshot_taken(walk, path):
    """A full-page screenshot: as wide as the viewport, at least as tall (longer pages are taller)."""
    shot = _record(walk, path)["screenshot"]
    width, height = _png_size(shot)
    assert width == VIEWPORT["width"] and height >= VIEWPORT["height"], (width, height)


def test_home_page_links_every_chapter(walk):
    nav = _record(walk, TOC_PAGES[0])["nav"]
    for chapter in CHAPTERS:
        assert any(chapter.split("/")[-1] in h for h in nav), chapter


def test_index_redirects_to_the_first_page(server, browser):
    page, off_site, _ = offline_page(browser, server, "index.html")
    page.wait_for_url(f"{server}/{TOC_PAGES[0]}", timeout=10_000)
    page.context.close()
    assert off_site == []


def test_site_is_small_enough():
    if not SITE.exists():
        pytest.fail(f"no built site at {SITE}: run `make book` first")
    size = sum(p.stat().st_size for p in SITE.rglob("*") if p.is_file())
    assert size <= SITE_LIMIT_BYTES, f"{SITE} is {size / 1e6:.1f} MB"
