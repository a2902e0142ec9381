"""The training report in a real browser: headless Chromium opens it from file://, moves the
moment slider and picks samples, and reads what the page shows (see tests/browser.py)."""

import pytest
from browser import non_white_fraction

import tapegrad
from tapegrad.data import moons
from tapegrad.nn import MLP
from tapegrad.optim import SGD
from tapegrad.train import fit

pytestmark = pytest.mark.usefixtures("chromium")


@pytest.fixture(scope="module")
def page():
    X, y = moons(40, noise=0.1, seed=3)
    model = MLP(2, [8, 1], seed=5)
    history = fit(model, X, y, optimizer=SGD(model, lr=0.2), steps=20, l2=1e-3,
                  progress=False, snapshots=5)  # fmt: skip
    samples = {"origin": [0.0, 0.0], "far": [2.0, -1.0]}
    return tapegrad.report(history, model, X, y, l2=1e-3, samples=samples, resolution=30)


def move_slider(driver, k: int) -> None:
    """Set the moment slider to `k` as a user's drag does (its input event)."""
    from selenium.webdriver.common.keys import Keys

    slider = driver.find_element("css selector", ".tg-moment")
    now = int(slider.get_attribute("value"))
    key = Keys.ARROW_LEFT if k < now else Keys.ARROW_RIGHT
    for _ in range(abs(k - now)):
        slider.send_keys(key)
    assert int(slider.get_attribute("value")) == k


def shown(driver, selector: str) -> list[str]:
    return [e.text for e in driver.find_elements("css selector", selector)]


def visible_view(driver):
    views = driver.find_elements("css selector", ".tg-views > .tg-view:not(.tg-off)")
    assert len(views) == 1
    return views[0]


def view_cell(view, page_view, node, which: str) -> str:
    uid = view.find_element("css selector", ".tg-explain").get_attribute("id")
    texts = view.find_element("id", f"{uid}-{page_view.element(node)}").find_elements(
        "tag name", "text"
    )
    return texts[-2 if which == "data" else -1].get_attribute("textContent")


def output(view) -> str:
    """The sample's output as the line above its graph shows it."""
    return view.find_element("css selector", ".tg-out b").text


def input_node(page_view, label: str):
    return next(n for n in page_view.grads if n.label == label)


def test_the_slider_shows_each_moments_recorded_numbers(browser, page, tmp_path):
    path = page.save(tmp_path / "report.html")
    browser.get(f"file://{path}")
    img = browser.find_element("css selector", ".tg-boundary-img")
    last = len(page.moments) - 1
    seen = {}
    for k in [last, 2, 0, last]:
        move_slider(browser, k)
        moment = page.moments[k]
        assert browser.find_element("css selector", ".tg-step").text == f"step {moment.step} of 20"
        seen[k] = img.get_attribute("src")
        assert seen[k] == moment.boundary
        assert shown(browser, "[data-norm]") == [f"{n:.4g}" for n in moment.norms]
        objective = browser.find_element("css selector", '[data-cell="objective"]').text
        assert objective == f"{moment.objective:.4g}"
    assert len({seen[0], seen[2], seen[last]}) == 3  # a different picture at each moment
    # The sample's graph follows the slider: each moment's gradients reaching the input.
    for k in (0, last):
        move_slider(browser, k)
        view, shown_view = page.moments[k].views[0], visible_view(browser)
        x1 = input_node(view, "x1")
        assert view_cell(shown_view, view, x1, "grad") == f"grad {view.grads[x1]:.4f}"
        assert output(shown_view) == f"{view.root.data:.4g}"
    assert page.moments[0].views[0].grads != page.moments[last].views[0].grads
    png = browser.get_screenshot_as_png()
    assert non_white_fraction(png) > 0.02


