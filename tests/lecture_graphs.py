"""Graphs from the lecture (and a small mixed one) that several test files draw and check."""

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


def neuron() -> dict[str, Value]:
    """The lecture's neuron o = tanh(x1*w1 + x2*w2 + b), labelled as in the lecture."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1w1"
    x2w2 = x2 * w2
    x2w2.label = "x2w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1w1x2w2"
    n = x1w1x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return {v.label: v for v in (x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o)}


def doubled() -> tuple[Value, Value]:
    """The lecture's `a + a` bug case: b = a + a, so db/da = 2."""
    a = Value(3.0, label="a")
    b = a + a
    b.label = "b"
    return a, b


class ClosureValue(Value):
    """A Value subclass, as the lecture's class grown from tapegrad's (any Value takes a
    `_backward` closure)."""


def cube(x: Value) -> Value:
    """x**3 as the lecture writes an op: forward value, children, and a `_backward` closure
    (the issue-12 snippet, on a plain Value)."""
    out = Value(x.data**3, (x,), "cube")

    def _backward():
        x.grad += 3 * x.data**2 * out.grad

    out._backward = _backward
    return out


def twice(a: Value) -> Value:
    """a + a as a closure op whose children repeat: each edge adds out.grad."""
    out = ClosureValue(a.data + a.data, (a, a), "twice")

    def _backward():
        a.grad += out.grad
        a.grad += out.grad

    out._backward = _backward
    return out


def mixed():
    """A small graph mixing +, *, exp, tanh, ** and /, with three labelled leaves: the output
    and the leaves (a, b, c)."""
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(0.5, label="c")
    d = a * b + c.exp()
    e = (d * a).tanh() + b**2 - c / a
    return e, (a, b, c)
