"""The built book, opened in headless Chromium: every chapter renders, plays its videos, shows no errors.

Needs `make book` first (the Makefile's `test` target builds it) and Debian's chromium.
"""

import functools
import http.server
import threading
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
CHAPTERS = [
    entry["file"]
    for part in yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
    for entry in part["chapters"]
    if entry["file"].startswith("notebooks/")
]


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").exists():
        pytest.fail("no built site: run `make book` first")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


def _console_error(errors, base):
    def record(msg):
        # This machine has no internet: MathJax's CDN script cannot load here, though it does for
        # readers of the published site. Ignore only failures of resources from other hosts.
        external = not msg.location.get("url", "").startswith(base)
        if msg.type == "error" and not (external and msg.text.startswith("Failed to load resource: net::")):
            errors.append(msg.text)

    return record


def _open(browser, server, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", _console_error(errors, server))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/{path}", wait_until="load")
    return page, errors


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_plays_and_shows_no_error(server, browser, chapter):
    page, errors = _open(browser, server, f"{chapter}.html")
    assert page.locator("article h1").first.inner_text().split(".")[0].isdigit()  # "3. Inference ..."
    assert page.locator(".cell_output").count() > 0, "no executed outputs"
    assert page.locator(".output.error, .output.traceback").count() == 0
    assert "Traceback" not in page.locator("main").inner_text()
    videos = page.locator("main video")
    assert videos.count() >= 1, "no animation on the page"
    for i in range(videos.count()):
        duration = videos.nth(i).evaluate(
            """v => new Promise(done => {
                   if (v.readyState >= 1) return done(v.duration);
                   v.addEventListener('loadedmetadata', () => done(v.duration));
                   v.load();
               })"""
        )
        assert duration > 0
    assert errors == [], errors
    page.close()


def test_home_page_links_every_chapter(server, browser):
    page, errors = _open(browser, server, "book/intro.html")
    hrefs = page.locator("nav.bd-links a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    for chapter in CHAPTERS:
        assert any(chapter.split("/")[-1] in h for h in hrefs), chapter
    assert errors == []
    page.close()
