"""Engine behaviour: deep graphs, memory freed by reference counting, accumulation, no_grad,
detect_anomaly, input types, mixing with numbers, and errors for graphs it cannot backprop."""

from __future__ import annotations

import gc
import math
import sys
import threading
from fractions import Fraction

import numpy as np
import pytest

import tapegrad
from tapegrad import (
    AnomalyError,
    Constant,
    Value,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    topological_order,
    zero_grad,
)

# --- deep graphs and memory ----------------------------------------------------------------


def _live(cls) -> int:
    """How many objects of `cls` the garbage collector can see right now."""
    return sum(1 for o in gc.get_objects() if issubclass(type(o), cls))


def test_million_node_chain_backpropagates_and_is_freed_when_dropped():
    n = 1_000_000
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # CPython's default: backward must not recurse per node
    gc.collect()
    gc.disable()  # the chain must be freed by reference counting alone
    try:
        before = _live(Value)
        x = Value(1.0)
        y = x
        for _ in range(n):
            y = y + x
        assert _live(Value) - before >= n  # the count sees the nodes, so it can see a leak
        y.backward()
        assert y.data == n + 1
        assert x.grad == n + 1
        del y
        assert _live(Value) - before == 1  # only x is left
    finally:
        gc.enable()
        sys.setrecursionlimit(limit)


def _leaked_after_drop(value_cls) -> int:
    """Build and backprop a small graph with shared nodes, drop every reference to it with the
    cyclic collector off, and count the Values of `value_cls` still alive."""
    gc.collect()
    gc.disable()
    try:
        before = _live(value_cls)
        a, b = value_cls(2.0), value_cls(-3.0)
        c = a * b + a
        out = c.relu() * b + a**2 + c * c
        out.backward()
        assert _live(value_cls) - before >= 8
        del a, b, c, out
        return _live(value_cls) - before
    finally:
        gc.enable()


def test_dropped_graph_is_freed_without_the_cyclic_collector():
    assert _leaked_after_drop(Value) == 0


def test_the_same_check_fails_for_micrograd_closures():
    """micrograd's `out._backward` closure refers to `out`: every node is a reference cycle, so
    with the collector off its graph outlives the last reference. This is what the test above
    would see if tapegrad held per-node closures."""
    from micrograd.engine import Value as MicrogradValue

    assert _leaked_after_drop(MicrogradValue) > 0
    gc.collect()


# --- accumulation and zeroing ----------------------------------------------------------------


def _graph():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(0.5, label="c")
    d = a * b + c.exp()
    e = (d * a).tanh() + b**2 - c / a
    return e, (a, b, c)


def test_second_backward_doubles_every_grad():
    out, _ = _graph()
    out.backward()
    first = {node: node.grad for node in topological_order(out)}
    out.backward()
    assert len(first) > 8
    for node, g in first.items():
        assert node.grad == 2 * g, (node, g)
    assert out.grad == 2.0


def test_backward_adds_the_same_gradients_grad_returns():
    """backward() walks on the nodes' own `.grad` (borrowed), tapegrad.grad into a dict: both
    give the same numbers bit for bit, on top of whatever `.grad` held before."""
    out, (a, b, c) = _graph()
    want = tapegrad.grad(lambda a, b, c: _graph_of(a, b, c), argnums=(0, 1, 2))(
        a.data, b.data, c.data
    )
    for leaf, before in zip((a, b, c), (0.25, -1.5, 0.0), strict=True):
        leaf.grad = before
    out.backward()
    assert (a.grad, b.grad, c.grad) == (0.25 + want[0], -1.5 + want[1], 0.0 + want[2])


def test_a_failing_backward_leaves_every_grad_as_it_was():
    """A rule that fails part-way through the walk (here a node with no rule, reached after
    others have given their children gradient) must not leave half-added gradients behind."""
    a, b = Value(1.5), Value(-2.0)
    a.grad, b.grad = 0.5, 0.75
    mystery = Value(3.0, (a, b), "frobnicate")
    out = (mystery * a + b).tanh()
    nodes = topological_order(out)
    before = [n.grad for n in nodes]
    with pytest.raises(ValueError, match="frobnicate"):
        out.backward()
    assert [n.grad for n in nodes] == before


