"""draw_dot: DOT source checked against micrograd's graph and closed forms, SVG from Graphviz and
from the builtin renderer, the fallback without `dot`, saving, size limits and collapsing."""

import math
import re
import shutil
import warnings
import xml.etree.ElementTree as ET

import graphviz
import pytest
from lecture_graphs import lecture_L

from tapegrad import Value, draw_dot, scope, svgrender, viz
from tapegrad.viz import GraphPicture, GraphTooLarge, RendererUnavailable

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed here")
SVG_NS = "{http://www.w3.org/2000/svg}"


# --- helpers -------------------------------------------------------------------------------


# L = (a*b + c) * f at a=2, b=-3, c=10, f=-2, differentiated by hand.
L_DATA = {"a": 2.0, "b": -3.0, "c": 10.0, "e": -6.0, "d": 4.0, "f": -2.0, "L": -8.0}
L_GRAD = {"a": -3.0 * -2.0, "b": 2.0 * -2.0, "c": -2.0, "e": -2.0, "d": -2.0, "f": 4.0, "L": 1.0}


def parse_dot(source: str):
    """(nodes: name -> attrs, edges: [(tail, head, attrs)], graph attrs) from DOT source."""
    attr = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ \]]+)')

    def attrs(text):
        out = {}
        for key, value in attr.findall(text or ""):
            out[key] = value[1:-1] if value.startswith('"') else value
        return out

    nodes, edges, graph = {}, [], {}
    for line in source.splitlines():
        m = re.match(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$", line)
        if m:
            edges.append((m.group(1), m.group(2), attrs(m.group(3))))
            continue
        m = re.match(r"^\t(\w+) \[(.*)\]$", line)
        if m and m.group(1) == "graph":
            graph.update(attrs(m.group(2)))
        elif m:
            nodes[m.group(1)] = attrs(m.group(2))
        m = re.match(r"^\t(\w+)=(.*)$", line)
        if m:
            graph[m.group(1)] = m.group(2).strip('"')
    return nodes, edges, graph


def record_fields(label: str) -> list[str]:
    assert label.startswith("{") and label.endswith("}"), label
    return [f.strip() for f in re.split(r"(?<!\\)\|", label[1:-1])]


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode("utf-8"))
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG_NS}text")]


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH without Graphviz's `dot`, as on a fresh machine."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


# --- DOT source, no renderer ---------------------------------------------------------------


def test_lecture_graph_dot_source_matches_micrograd_structure(micrograd):
    MgValue = micrograd.engine.Value
    L = lecture_L()
    L.backward()
    # The same expression built with micrograd (the lecture's engine) is the reference.
    ma, mb, mc, mf = MgValue(2.0), MgValue(-3.0), MgValue(10.0), MgValue(-2.0)
    me = ma * mb
    md = me + mc
    mL = md * mf
    mL.backward()
    names = {ma: "a", mb: "b", mc: "c", me: "e", md: "d", mf: "f", mL: "L"}
    ref_records = {names[v]: (v.data, v.grad) for v in names}
    ref_ops = {names[v]: v._op for v in names if v._op}
    ref_edges = {(names[c], names[v]) for v in names for c in v._prev}

    nodes, edges, graph = parse_dot(draw_dot(L).source)
    assert graph["rankdir"] == "LR"
    records = {n: a for n, a in nodes.items() if a.get("shape") == "record"}
    ops = {n: a for n, a in nodes.items() if a.get("shape") is None}
    label_of = {n: record_fields(a["label"])[0] for n, a in records.items()}
    assert sorted(label_of.values()) == sorted(ref_records)
    for attrs in records.values():
        label, data, grad = record_fields(attrs["label"])
        want_data, want_grad = ref_records[label]
        assert (data, grad) == (f"data {want_data:.4f}", f"grad {want_grad:.4f}")
        assert float(data.split()[1]) == L_DATA[label]
        assert float(grad.split()[1]) == L_GRAD[label]
    # One op node per result, edges child -> op -> result.
    op_result = {}
    for tail, head, _ in edges:
        if tail in ops:
            assert head in records
            op_result[tail] = label_of[head]
    assert {label: ops[op]["label"] for op, label in op_result.items()} == ref_ops
    into_op = {(label_of[t], op_result[h]) for t, h, _ in edges if h in ops}
    assert into_op == ref_edges
    assert len(edges) == len(ops) + len(ref_edges)


