"""Walking a graph of Values: topological order, the lecture's `trace`, counts, zeroing grads.

Every walk here is iterative, so a chain a million nodes deep needs no recursion limit. Nodes
are anything with a `_prev` tuple of children (micrograd's too). `topological_order` itself
lives with backpropagation in `engine.py`, its first user.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from .engine import topological_order

if TYPE_CHECKING:
    from .engine import Value


def trace(root: Value) -> tuple[set, set]:
    """The lecture's `trace`: the set of nodes and the set of (child, parent) edges."""
    nodes = set(topological_order(root))
    edges = {(child, node) for node in nodes for child in node._prev}
    return nodes, edges


def zero_grad(roots: Value | Iterable[Value]) -> None:
    """Set `.grad = 0.0` on every node of the graph(s) below `roots` (one Value or several)."""
    for node in reachable((roots,) if hasattr(roots, "_prev") else roots):
        node.grad = 0.0


@dataclass(frozen=True)
class GraphStats:
    """Sizes of a graph: nodes, edges, leaves, depth (longest path) and ops by kind."""

    nodes: int
    edges: int
    leaves: int
    depth: int
    ops: dict[str, int]


def stats(root: Value) -> GraphStats:
    """Count what a graph is made of; `depth` is the number of ops on the longest path."""
    order = topological_order(root)
    depth: dict = {}
    ops: Counter = Counter()
    edges = 0
    for node in order:
        prev = node._prev
        edges += len(prev)
        depth[node] = 1 + max(depth[c] for c in prev) if prev else 0
        if prev:
            ops[node._op] += 1
    leaves = sum(1 for n in order if not n._prev)
    return GraphStats(len(order), edges, leaves, depth[root], dict(ops))


# Readable names for the variadic ops, whose symbol alone does not say what they compute:
# (Unicode, ASCII) templates of the number of inputs n.
_OP_LABELS = {
    "affine": ("Σ w·x + b ({n} inputs)", "sum w*x + b ({n} inputs)"),
    "sum": ("Σ ({n} terms)", "sum ({n} terms)"),
}


def op_label(node: Value, ascii: bool = False) -> str:  # noqa: A002 - textgraph's option name
    """What a picture shows for `node`'s op: its symbol (`+`, `tanh`), or for a fused neuron
    `Σ w·x + b (16 inputs)` and for an n-ary sum `Σ (5 terms)`."""
    labels = _OP_LABELS.get(node._op)
    if labels is None or not node._prev:
        return node._op
    k = len(node._prev)
    return labels[ascii].format(n=k // 2 if node._op == "affine" else k)


def leaves(root: Value) -> list:
    """The leaf nodes (no children) of a graph, in topological order."""
    return [n for n in topological_order(root) if not n._prev]


class _Above:
    """A node whose children are `roots`: one walk from it reaches every root's graph."""

    __slots__ = ("_prev",)

    def __init__(self, roots: Iterable) -> None:
        self._prev = tuple(roots)


def reachable(roots: Iterable) -> list:
    """Every node reachable from any of `roots`, each once, in topological order: the first
    root's nodes in its own order, then the second's not yet listed, and so on. One walk (not
    one per root, which cost a tape's recording 10 walks of the graph for 10 outputs)."""
    return topological_order(cast("Value", _Above(roots)))[:-1]


__all__ = [
    "GraphStats",
    "leaves",
    "op_label",
    "reachable",
    "stats",
    "topological_order",
    "trace",
    "zero_grad",
]
