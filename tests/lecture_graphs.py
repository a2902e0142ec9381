"""Graphs from the lecture that several test files draw and check."""

from tapegrad import Value


def lecture_graph() -> tuple[Value, ...]:
    """L = (a*b + c) * f with a=2, b=-3, c=10, f=-2, labelled: returns (a, b, c, e, d, f, L)."""
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f
    L.label = "L"
    return a, b, c, e, d, f, L


def lecture_L() -> Value:
    """The lecture's L, the root of `lecture_graph()`."""
    return lecture_graph()[-1]