def test_record_label_is_the_lectures_format():
    x = Value(2.0, label="x")
    nodes, _, _ = parse_dot(draw_dot(x).source)
    assert [a["label"] for a in nodes.values()] == ["{x | data 2.0000 | grad 0.0000}"]


def test_options_show_grad_precision_fmt_rankdir():
    L = lecture_L()
    L.backward()
    nodes, _, graph = parse_dot(draw_dot(L, show_grad=False, rankdir="TB").source)
    assert graph["rankdir"] == "TB"
    labels = [a["label"] for a in nodes.values() if a.get("shape") == "record"]
    assert all("grad" not in lab for lab in labels)
    assert "{a | data 2.0000}" in labels
    nodes, _, _ = parse_dot(draw_dot(L, precision=1).source)
    assert "{b | data -3.0 | grad -4.0}" in [a["label"] for a in nodes.values()]
    nodes, _, _ = parse_dot(draw_dot(L, fmt=".2e").source)
    assert "{L | data -8.00e+00 | grad 1.00e+00}" in [a["label"] for a in nodes.values()]


def test_constants_are_drawn_as_leaves():
    x = Value(3.0, label="x")
    y = x * 2
    nodes, edges, _ = parse_dot(draw_dot(y).source)
    const = [n for n, a in nodes.items() if a.get("label", "").startswith("{ | data 2.0000")]
    assert len(const) == 1
    assert "dashed" in nodes[const[0]]["style"]
    assert any(t == const[0] for t, _, _ in edges)


def test_shared_child_gets_one_edge_per_argument():
    a = Value(3.0, label="a")
    s = a + a
    _, edges, _ = parse_dot(draw_dot(s).source)
    assert sorted((t, h) for t, h, _ in edges) == [
        ("n0", "n1_op"),
        ("n0", "n1_op"),
        ("n1_op", "n1"),
    ]


def test_highlight_by_value_and_by_label():
    L = lecture_L()
    e = L._prev[0]._prev[0]
    nodes, _, _ = parse_dot(draw_dot(L, highlight=[e, "f"]).source)
    filled = {record_fields(a["label"])[0] for a in nodes.values() if "fillcolor" in a}
    assert filled == {"e", "f"}
    with pytest.raises(ValueError, match="not in the graph"):
        draw_dot(L, highlight=[Value(1.0)])
    with pytest.raises(ValueError, match="labelled 'zz'"):
        draw_dot(L, highlight="zz")
    with pytest.raises(TypeError, match="Values or labels"):
        draw_dot(L, highlight=[3.5])


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="got float"):
        draw_dot(2.0)
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(Value(1.0), rankdir="XY")
    with pytest.raises(ValueError, match="fmt"):
        draw_dot(Value(1.0), fmt="q")
    with pytest.raises(ValueError, match="precision"):
        draw_dot(Value(1.0), precision=-1)
    with pytest.raises(ValueError, match="max_nodes"):
        draw_dot(Value(1.0), max_nodes=0)


def test_picture_is_a_graphviz_digraph():
    pic = draw_dot(lecture_L(), format="png")
    assert isinstance(pic, graphviz.Digraph)
    assert pic.format == "png"
    assert pic.source.startswith("digraph {")
    assert pic.copy().source == pic.source


# --- SVG from both renderers -----------------------------------------------------------------


def expected_texts(show_grad=True):
    out = set(L_DATA)
    out |= {f"data {v:.4f}" for v in L_DATA.values()}
    if show_grad:
        out |= {f"grad {v:.4f}" for v in L_GRAD.values()}
    return out | {"*", "+"}


@needs_dot
def test_dot_svg_contains_every_label_and_value():
    L = lecture_L()
    L.backward()
    pic = draw_dot(L)
    assert pic.backend == "dot"
    svg = pic.svg()
    assert "Generated by graphviz" in svg
    assert expected_texts() <= set(svg_texts(svg))


def test_builtin_svg_contains_every_label_and_value(no_dot):
    L = lecture_L()
    L.backward()
    pic = draw_dot(L)
    assert pic.backend == "builtin"
    svg = pic.svg()
    assert "graphviz" not in svg.lower()
    assert expected_texts() <= set(svg_texts(svg))


