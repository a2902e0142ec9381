"""Fusion, the compiler's first passes: left-leaning chains of `+` (and the table's n-ary
`sum`) folded into n-ary sums that add in eager's order, and a layer's neurons (`affine` nodes,
or in an explicit graph sums of weight * input products plus a bias) found as dense blocks that
run as one matrix product.

Both apply the table's rules in bulk, so they run only if those rules are the textbook ones
(checked on arrays at import, `LINEAR_RULES`); otherwise every node takes the generic grouped
path. A group of the table's mul then also writes its products straight into their rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..numpymath import unchecked as npm
from ..ops import ADD, AFFINE, MUL, SUM
from .graph import OP, Graph

_MAX_DENSE_BLOCKS = 64  # past this many distinct layers, the rest take the generic path


def _linear_rules_hold() -> bool:
    """Whether the table's add, mul, sum and affine are what fused sums and matrix products
    compute: + and * with their textbook rules exactly; affine's forward and gradients as
    W x + b, W^T g and g x^T (to rounding: a matrix product adds in its own order)."""
    rng = np.random.default_rng(0)
    a, b, g = rng.standard_normal((3, 8))
    w, x = rng.standard_normal((2, 3, 8))  # an affine node of 3 inputs, over a batch of 8
    with np.errstate(all="ignore"):
        s, p = a + b, a * b
        affine_out = (w * x).sum(axis=0) + b
        affine_shares = [g * xi for xi in x] + [g * wi for wi in w] + [g]
        return (
            np.array_equal(ADD.fwd(npm, a, b), s)
            and all(
                np.array_equal(np.broadcast_to(r(npm, g, s, a, b), g.shape), g) for r in ADD.vjps
            )
            and np.array_equal(MUL.fwd(npm, a, b), p)
            and np.array_equal(MUL.vjps[0](npm, g, p, a, b), g * b)
            and np.array_equal(MUL.vjps[1](npm, g, p, a, b), g * a)
            and np.array_equal(SUM.fwd(npm, a, b, g), a + b + g)
            and SUM.vjp is not None  # variadic ops give every share from one rule
            and all(
                np.array_equal(np.broadcast_to(c, g.shape), g) for c in SUM.vjp(npm, g, s, a, b)
            )
            and np.allclose(AFFINE.fwd(npm, *w, *x, b), affine_out, rtol=1e-14, atol=0.0)
            and AFFINE.vjp is not None
            and all(
                np.array_equal(np.broadcast_to(c, g.shape), want)
                for c, want in zip(
                    AFFINE.vjp(npm, g, affine_out, *w, *x, b), affine_shares, strict=True
                )
            )
        )


LINEAR_RULES = _linear_rules_hold()
"""Whether the table's add, mul, sum and affine are the textbook ones (see above)."""


class Neuron(NamedTuple):
    """A per-sample sum bias + sum_i weights[i] * inputs[i] (node indices; weights and bias do
    not depend on the inputs)."""

    weights: list[int]
    inputs: list[int]
    bias: int | None


@dataclass
class Fusion:
    """What the fusion passes decided, by node index."""

    absorbed: list[bool]  # computed inside another node's instruction: no row of its own
    terms: dict[int, list[int]]  # each n-ary sum's root -> its terms, left to right as eager
    dense: dict[int, Neuron]  # each neuron's root -> its weights, inputs and bias


def fuse(graph: Graph) -> Fusion:
    """Fold sums, then find the layers among them (nothing, when `LINEAR_RULES` is off)."""
    if not LINEAR_RULES:
        return Fusion([False] * len(graph.nodes), {}, {})
    absorbed, terms = fold_sums(graph)
    dense = find_layers(graph, terms)
    for i in dense:  # an explicit neuron's products live inside its layer's matrix product
        for t in terms.get(i, ()):
            if graph.kind[t] == OP and graph.op[t] is MUL and graph.batch[t]:
                absorbed[t] = True
    return Fusion(absorbed, terms, dense)


