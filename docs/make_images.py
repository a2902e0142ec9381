"""Make the README's pictures of tapegrad's pages with the project's own code: headless
Chromium (Debian's `chromium` and `chromedriver`, driven by Selenium as the browser tests
drive it) opens each page from file:// and screenshots it.

- docs/images/explain.png: `tapegrad explain` writes the lecture's neuron as a page, stepped
  to the moment x1 receives its gradient.
- docs/images/report.png: the top of the report.html `tapegrad demo` writes, at step 30.
- docs/images/mistake.png: the README's "Learn by breaking it" page, the lecture's f = (a*b) *
  (a + b) walked with `=` in place of `+=` beside the right walk, at the step where the two
  first part company.
- docs/images/live.png: the live page of micrograd's demo (`tapegrad demo --live`), paused
  once it shows step 40 or later.

    PYTHONPATH=src python docs/make_images.py
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/browser.py: the browser's start-up, shared

COMMAND = (
    'tapegrad explain "tanh(x1*w1 + x2*w2 + b)" '
    "--set x1=2 x2=0 w1=-3 w2=1 b=6.8813735870195432 -o neuron.html"
)
"""The command the README shows beside the picture, run here exactly."""

STEP_LINE = "x1.grad += #1.grad"
"""The step the picture shows: the one whose first line is x1.grad += #1.grad · w1.data."""


def make_explain_png(out: Path) -> int:
    """Write the page with COMMAND, screenshot it at STEP_LINE into `out`; its size."""
    from browser import start_chromium, stop_chromium

    from tapegrad.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        argv = shlex.split(COMMAND)[1:]
        argv[-1] = str(Path(tmp) / argv[-1])
        if main(argv) != 0:
            raise SystemExit(f"{COMMAND} failed")
        driver = start_chromium()
        try:
            driver.set_window_size(1300, 800)
            driver.get(f"file://{argv[-1]}")
            page = driver.find_element("css selector", ".tg-explain")
            last = int(driver.find_element("css selector", ".tg-range").get_attribute("max"))
            for _ in range(last):
                first = driver.find_elements("css selector", ".tg-lines li")
                if first and first[0].text.startswith(STEP_LINE):
                    break
                driver.find_element("css selector", '[data-act="next"]').click()
            else:
                raise SystemExit(f"the page has no step that says {STEP_LINE!r}")
            zoom = driver.find_element("css selector", '[data-act="zoom"]')
            if zoom.text == "fit":  # the whole graph in view, fitted to the page's width
                zoom.click()
            png = page.screenshot_as_png
        finally:
            stop_chromium(driver)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return len(png)


def mistake_page():
    """The page the README's "Learn by breaking it" block makes (the same code)."""
    from tapegrad import Value, explain

    a, b = Value(-2.0, label="a"), Value(3.0, label="b")
    d = a * b
    d.label = "d"
    e = a + b
    e.label = "e"
    f = d * e
    f.label = "f"
    return explain(f, mistake="assign")


def make_mistake_png(out: Path) -> int:
    """Write `mistake_page()`, screenshot it at the step its walks first differ into `out`."""
    from browser import start_chromium, stop_chromium

    page = mistake_page()
    with tempfile.TemporaryDirectory() as tmp:
        path = page.save(Path(tmp) / "assign.html")
        driver = start_chromium()
        try:
            driver.set_window_size(1100, 700)
            driver.get(f"file://{path}#step={page.run.first_step}")
            marked = driver.find_elements("css selector", ".tg-grads tr.tg-first")
            if len(marked) != 1:
                raise SystemExit("the mistake page marks no node at its first difference")
            png = driver.find_element("css selector", ".tg-explain").screenshot_as_png
        finally:
            stop_chromium(driver)
    out.write_bytes(png)
    return len(png)


def make_report_png(out: Path) -> int:
    """Run `tapegrad demo`, screenshot the top of its report.html at step 30 into `out`."""
    from browser import start_chromium, stop_chromium
    from selenium.webdriver.common.keys import Keys

    from tapegrad.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        if main(["demo", "--no-progress", "--out", tmp]) != 0:
            raise SystemExit("tapegrad demo failed")
        driver = start_chromium()
        try:
            driver.set_window_size(1000, 640)
            driver.get(f"file://{tmp}/report.html")
            slider = driver.find_element("css selector", ".tg-moment")
            for _ in range(7):  # from step 100 back to step 30
                slider.send_keys(Keys.ARROW_LEFT)
            png = driver.get_screenshot_as_png()
        finally:
            stop_chromium(driver)
    out.write_bytes(png)
    return len(png)


def make_live_png(out: Path) -> int:
    """Train micrograd's demo with its live page (slowed to watch), pause it once the page
    shows step 40 or later, screenshot the page into `out`, and stop the run."""
    import threading

    from browser import start_chromium, stop_chromium
    from selenium.webdriver.support.ui import WebDriverWait

    from tapegrad.commands.demo import SEED, demo_setup
    from tapegrad.live import LiveControl, LiveServer
    from tapegrad.train import fit

    X, y, model, optimizer = demo_setup(100)
    control = LiveControl(pace=0.1, title=f"tapegrad demo: {model!r} on moons")
    with LiveServer(control) as server:
        run = threading.Thread(
            target=fit,
            args=(model, X, y),
            kwargs={"loss": "hinge", "optimizer": optimizer, "steps": 100, "l2": 1e-4,
                    "seed": SEED, "progress": False, "compile": True, "control": control},
        )  # fmt: skip
        driver = start_chromium()
        try:
            driver.set_window_size(1000, 1040)
            driver.get(server.url)
            run.start()
            box = driver.find_element("css selector", ".tg-live")
            wait = WebDriverWait(driver, 120, poll_frequency=0.05)
            wait.until(lambda d: int(box.get_attribute("data-step") or 0) >= 40)
            driver.find_element("css selector", '[data-act="pause"]').click()
            wait.until(lambda d: box.get_attribute("data-state") == "paused")
            png = driver.get_screenshot_as_png()
        finally:
            stop_chromium(driver)
            control.command("stop")
            run.join()
    out.write_bytes(png)
    return len(png)


if __name__ == "__main__":
    makers = (
        ("explain.png", make_explain_png),
        ("report.png", make_report_png),
        ("mistake.png", make_mistake_png),
        ("live.png", make_live_png),
    )
    for name, make in makers:
        if len(sys.argv) > 1 and name not in sys.argv[1:]:  # only the pictures named, if any
            continue
        path = ROOT / "docs" / "images" / name
        size = make(path)
        print(f"wrote {path.relative_to(ROOT)} ({size:,} bytes)")