def _boxes(svg: str):
    """From builtin SVG: node title -> (x0, y0, x1, y1, is_ellipse), and edges as
    (tail, head, start point, arrow tip)."""
    root = ET.fromstring(svg.encode("utf-8"))
    boxes, edges = {}, []
    for g in root.iter(f"{SVG_NS}g"):
        title = g.find(f"{SVG_NS}title").text
        if g.get("class") == "node":
            rect, ell = g.find(f"{SVG_NS}rect"), g.find(f"{SVG_NS}ellipse")
            if rect is not None:
                x, y = float(rect.get("x")), float(rect.get("y"))
                w, h = float(rect.get("width")), float(rect.get("height"))
                boxes[title] = (x, y, x + w, y + h, False)
            else:
                cx, cy = float(ell.get("cx")), float(ell.get("cy"))
                rx, ry = float(ell.get("rx")), float(ell.get("ry"))
                boxes[title] = (cx - rx, cy - ry, cx + rx, cy + ry, True)
        else:
            d = g.find(f"{SVG_NS}path").get("d")
            start = [float(v) for v in re.match(r"M([\d.-]+),([\d.-]+)", d).groups()]
            tip = g.find(f"{SVG_NS}polygon").get("points").split()[0]
            tail, head = title.split("->")
            edges.append((tail, head, start, [float(v) for v in tip.split(",")]))
    return boxes, edges


def _on_outline(point, box) -> bool:
    x0, y0, x1, y1, ellipse = box
    x, y = point
    if ellipse:
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        return abs(math.hypot((x - cx) / rx, (y - cy) / ry) - 1.0) < 0.02
    inside = x0 - 0.5 <= x <= x1 + 0.5 and y0 - 0.5 <= y <= y1 + 0.5
    return inside and min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 0.5


@pytest.mark.parametrize("rankdir", ["LR", "TB", "RL", "BT"])
def test_builtin_layout_is_layered_and_edges_touch_their_nodes(rankdir):
    x = Value(3.0, label="x")
    y = (x**2 * 2 + x).tanh() + x
    y.backward()
    scene = draw_dot(y, rankdir=rankdir).scene
    boxes, edges = _boxes(svgrender.render_svg(scene))
    assert len(boxes) == len(scene.nodes)
    names = list(boxes)
    for i, p in enumerate(names):  # no two nodes overlap
        for q in names[i + 1 :]:
            a, b = boxes[p], boxes[q]
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (p, q)
    axis, sign = {"LR": (0, 1), "RL": (0, -1), "TB": (1, 1), "BT": (1, -1)}[rankdir]
    assert len(edges) == len(scene.edges)
    for tail, head, start, tip in edges:
        t, h = boxes[tail], boxes[head]
        centre = lambda b: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # noqa: E731
        assert sign * (centre(h)[axis] - centre(t)[axis]) > 0, (tail, head)  # along the ranks
        assert _on_outline(start, t), (tail, start, t)  # lines leave and reach the outlines
        assert _on_outline(tip, h), (head, tip, h)


def test_builtin_svg_escapes_hostile_labels(no_dot):
    x = Value(1.0, label='<script>alert("x")</script> {a|b} \\ & \x00')
    svg = draw_dot(x).svg()
    assert "<script>" not in svg
    texts = svg_texts(svg)  # still well-formed XML
    assert '<script>alert("x")</script> {a|b} \\ & \ufffd' in texts


@needs_dot
def test_dot_renders_record_structure_characters_literally():
    label = 'q{a} | <x> "z" back\\slash'
    svg = draw_dot(Value(1.0, label=label)).svg()
    assert label in svg_texts(svg)
    assert "data 1.0000" in svg_texts(svg)


# --- Jupyter display and saving --------------------------------------------------------------


@needs_dot
def test_mimebundle_uses_dot_when_installed():
    bundle = draw_dot(lecture_L())._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    assert "Generated by graphviz" in bundle["image/svg+xml"]