def test_a_backward_interrupted_by_the_user_leaves_every_grad_as_it_was():
    a = Value(2.0)
    a.grad = 1.0

    def interrupt() -> None:
        raise KeyboardInterrupt

    node = Value(4.0, (a,), "square")
    node._backward = interrupt  # the lecture's closure op, raising as Ctrl-C would
    out = node * a + 1.0
    with pytest.raises(KeyboardInterrupt):
        out.backward()
    assert a.grad == 1.0
    assert all(n.grad == 0.0 for n in topological_order(out) if n is not a)


def test_backward_from_threads_sharing_parameters_adds_every_gradient():
    """Each backward() borrows `.grad` while it walks; walks from threads that share
    parameters take turns, so every thread's gradient is added exactly once."""
    w = [Value(0.1 * i - 0.3) for i in range(8)]
    xs = [[0.05 * (i + j) for i in range(8)] for j in range(4)]

    def loss(x):
        return sum((wi * xi for wi, xi in zip(w, x, strict=True)), Value(0.0)).tanh()

    want = [0.0] * len(w)
    for x in xs:
        grads = tapegrad.grad(lambda *ws, x=x: _loss_of(ws, x), argnums=tuple(range(8)))(
            *[p.data for p in w]
        )
        want = [t + g for t, g in zip(want, grads, strict=True)]

    def worker(x):
        for _ in range(100):
            loss(x).backward()

    threads = [threading.Thread(target=worker, args=(x,)) for x in xs]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so walks would overlap if they could
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    for p, g in zip(w, want, strict=True):
        assert math.isclose(p.grad, 100 * g, rel_tol=1e-12, abs_tol=1e-15)


def _loss_of(ws, x):
    return sum((wi * xi for wi, xi in zip(ws, x, strict=True)), 0.0).tanh()


def _graph_of(a, b, c):
    d = a * b + c.exp()
    return (d * a).tanh() + b**2 - c / a


def test_zero_grad_resets_the_whole_graph():
    out, leaves = _graph()
    out.backward()
    want = [leaf.grad for leaf in leaves]
    zero_grad(out)
    assert all(node.grad == 0.0 for node in topological_order(out))
    out.backward()
    assert [leaf.grad for leaf in leaves] == want


def test_zero_grad_takes_several_roots():
    out1, (a, _, _) = _graph()
    out2 = a * 3.0
    out1.backward()
    out2.backward()
    zero_grad([out1, out2])
    assert all(n.grad == 0.0 for n in topological_order(out1) + topological_order(out2))


def test_constants_get_no_gradient():
    x = Value(3.0)
    y = 2 * x + 5
    y.backward()
    constants = [n for n in topological_order(y) if isinstance(n, Constant)]
    assert len(constants) == 2
    assert all(c.grad == 0.0 for c in constants)
    assert x.grad == 2.0


# --- no_grad ---------------------------------------------------------------------------------


def _records() -> bool:
    """Whether an op run here records a graph node."""
    out = Value(1.0) * 2.0
    return out._prev != ()


def test_no_grad_context_manager():
    x = Value(3.0)
    with no_grad():
        assert not is_grad_enabled()
        y = x * x + 1
    assert y.data == 10.0
    assert y._prev == () and y._op == ""
    assert is_grad_enabled() and _records()


def test_no_grad_decorator():
    @no_grad()
    def step(v):
        return v * 2.0

    out = step(Value(1.5))
    assert out.data == 3.0 and out._prev == ()
    assert _records()


def test_no_grad_restores_after_an_exception():
    with pytest.raises(ZeroDivisionError), no_grad():
        1 / 0  # noqa: B018
    assert is_grad_enabled() and _records()


def test_enable_grad_nested_inside_no_grad():
    with no_grad():
        assert not _records()
        with enable_grad():
            assert _records()
            with no_grad():
                assert not _records()
            assert _records()
        assert not _records()
    assert _records()


def test_no_grad_is_thread_local():
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        assert entered.wait(10)
        seen["records"] = _records()
        checked.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with no_grad():
        entered.set()
        assert checked.wait(10)
        seen["main"] = _records()  # still inside, after the other thread recorded
    worker.join(10)
    assert seen == {"records": True, "main": False}


def test_new_thread_records_even_when_started_inside_no_grad():
    seen = []
    with no_grad():
        worker = threading.Thread(target=lambda: seen.append(_records()))
        worker.start()
        worker.join(10)
    assert seen == [True]


