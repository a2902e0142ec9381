"""Mistake pages in a real browser: headless Chromium opens them from file://, steps through
both walks, and reads the two columns of numbers and the marked node off the page; the numbers
are checked against the plain-Python reference walk of `mistake_reference.py`."""

from __future__ import annotations

import math

import mistake_reference as ref
import pytest
from browser import non_white_fraction

from tapegrad import Value, explain

pytestmark = pytest.mark.usefixtures("chromium")


def open_page(driver, page, tmp_path, hash_="", name="mistake.html"):
    path = page.save(tmp_path / name)
    driver.get(f"file://{path}{hash_}")
    return driver.find_element("css selector", ".tg-explain").get_attribute("id")


def table(driver) -> dict[str, tuple[float, float, list[str]]]:
    """Each row of the grads table: (right column, mistaken column, the row's classes)."""
    rows = {}
    for tr in driver.find_elements("css selector", ".tg-grads tbody tr"):
        name = tr.find_element("tag name", "th").get_attribute("textContent")
        r = float(tr.find_element("css selector", "td.tg-r").text)
        w = float(tr.find_element("css selector", "td.tg-w").text)
        rows[name] = (r, w, tr.get_attribute("class").split())
    return rows


def count(driver) -> str:
    return driver.find_element("css selector", ".tg-count").text


def click(driver, act: str) -> None:
    driver.find_element("css selector", f'[data-act="{act}"]').click()


def marked(driver) -> list[str]:
    return [name for name, (_, _, cls) in table(driver).items() if "tg-first" in cls]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def test_the_lectures_diamond_with_assign_step_by_step(browser, tmp_path):
    right = ref.backward(ref.diamond(ref.Ref))
    wrong = ref.backward(ref.diamond(ref.Ref), assign=True)
    page = explain(ref.diamond(Value), mistake="assign", precision=8)
    uid = open_page(browser, page, tmp_path)
    last = len(page.steps) - 1
    first = ref.first_to_differ(ref.diamond(ref.Ref), right[-1], wrong[-1])
    for k in range(last + 1):
        assert count(browser) == f"{k} / {last}"
        rows = table(browser)
        for name, (r, w, cls) in rows.items():
            assert close(r, right[k][name]) and close(w, wrong[k][name]), (k, name)
            assert ("tg-diff" in cls) is not close(r, w)
        # the marked node: none until the step where its numbers part company, then b
        differs = not close(right[k][first], wrong[k][first])
        assert marked(browser) == ([first] if differs else [])
        if k < last:
            click(browser, "next")
    element = page._elements[page.run.index(page.run.first_difference)]
    box = browser.find_element("id", f"{uid}-{element}")
    assert "tg-first" in box.get_attribute("class").split()
    texts = [t.get_attribute("textContent") for t in box.find_elements("tag name", "text")]
    assert texts[-1] == "grad -8.00000000 | -2.00000000"  # both numbers in the picture
    why = browser.find_element("css selector", ".tg-verdict").text
    assert why.startswith("b.grad is -2 with `=` but -8 with `+=`")
    assert non_white_fraction(browser.get_screenshot_as_png()) > 0.01


def test_order_bfs_marks_the_node_at_its_step(browser, tmp_path):
    right = ref.backward(ref.two_paths(ref.Ref))
    wrong = ref.backward(ref.two_paths(ref.Ref), "bfs")
    page = explain(ref.two_paths(Value), mistake="order", walk="bfs", precision=8)
    k = page.run.first_step
    open_page(browser, page, tmp_path, hash_=f"#step={k}")
    assert count(browser).startswith(f"{k} /")
    assert marked(browser) == ["x"]
    rows = table(browser)
    assert close(rows["x"][0], right[k]["x"]) and close(rows["x"][1], wrong[k]["x"])
    lines = [li.text for li in browser.find_elements("css selector", ".tg-lines li")]
    assert lines[-1].startswith("the first to differ: x.grad is")
    # the row of the node each walk works on is lit in its own column
    step = page.steps[k]
    names = page.names
    lit_r = [n for n, (_, _, c) in table(browser).items() if "tg-at-r" in c]
    lit_w = [n for n, (_, _, c) in table(browser).items() if "tg-at-w" in c]
    assert lit_r == [names[step.right]] and lit_w == [names[step.wrong]]
    body = browser.find_element("tag name", "body")
    body.send_keys("\ue012")  # ArrowLeft: one step before, nothing is marked
    assert count(browser).startswith(f"{k - 1} /")
    assert marked(browser) == []


def test_no_zero_differs_from_the_seed_and_a_tree_never_does(browser, tmp_path):
    root = ref.diamond(ref.Ref)
    ref.backward(root)
    stale = ref.backward(root, zero=False)
    page = explain(ref.diamond(Value), mistake="no-zero", precision=8)
    open_page(browser, page, tmp_path)
    rows = table(browser)
    assert count(browser).startswith("0 /")
    assert marked(browser) == ["e"]  # the stale grads are there before the pass starts
    assert close(rows["e"][1], stale[0]["e"]) and close(rows["e"][0], 0.0)
    page = explain(ref.neuron(Value), mistake="assign")
    open_page(browser, page, tmp_path, hash_="#step=3", name="tree.html")
    assert marked(browser) == []
    assert all("tg-diff" not in c for _, _, c in table(browser).values())
    assert "the same numbers" in browser.find_element("css selector", ".tg-verdict").text