def fold_sums(graph: Graph) -> tuple[list[bool], dict[int, list[int]]]:
    """Chains of + become n-ary sums, in eager's association: an add (or a `sum` node) that is
    the *left* operand of another, used only there and in the same buffer, is folded into it,
    so ((a + b) + c) + d is one sum of a, b, c, d, added left to right as eager adds them.
    A right operand (a + (b + c)) stays its own sum: folding it would regroup. Returns which
    were folded, and each remaining one's terms."""
    children, batch, uses = graph.children, graph.batch, graph.uses
    n = len(children)
    is_add = [k == OP and (o is ADD or o is SUM) for k, o in zip(graph.kind, graph.op, strict=True)]
    absorbed = [False] * n
    for i in range(n):
        if is_add[i]:
            c = children[i][0]
            if is_add[c] and uses[c] == 1 and batch[c] == batch[i]:
                absorbed[c] = True
    terms = {i: _expand(i, children, absorbed) for i in range(n) if is_add[i] and not absorbed[i]}
    return absorbed, terms


def _expand(i: int, children: list[tuple[int, ...]], absorbed: list[bool]) -> list[int]:
    """The terms of the sum rooted at add node i, left to right, through absorbed adds."""
    out: list[int] = []
    stack = list(reversed(children[i]))
    while stack:
        c = stack.pop()
        if absorbed[c]:
            stack.extend(reversed(children[c]))
        else:
            out.append(c)
    return out


def find_layers(graph: Graph, terms: dict[int, list[int]]) -> dict[int, Neuron]:
    """The per-sample neurons (affine nodes, and sums that are neurons), limited to the
    `_MAX_DENSE_BLOCKS` biggest layers (neurons reading the same inputs, with or without a
    bias, form one layer)."""
    found = [(i, _neuron(graph, ts)) for i, ts in terms.items() if graph.batch[i]]
    found += [
        (i, _affine_neuron(graph, graph.children[i]))
        for i, op in enumerate(graph.op)
        if op is AFFINE and graph.batch[i]
    ]
    dense = {i: d for i, d in found if d is not None}
    layers: dict[tuple[tuple[int, ...], bool], list[int]] = {}
    for i, (_, xs, bias) in dense.items():
        layers.setdefault((tuple(xs), bias is not None), []).append(i)
    if len(layers) <= _MAX_DENSE_BLOCKS:
        return dense
    ranked = sorted(layers.items(), key=lambda kv: -len(kv[1]) * len(kv[0][0]))
    keep = {i for _, members in ranked[:_MAX_DENSE_BLOCKS] for i in members}
    return {i: d for i, d in dense.items() if i in keep}


def _affine_neuron(graph: Graph, children: tuple[int, ...]) -> Neuron | None:
    """An affine node (w1..wn, x1..xn, b) as a Neuron, if its weights (or, the product being
    symmetric, its inputs) and its bias do not depend on the inputs; else None."""
    batch = graph.batch
    n = len(children) // 2
    ws, xs, b = list(children[:n]), list(children[n:-1]), children[-1]
    if batch[b] or not ws:
        return None
    if any(batch[w] for w in ws):
        ws, xs = xs, ws
    return None if any(batch[w] for w in ws) else Neuron(ws, xs, b)


def _neuron(graph: Graph, ts: list[int]) -> Neuron | None:
    """The sum with terms `ts` as a Neuron, if its terms are weight * input products (each
    used once) plus at most one term that does not depend on the inputs; else None."""
    kind, op, children = graph.kind, graph.op, graph.children
    batch, uses = graph.batch, graph.uses
    ws: list[int] = []
    xs: list[int] = []
    bias: list[int] = []
    for t in ts:
        if not batch[t]:
            bias.append(t)
        elif kind[t] == OP and op[t] is MUL and uses[t] == 1:
            a, b = children[t]
            if batch[a] == batch[b]:
                return None
            w, x = (b, a) if batch[a] else (a, b)
            ws.append(w)
            xs.append(x)
        else:
            return None
    if not ws or len(bias) > 1:
        return None
    return Neuron(ws, xs, bias[0] if bias else None)
