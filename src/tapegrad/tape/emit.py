"""Emitting: each group becomes one instruction, holding the rows it reads and writes and, for
each argument whose gradient is needed, the scatter its backward writes through. Gradients
nobody needs (an input's, a constant's) are never computed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ops import MUL
from . import fuse
from .fuse import Fusion
from .graph import Graph
from .instructions import Dense, Instruction, OpGroup, Scatter, SumGroup, index
from .schedule import Group


def emit(
    groups: list[Group],
    rows: dict[int, int],
    once_row: dict[int, int],
    graph: Graph,
    fusion: Fusion,
    ones: frozenset[int] = frozenset(),
) -> list[Instruction]:
    """The instructions for `groups` (all in one buffer, whose rows are `rows`), in order;
    `once_row` places the weights and biases a dense layer reads, `ones` the rows of 1.0 a
    layer may fold its biases into its product through."""
    out: list[Instruction] = []
    for g in groups:
        if g.kind == "dense":
            layer = _dense(g.members, rows, once_row, graph, fusion)
            out.append(_fold_bias(layer, g.members, once_row, fusion, ones))
        elif g.kind == "sum":
            out.append(_sum(g.members, rows, graph, fusion))
        else:
            out.append(_op(g.members, rows, graph))
    return out


def _span(members: list[int], rows: dict[int, int]) -> slice:
    """The rows a group writes: its members have consecutive rows."""
    return slice(rows[members[0]], rows[members[0]] + len(members))


def _dense(
    members: list[int],
    rows: dict[int, int],
    once_row: dict[int, int],
    graph: Graph,
    fusion: Fusion,
) -> Dense:
    """A layer: its weights as one (neurons, inputs) matrix, read from the once-per-call rows."""
    needs = graph.needs
    neurons = [fusion.dense[i] for i in members]
    ws = [w for neuron in neurons for w in neuron.weights]
    xs = neurons[0].inputs
    # A layer's neurons all have a bias or all have none (`schedule.group` keys on it).
    bs = [neuron.bias for neuron in neurons if neuron.bias is not None] or None
    return Dense(
        _span(members, rows),
        x=index([rows[x] for x in xs]),
        w=index([once_row[w] for w in ws]),
        shape=(len(members), len(xs)),
        b=None if bs is None else index([once_row[b] for b in bs]),
        gx=Scatter([rows[x] for x in xs]) if any(needs[x] for x in xs) else None,
        gw=Scatter([once_row[w] for w in ws]) if any(needs[w] for w in ws) else None,
        gb=Scatter([once_row[b] for b in bs]) if bs and any(needs[b] for b in bs) else None,
        needed=any(needs[i] for i in members),
    )


def _fold_bias(
    layer: Dense,
    members: list[int],
    once_row: dict[int, int],
    fusion: Fusion,
    ones: frozenset[int],
) -> Dense:
    """`layer` reading its biases as one more column of its weights, where it can: its inputs
    are one run of rows with a row of ones right after them (`layout`), and its weights and
    biases, neuron by neuron, one run of once-per-call rows (a model's layer), read as one
    (neurons, inputs + 1) matrix. Else `layer` as it is."""
    x = layer.x
    if layer.b is None or not isinstance(x, slice) or x.step not in (None, 1):
        return layer
    if x.stop not in ones:
        return layer
    wb = index([once_row[r] for i in members for r in _weights_then_bias(fusion, i)])
    if not isinstance(wb, slice) or wb.step not in (None, 1):
        return layer
    return replace(layer, xb=slice(x.start, x.stop + 1), wb=wb)


def _weights_then_bias(fusion: Fusion, i: int) -> list[int]:
    """Neuron i's weights, then its bias."""
    neuron = fusion.dense[i]
    assert neuron.bias is not None  # a layer with biases (`_fold_bias` checks)
    return [*neuron.weights, neuron.bias]


def _sum(members: list[int], rows: dict[int, int], graph: Graph, fusion: Fusion) -> SumGroup:
    """Sums with the same number of terms: term k of every sum as one set of rows (forward),
    and the terms laid end to end, one segment per sum (backward)."""
    by_sum = [fusion.terms[i] for i in members]
    all_terms = [t for terms in by_sum for t in terms]
    seg = [s for s, terms in enumerate(by_sum) for _ in terms]
    src = [rows[t] for t in all_terms]
    sel = [k for k, t in enumerate(all_terms) if graph.needs[t]]  # terms that need a gradient
    return SumGroup(
        _span(members, rows),
        terms=np.array([[rows[t] for t in terms] for terms in by_sum], dtype=np.intp).T,
        seg=index([seg[k] for k in sel]) if sel else None,
        scatter=Scatter([src[k] for k in sel]) if sel else None,
        needed=any(graph.needs[i] for i in members),
    )


def _op(members: list[int], rows: dict[int, int], graph: Graph) -> OpGroup:
    """One op over all members: argument j of every member read as one set of rows."""
    op, children, needs = graph.op_of(members[0]), graph.children, graph.needs
    args = [[children[i][j] for i in members] for j in range(len(children[members[0]]))]
    reads = [index([rows[c] for c in arg]) for arg in args]
    grads = [
        (j, Scatter([rows[c] for c in arg]))
        for j, arg in enumerate(args)
        if any(needs[c] for c in arg)
    ]
    group = OpGroup(op, _span(members, rows), reads, grads, any(needs[i] for i in members))
    group.product = op is MUL and fuse.LINEAR_RULES
    if op.partials is not None:  # variadic: every argument's rows, read as one
        every = [rows[c] for arg in args for c in arg]
        group.every = index(every)
        # A vector op's partials come as one array (`m.stack`): its gradients go in one write.
        group.every_grad = Scatter(every) if grads and op.vector else None
    return group
