"""The live explorer in the built site, in headless Chromium with the network blocked: every control
moves the drawing and the readouts, and the page's points are the library's float64 prediction.

Needs a built site (`make book`): chapter 12 embeds the explorer with every exported model, the
introduction a compact one, and the build writes _static/explorer/reference.json (the library's
predictions for a few settings, book/_ext/live_explorer.py).
"""

import json
import math

import pytest
from site_helpers import SITE, offline_page

from breathing_lib.viz.explorer import BROWSER_TOLERANCE, EXPLORER_MODELS

CHAPTER = "notebooks/12_explorer.html"
REFERENCE_FILE = SITE / "_static/explorer/reference.json"
REFERENCES = json.loads(REFERENCE_FILE.read_text()) if REFERENCE_FILE.exists() else [None]  # None: fails, below

# Runs in the page: sets one control as a reader would (its value, then the event a reader's
# gesture fires) and returns the explorer's readings.
SET_CONTROL = """([name, value]) => {
    const root = document.querySelector('.breathing-explorer');
    const input = root.querySelector(`[data-control="${name}"]`);
    if (input.type === 'checkbox') { input.checked = value; input.dispatchEvent(new Event('change')); }
    else if (input.tagName === 'BUTTON') input.click();
    else { input.value = value; input.dispatchEvent(new Event('input')); }
    return root.breathingExplorer.readings();
}"""
PICTURE = "() => document.querySelector('.breathing-explorer canvas').toDataURL()"
READOUT = "() => document.querySelector('.breathing-explorer .be-readouts').textContent"


@pytest.fixture(scope="module")
def chapter(server, browser):
    page, blocked, errors = offline_page(browser, server, CHAPTER)
    yield page
    assert not blocked, f"requests that left the site: {blocked}"
    assert not errors, f"console errors: {errors}"
    page.context.close()


def test_the_chapter_offers_every_exported_model_by_name(chapter):
    assert chapter.evaluate("window.breathingExplorers.length") == 1
    assert chapter.evaluate("document.querySelector('.breathing-explorer').breathingExplorer.models()") == list(EXPLORER_MODELS)


@pytest.mark.parametrize("control, value", [
    ("model", "phase"), ("beta0", "3.1"), ("period", "0.7"), ("numPoints", "300"), ("dt", "0.05"),
    ("time", "50"), ("field", False), ("reset", None),
])
def test_each_control_changes_the_drawing_and_the_readouts(chapter, control, value):
    if control == "reset":  # the training problem button: leave it first
        chapter.evaluate(SET_CONTROL, ["beta0", "2.6"])
    chapter.evaluate(SET_CONTROL, ["time", "40"])
    before = chapter.evaluate(PICTURE), chapter.evaluate(READOUT)
    readings = chapter.evaluate(SET_CONTROL, [control, value])
    after = chapter.evaluate(PICTURE), chapter.evaluate(READOUT)
    assert after[0] != before[0], f"{control}: the drawing did not change"
    if control != "field":  # the arrows change the picture only
        assert after[1] != before[1], f"{control}: the readouts did not change"
    assert math.isfinite(readings["maxPointError"]) and readings["areaRatio"] > 0


def test_play_advances_time_one_step_a_frame_and_pause_stops_it(chapter):
    chapter.evaluate(SET_CONTROL, ["time", "0"])
    chapter.evaluate(SET_CONTROL, ["play", None])
    chapter.wait_for_timeout(600)
    chapter.evaluate(SET_CONTROL, ["play", None])  # pause
    settings = chapter.evaluate("document.querySelector('.breathing-explorer').breathingExplorer.settings()")
    assert settings["step"] > 3 and not settings["playing"]
    chapter.wait_for_timeout(200)
    assert chapter.evaluate("document.querySelector('.breathing-explorer').breathingExplorer.settings()") == settings


def test_extrapolation_is_announced_past_the_training_window(chapter):
    chapter.evaluate(SET_CONTROL, ["model", "default recipe"])
    chapter.evaluate(SET_CONTROL, ["dt", "0.025"])
    assert not chapter.evaluate(SET_CONTROL, ["time", "60"])["extrapolating"]  # t = 1.5, the window's end
    assert chapter.evaluate(SET_CONTROL, ["time", "61"])["extrapolating"]
    assert "extrapolation" in chapter.evaluate(READOUT)


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda r: r and f"{r['model']}-b{r['beta0']}-N{r['numPoints']}")
def test_the_page_draws_the_librarys_float64_prediction(chapter, reference):
    assert reference is not None, f"no {REFERENCE_FILE}: run `make book`"
    for control in ("model", "beta0", "period", "numPoints", "dt"):
        chapter.evaluate(SET_CONTROL, [control, str(reference[control])])
    chapter.evaluate(SET_CONTROL, ["time", str(reference["step"])])
    settings = chapter.evaluate("document.querySelector('.breathing-explorer').breathingExplorer.settings()")
    assert {k: settings[k] for k in ("model", "beta0", "period", "numPoints", "dt", "step")} == \
        {k: reference[k] for k in ("model", "beta0", "period", "numPoints", "dt", "step")}
    points = chapter.evaluate("document.querySelector('.breathing-explorer').breathingExplorer.points()")
    assert len(points) == len(reference["points"]) == reference["numPoints"]
    worst = max(math.dist(p, q) for p, q in zip(points, reference["points"]))
    assert worst <= BROWSER_TOLERANCE, f"{reference['model']}: page and library differ by {worst:.2e}"


def test_the_introduction_breathes(server, browser):
    page, blocked, errors = offline_page(browser, server, "book/intro.html")
    picture = page.evaluate(PICTURE)
    page.click('.breathing-explorer [data-control="play"]')
    page.wait_for_timeout(400)
    assert page.evaluate(PICTURE) != picture
    assert page.evaluate("document.querySelector('.breathing-explorer').breathingExplorer.settings().step") > 0
    assert not blocked and not errors, (blocked, errors)
    page.context.close()


def test_the_downloaded_site_runs_the_explorer_from_file_urls(browser):
    """A reader who saved the site opens the page from disk: the module and the models are inline."""
    page, blocked, errors = offline_page(browser, SITE.as_uri(), CHAPTER)
    assert page.evaluate("window.breathingExplorers.length") == 1
    assert len(page.evaluate("document.querySelector('.breathing-explorer').breathingExplorer.points()")) > 0
    assert not blocked and not errors, (blocked, errors)
    page.context.close()
