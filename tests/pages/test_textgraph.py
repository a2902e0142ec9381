"""The text picture: the lecture's graph, shared nodes, names, options, deep graphs, streams."""

import io
import math

import pytest
from lecture_graphs import lecture_L

from tapegrad import Value, format_graph, print_graph


def test_lecture_graph_tree():
    L = lecture_L()
    L.backward()
    # Values and gradients of L = (a*b + c) * f worked out by hand.
    assert format_graph(L) == (
        "L [*]  data -8.0000  grad 1.0000\n"
        "├── d [+]  data 4.0000  grad -2.0000\n"
        "│   ├── e [*]  data -6.0000  grad -2.0000\n"
        "│   │   ├── a  data 2.0000  grad 6.0000\n"
        "│   │   └── b  data -3.0000  grad -4.0000\n"
        "│   └── c  data 10.0000  grad -2.0000\n"
        "└── f  data -2.0000  grad 4.0000"
    )


def test_shared_node_printed_once_then_referenced():
    x = Value(3.0, label="x")
    sq = x * x  # unlabelled, used twice below
    y = sq + sq.tanh()
    y.label = "y"
    y.backward()
    lines = format_graph(y).splitlines()
    assert lines[0] == f"y [+]  data {9 + math.tanh(9):.4f}  grad 1.0000"
    full = [ln for ln in lines if "[*]" in ln]
    assert len(full) == 1  # x*x in full once...
    name = full[0].split("── ")[1].split()[0]
    assert name == "#1"
    assert lines.count(f"    └── {name} (shown above)") == 1  # ...then by name under tanh
    assert sum("x  data 3.0000" in ln for ln in lines) == 1
    assert sum(ln.endswith("x (shown above)") for ln in lines) == 1
    # dy/dx = 2x (1 + 1 - tanh(x^2)^2) at x = 3
    assert f"grad {6 * (2 - math.tanh(9) ** 2):.4f}" in lines[2]


def test_a_plus_a():
    a = Value(2.0, label="a")
    s = a + a
    s.backward()
    assert format_graph(s) == (
        "#1 [+]  data 4.0000  grad 1.0000\n├── a  data 2.0000  grad 2.0000\n└── a (shown above)"
    )


def test_repeated_labels_get_unique_names():
    p, q = Value(1.0, label="w"), Value(2.0, label="w")
    out = p * q
    text = format_graph(out * p, show_grad=False)
    assert text == (
        "#1 [*]  data 2.0000\n"
        "├── #2 [*]  data 2.0000\n"
        "│   ├── w#1  data 1.0000\n"
        "│   └── w#2  data 2.0000\n"
        "└── w#1 (shown above)"
    )


def test_constants_and_options():
    x = Value(0.5, label="x")
    y = 2 * x
    assert format_graph(y, show_grad=False, precision=2) == (
        "#1 [*]  data 1.00\n├── #2 const 2.00\n└── x  data 0.50"
    )
    assert "data 5.000e-01" in format_graph(y, fmt=".3e")
    assert format_graph(y, ascii=True).splitlines()[1].startswith("|-- ")
    assert format_graph(y, ascii=True).splitlines()[2].startswith("`-- ")
    with pytest.raises(TypeError, match="got int"):
        format_graph(3)
    with pytest.raises(ValueError, match="max_lines"):
        format_graph(y, max_lines=0)
    with pytest.raises(ValueError, match="fmt"):
        format_graph(y, fmt="%d")


def test_deep_chain_is_truncated_without_recursion():
    v = Value(1.0, label="x")
    n = 50_000
    for _ in range(n):
        v = v * 1.0
    lines = format_graph(v, max_lines=20).splitlines()
    assert len(lines) == 21
    # 20 of the 2n + 1 nodes are shown
    assert lines[-1] == f"... {2 * n + 1 - 20} more node(s) not shown (max_lines=20)"


def test_print_graph_streams_and_encodings(capsys):
    L = lecture_L()
    print_graph(L)
    assert capsys.readouterr().out == format_graph(L) + "\n"
    buf = io.StringIO()
    print_graph(L, file=buf, show_grad=False)
    assert buf.getvalue() == format_graph(L, show_grad=False) + "\n"
    raw = io.BytesIO()
    latin = io.TextIOWrapper(raw, encoding="latin-1")
    print_graph(L, file=latin)  # box drawing would not encode: ASCII branches instead
    latin.flush()
    assert raw.getvalue().decode("latin-1") == format_graph(L, ascii=True) + "\n"