def test_mimebundle_falls_back_without_dot(no_dot):
    pic = draw_dot(lecture_L())
    with pytest.raises(graphviz.ExecutableNotFound):
        graphviz.Digraph(body=list(pic.body)).pipe(format="svg")  # plain graphviz fails here
    bundle = pic._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    assert "a" in svg_texts(bundle["image/svg+xml"])
    assert pic._repr_svg_() == bundle["image/svg+xml"]
    assert pic._repr_mimebundle_(include=["image/svg+xml"], exclude=["image/svg+xml"]) == {}


def test_mimebundle_shows_a_message_when_the_builtin_layout_refuses(no_dot, monkeypatch):
    monkeypatch.setattr(svgrender, "MAX_LAYOUT_VERTICES", 5)
    svg = draw_dot(lecture_L())._repr_mimebundle_()["image/svg+xml"]
    text = " ".join(svg_texts(svg))
    assert "could not draw" in text and "install Graphviz" in text and "collapse" in text


def test_save_svg_and_source_without_dot(no_dot, tmp_path):
    pic = draw_dot(lecture_L())
    out = pic.save(tmp_path / "sub" / "L.svg")
    assert "data -8.0000" in svg_texts((tmp_path / "sub" / "L.svg").read_text())
    assert out == str(tmp_path / "sub" / "L.svg")
    pic.save(tmp_path / "L.gv")
    assert (tmp_path / "L.gv").read_text() == pic.source
    with pytest.raises(RendererUnavailable, match=r"install Graphviz.*\.svg"):
        pic.save(tmp_path / "L.png")
    with pytest.raises(RendererUnavailable, match="install Graphviz"):
        pic.save(tmp_path / "L.pdf")
    assert not (tmp_path / "L.png").exists() and not (tmp_path / "L.pdf").exists()
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf"):
        pic.save(tmp_path / "L.jpg")


@needs_dot
def test_save_png_pdf_and_render_with_dot(tmp_path):
    pic = draw_dot(lecture_L())
    pic.save(tmp_path / "L.png")
    assert (tmp_path / "L.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pic.save(tmp_path / "L.pdf")
    assert (tmp_path / "L.pdf").read_bytes()[:5] == b"%PDF-"
    pic.save(tmp_path / "L.svg")
    assert "Generated by graphviz" in (tmp_path / "L.svg").read_text()
    # The lecture's graphviz API still works: render() saves the source, then runs dot.
    rendered = pic.render(tmp_path / "lecture", format="svg")
    assert rendered.endswith("lecture.svg")
    assert (tmp_path / "lecture").read_text() == pic.source


@needs_dot
def test_png_of_a_big_graph_is_scaled_down(tmp_path):
    v = Value(0.5, label="x")
    for _ in range(400):
        v = v.tanh()
    draw_dot(v).save(tmp_path / "big.png")
    data = (tmp_path / "big.png").read_bytes()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert max(width, height) <= 60 * 96 + 1  # PNG_MAX_INCHES at 96 dpi


def test_copy_without_scene_says_graphviz_is_needed(no_dot):
    pic = draw_dot(lecture_L())
    copy = pic.copy()
    assert isinstance(copy, GraphPicture)
    with pytest.raises(RendererUnavailable, match="install Graphviz"):
        copy.svg()


# --- size limits -------------------------------------------------------------------------------


def chain(n):
    v = Value(0.1, label="x")
    for _ in range(n):
        v = v * 1.0
    return v


def test_max_nodes_unscoped_graph_raises_a_clear_message():
    with pytest.raises(GraphTooLarge, match=r"201 values, more than max_nodes=50.*collapse"):
        draw_dot(chain(100), max_nodes=50)
    assert len(draw_dot(chain(100), max_nodes=None).scene.nodes) == 301


def test_huge_graph_is_refused_without_hanging():
    with pytest.raises(GraphTooLarge):
        draw_dot(chain(20_000))  # default max_nodes; no layout, no DOT is attempted


def test_builtin_layout_refuses_before_grandalf_runs(monkeypatch):
    called = []

    class Refuse:
        def __init__(self, *a):
            called.append(a)

    monkeypatch.setattr(svgrender, "_fast_sugiyama", lambda: Refuse)
    scene = draw_dot(chain(300), max_nodes=None).scene
    with pytest.raises(svgrender.LayoutTooLarge, match="install Graphviz"):
        svgrender.render_svg(scene, max_vertices=100)
    assert called == []


# --- collapse ----------------------------------------------------------------------------------

W0, B0 = [[0.3, -0.8], [1.1, 0.4]], [0.1, -0.2]
W1, B1 = [[0.7, -1.3]], [0.05]
X = [0.5, -1.5]


def scoped_net():
    """2 inputs -> layer 0 (2 tanh neurons) -> layer 1 (1 linear neuron) -> (y - 1)**2."""
    h = [Value(X[0], label="x1"), Value(X[1], label="x2")]
    params = {}
    for li, (W, B, act) in enumerate([(W0, B0, True), (W1, B1, False)]):
        with scope(f"layers.{li}"):
            outs = []
            for j, (row, bj) in enumerate(zip(W, B, strict=True)):
                with scope(f"neurons.{j}"):
                    w = [Value(v) for v in row]
                    b = Value(bj)
                    params[(li, j)] = w + [b]
                    s = b
                    for wi, hi in zip(w, h, strict=True):
                        s = s + wi * hi
                    outs.append(s.tanh() if act else s)
            h = outs
    loss = (h[0] - 1.0) ** 2
    loss.label = "loss"
    return loss, params


def torch_layer_grad_norms(torch):
    t = lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True)  # noqa: E731
    w0, b0, w1, b1 = t(W0), t(B0), t(W1), t(B1)
    x = torch.tensor(X, dtype=torch.float64)
    loss = ((w1 @ torch.tanh(w0 @ x + b0) + b1 - 1.0) ** 2).sum()
    loss.backward()
    layer0 = math.sqrt(float((w0.grad**2).sum() + (b0.grad**2).sum()))
    layer1 = math.sqrt(float((w1.grad**2).sum() + (b1.grad**2).sum()))
    neuron = [math.sqrt(float((w0.grad[j] ** 2).sum() + b0.grad[j] ** 2)) for j in range(2)]
    return layer0, layer1, neuron


