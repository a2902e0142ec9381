"""The recorded graph as integer-indexed lists, in topological order: for each node its kind
(input, parameter, constant or op), its op and children, whether it depends on an input (so
runs once per sample) or on a parameter (so needs a gradient), and how often it is used. The
compiler passes read only this; `fingerprint` tells whether a new recording is the same graph."""

from __future__ import annotations

from ..closures import needs_rule
from ..engine import Constant, Value
from ..graph import reachable
from ..ops import BY_SYMBOL, Op

# Node kinds.
INPUT, PARAM, CONST, OP = range(4)


class Graph:
    """The graph from `outputs` back to its leaves; `placeholders` (per argument) are inputs."""

    def __init__(self, placeholders: list[list[Value]], outputs: list[Value]) -> None:
        where = {p: (k, i) for k, group in enumerate(placeholders) for i, p in enumerate(group)}
        nodes = reachable(outputs)
        index = {node: i for i, node in enumerate(nodes)}
        self.placeholders = placeholders
        self.nodes: list[Value] = nodes
        self.index: dict[Value, int] = index
        self.where: dict[Value, tuple[int, int]] = where  # input -> (argument, position)
        self.outputs: list[int] = [index[o] for o in outputs]
        kind: list[int] = []
        op: list[Op | None] = []
        children: list[tuple[int, ...]] = []
        batch: list[bool] = []  # depends on an input: one value per sample
        needs: list[bool] = []  # depends on a parameter: needs a gradient
        in_batch, in_needs = batch.__getitem__, needs.__getitem__
        for node in nodes:
            prev = node._prev
            if node in where or not prev:  # a leaf: its own kind says it all
                k = INPUT if node in where else CONST if isinstance(node, Constant) else PARAM
                kind.append(k)
                op.append(None)
                children.append(())
                batch.append(k == INPUT)
                needs.append(k == PARAM)
                continue
            o = BY_SYMBOL.get(node._op)
            if node._fn is not None:  # the lecture's closure: a rule the tape cannot replay
                raise needs_rule(node, "tapegrad.compile")
            if o is None or o.arity not in (None, len(prev)):
                raise _not_primitive(node, o)
            ch = tuple(map(index.__getitem__, prev))
            kind.append(OP)
            op.append(o)
            children.append(ch)
            batch.append(any(map(in_batch, ch)))
            needs.append(any(map(in_needs, ch)))
        self.kind, self.op, self.children, self.batch, self.needs = kind, op, children, batch, needs
        self.uses: list[int] = _uses(children, self.outputs)

    def op_of(self, i: int) -> Op:
        """The op of op node `i`; a ValueError for a leaf, which has none."""
        op = self.op[i]
        if op is None:
            raise ValueError(f"node {i} is a leaf (kind {self.kind[i]}), not an op")
        return op

    def fingerprint(self) -> int:
        """A hash of the graph's structure: ops, wiring, constants, parameter identities."""
        parts: list[tuple[object, ...]] = []
        for i, (node, k, ch) in enumerate(zip(self.nodes, self.kind, self.children, strict=True)):
            if k == INPUT:
                parts.append(("in", *self.where[node]))
            elif k == PARAM:
                parts.append(("param", id(node)))
            elif k == CONST:
                parts.append(("const", node.data.hex()))  # nan hashes by identity
            else:
                parts.append((self.op_of(i).name, ch))
        parts.append(("out", tuple(self.outputs)))
        return hash(tuple(parts))


def _uses(children: list[tuple[int, ...]], outputs: list[int]) -> list[int]:
    """How many times each node is read: by a parent, or as an output."""
    uses = [0] * len(children)
    for ch in children:
        for c in ch:
            uses[c] += 1
    for o in outputs:
        uses[o] += 1
    return uses


def _not_primitive(node: Value, op: Op | None) -> ValueError:
    """The error for a node the op table cannot replay (an unknown op, a wrong arity)."""
    if op is None:
        return ValueError(
            f"cannot compile: {node!r} (label {node.label!r}) has children but its "
            f"_op {node._op!r} is not a primitive in tapegrad.ops: register the op "
            f"(tapegrad.register_op)"
        )
    return ValueError(
        f"cannot compile: {node!r} (label {node.label!r}) is op {op.name!r}, "
        f"which takes {op.arity} argument(s), but has {len(node._prev)} children"
    )
