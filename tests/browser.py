"""Headless Chromium for tests that open tapegrad's pages from file://.

Debian's `chromium` and `chromium-driver` are driven through Selenium with the driver's path
given explicitly, so Selenium Manager never downloads a browser or a driver. Without them a
local run skips the browser tests (saying how to install them); under CI (`CI=true`) a missing
browser fails them (`references.skip_or_fail`, as for a missing reference).
"""

from __future__ import annotations

import shutil
import tempfile

from references import skip_or_fail

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
INSTALL = (
    "install Debian's browser and its driver (apt-get install chromium chromium-driver) and "
    "Selenium (pip install selenium, part of the dev extra)"
)


def _find(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing_browser(reason: str):
    """Skip (locally) or fail (under CI) a test that needs the browser."""
    skip_or_fail(f"browser tests need headless Chromium: {reason}; {INSTALL}")


def start_chromium():
    """A Selenium driver for a fresh headless Chromium profile, logging the console."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing_browser("Selenium is not installed")
    browser = _find("chromium", "chromium-browser")
    driver_path = _find("chromedriver")
    if browser is None:
        missing_browser("no chromium on PATH")
    if driver_path is None:
        missing_browser("no chromedriver on PATH")
    profile = tempfile.mkdtemp(prefix="tapegrad-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.tapegrad_profile = profile
    return driver


def stop_chromium(driver) -> None:
    driver.quit()
    shutil.rmtree(driver.tapegrad_profile, ignore_errors=True)


def javascript_errors(driver) -> list[str]:
    """The console messages logged as errors since the last call (uncaught exceptions too)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def non_white_fraction(png: bytes) -> float:
    """The share of a screenshot's pixels that are not (near) white."""
    import io

    import matplotlib.image as mpimg

    pixels = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
    return float((pixels.min(axis=-1) < 0.95).mean())