def group_boxes(pic):
    nodes, edges, _ = parse_dot(pic.source)
    boxes = {n: record_fields(a["label"]) for n, a in nodes.items() if a.get("shape") == "Mrecord"}
    return nodes, edges, boxes


def test_collapse_by_layer_counts_and_grad_norms(torch):
    loss, _ = scoped_net()
    loss.backward()
    nodes, edges, boxes = group_boxes(draw_dot(loss, collapse="layer", fmt=".12g"))
    by_name = {f[0]: (n, f) for n, f in boxes.items()}
    assert sorted(by_name) == ["layers.0", "layers.1"]
    # layer 0: 2 neurons x (2 mul + 2 add + tanh) ops, 2 x 3 params; layer 1: 2 mul + 2 add.
    g0, f0 = by_name["layers.0"]
    g1, f1 = by_name["layers.1"]
    assert f0[1:4] == ["16 values, 10 ops", "in 2, out 2", "6 params"]
    assert f1[1:4] == ["7 values, 4 ops", "in 2, out 1", "3 params"]
    n0, n1, _ = torch_layer_grad_norms(torch)
    assert float(f0[4].split()[-1]) == pytest.approx(n0, rel=1e-10)
    assert float(f1[4].split()[-1]) == pytest.approx(n1, rel=1e-10)
    # Unscoped nodes stay: x1, x2, the constants 1 and 2 of the loss, its two ops.
    records = {
        n: record_fields(a["label"])[0] for n, a in nodes.items() if a.get("shape") == "record"
    }
    assert sorted(records.values()) == ["", "", "", "loss", "x1", "x2"]
    ops = sorted(a["label"] for a in nodes.values() if "shape" not in a)
    assert ops == ["**", "+"]
    x1 = next(n for n, lab in records.items() if lab == "x1")
    links = {(t, h): a.get("label") for t, h, a in edges}
    assert links[(x1, g0)] == "2"  # x1 feeds both neurons of layer 0
    assert links[(g0, g1)] == "2"
    assert any(t == g1 and h.endswith("_op") for t, h in links)


