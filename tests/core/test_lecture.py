"""The lecture's own numbers, by backward() and by _backward() node by node."""

import pytest
from lecture_graphs import lecture_graph

from tapegrad import Value

EXPECTED_L = {"a": 6.0, "b": -4.0, "c": -2.0, "e": -2.0, "d": -2.0, "f": 4.0, "L": 1.0}


def test_L_graph_backward():
    nodes = lecture_graph()
    L = nodes[-1]
    assert L.data == -8.0
    L.backward()
    assert {n.label: n.grad for n in nodes} == EXPECTED_L


def test_L_graph_by_hand_node_by_node():
    a, b, c, e, d, f, L = lecture_graph()
    L.grad = 1.0
    for node in (L, d, e):  # reverse topological order, as the lecture walks it
        node._backward()
    assert {n.label: n.grad for n in (a, b, c, e, d, f, L)} == EXPECTED_L


def test_lecture_structure():
    a, b, c, e, d, f, L = lecture_graph()
    assert d._op == "+" and e._op == "*" and c._op == ""
    assert d._prev == (e, c) and c._prev == ()
    assert repr(d) == "Value(data=4.0, grad=0.0)"


def neuron(composed: bool):
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    if composed:
        e = (2 * n).exp()
        o = (e - 1) / (e + 1)
    else:
        o = n.tanh()
    return o, dict(x1=x1, x2=x2, w1=w1, w2=w2, b=b)


@pytest.mark.parametrize("composed", [False, True])
def test_tanh_neuron(composed):
    o, leaves = neuron(composed)
    assert o.data == pytest.approx(0.7071067811865476, rel=1e-15)
    o.backward()
    expected = dict(x1=-1.5, w1=1.0, x2=0.5, w2=0.0, b=0.5)
    for name, want in expected.items():
        assert leaves[name].grad == pytest.approx(want, rel=1e-12, abs=1e-15), name


def test_tanh_neuron_by_hand():
    o, leaves = neuron(False)
    o.grad = 1.0
    from tapegrad import topological_order

    for node in reversed(topological_order(o)):
        node._backward()
    assert leaves["x1"].grad == pytest.approx(-1.5)
    assert leaves["b"].grad == pytest.approx(0.5)


def test_a_plus_a_accumulates():
    a = Value(3.0, label="a")
    b = a + a
    b.backward()
    assert a.grad == 2.0


def test_shared_leaves_accumulate():
    a, b = Value(-2.0), Value(3.0)
    f = (a * b) * (a + b)
    f.backward()
    assert (a.grad, b.grad) == (-3.0, -8.0)


def test_micrograd_readme_example():
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert f"{g.data:.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


def test_nudge_along_gradient_raises_L():
    a, b, c, e, d, f, L = lecture_graph()
    L.backward()
    for leaf in (a, b, c, f):
        leaf.data += 0.001 * leaf.grad
    nudged = ((a * b + c) * f).data
    assert nudged == pytest.approx((2.006 * -3.004 + 9.998) * -1.996)
    assert nudged > L.data
