"""Backpropagation: the chain rule run over a graph of Values, from its output to its leaves.

`topological_order` lists the nodes children-first (iteratively: no recursion limit).
`backprop` walks that list backwards, pushing each node's gradient through its op's rules in
`ops.py` and summing what every child receives; `Value.backward()` adds the result into `.grad`.
`local_vjp` is the same step for one node (`Value._backward()`, gradcheck). Under
`detect_anomaly()` every contribution is checked for a new inf or nan.

Nodes are anything with the engine's slots (`data`, `_a`, `_b`, `_op`, `_prev`), so this
module is imported by `engine.py`, not the other way round; the two names it needs from the
engine side (Constant, which gets no gradient, and the Value namespace `valuemath`, which
`create_graph` runs the rules on) are looked up when a walk starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import floatmath as fm
from .closures import CLOSURES, closure_op
from .modes import check_gradient, state
from .ops import BY_SYMBOL, Op

if TYPE_CHECKING:
    from types import ModuleType

    from .engine import Value


def topological_order(root: Value) -> list:
    """Every node reachable from `root`, children before parents, `root` last.

    The same order micrograd's recursive `build_topo` gives (depth first, children in order),
    built with an explicit stack.
    """
    order, seen = [], {root}
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                seen.add(child)
                stack.append((child, iter(child._prev)))
                break
        else:  # every child is placed: the node can be
            stack.pop()
            order.append(node)
    return order


def backprop(root: Value, seed: float | Value = 1.0, create_graph: bool = False) -> dict:
    """d(root)/d(node) for every node that root depends on, returned as a dict.

    Nothing is written to `.grad`; `Value.backward()` and `tapegrad.grad` both build on this.
    With `create_graph` the rules run on Values, so the gradients are differentiable.
    """
    Constant, MANY, _, valuemath = _engine()
    m = valuemath if create_graph else fm
    anomaly = state.mode.anomaly
    grads = {root: seed}
    get = grads.get
    # This loop runs once per node, so one- and two-child ops (most of any graph) are
    # unrolled: it is the same as `zip(prev, local_vjp(node, g, m))` at a third of the cost.
    for node in reversed(topological_order(root)):
        a = node._a
        if a is None:  # a leaf
            continue
        g = get(node)
        if g is None:
            continue
        op = _op(node)
        out = node if create_graph else node.data
        b = node._b
        if b is not None and b is not MANY and not anomaly:  # two children, nothing to check
            x, y = (a, b) if create_graph else (a.data, b.data)
            rules = op.vjps
            if type(a) is not Constant:
                c = rules[0](m, g, out, x, y)
                total = get(a)
                grads[a] = c if total is None else total + c
            if type(b) is not Constant:
                c = rules[1](m, g, out, x, y)
                total = get(b)
                grads[b] = c if total is None else total + c
        elif b is None and not anomaly:  # one child (relu, tanh, ...)
            if type(a) is not Constant:
                c = op.vjps[0](m, g, out, a if create_graph else a.data)
                total = get(a)
                grads[a] = c if total is None else total + c
        else:  # three or more children (a neuron's affine), or contributions to check
            prev = node._prev
            args = prev if create_graph else [child.data for child in prev]
            for child, c in zip(prev, _shares(op, m, g, out, args, prev), strict=True):
                if type(child) is not Constant:
                    if anomaly:
                        check_gradient(node, child, g, c)
                    total = get(child)
                    grads[child] = c if total is None else total + c
    return grads


def local_vjp(node: Value, g: float | Value, m: ModuleType | None = None) -> list:
    """The gradient `g` of `node` pushed through its op's rule: one entry per child
    (None for Constants). Runs on floats, or on Values when `g` is a Value or `m` says so."""
    Constant, _, Value, valuemath = _engine()
    if m is None:
        m = valuemath if isinstance(g, Value) else fm
    prev = node._prev
    out, args = (node.data, [c.data for c in prev]) if m is fm else (node, prev)
    shares = _shares(_op(node), m, g, out, args, prev) if prev else ()
    return [None if type(c) is Constant else s for c, s in zip(prev, shares, strict=True)]


def _shares(op: Op, m: ModuleType, g, out, args: list, prev: tuple) -> list:
    """Each child's share of `g` through the op's rules. A variadic op's one rule gives every
    share, Constants' too; per-argument rules are not run for a Constant (its entry is None)."""
    if op.vjp is not None:
        return op.vjp(m, g, out, *args)
    Constant = _engine()[0]
    return [
        None if type(c) is Constant else r(m, g, out, *args)
        for c, r in zip(prev, op.vjps, strict=True)
    ]


def _op(node: Value) -> Op:
    if CLOSURES and node._fn is not None:  # the lecture's closure wins over the table
        return closure_op(node)
    try:
        return BY_SYMBOL[node._op]  # read at every use, so a patched table takes effect
    except KeyError:
        raise ValueError(
            f"{node!r} (label {node.label!r}) has children but its _op {node._op!r} is not a "
            f"primitive in tapegrad.ops, so it has no derivative rule: give it a _backward "
            f"closure, or register the op (tapegrad.register_op)"
        ) from None


def _engine() -> tuple[type, object, type, ModuleType]:
    """Constant, MANY and Value from the engine, and the Value namespace, imported on use:
    both modules import this one."""
    from . import engine, valuemath

    return engine.Constant, engine.MANY, engine.Value, valuemath
