"""Script on click, not only on load: headless Chromium opens an explain page and draw_dot's SVG
made from hostile op names and labels (tests/browser.py's HOSTILE), drawn by Graphviz and by the
builtin renderer, clicks every element, and checks that no payload ran and every name is shown
as written."""

import shutil

import pytest
from browser import HOSTILE, assert_no_script_ran, click_everything, hostile_graph

from tapegrad import Value, draw_dot
from tapegrad.pages.explain import explain

pytestmark = [
    pytest.mark.usefixtures("chromium"),
    pytest.mark.filterwarnings("ignore::tapegrad.viz.RendererWarning"),
]


@pytest.fixture(params=["dot", "builtin"])
def renderer(request, monkeypatch, tmp_path):
    """Each picture drawn once by Graphviz's `dot` and once by the builtin renderer."""
    if request.param == "dot" and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed here")
    if request.param == "builtin":
        monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no `dot` to be found
    return request.param


def hostile_sum() -> tuple[Value, list[Value]]:
    """out = op0(x0) + op1(x1) + ...: each HOSTILE text names one op (a `_backward` closure)
    and labels its input; and the op nodes in order."""
    made = []
    for text in HOSTILE:
        x = Value(2.0, label=text)
        y = Value(x.data**2, (x,), text)

        def _backward(x=x, y=y):
            x.grad += 2 * x.data * y.grad

        y._backward = _backward
        made.append(y)
    out = made[0]
    for y in made[1:]:
        out = out + y
    out.label = "out"
    out.backward()
    return out, made


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="no Graphviz `dot` here")


@needs_dot
@pytest.mark.parametrize("kind", ["page", "svg"])
@pytest.mark.parametrize("text", HOSTILE[:2], ids=["sentinel", "alert"])
def test_a_graphviz_html_label_is_no_link(browser, tmp_path, kind, text):
    # Issue 19: an op named <<TABLE>...<TD HREF='javascript:...'>...>> became a link in
    # Graphviz's SVG, on explain pages and in draw_dot's files, and a click ran it.
    out = hostile_graph(text)
    if kind == "page":
        path = explain(out).save(tmp_path / "page.html")
    else:
        path = draw_dot(out).save(tmp_path / "graph.svg")
    url = f"file://{path}"
    browser.get(url)
    assert click_everything(browser) > 20
    assert_no_script_ran(browser, url)
    assert svg_texts(browser).count(text) == 2  # the op's ellipse and its input's box


def svg_texts(driver) -> list[str]:
    return [
        t.get_attribute("textContent").strip()
        for t in driver.find_elements("css selector", "svg text")
    ]


def test_clicking_an_explain_page_of_hostile_names_runs_nothing(browser, renderer, tmp_path):
    out, ops = hostile_sum()
    page = explain(out, title=HOSTILE[0])
    assert page.renderer == renderer
    path = page.save(tmp_path / "page.html")
    url = f"file://{path}"
    browser.get(url)
    assert_no_script_ran(browser, url)  # nothing on load
    assert browser.title == HOSTILE[0]
    assert browser.find_element("css selector", ".tg-name").text == HOSTILE[0]
    texts = svg_texts(browser)
    for text in HOSTILE:  # the op's ellipse and its input's box
        assert texts.count(text.strip()) == 2, text
    assert click_everything(browser, "svg *, a, .tg-panel *") > 100
    assert_no_script_ran(browser, url)
    body = browser.find_element("tag name", "body")
    for op, text in zip(ops, HOSTILE, strict=True):  # each op's step names it as written
        at = next(k for k, s in enumerate(page.steps) if page.element(op) in s.focus)
        body.send_keys("\ue011" + "\ue014" * at)  # Home, then forward to its step
        title = browser.find_element("css selector", ".tg-title").get_attribute("textContent")
        assert title.startswith("Forward: ") and title.endswith(f" = {text}(({text}))"), title
    body.send_keys("\ue010")  # End: every grad shown, clicked once more
    click_everything(browser)
    assert_no_script_ran(browser, url)


def test_clicking_draw_dots_svg_of_hostile_names_runs_nothing(browser, renderer, tmp_path):
    out, _ = hostile_sum()
    picture = draw_dot(out)
    path = picture.save(tmp_path / "graph.svg")
    assert picture.rendered_by == renderer
    url = f"file://{path}"
    browser.get(url)
    assert_no_script_ran(browser, url)
    texts = svg_texts(browser)
    for text in HOSTILE:
        assert texts.count(text.strip()) == 2, text
    assert browser.find_elements("css selector", "a") == []
    assert click_everything(browser, "*") > 50
    assert_no_script_ran(browser, url)


def test_click_everything_clicks_as_a_reader_and_fails_on_an_alert(browser, tmp_path):
    # The helper itself: its mouse clicks are the browser's trusted input events, one on each
    # text the mouse can reach (not the hidden one, not the covered one), and an alert opened
    # by a click fails the test.
    page = tmp_path / "page.html"
    page.write_text(
        "<svg width='600' height='200'>"
        + "".join(f"<text x='{20 + 60 * k}' y='40'>t{k}</text>" for k in range(8))
        + "<text x='20' y='120' style='display:none'>hidden</text>"
        + "<text x='20' y='160'>covered</text><rect x='0' y='140' width='200' height='40'/>"
        + "</svg><script>window.trusted = [];"
        + "document.addEventListener('click', function (e) {"
        + "  if (e.isTrusted && e.target.tagName === 'text') trusted.push(e.target.textContent);"
        + "});</script>"
    )
    browser.get(f"file://{page}")
    assert click_everything(browser, "text") == 10
    assert browser.execute_script("return window.trusted") == [f"t{k}" for k in range(8)]
    page.write_text("<a href='#' onclick='alert(\"clicked\")'>a link</a> <a href='#'>another</a>")
    browser.get(f"file://{page}")
    with pytest.raises(AssertionError, match="a click opened an alert: 'clicked'"):
        click_everything(browser)
