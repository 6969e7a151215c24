"""Frames per second of the live explorer in headless Chromium: one RK4 step and one redraw a frame.

    python benchmarks/explorer_fps.py [--model "default recipe"] [--seconds 3] [--points 128 1000] [--uncapped]

Writes a page holding the explorer (as the book embeds it) to a temporary folder, opens it from
disk with the network blocked, and plays each number of points N from a fresh flow, so that every
frame integrates a new step. Prints, per N: frames per second while playing (the browser paces
frames at the display rate, so this tops out there; --uncapped lifts that limit), the median and the longest time a frame's work
took (the RK4 step, the learned-field arrows and the drawing), and the rate that work alone would
allow. A frame's work under 50 ms keeps the page responsive (no long task). Asserts nothing.
"""

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "site"))
from site_helpers import CHROMIUM, CHROMIUM_ARGS, offline_page  # noqa: E402

from breathing_lib.viz.explorer import explorer_documents, explorer_html  # noqa: E402

LONG_TASK_MS = 50  # the browser's threshold for a task that makes a page feel unresponsive


def measure(page, num_points: int, seconds: float) -> dict:
    explorer = "document.querySelector('.breathing-explorer').breathingExplorer"
    page.evaluate(f"{explorer}.set({{numPoints: {num_points}, tMax: 1000}})")  # never loop back to cached steps
    page.evaluate(f"{explorer}.restart()")
    page.evaluate(f"{explorer}.play()")
    page.wait_for_timeout(seconds * 1000)
    page.evaluate(f"{explorer}.pause()")
    stats = page.evaluate(f"{explorer}.stats")
    elapsed = (stats["lastFrame"] - stats["firstFrame"]) / 1000  # from the first frame's start to the last's
    median = statistics.median(stats["frameMs"])
    return {"N": num_points, "fps": (stats["frames"] - 1) / elapsed, "median_ms": median,
            "max_ms": max(stats["frameMs"]), "work_fps": 1000 / median, "frames": stats["frames"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default recipe")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--points", type=int, nargs="+", default=[128, 1000])
    parser.add_argument("--uncapped", action="store_true",
                        help="let frames run as fast as the work allows, not at the display's rate")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        Path(folder, "explorer.html").write_text(
            f"<!doctype html><meta charset=utf-8><title>explorer fps</title>"
            f"{explorer_html(explorer_documents([args.model]))}")
        extra = ["--disable-frame-rate-limit", "--disable-gpu-vsync"] if args.uncapped else []
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + extra)
        page, blocked, errors = offline_page(browser, Path(folder).as_uri(), "explorer.html")
        rows = [measure(page, n, args.seconds) for n in args.points]
        version = browser.version
        browser.close()
    if blocked or errors:
        sys.exit(f"the page failed: blocked {blocked}, errors {errors}")
    pacing = "uncapped frame rate" if args.uncapped else "frames at the display rate"
    print(f"# {args.model}, one RK4 step a frame, learned-field arrows on; Chromium {version} headless, {pacing}; "
          f"{platform.processor() or platform.machine()}, {args.seconds:g} s per row")
    print(f"{'N':>6} {'fps playing':>12} {'frame work ms (median)':>23} {'longest ms':>11} {'work alone allows fps':>22}")
    for r in rows:
        print(f"{r['N']:>6} {r['fps']:>12.1f} {r['median_ms']:>23.2f} {r['max_ms']:>11.1f} {r['work_fps']:>22.0f}")
    slow = [r["N"] for r in rows if r["max_ms"] > LONG_TASK_MS]
    print(f"responsive while playing (every frame's work under {LONG_TASK_MS} ms): "
          f"{'yes' if not slow else 'no, at N = ' + ', '.join(map(str, slow))}")


if __name__ == "__main__":
    main()