def test_collapse_by_neuron(torch):
    loss, _ = scoped_net()
    loss.backward()
    _, _, boxes = group_boxes(draw_dot(loss, collapse="neuron", fmt=".12g"))
    fields = {f[0]: f for f in boxes.values()}
    assert sorted(fields) == ["layers.0.neurons.0", "layers.0.neurons.1", "layers.1.neurons.0"]
    assert fields["layers.0.neurons.1"][1:4] == ["8 values, 5 ops", "in 2, out 1", "3 params"]
    _, _, neuron = torch_layer_grad_norms(torch)
    for j in range(2):
        got = float(fields[f"layers.0.neurons.{j}"][4].split()[-1])
        assert got == pytest.approx(neuron[j], rel=1e-10)


def test_collapse_with_a_function_and_bad_values():
    loss, _ = scoped_net()
    _, _, boxes = group_boxes(draw_dot(loss, collapse=lambda path: "net"))
    assert [f[0] for f in boxes.values()] == ["net"]
    with pytest.raises(ValueError, match="'layer', 'neuron'"):
        draw_dot(loss, collapse="module")


def test_highlight_inside_a_group_fills_its_box():
    loss, params = scoped_net()
    nodes, _, boxes = group_boxes(draw_dot(loss, collapse="layer", highlight=[params[(1, 0)][0]]))
    hot = [boxes[n][0] for n in boxes if nodes[n]["fillcolor"] == "#ffe082"]
    assert hot == ["layers.1"]


def test_max_nodes_collapses_a_scoped_graph_and_says_so():
    loss, _ = scoped_net()
    pic = draw_dot(loss, max_nodes=10)
    _, _, graph = parse_dot(pic.source)
    assert "collapsed by layer" in graph["label"]
    assert len(group_boxes(pic)[2]) == 2


def test_collapsed_picture_renders_with_the_builtin_renderer(no_dot):
    loss, _ = scoped_net()
    loss.backward()
    texts = svg_texts(draw_dot(loss, collapse="layer").svg())
    assert {"layers.0", "layers.1", "x1", "x2", "loss", "6 params", "in 2, out 2"} <= set(texts)


def test_mlp_collapses_by_layer_to_a_handful_of_boxes():
    from tapegrad.nn import MLP

    model = MLP(2, [16, 16, 1], seed=1337)
    x = [Value(0.5, label="x1"), Value(-1.0, label="x2")]
    loss = (model(x) - 1.0) ** 2
    loss.label = "loss"
    loss.backward()
    pic = draw_dot(loss, collapse="layer", fmt=".12g")
    nodes, _, boxes = group_boxes(pic)
    assert len(nodes) <= 12  # from ~1000 values
    fields = {f[0]: f for f in boxes.values()}
    assert sorted(fields) == ["layers.0", "layers.1", "layers.2"]
    for i, (nin, nout) in enumerate([(2, 16), (16, 16), (16, 1)]):
        f = fields[f"layers.{i}"]
        assert f[3] == f"{(nin + 1) * nout} params"
        assert f[2] == f"in {nin}, out {nout}"
        grads = [p.grad for p in model.layers[i].parameters()]
        assert float(f[4].split()[-1]) == pytest.approx(math.sqrt(sum(g * g for g in grads)))
    _, _, boxes = group_boxes(draw_dot(loss, collapse="neuron"))
    assert len(boxes) == 16 + 16 + 1
    fields = {f[0]: f for f in boxes.values()}
    assert fields["layers.1.neurons.7"][2:4] == ["in 16, out 1", "17 params"]


# --- every output falls back; `dot` runs under a time limit (issues 10 and 12) -----------------


SLEEP, TOUCH = shutil.which("sleep"), shutil.which("touch")


def fake_dot(monkeypatch, tmp_path, script: str) -> None:
    """Make PATH hold only a `dot` that runs `script` (a shell body; name other programs by
    their full path)."""
    bindir = tmp_path / "fake-bin"
    bindir.mkdir()
    dot = bindir / "dot"
    dot.write_text("#!/bin/sh\n" + script + "\n")
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    assert shutil.which("dot") == str(dot)


