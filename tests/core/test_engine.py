"""The backward walk (engine.py): deep graphs, memory freed by reference counting,
gradients accumulated on `.grad` (twice, from threads) and none for constants."""

from __future__ import annotations

import gc
import math
import sys
import threading

from lecture_graphs import mixed

import tapegrad
from tapegrad import Constant, Value, topological_order

# --- deep graphs and memory -----------------------------------------------------------------------


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


def test_the_same_check_fails_for_micrograd_closures(micrograd):
    """micrograd's `out._backward` closure refers to `out`: every node is a reference cycle, so
    with the collector off its graph outlives the last reference. This is what the test above
    would see if tapegrad held per-node closures."""
    assert _leaked_after_drop(micrograd.engine.Value) > 0
    gc.collect()


# --- accumulation ---------------------------------------------------------------------------------


def test_second_backward_doubles_every_grad():
    out, _ = mixed()
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
    out, (a, b, c) = mixed()
    want = tapegrad.grad(lambda a, b, c: _graph_of(a, b, c), argnums=(0, 1, 2))(
        a.data, b.data, c.data
    )
    for leaf, before in zip((a, b, c), (0.25, -1.5, 0.0), strict=True):
        leaf.grad = before
    out.backward()
    assert (a.grad, b.grad, c.grad) == (0.25 + want[0], -1.5 + want[1], 0.0 + want[2])


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


def test_constants_get_no_gradient():
    x = Value(3.0)
    y = 2 * x + 5
    y.backward()
    constants = [n for n in topological_order(y) if isinstance(n, Constant)]
    assert len(constants) == 2
    assert all(c.grad == 0.0 for c in constants)
    assert x.grad == 2.0
