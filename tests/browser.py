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


# --- hostile text: names that try to become markup, a link or a script -----------------------

SENTINEL = "__pwned"
"""Set on `window` by every payload's script: still undefined after every click, or script ran."""
RUN = f"javascript:void(window.{SENTINEL}=1)"
HOSTILE = (
    # Graphviz's HTML-like label with a link (issue 19): the SVG got <a xlink:href="javascript:">
    f"<<TABLE><TR><TD HREF='{RUN}'>click</TD></TR></TABLE>>",
    "<<TABLE><TR><TD HREF='javascript:alert(1)' TOOLTIP='t'>alert</TD></TR></TABLE>>",
    f'<a href="{RUN}">link</a>',  # HTML or SVG markup
    f'</text><a xlink:href="{RUN}"><text>out</text></a><text>',  # out of an SVG <text>
    f"<img src=x onerror='window.{SENTINEL}=1'>",  # script on load
    f"</script><script>window.{SENTINEL}=1</script>",  # out of the page's data
    f'" URL="{RUN}" label="x',  # out of a quoted DOT string
    f'\\" URL="{RUN}" x="',  # ... with a backslash before the quote
    "\\N \\G \\L \\l \\",  # Graphviz's escape sequences, a lone final backslash
    "&lt;b&gt; &amp; &#60; &",  # entities Graphviz or HTML would decode
    "{0} f{x} f{9} {} %s $x",  # format strings of Python and templates
)


# Where a real mouse click on arguments[0] lands, as WebDriver's element click finds it: the
# element scrolled into view, the centre of its first box, which the element itself (or a part
# of it) must be on top at; null when it is not displayed, has no size, or is covered.
CLICK_POINT = """
var el = arguments[0];
el.scrollIntoView({block: "nearest", inline: "nearest"});
var box = el.getClientRects()[0];
if (!box || box.width === 0 || box.height === 0) return null;
var x = box.left + box.width / 2, y = box.top + box.height / 2;
var top = document.elementFromPoint(x, y);
return top !== null && (top === el || el.contains(top)) ? [x, y] : null;
"""
MOUSE_EVENTS = (("mouseMoved", "none"), ("mousePressed", "left"), ("mouseReleased", "left"))


def mouse_click(driver, element) -> bool:
    """A real (trusted) mouse click, moved to, pressed and released over `element` through the
    browser's input events, as WebDriver's element click does but in half its time (its
    click waits ~60 ms, a few hundred clicks a page); False when the mouse cannot reach it."""
    point = driver.execute_script(CLICK_POINT, element)
    if point is None:
        return False
    x, y = point
    for kind, button in MOUSE_EVENTS:
        driver.execute_cdp_cmd(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": button, "clickCount": 1},
        )
    return True


def click_everything(driver, selector: str = "svg *, a", mouse: str = "a, text") -> int:
    """Click every element matching `selector` with a script click event (SVG titles and hidden
    parts too), after a real mouse click on each `mouse` element (links and texts: what a reader
    clicks) that the mouse can reach. Returns how many elements there were; an alert opened by
    any click fails at once: the driver answers the next command with
    UnexpectedAlertPresentException (and dismisses the alert)."""
    from selenium.common.exceptions import UnexpectedAlertPresentException, WebDriverException

    elements = driver.find_elements("css selector", selector)
    try:
        for el in driver.find_elements("css selector", mouse):
            try:
                mouse_click(driver, el)
            except UnexpectedAlertPresentException:
                raise
            except WebDriverException:  # gone: the page redrew it
                pass
        driver.execute_script(
            "document.querySelectorAll(arguments[0]).forEach(function (el) {"
            "  el.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));"
            "  if (typeof el.click === 'function') el.click();"
            "});",
            selector,
        )
    except UnexpectedAlertPresentException as alert:
        raise AssertionError(f"a click opened an alert: {alert.alert_text!r}") from None
    assert_no_alert(driver)
    return len(elements)


def assert_no_alert(driver) -> None:
    """Fail, closing it, if an alert is open: an alert means a payload's script ran."""
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    raise AssertionError(f"an alert opened: {text!r}")


def assert_no_script_ran(driver, url: str) -> None:
    """No payload ran: no alert, the sentinel unset, still on `url` (no javascript: page)."""
    assert_no_alert(driver)
    ran = driver.execute_script(f"return typeof window.{SENTINEL}") != "undefined"
    assert not ran, f"a payload's script ran: window.{SENTINEL} is set"
    assert driver.current_url.split("#")[0] == url, f"navigated to {driver.current_url!r}"


def hostile_graph(text: str):
    """out = OP(x) * 2 where `text` is both OP's name and x's label, OP running as the lecture's
    `_backward` closure, after backward(): what draw_dot and explain draw, every name hostile."""
    from tapegrad import Value

    x = Value(2.0, label=text)
    y = Value(x.data**2, (x,), text)

    def _backward():
        x.grad += 2 * x.data * y.grad

    y._backward = _backward
    out = y * 2
    out.label = "out"
    out.backward()
    return out