@pytest.fixture(params=["missing", "failing", "hanging"])
def broken_dot(request, monkeypatch, tmp_path):
    """`dot` missing from PATH, exiting 1 with a message, or sleeping past its time limit;
    yields the words the warning gives as the reason."""
    if request.param == "missing":
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
        yield "is not installed"
    elif request.param == "failing":
        fake_dot(monkeypatch, tmp_path, 'echo "Error: syntax error in line 1" >&2; exit 1')
        yield r"failed \(exit status 1: Error: syntax error in line 1\)"
    else:
        fake_dot(monkeypatch, tmp_path, f"{SLEEP} 60")
        monkeypatch.setattr(viz, "DOT_SECONDS", 0.3)
        monkeypatch.setattr(viz, "DOT_SECONDS_PER_STATEMENT", 0.0)
        yield r"took longer than 0.3 s"


def builtin_svg_of_L(svg: str) -> None:
    assert "Generated by graphviz" not in svg
    assert "data -8.0000" in svg_texts(svg)


def test_render_writes_svg_through_the_builtin_renderer(broken_dot, tmp_path, monkeypatch):
    # micrograd's trace_graph.ipynb: dot = draw_dot(y); dot.render('gout')
    monkeypatch.chdir(tmp_path)
    pic = draw_dot(lecture_L())
    with pytest.warns(viz.RendererWarning, match=broken_dot + ".*builtin renderer") as caught:
        out = pic.render("gout")
    assert len(caught) == 1
    assert out == "gout.svg" and pic.rendered_by == "builtin"
    assert (tmp_path / "gout").read_text() == pic.source
    builtin_svg_of_L((tmp_path / "gout.svg").read_text())
    with pytest.warns(viz.RendererWarning):
        assert pic.render(outfile=tmp_path / "sub.svg") == str(tmp_path / "sub.svg")
    builtin_svg_of_L((tmp_path / "sub.svg").read_text())


