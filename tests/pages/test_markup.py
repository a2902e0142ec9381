"""Escaping in one place (`tapegrad.markup`): each output kind's function, and every path by
which a name a user chose (an op's name, a label, a module's name) reaches DOT, SVG, HTML or a
terminal, with Graphviz and with the builtin renderer: shown literally, never markup or a link.
The same pages are clicked through in Chromium in test_markup_browser.py."""

import html
import json
import re
import shutil
import warnings
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import HOSTILE, hostile_graph

import tapegrad
from tapegrad import Value, draw_dot, markup, scope
from tapegrad.engine import apply
from tapegrad.pages.explain import explain
from tapegrad.textgraph import format_graph

HAVE_DOT = shutil.which("dot") is not None
SVG_NS = "{http://www.w3.org/2000/svg}"
PACKAGE = Path(tapegrad.__file__).parent
pytestmark = pytest.mark.filterwarnings("ignore::tapegrad.viz.RendererWarning")
BRACES = ("f{x}", "f{9}", "{0}", "{}", "%s", "$x", "{x}", "{0!r:>{1}}", "%(a)s", "${x}")


@pytest.fixture(params=["dot", "builtin"])
def renderer(request, monkeypatch, tmp_path):
    """Each picture drawn once by Graphviz's `dot` and once by the builtin renderer."""
    if request.param == "dot" and not HAVE_DOT:
        pytest.skip("Graphviz's dot is not installed here")
    if request.param == "builtin":
        monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` to be found
    return request.param


@pytest.fixture
def registered():
    """register_op(name, ..., symbol=SYMBOL) for the test, removed again after it."""
    names = []

    def register(symbol: str):
        name = f"hostile{len(names)}"
        tapegrad.register_op(
            name,
            lambda m, x: x * x,
            [lambda m, g, out, x: g * (2.0 * x)],
            symbol=symbol,
            method=None,
            function=None,
        )
        names.append(name)
        return tapegrad.ops.OPS[name]

    yield register
    for name in names:
        tapegrad.unregister_op(name)


# --- the functions -------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_dot_text_can_never_be_markup_or_leave_its_string(text):
    escaped = markup.dot_text(text)
    assert not set('<>"\n') & set(escaped)  # never HTML-like <...>, never out of "..."
    assert all(len(run) % 2 == 0 for run in re.findall(r"\\+", escaped))  # no \N, no \"
    field = markup.dot_field(text + " {a|b}")
    assert not re.search(r"(?<!\\)(?:\\\\)*[{}|]", field.replace("\\\\", ""))


@pytest.mark.parametrize("text", [*HOSTILE, "a\x00b\x1b\ud800\ufffe"])
def test_xml_text_round_trips_in_text_and_attributes(text):
    escaped = markup.xml_text(text)
    element = ET.fromstring(f"<t a=\"{escaped}\" b='{escaped}'>{escaped}</t>")
    shown = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe]", "\ufffd", text)
    assert element.text == element.get("a") == element.get("b") == shown


@pytest.mark.parametrize("text", [*HOSTILE, "lone \ud800 surrogate"])
def test_html_text_is_text_in_content_and_in_attributes(text):
    escaped = markup.html_text(text)
    assert not set("<>\"'") & set(escaped)
    assert html.unescape(escaped) == text.replace("\ud800", "\ufffd")
    escaped.encode("utf-8")  # a page can hold it


def test_json_for_script_takes_lone_surrogates():
    text = markup.json_for_script({"label": "a\ud800</script>"})
    assert "</" not in text
    assert json.loads(text) == {"label": "a\ufffd</script>"}
    text.encode("utf-8")


def test_terminal_text_shows_controls_and_bidi_overrides_as_escapes():
    assert markup.terminal_text("a\x1b[2Jb\nc\u202ed\u2066e\x9bf") == (
        "a\\x1b[2Jb\\nc\\u202ed\\u2066e\\x9bf"
    )
    assert markup.terminal_text("w#2 σ·Σ") == "w#2 σ·Σ"


def test_only_markup_escapes():
    # One escaping function per output kind: no presentation module escapes on its own.
    layer = [PACKAGE / f"{m}.py" for m in ("viz", "svgrender", "collapse", "textgraph", "plots")]
    layer += sorted((PACKAGE / "pages").glob("*.py"))
    own = re.compile(r"from html import|html\.escape|graphviz\.escape|nohtml|\.maketrans\(")
    found = [f"{p.name}: {m}" for p in layer for m in own.findall(p.read_text(encoding="utf-8"))]
    assert found == []


# --- pictures ------------------------------------------------------------------------------


def check_svg(svg: str) -> list[str]:
    """The SVG's texts, after checking it holds nothing a click or a load could run."""
    root = ET.fromstring(svg.encode("utf-8"))
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        assert tag not in ("a", "script", "foreignObject", "image", "iframe", "use"), tag
        for name, value in el.attrib.items():
            name = name.split("}")[-1]
            assert not name.lower().startswith("on") and name != "href", (tag, name)
            assert "javascript" not in value.lower(), (tag, name, value)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


@pytest.mark.parametrize("text", HOSTILE)
def test_draw_dot_shows_hostile_names_literally(renderer, text):
    picture = draw_dot(hostile_graph(text))
    texts = [t.strip() for t in check_svg(picture.svg())]
    assert picture.rendered_by == renderer
    assert texts.count(text.strip()) == 2  # the op's ellipse and x's record


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed here")
def test_a_pdf_gets_no_link_from_a_name():
    data = draw_dot(hostile_graph(HOSTILE[0])).pipe(format="pdf")
    assert data.startswith(b"%PDF") and b"/URI" not in data and b"javascript" not in data


@pytest.mark.parametrize("text", HOSTILE[:3] + HOSTILE[-3:])
def test_a_registered_ops_symbol_is_shown_literally(renderer, registered, text):
    x = Value(3.0, label="x")
    y = apply(registered(text), x)
    y.label = "y"
    y.backward()
    texts = [t.strip() for t in check_svg(draw_dot(y).svg())]
    assert text.strip() in texts


@pytest.mark.parametrize("text", HOSTILE[:4])
def test_a_module_name_is_shown_literally_when_collapsed(renderer, text):
    with scope("s"):
        x = Value(1.0, label="x") * 2.0
    out = x + 1.0
    out.label = "out"
    out.backward()
    texts = [t.strip() for t in check_svg(draw_dot(out, collapse=lambda path: text).svg())]
    assert text.strip() in texts


def test_text_trees_show_controls_as_escapes():
    x = Value(1.0, label="\x1b[2Jx\u202e")
    y = Value(2.0, (x,), "\x1b]0;title\x07")
    tree = format_graph(y)
    assert "\x1b" not in tree and "\u202e" not in tree and "\x07" not in tree
    assert "\\x1b[2Jx\\u202e" in tree and "[\\x1b]0;title\\x07]" in tree


# --- pages ---------------------------------------------------------------------------------


class Tags(HTMLParser):
    """Every start tag of an HTML document with its attributes, and the text outside scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if not self._in_script:
            self.texts.append(data)


def check_page(page_html: str) -> Tags:
    """The page's tags and texts, after checking that only its own two scripts can run."""
    tags = Tags()
    tags.feed(page_html)
    names = [tag for tag, _ in tags.tags]
    assert names.count("script") == 2 and not {"a", "img", "iframe", "object"} & set(names)
    for tag, attrs in tags.tags:
        for name, value in attrs.items():
            assert not name.startswith("on") and name not in ("href", "src", "xlink:href")
            assert "javascript" not in (value or "").lower(), (tag, name, value)
    return tags


def page_data(page_html: str) -> dict:
    found = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page_html)
    return json.loads(found.group(1))


@pytest.mark.parametrize("text", HOSTILE)
def test_explain_shows_hostile_names_literally(renderer, text, tmp_path):
    page = explain(hostile_graph(text), title=text)
    assert page.renderer == renderer
    saved = Path(page.save(tmp_path / "page.html")).read_text(encoding="utf-8")
    tags = check_page(saved)
    texts = [t.strip() for t in tags.texts]
    assert texts.count(text.strip()) >= 4  # the <title>, the heading, the ellipse, x's box
    steps = page_data(saved)["steps"]
    forward = next(s for s in steps if s["p"] == "forward")
    assert forward["t"].startswith(f"Forward: #1 = {text}(")  # the op, in the step's own words
    titles = [attrs for tag, attrs in tags.tags if tag == "title"]
    assert titles and f"{text} making #1" in html.unescape(saved)


@pytest.mark.parametrize("symbol", BRACES)
def test_explain_takes_braces_in_an_ops_name(registered, symbol):
    # Format strings in an op's name are text: f{x} was a ValueError, f{9} an IndexError, and
    # {0} was replaced by an input's name.
    x = Value(3.0, label="x")
    y = apply(registered(symbol), x)
    y.label = "y"
    page = explain(y)
    check_page(page.html())
    assert f"{symbol} making y" in html.unescape(page.html())
    backward = [line for s in page.steps if s.phase == "backward" for line in s.lines]
    assert backward == ["x.grad += y.grad · (2 · x.data) = 1.0000 × (2 × 3.0000) = 6.0000"]


@pytest.mark.parametrize("symbol", BRACES)
def test_explain_takes_braces_in_a_closure_ops_name_and_labels(symbol):
    out = hostile_graph(symbol)
    page = explain(out)
    forward = [s.title for s in page.steps if s.phase == "forward"]
    assert forward[0] == f"Forward: #1 = {symbol}(({symbol}))"  # x's name in parentheses
    assert [s.lines for s in page.steps if s.phase == "start"] == [[f"{symbol} = 2.0000"]]


def test_explain_pages_with_lone_surrogates_save(tmp_path):
    x = Value(2.0, label="x\ud800")
    y = x * 3.0
    y.label = "y\udfff"
    with warnings.catch_warnings():
        page = explain(y, title="t\ud800")
    text = Path(page.save(tmp_path / "page.html")).read_text(encoding="utf-8")
    assert "x\ufffd" in text and "t\ufffd" in text


def test_a_module_name_is_text_on_an_explain_page(renderer):
    text = HOSTILE[0]
    with scope("s"):
        x = Value(1.0, label="x") * 2.0
    out = x + 1.0
    out.label = "out"
    page = explain(out, collapse=lambda path: text)
    tags = check_page(page.html())
    assert text in [t.strip() for t in tags.texts]
