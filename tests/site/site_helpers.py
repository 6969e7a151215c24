"""What the browser tests of the built site share: where the site is, and a page opened with the
network blocked (a reader offline), recording every request that tried to leave the site and every
console error."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("BREATHING_SITE") or ROOT / "_build" / "html")
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1280, "height": 900}
INLINE = ("data:", "blob:")  # URLs a page makes itself: no network


def offline_page(browser, base: str, path: str):
    """A new page at base/path in its own context, where every request outside `base` is aborted.
    Returns (page, blocked URLs, console errors): the lists fill as the page runs."""
    context = browser.new_context(viewport=VIEWPORT)
    blocked, errors = [], []

    def route(r):
        url = r.request.url
        if url.startswith(base) or url.startswith(INLINE):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/{path}", wait_until="load")
    return page, blocked, errors