def test_pipe_view_save_and_display_fall_back(broken_dot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pic = draw_dot(lecture_L())
    with pytest.warns(viz.RendererWarning, match=broken_dot):
        builtin_svg_of_L(pic.pipe().decode("utf-8"))
    with pytest.warns(viz.RendererWarning):
        builtin_svg_of_L(pic.pipe(format="svg", encoding="utf-8"))
    with pytest.warns(viz.RendererWarning, match="DOT source without a layout"):
        assert pic.pipe(format="dot", encoding="utf-8") == pic.source
    opened = []
    monkeypatch.setattr(pic, "_view", lambda path, format, quiet: opened.append((path, format)))
    with pytest.warns(viz.RendererWarning):
        assert pic.view("shown") == "shown.svg"
    assert opened == [("shown.svg", "svg")]
    builtin_svg_of_L((tmp_path / "shown.svg").read_text())
    with pytest.warns(viz.RendererWarning):
        pic.save(tmp_path / "saved.svg")
    builtin_svg_of_L((tmp_path / "saved.svg").read_text())
    with pytest.warns(viz.RendererWarning):
        builtin_svg_of_L(pic._repr_svg_())
    with pytest.warns(viz.RendererWarning):
        bundle = pic._repr_mimebundle_(include=["image/png"])  # Jupyter asking for a PNG
    assert list(bundle) == ["image/svg+xml"]
    builtin_svg_of_L(bundle["image/svg+xml"])


def test_formats_the_builtin_renderer_cannot_make_are_a_clear_error(broken_dot, tmp_path):
    pic = draw_dot(lecture_L())
    for call in (
        lambda: pic.render(tmp_path / "g", format="png"),
        lambda: pic.pipe(format="pdf"),
        lambda: pic.save(tmp_path / "g.png"),
    ):
        with pytest.raises(
            RendererUnavailable,
            match=r"(PNG|PDF) output needs Graphviz.*" + broken_dot + r".*install Graphviz.*\.svg",
        ):
            call()
    assert not (tmp_path / "g.png").exists()


def test_dot_time_limit_grows_with_the_graph():
    small, big = draw_dot(lecture_L()), draw_dot(chain(500), max_nodes=None)
    assert viz.DOT_SECONDS < small.dot_timeout() < big.dot_timeout()
    extra = big.dot_timeout() - small.dot_timeout()
    assert extra == pytest.approx(viz.DOT_SECONDS_PER_STATEMENT * (len(big.body) - len(small.body)))


def test_a_hanging_dot_is_killed_with_what_it_started(tmp_path, monkeypatch):
    marker = tmp_path / "still-running"
    fake_dot(monkeypatch, tmp_path, f"({SLEEP} 2; {TOUCH} {marker}) & {SLEEP} 60")
    monkeypatch.setattr(viz, "DOT_SECONDS", 0.3)
    with pytest.warns(viz.RendererWarning, match="took longer"):
        builtin_svg_of_L(draw_dot(lecture_L()).svg())
    import time

    time.sleep(2.5)
    assert not marker.exists()  # the whole process group was killed, not just the shell


@needs_dot
def test_graph_that_makes_dot_crawl_falls_back_in_time(monkeypatch):
    # The case: x + x + ... + x with 100 terms runs for minutes under dot.
    monkeypatch.setattr(viz, "DOT_SECONDS", 1.0)
    monkeypatch.setattr(viz, "DOT_SECONDS_PER_STATEMENT", 0.0)
    x = Value(1.0, label="x")
    total = x
    for _ in range(99):
        total = total + x
    total.backward()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svg = draw_dot(total).svg()
    assert "data 100.0000" in svg_texts(svg)
    if caught:  # a faster dot may finish in time; if it did not, the fallback said why
        assert "took longer than 1 s" in str(caught[0].message)


@needs_dot
@pytest.mark.parametrize("label", ["a\x01b", "bad\ud800", "nul\x00", "bell\x07"])
def test_labels_dot_cannot_take_are_drawn(label):
    x = Value(2.0, label=label)
    y = x * x
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dot itself draws them: no fallback needed
        svg = draw_dot(y).svg()
    shown = label.translate({0: "\ufffd", 1: "\ufffd", 7: "\ufffd", 0xD800: "\ufffd"})
    assert shown in svg_texts(svg)


def test_a_label_that_is_not_a_string_is_drawn(no_dot):
    x = Value(2.0, label="x")
    x.label = 5
    y = x * 3
    y.label = ("y", 1)
    pic = draw_dot(y)
    assert "5" in pic.source and "('y', 1)" in pic.source
    with pytest.warns(viz.RendererWarning):
        texts = svg_texts(pic.svg())
    assert "5" in texts and "('y', 1)" in texts


# --- pictures drawn by user code, as micrograd's trace_graph.ipynb does ----------------------


def own_draw_dot(root, format="svg", rankdir="LR"):  # noqa: A002 - the notebook's names
    """A picture built node by node with a Digraph, the way trace_graph.ipynb builds its own."""
    seen, order, stack = set(), [], [root]
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            order.append(v)
            stack.extend(v._prev)
    dot = viz.Digraph(format=format, graph_attr={"rankdir": rankdir})
    for n in order:
        dot.node(
            name=str(id(n)), label=f"{{ data {n.data:.4f} | grad {n.grad:.4f} }}", shape="record"
        )
        if n._op:
            dot.node(name=str(id(n)) + n._op, label=n._op)
            dot.edge(str(id(n)) + n._op, str(id(n)))
        for child in n._prev:
            dot.edge(str(id(child)), str(id(n)) + n._op)
    return dot


def test_a_digraph_built_by_hand_renders_without_graphviz(broken_dot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = Value(1.0)
    y = (x * 2 + 1).relu()
    y.backward()
    dot = own_draw_dot(y)
    assert isinstance(dot, graphviz.Digraph) and dot.scene.rankdir == "LR"
    with pytest.warns(viz.RendererWarning, match=broken_dot):
        assert dot.render("gout") == "gout.svg"
    texts = svg_texts((tmp_path / "gout.svg").read_text())
    assert {"data 3.0000", "grad 1.0000", "relu", "+", "*", "data 2.0000"} <= set(texts)
    with pytest.warns(viz.RendererWarning):
        assert "relu" in svg_texts(dot._repr_svg_())


def test_a_digraph_draws_implicit_nodes_and_keeps_the_last_label():
    dot = viz.Digraph()
    dot.node("a", "first")
    dot.node("a", "second")
    dot.edge("a", "b", label="to b")
    dot._builtin_svg()
    assert [(n.name, n.fields, n.shape) for n in dot.scene.nodes] == [
        ("a", ("second",), "ellipse"),
        ("b", ("b",), "ellipse"),
    ]
    assert dot.scene.rankdir == "TB"  # Graphviz's default
    assert viz._record_fields("{ data 1.0 | grad a\\|b }") == ["data 1.0", "grad a|b"]