def test_choosing_a_sample_shows_its_graph(browser, page, tmp_path):
    from selenium.webdriver.support.ui import Select

    path = page.save(tmp_path / "report.html")
    browser.get(f"file://{path}")
    last = len(page.moments) - 1
    origin, far = page.moments[last].views
    shown_view = visible_view(browser)
    assert "origin: (x0 = 0, x1 = 0)" in shown_view.text
    x0 = input_node(origin, "x0")
    assert view_cell(shown_view, origin, x0, "grad") == f"grad {origin.grads[x0]:.4f}"
    Select(browser.find_element("css selector", ".tg-sample")).select_by_visible_text("far")
    shown_view = visible_view(browser)
    assert "far: (x0 = 2, x1 = -1)" in shown_view.text
    x0 = input_node(far, "x0")
    assert view_cell(shown_view, far, x0, "data") == "data 2.0000"
    assert view_cell(shown_view, far, x0, "grad") == f"grad {far.grads[x0]:.4f}"
    assert output(shown_view) == f"{far.root.data:.4g}" != f"{origin.root.data:.4g}"
    # The view still steps: back one step from the end.
    shown_view.find_element("css selector", '[data-act="back"]').click()
    count = shown_view.find_element("css selector", ".tg-count").text
    assert count == f"{len(far.steps) - 2} / {len(far.steps) - 1}"


def test_the_demo_writes_a_report_whose_slider_moves_the_boundary(browser, tmp_path, capsys):
    from tapegrad.cli import main

    assert main(["demo", "--out", str(tmp_path / "demo"), "--no-progress"]) == 0
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert "report.html" in last
    path = tmp_path / "demo" / "report.html"
    assert path.stat().st_size < 2_000_000  # micrograd's demo stays small
    browser.get(f"file://{path}")
    slider = browser.find_element("css selector", ".tg-moment")
    assert slider.get_attribute("max") == "10"  # before the first step, then every tenth
    img = browser.find_element("css selector", ".tg-boundary-img")
    trained = img.get_attribute("src")
    move_slider(browser, 0)
    assert browser.find_element("css selector", ".tg-step").text == "step 0 of 100"
    untrained = img.get_attribute("src")
    assert untrained.startswith("data:image/png;base64,") and untrained != trained
    options = [o.text for o in browser.find_elements("css selector", ".tg-sample option")]
    assert options[0] == "origin" and len(options) == 3
    assert non_white_fraction(browser.get_screenshot_as_png()) > 0.02


def test_a_table_report_names_columns_and_classes_and_its_views_follow_the_slider(
    browser, tmp_path
):
    import numpy as np

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    model = MLP(3, [6, 3], seed=1)
    history = fit(model, X, y, loss="softmax_ce", steps=12, snapshots=4, progress=False)
    page = tapegrad.report(history, model, X, y, loss="softmax_ce",
                           input_names=["len <cm>", "colour=red", "w"],
                           output_names=["a&b", "setosa", "<virg>"])  # fmt: skip
    browser.get(f"file://{page.save(tmp_path / 'cls.html')}")
    line = visible_view(browser).find_element("css selector", ".tg-out").text
    assert "len <cm> = " in line and "colour=red = " in line and "(true " in line
    last = len(page.moments) - 1
    for k in (0, last):
        move_slider(browser, k)
        for t, row in enumerate(page.moments[k].confusion):
            for p, n in enumerate(row):
                cell = browser.find_element("css selector", f'[data-cm="{t}-{p}"]')
                assert cell.text == str(n)
    heads = shown(browser, ".tg-confusion tr:first-child th")
    assert heads[1:] == ["a&b", "setosa", "<virg>"]

    Xr = rng.normal(size=(40, 2))
    yr = 2 * Xr[:, 0] - Xr[:, 1]
    model = MLP(2, [5, 1], seed=1)
    history = fit(model, Xr, yr, loss="mse", steps=12, snapshots=3, progress=False)
    page = tapegrad.report(history, model, Xr, yr, loss="mse", input_names=["u", "v"],
                           output_names=["price"])  # fmt: skip
    browser.get(f"file://{page.save(tmp_path / 'reg.html')}")
    dots = {}
    for k in (0, 2):
        move_slider(browser, k)
        circles = browser.find_elements("css selector", ".tg-scatter circle")
        assert len(circles) == 40
        dots[k] = [c.get_attribute("cy") for c in circles]
    assert dots[0] != dots[2]  # the predictions move with the slider
    assert "price" in visible_view(browser).find_element("css selector", ".tg-out").text
