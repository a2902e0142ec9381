"""explain pages in a real browser: headless Chromium opens them from file://, clicks and types
through the steps, and reads the numbers off the picture (see tests/browser.py)."""

import math
import re

import pytest
from browser import non_white_fraction
from lecture_graphs import cube, doubled, neuron

from tapegrad import Value
from tapegrad.graph import zero_grad
from tapegrad.pages.explain import explain

pytestmark = pytest.mark.usefixtures("chromium")


def open_page(driver, page, tmp_path, name="page.html", hash_=""):
    path = page.save(tmp_path / name)
    driver.get(f"file://{path}{hash_}")
    return driver.find_element("css selector", ".tg-explain").get_attribute("id")


def cell(driver, uid: str, element: str, which: str) -> str:
    """The text of a box's data or grad cell (the last two cells of a record)."""
    texts = driver.find_element("id", f"{uid}-{element}").find_elements("tag name", "text")
    return texts[-2 if which == "data" else -1].get_attribute("textContent")


def number(text: str) -> float:
    return float(text.split()[-1])


def count(driver) -> str:
    return driver.find_element("css selector", ".tg-count").text


def click(driver, act: str) -> None:
    driver.find_element("css selector", f'[data-act="{act}"]').click()


def panel(driver) -> tuple[str, list[str]]:
    title = driver.find_element("css selector", ".tg-title").text
    lines = [li.text for li in driver.find_elements("css selector", ".tg-lines li")]
    return title, lines


def test_the_lecture_neuron_stepped_to_the_end(browser, tmp_path):
    v = neuron()
    page = explain(v["o"])
    uid = open_page(browser, page, tmp_path)
    last = len(page.steps) - 1
    assert count(browser) == f"0 / {last}"
    assert cell(browser, uid, page.element(v["o"]), "data") == "data ?"
    assert cell(browser, uid, page.element(v["x1"]), "grad") == "grad 0.0000"
    for k in range(1, last + 1):
        click(browser, "next")
        assert count(browser) == f"{k} / {last}"
    assert browser.find_element("css selector", '[data-act="next"]').get_attribute("disabled")
    # The lecture's numbers: o = tanh(0.8814) = 1/sqrt(2); do/dn = 1 - o**2 = 0.5.
    shown = {name: cell(browser, uid, page.element(v[name]), "grad") for name in v}
    assert number(cell(browser, uid, page.element(v["o"]), "data")) == pytest.approx(
        1 / math.sqrt(2), abs=5e-5
    )
    expected = {"x1": -3 * 0.5, "w1": 2 * 0.5, "x2": 1 * 0.5, "w2": 0 * 0.5, "b": 0.5, "o": 1.0}
    for name, g in expected.items():
        assert number(shown[name]) == pytest.approx(g, abs=5e-5), name
    # ... and what the engine's own backward() gives.
    v["o"].backward()
    for name, node in v.items():
        assert number(shown[name]) == pytest.approx(node.grad, abs=5e-5), name
    png = browser.get_screenshot_as_png()
    assert non_white_fraction(png) > 0.01


