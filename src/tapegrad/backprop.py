"""Backpropagation: the chain rule run over a graph of Values, from its output to its leaves.

`topological_order` lists the nodes children-first (iteratively: no recursion limit).
`add_gradients` (what `Value.backward()` runs) is micrograd's walk: down that list, each node
pushes its `.grad` through its op's rules in `ops.py` and adds what each child gets into the
child's `.grad`. It runs on borrowed grads: every `.grad` in the graph is set aside and started
afresh, and what was set aside is added back at the end. So a second call adds exactly one
more gradient (micrograd's issue #53: its interior grads compound instead), and a failure
part-way leaves every `.grad` as it was.

Gradients handed back as a dict instead (`tapegrad.grad`), as Values (`create_graph`) or
checked for a new inf or nan (`detect_anomaly()`) are in `gradients.py`, built on this walk.

Nodes are anything with the engine's slots (`data`, `grad`, `_a`, `_b`, `_op`, `_prev`), so
this module is imported by `engine.py`, not the other way round; the names it needs from the
engine side (Constant, which gets no gradient, MANY, and the Value namespace `valuemath`) are
looked up when a walk starts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from . import floatmath as fm
from .closures import CLOSURES, closure_op, no_rule
from .modes import state
from .ops import BY_SYMBOL, Op

if TYPE_CHECKING:
    from types import ModuleType

    from .engine import Value

BORROWING = threading.RLock()
"""Held while a walk borrows `.grad`: two walks at once (threads sharing parameters) would
each set aside the other's half-done gradients."""


def topological_order(root: Value) -> list:
    """Every node reachable from `root`, children before parents, `root` last.

    The same order micrograd's recursive `build_topo` gives (depth first, children in order),
    built with an explicit stack.
    """
    MANY = engine_names()[1]
    order, seen = [], {root}
    placed_all = seen.issuperset  # every child seen: in a DAG, seen children are placed
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                seen.add(child)
                try:  # its `_prev`, read from the slots for speed
                    a, b = child._a, child._b
                    prev = () if a is None else a if b is MANY else (a,) if b is None else (a, b)
                except AttributeError:  # a node of another engine (micrograd's) has `_prev` only
                    prev = child._prev
                if placed_all(prev):  # a leaf, or a node over placed ones: place it now
                    order.append(child)
                    continue
                stack.append((child, iter(prev)))
                break
        else:  # every child is placed: the node can be
            stack.pop()
            order.append(node)
    return order


def add_gradients(root: Value, seed: float | Value = 1.0, create_graph: bool = False) -> None:
    """Add d(root)/d(node) into every node's `.grad` but Constants' (`Value.backward()`)."""
    if create_graph or state.mode.anomaly:  # gradients as Values, or each one checked
        from .gradients import add_from_dict  # which imports this module

        return add_from_dict(root, seed, create_graph)
    Constant = engine_names()[0]
    with BORROWING:
        order, saved = walk(root, seed)
        for node, old in zip(order, saved, strict=True):
            node.grad = old if type(node) is Constant else old + node.grad


def walk(root: Value, seed: float) -> tuple[list, list]:
    """The walk on borrowed grads (hold `BORROWING`): each node's `.grad` ends holding its
    gradient alone. Gives the nodes and what their `.grad` held, for the caller to put back."""
    order = topological_order(root)
    saved = [node.grad for node in order]
    for node in order:
        node.grad = -0.0  # where a sum starts: -0.0 + c is c, bit for bit (0.0 + -0.0 is not)
    root.grad = seed
    try:
        _chain_rule(order)
    except BaseException:
        for node, old in zip(order, saved, strict=True):
            node.grad = old
        raise
    return order, saved


def _chain_rule(order: list) -> None:
    """Down `order` from its root, each node adds its share of `.grad` into its children's."""
    Constant, MANY, _, _ = engine_names()
    # Once per node, so the one- and two-child ops (most of any graph) are unrolled.
    for node in reversed(order):
        a = node._a
        if a is None:  # a leaf
            continue
        op = (not CLOSURES and BY_SYMBOL.get(node._op)) or op_of(node)  # op_of's fast case
        g, out, b = node.grad, node.data, node._b
        if b is MANY:  # three or more children (a neuron's affine)
            args = [x.data for x in a]
            if op.partials:  # in one pass: g times each local derivative
                for child, p in zip(a, op.partials(fm, out, *args), strict=True):
                    child.grad += g * p  # a Constant's too: cheaper than asking, and undone
                continue
            for child, c in zip(a, shares_of(op, fm, g, out, args, a), strict=True):
                child.grad += c
        elif b is None:  # one child (relu, tanh, ...)
            if type(a) is not Constant:
                a.grad += op.vjps[0](fm, g, out, a.data)
        else:
            x, y = a.data, b.data
            if type(a) is not Constant:
                a.grad += op.vjps[0](fm, g, out, x, y)
            if type(b) is not Constant:
                b.grad += op.vjps[1](fm, g, out, x, y)


def shares_of(op: Op, m: ModuleType, g, out, args: list, prev: tuple) -> list:
    """Each child's share of `g` through the op's rules. A variadic op's one rule gives every
    share, Constants' too; per-argument rules are not run for a Constant (its share is 0)."""
    if op.vjp is not None:
        return op.vjp(m, g, out, *args)
    Constant = engine_names()[0]
    return [
        0.0 if type(c) is Constant else r(m, g, out, *args)
        for c, r in zip(prev, op.vjps, strict=True)
    ]


def op_of(node: Value) -> Op:
    """The op whose rules serve `node`: its own closure if it was given one, else the table's
    entry for its `_op`."""
    if CLOSURES and node._fn is not None:  # the lecture's closure wins over the table
        return closure_op(node)
    try:
        return BY_SYMBOL[node._op]  # read at every use, so a patched table takes effect
    except KeyError:
        raise no_rule(node) from None


def engine_names() -> tuple[type, object, type, ModuleType]:
    """Constant, MANY and Value from the engine, and the Value namespace, imported on use:
    both modules import this one."""
    from . import engine, valuemath

    return engine.Constant, engine.MANY, engine.Value, valuemath