# --- detect_anomaly --------------------------------------------------------------------------


def test_anomaly_forward_names_the_op_and_input_labels():
    big = Value(1000.0, label="big")
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        big.exp().log()
    message = str(caught.value)
    assert "exp" in message and "big" in message
    assert "log" not in message  # the first non-finite value, not a later one


def test_anomaly_forward_ignores_values_that_were_already_non_finite():
    inf = Value(float("inf"), label="inf")
    with detect_anomaly():
        y = (inf + 1.0).tanh()  # inf + 1 is inf from a non-finite input: not a new anomaly
    assert y.data == 1.0


def test_anomaly_in_backward_sqrt_at_zero():
    z = Value(0.0, label="z")
    y = z.sqrt() * 2.0 + 1.0
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        y.backward()
    message = str(caught.value)
    assert "sqrt" in message and "z" in message


def test_anomaly_in_backward_log_at_zero():
    zero = Value(0.0, label="zero")
    y = zero.log()  # -inf, recorded outside the context: no error here
    assert y.data == float("-inf")
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        y.backward()
    message = str(caught.value)
    assert "log" in message and "zero" in message


def test_anomaly_does_nothing_outside_the_context():
    big = Value(1000.0, label="big")
    with detect_anomaly():
        pass
    y = big.exp()
    assert y.data == float("inf")
    z = Value(0.0, label="z")
    w = z.sqrt() * 2.0
    w.backward()
    assert z.grad == float("inf")


def test_anomaly_as_decorator():
    @detect_anomaly()
    def f(v):
        return v.exp()

    with pytest.raises(AnomalyError):
        f(Value(1000.0, label="x"))
    assert Value(1000.0).exp().data == float("inf")


def test_anomaly_error_is_a_runtime_error():
    assert issubclass(AnomalyError, RuntimeError)


# --- input types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (True, 1.0),
        (False, 0.0),
        (3, 3.0),
        (2.5, 2.5),
        (np.float32(1.5), 1.5),
        (np.float64(-0.25), -0.25),
        (np.int64(7), 7.0),
        (np.bool_(True), 1.0),
    ],
    ids=lambda x: type(x).__name__,
)
def test_real_numbers_become_float_data(raw, want):
    v = Value(raw)
    assert type(v.data) is float and v.data == want


@pytest.mark.parametrize(
    "raw",
    ["1.0", 1 + 2j, None, [1.0], np.complex128(1.0), {"a": 1}],
    ids=lambda x: type(x).__name__,
)
def test_non_real_data_is_a_type_error_naming_the_type(raw):
    with pytest.raises(TypeError, match=type(raw).__name__):
        Value(raw)


@pytest.mark.parametrize("bad", ["2", None, 1j, [1.0]], ids=lambda x: type(x).__name__)
def test_arithmetic_with_non_numbers_is_a_type_error(bad):
    x = Value(1.0)
    for op in (lambda: x + bad, lambda: bad + x, lambda: x - bad, lambda: x / bad, lambda: x**bad):
        with pytest.raises(TypeError, match=type(bad).__name__):
            op()
    for op in (lambda: x * bad, lambda: bad * x):  # str and list: "can't multiply sequence..."
        with pytest.raises(TypeError):
            op()


# IEEE 754 rounds an integer to the nearest double, ties to even. The largest double is
# (2 - 2**-52) * 2**1023; integers from halfway to the next power, 2**1024 - 2**970, round to
# inf. (Python's float() raises OverflowError there, and so does torch.tensor(10**400).)
FLOAT_MAX = (2**53 - 1) * 2**971
HALFWAY = FLOAT_MAX + 2**970


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (10**400, math.inf),
        (-(10**400), -math.inf),
        (HALFWAY, math.inf),  # a tie: rounds to the even neighbour, 2**1024, which is inf
        (HALFWAY - 1, sys.float_info.max),
        (-HALFWAY, -math.inf),
        (Fraction(10**400, 3), math.inf),
    ],
    ids=["1e400", "-1e400", "halfway", "below-halfway", "-halfway", "fraction"],
)
def test_integers_too_large_for_a_float_become_infinities(raw, want):
    assert Value(raw).data == want
    assert FLOAT_MAX == sys.float_info.max