def test_keyboard_hash_and_jump(browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    v = neuron()
    page = explain(v["o"])
    last = len(page.steps) - 1
    uid = open_page(browser, page, tmp_path, hash_="#step=6")
    assert count(browser) == f"6 / {last}"
    assert panel(browser)[0] == "Backward: start at o with o.grad = 1"
    body = browser.find_element("tag name", "body")
    body.send_keys("\ue014")  # ArrowRight
    assert count(browser) == f"7 / {last}"
    assert browser.execute_script("return location.hash") == "#step=7"
    title, lines = panel(browser)
    assert title == "Backward: o's local chain rule"
    assert lines == [
        "n.grad += o.grad · (1 - o.data · o.data) = 1.0000 × (1 - 0.7071 × 0.7071) = 0.5000"
    ]
    assert cell(browser, uid, page.element(v["n"]), "grad") == "grad 0.5000"
    body.send_keys("\ue012")  # ArrowLeft: the grad goes back to 0
    assert count(browser) == f"6 / {last}"
    assert cell(browser, uid, page.element(v["n"]), "grad") == "grad 0.0000"
    body.send_keys("\ue010")  # End
    assert count(browser) == f"{last} / {last}"
    body.send_keys("\ue011")  # Home
    assert count(browser) == f"0 / {last}"
    jump = browser.find_element("css selector", ".tg-jump")
    jump.clear()
    jump.send_keys("4\n")
    assert count(browser) == f"4 / {last}"
    assert cell(browser, uid, page.element(v["n"]), "data") == "data 0.8814"
    assert cell(browser, uid, page.element(v["o"]), "data") == "data ?"
    browser.execute_script("location.hash = '#step=11'")
    WebDriverWait(browser, 5).until(lambda d: count(d) == f"11 / {last}")
    focused = browser.find_element("id", f"{uid}-{page.element(v['x1w1'])}")
    assert "tg-focus" in focused.get_attribute("class").split()


def test_play_and_pause(browser, tmp_path):
    page = explain(neuron()["o"])
    open_page(browser, page, tmp_path)
    from selenium.webdriver.support.ui import WebDriverWait

    click(browser, "play")
    WebDriverWait(browser, 10).until(lambda d: not count(d).startswith("0 "))
    click(browser, "play")  # pause
    stopped = count(browser)
    assert browser.find_element("css selector", '[data-act="play"]').text == "play"
    browser.execute_script("return new Promise(r => setTimeout(r, 1200))")
    assert count(browser) == stopped


def test_a_plus_a_adds_one_and_one(browser, tmp_path):
    a, b = doubled()
    page = explain(b)
    uid = open_page(browser, page, tmp_path)
    backward = next(k for k, s in enumerate(page.steps) if s.phase == "backward")
    browser.find_element("tag name", "body").send_keys("\ue014" * backward)
    title, lines = panel(browser)
    assert title == "Backward: b's local chain rule"
    assert len(lines) == 2
    assert lines[0].endswith("(a.grad: 0.0000 + 1.0000 = 1.0000)")
    assert lines[1].endswith("(a.grad: 1.0000 + 1.0000 = 2.0000)")
    assert number(cell(browser, uid, page.element(a), "grad")) == 2.0


def test_a_closure_op_in_the_browser(browser, tmp_path):
    x = Value(2.0, label="x")
    y = cube(x)
    y.label = "y"
    page = explain(y)
    uid = open_page(browser, page, tmp_path)
    browser.find_element("tag name", "body").send_keys("\ue010")  # End
    assert number(cell(browser, uid, page.element(x), "grad")) == 12.0  # 3 x**2 at x = 2


def test_a_collapsed_mlp(browser, tmp_path):
    from tapegrad.nn import MLP

    model = MLP(2, [4, 4, 1], seed=7)
    xs = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    loss = (model(xs) - 1.0) ** 2
    loss.label = "loss"
    page = explain(loss, collapse="layer")
    uid = open_page(browser, page, tmp_path)
    body = browser.find_element("tag name", "body")
    body.send_keys("\ue014")
    title, _ = panel(browser)
    assert title.startswith("Forward: layers.0 computes")
    box = browser.find_element("id", f"{uid}-{page.element(model.layers[0].neurons[0].b)}")
    assert "tg-focus" in box.get_attribute("class")
    body.send_keys("\ue010")
    zero_grad(loss)
    loss.backward()
    for layer in model.layers:
        norm = math.sqrt(sum(p.grad**2 for p in layer.parameters()))
        el = page.element(layer.neurons[0].b)
        assert number(cell(browser, uid, el, "grad")) == pytest.approx(norm, abs=5e-5)
    for x in xs:
        assert number(cell(browser, uid, page.element(x), "grad")) == pytest.approx(
            x.grad, abs=5e-5
        )
    assert non_white_fraction(browser.get_screenshot_as_png()) > 0.01


def test_the_builtin_renderer_page(browser, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot`
    v = neuron()
    page = explain(v["o"])
    assert page.renderer == "builtin"
    uid = open_page(browser, page, tmp_path)
    browser.find_element("tag name", "body").send_keys("\ue010")
    assert number(cell(browser, uid, page.element(v["x1"]), "grad")) == -1.5
    assert non_white_fraction(browser.get_screenshot_as_png()) > 0.01


HOST = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<div class="output" id="out1"></div><div class="output" id="out2"></div>
<script>
// As JupyterLab shows a trusted text/html output: set innerHTML, then run each script again.
function show(target, html) {
  target.innerHTML = html;
  target.querySelectorAll("script").forEach(function (old) {
    var s = document.createElement("script");
    if (old.type) s.type = old.type;
    if (old.id) s.id = old.id;
    s.textContent = old.textContent;
    old.replaceWith(s);
  });
}
show(document.getElementById("out1"), %s);
show(document.getElementById("out2"), %s);
</script></body></html>"""


def test_two_pages_in_a_notebook_output(browser, tmp_path):
    import json

    v = neuron()
    a, b = doubled()
    one, two = explain(v["o"]), explain(b)
    host = tmp_path / "notebook.html"

    def literal(html):  # a JS string literal that can sit inside the host's <script>
        return json.dumps(html).replace("</", "<\\/")

    host.write_text(HOST % (literal(one._repr_html_()), literal(two._repr_html_())))
    browser.get(f"file://{host}")
    boxes = browser.find_elements("css selector", ".tg-explain")
    assert len(boxes) == 2
    counts = [box.find_element("css selector", ".tg-count") for box in boxes]
    assert [c.text for c in counts] == [f"0 / {len(one.steps) - 1}", f"0 / {len(two.steps) - 1}"]
    boxes[1].find_element("css selector", '[data-act="next"]').click()
    boxes[1].send_keys("\ue014")  # arrows work while the page has focus
    assert [c.text for c in counts] == [f"0 / {len(one.steps) - 1}", f"2 / {len(two.steps) - 1}"]
    assert browser.execute_script("return location.hash") == ""  # a notebook's URL is left alone
    uid = boxes[1].get_attribute("id")
    assert cell(browser, uid, two.element(b), "grad") == "grad 1.0000"
    assert re.fullmatch(r"tgx-[0-9a-f]{8}", uid)
