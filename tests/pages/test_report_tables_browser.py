"""The report of a table in headless Chromium (issue 20): `tapegrad train` on a 3-class table
with a text feature and on a regression table, read as a user sees it: columns and classes by
name, the confusion matrix and the predicted-vs-true view at each moment, the kept epoch last,
the panel's numbers on the curves, and no text cut off by its box."""

import json
import re

import numpy as np
import pytest
from browser import non_white_fraction

import tapegrad
from tapegrad.nn import MLP
from tapegrad.train import History, fit

pytestmark = pytest.mark.usefixtures("chromium")

CLIPPED = """
var out = [];
document.querySelectorAll("svg.tg-chart, svg.tg-scatter").forEach(function (svg) {
  var box = svg.viewBox.baseVal;
  svg.querySelectorAll("text").forEach(function (t) {
    var b = t.getBBox();
    if (b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5
        || b.y + b.height > box.y + box.height + 0.5) {
      out.push(svg.getAttribute("aria-label") + ": " + t.textContent + " at "
               + [b.x, b.y, b.width, b.height].map(Math.round).join(","));
    }
  });
});
document.querySelectorAll(".tg-report td, .tg-report th, .tg-step, .tg-objective")
  .forEach(function (e) {
    if (e.scrollWidth > e.clientWidth + 1) out.push("cut: " + e.textContent);
  });
return out;
"""


def clipped(driver) -> list[str]:
    """Every text of the page's charts that reaches out of its picture, and every cell whose
    text is wider than the cell."""
    return driver.execute_script(CLIPPED)


def move_slider(driver, k: int) -> None:
    from selenium.webdriver.common.keys import Keys

    slider = driver.find_element("css selector", ".tg-moment")
    now = int(slider.get_attribute("value"))
    key = Keys.ARROW_LEFT if k < now else Keys.ARROW_RIGHT
    for _ in range(abs(k - now)):
        slider.send_keys(key)
    assert int(slider.get_attribute("value")) == k


def text(driver, selector: str) -> str:
    return driver.find_element("css selector", selector).text