@pytest.mark.parametrize(
    ("name", "f", "want"),
    [
        ("x + 10**400", lambda x: x + 10**400, math.inf),
        ("10**400 + x", lambda x: 10**400 + x, math.inf),
        ("x - 10**400", lambda x: x - 10**400, -math.inf),
        ("10**400 - x", lambda x: 10**400 - x, math.inf),
        ("x * 10**400", lambda x: x * 10**400, math.inf),
        ("x / 10**400", lambda x: x / 10**400, 0.0),
        ("10**400 / x", lambda x: 10**400 / x, math.inf),
        ("x ** 10**400", lambda x: x**10**400, math.inf),
        ("x.max(10**400)", lambda x: x.max(10**400), math.inf),
        ("x.clamp(hi=-10**400)", lambda x: x.clamp(hi=-(10**400)), -math.inf),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_huge_integers_mix_with_values_as_infinities(name, f, want):
    out = f(Value(2.0))
    assert out.data == want, name


# --- mixing with numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "f", "value", "grad"),
    [
        # f at x = 1.5, f(1.5) and f'(1.5) by hand
        ("2 * x", lambda x: 2 * x, 3.0, 2.0),
        ("x * 2", lambda x: x * 2, 3.0, 2.0),
        ("1 - x", lambda x: 1 - x, -0.5, -1.0),
        ("x - 1", lambda x: x - 1, 0.5, 1.0),
        ("x / 3", lambda x: x / 3, 0.5, 1 / 3),
        ("3 / x", lambda x: 3 / x, 2.0, -3 / 2.25),
        ("2 ** x", lambda x: 2**x, 2**1.5, 2**1.5 * 0.6931471805599453),
        ("x ** 2", lambda x: x**2, 2.25, 3.0),
        ("-x", lambda x: -x, -1.5, -1.0),
        ("x + 0.5", lambda x: x + 0.5, 2.0, 1.0),
        ("np.float64(2) * x", lambda x: np.float64(2) * x, 3.0, 2.0),
        ("x * np.float32(2)", lambda x: x * np.float32(2), 3.0, 2.0),
        ("np.int64(1) - x", lambda x: np.int64(1) - x, -0.5, -1.0),
        ("np.float64(3) / x", lambda x: np.float64(3) / x, 2.0, -3 / 2.25),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_numbers_mix_both_ways(name, f, value, grad):
    x = Value(1.5)
    out = f(x)
    assert type(out) is Value, f"{name} gave {type(out).__name__}"
    out.backward()
    assert out.data == pytest.approx(value, rel=1e-15), name
    assert x.grad == pytest.approx(grad, rel=1e-15), name


def test_sum_of_values():
    values = [Value(float(i)) for i in range(1, 5)]
    total = sum(values)
    assert isinstance(total, Value) and total.data == 10.0
    total.backward()
    assert [v.grad for v in values] == [1.0] * 4


def test_topological_order_walks_another_engines_nodes_by_their_prev():
    """tapegrad reads its own nodes' slots for speed; a micrograd-style node has `_prev` only,
    and pictures and node counts of such graphs still need the order."""

    class Node:
        def __init__(self, *children):
            self._prev = set(children)  # micrograd keeps a set

    a, b = Node(), Node()
    c = Node(a, b)
    d = Node(c, a)
    order = topological_order(d)
    assert order[-1] is d and set(order) == {a, b, c, d}
    assert order.index(c) > max(order.index(a), order.index(b))


# --- graphs the engine cannot differentiate ----------------------------------------------------


def test_backward_on_unknown_op_is_a_clear_error():
    a, b = Value(1.0), Value(2.0)
    node = Value(3.0, (a, b), "frobnicate", label="mystery")
    node.grad = 1.0
    with pytest.raises(ValueError, match="frobnicate") as caught:
        node._backward()
    assert "mystery" in str(caught.value)
    with pytest.raises(ValueError, match="frobnicate"):
        node.backward()


def test_hand_built_node_with_a_known_op_backprops():
    """The lecture builds nodes by hand: `Value(data, (a, b), '+')` differentiates as a sum."""
    a, b = Value(2.0), Value(-3.0)
    node = Value(a.data * b.data, (a, b), "*")
    node.backward()
    assert (a.grad, b.grad) == (-3.0, 2.0)
