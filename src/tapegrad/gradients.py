"""Gradients as a dict, with every `.grad` left as it was: what `tapegrad.grad` builds on.

`backprop(root)` runs `backprop.py`'s walk (which borrows `.grad`, taking turns with other
threads, and puts every one back) and hands back d(root)/d(node) for every node. With
`create_graph` the rules run on Values, so the gradients can be differentiated again
(`grad(grad(f))`); under `detect_anomaly()` every contribution is checked for a new inf or nan
(`AnomalyError` names the op and its module). Both add into a dict rather than `.grad`.
`local_vjp` is one node's step: `Value._backward()` and gradcheck use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import floatmath as fm
from .backprop import BORROWING, engine_names, op_of, shares_of, topological_order, walk
from .modes import check_gradient, state

if TYPE_CHECKING:
    from types import ModuleType

    from .engine import Value


def backprop(root: Value, seed: float | Value = 1.0, create_graph: bool = False) -> dict:
    """d(root)/d(node) for every node but Constants that root depends on, as a dict; every
    `.grad` is left as it was. With `create_graph` the gradients are Values."""
    if create_graph or state.mode.anomaly:
        return _into_dict(root, seed, create_graph)
    Constant = engine_names()[0]
    with BORROWING:
        order, saved = walk(root, seed)
        grads = {node: node.grad for node in order if type(node) is not Constant}
        for node, old in zip(order, saved, strict=True):
            node.grad = old
    return grads


def add_from_dict(root: Value, seed: float | Value, create_graph: bool) -> None:
    """`backward()` with `create_graph` or under `detect_anomaly()`: the gradients into a dict
    first, then added into `.grad`."""
    for node, g in _into_dict(root, seed, create_graph).items():
        node.grad = node.grad + g


def _into_dict(root: Value, seed: float | Value, create_graph: bool) -> dict:
    """The walk adding into a dict, not `.grad`: on Values under `create_graph`, and with each
    contribution checked under `detect_anomaly()`."""
    Constant, _, _, valuemath = engine_names()
    m = valuemath if create_graph else fm
    anomaly = state.mode.anomaly
    grads = {root: seed}
    for node in reversed(topological_order(root)):
        prev = node._prev
        g = grads.get(node)
        if not prev or g is None:
            continue
        args = prev if create_graph else [child.data for child in prev]
        out = node if create_graph else node.data
        for child, c in zip(prev, shares_of(op_of(node), m, g, out, args, prev), strict=True):
            if type(child) is not Constant:
                if anomaly:
                    check_gradient(node, child, g, c)
                total = grads.get(child)
                grads[child] = c if total is None else total + c
    return grads


def local_vjp(node: Value, g: float | Value, m: ModuleType | None = None) -> list:
    """The gradient `g` of `node` pushed through its op's rule: one entry per child
    (None for Constants). Runs on floats, or on Values when `g` is a Value or `m` says so."""
    Constant, _, Value, valuemath = engine_names()
    if m is None:
        m = valuemath if isinstance(g, Value) else fm
    prev = node._prev
    out, args = (node.data, [c.data for c in prev]) if m is fm else (node, prev)
    shares = shares_of(op_of(node), m, g, out, args, prev) if prev else ()
    return [None if type(c) is Constant else s for c, s in zip(prev, shares, strict=True)]