def train(tmp_path, name: str, lines: list[str], label: str, epochs: int) -> str:
    from tapegrad.cli import main

    data, out = tmp_path / f"{name}.csv", tmp_path / name
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["train", "--data", str(data), "--label", label, "--epochs", str(epochs),
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return str(out)


def classes_table(n=150, seed=2) -> list[str]:
    rng = np.random.default_rng(seed)
    kinds = ["Iris <setosa>", "versicolor", "virginica"]
    lines = ["petal length (cm),colour,sepal width,species"]
    for _ in range(n):
        c = int(rng.integers(3))
        colour = ["red", "blue"][int(rng.integers(2))]
        lines.append(f"{rng.normal(c, 0.7):.3f},{colour},{rng.random():.3f},{kinds[c]}")
    return lines


def test_a_classifier_of_a_table_names_columns_and_classes_and_its_matrix_follows(
    browser, tmp_path
):
    out = train(tmp_path, "species", classes_table(), "species", epochs=60)
    history = json.load(open(f"{out}/history.json", encoding="utf-8"))
    browser.get(f"file://{out}/report.html")
    assert clipped(browser) == []
    last = int(browser.find_element("css selector", ".tg-moment").get_attribute("max"))
    kept = history["kept"]
    step = text(browser, ".tg-step")
    if kept is not None and kept < len(history["loss"]):  # stopped early: the kept weights last
        assert step == f"epoch {kept} of {len(history['loss'])} (best, kept)"
    heads = [e.text for e in browser.find_elements("css selector", ".tg-confusion tr th")][:4]
    assert heads[1:] == sorted(["Iris <setosa>", "versicolor", "virginica"])
    line = browser.find_element("css selector", ".tg-views > .tg-view:not(.tg-off) .tg-out").text
    assert "petal length (cm) = " in line and "colour=red = " in line and "colour=blue = " in line
    assert re.search(r"P\((Iris <setosa>|versicolor|virginica)\) [\d.]+, predicted", line)
    counts = {}
    for k in (0, last):
        move_slider(browser, k)
        cells = browser.find_elements("css selector", "[data-cm]")
        counts[k] = {c.get_attribute("data-cm"): int(c.text) for c in cells}
        assert sum(counts[k].values()) == int(re.search(r"on the ([\d,]+) rows", text(
            browser, ".tg-confusion caption")).group(1).replace(",", ""))  # fmt: skip
        # the panel's objective is the dot's at this moment on the loss curve
        dot = browser.find_elements("css selector", ".tg-chart circle.tg-at title")[k]
        objective = text(browser, '[data-cell="objective"]')
        assert dot.get_attribute("textContent").endswith(f": {objective}")
        assert clipped(browser) == []
    assert counts[0] != counts[last]  # the matrix follows the slider
    move_slider(browser, 0)
    assert text(browser, ".tg-step").startswith("epoch 0 of ")
    assert non_white_fraction(browser.get_screenshot_as_png()) > 0.02


def regression_lines(n=120, seed=5) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = ["size,colour,house price"]
    for _ in range(n):
        size, colour = rng.normal(3, 1), ["red", "blue", "green"][int(rng.integers(3))]
        price = 2000 + 300 * size + 150 * (colour == "red") + rng.normal(0, 20)
        lines.append(f"{size:.3f},{colour},{price:.2f}")
    return lines


def test_a_regression_of_a_table_shows_predicted_against_true_in_its_units(browser, tmp_path):
    lines = regression_lines()
    prices = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    out = train(tmp_path, "houses", lines, "house price", epochs=40)
    browser.get(f"file://{out}/report.html")
    assert clipped(browser) == []
    texts = [e.get_attribute("textContent") for e in
             browser.find_elements("css selector", ".tg-scatter text")]  # fmt: skip
    assert "true house price" in texts and "predicted house price" in texts
    lo, hi = float(texts[1]), float(texts[0])  # the axis's ends: the prices' own range
    assert lo <= min(prices) * 1.001 and max(prices) * 0.999 <= hi and hi < 2 * max(prices)
    dots = {}
    last = int(browser.find_element("css selector", ".tg-moment").get_attribute("max"))
    for k in (0, last):
        move_slider(browser, k)
        circles = browser.find_elements("css selector", ".tg-scatter circle")
        assert 0 < len(circles) <= len(prices)
        dots[k] = [c.get_attribute("cy") for c in circles]
        assert clipped(browser) == []
    assert dots[0] != dots[last]
    line = browser.find_element("css selector", ".tg-views > .tg-view:not(.tg-off) .tg-out").text
    said = float(re.search(r"predicted ([-\d.e+]+)$", line).group(1))
    assert min(prices) - 2000 < said < max(prices) + 2000  # in dollars, not standardised
    assert "colour=green = " in line and "size = " in line


@pytest.mark.parametrize("scale", [1e-4, 1e8, -1e6])
def test_no_label_is_cut_for_small_large_or_negative_numbers(browser, tmp_path, scale):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    y = scale * (X[:, 0] - X[:, 1]) + (-3.1e7 if scale < 0 else 0.0)  # the view's ends too
    model = MLP(2, [4, 1], seed=0)
    h = fit(model, X, y, loss="mse", steps=3, progress=False)
    steps = 7
    made = History(unit="epoch", loss=[scale * (1.057 + 0.1 * i) for i in range(steps)],
                   l2_term=[abs(scale) * 1e-3] * steps, accuracy=[None] * steps,
                   lr=[0.01] * steps, val_loss=[scale * (1.0905 + 0.01 * i) for i in range(steps)],
                   val_accuracy=[None] * steps)  # fmt: skip
    made.snapshots = h.snapshots
    page = tapegrad.report(made, model, X, y, loss="mse", output_names=["a long label name"])
    browser.get(f"file://{page.save(tmp_path / 'p.html')}")
    assert clipped(browser) == []
    ticks = [e.get_attribute("textContent") for e in
             browser.find_elements("css selector", ".tg-chart text[text-anchor=end]")]  # fmt: skip
    assert all(len(t) <= 8 for t in ticks), ticks
