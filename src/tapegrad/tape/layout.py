"""Buffer allocation: a row for every value an instruction reads or writes, in two buffers.

- once-per-call rows (a flat array): parameters (each layer's first, neuron by neuron, its
  weights then its bias, as `Module.parameters()` lists them: a layer reads its weight matrix
  and its biases as two strided views, and a model's parameters sit in the tape in the model's
  own order), then constants, then the results of ops that do not depend on the inputs;
- per-sample rows (an array (rows, batch)): the inputs, then the once-per-call values the
  per-sample instructions read ("imports", constants first, copied in across the batch), then
  op results; where a block of rows (an argument, the group before a layer) ends a run of
  rows that is exactly a biased layer's inputs, a row of ones right after it: the layer
  multiplies its inputs and that row by its weights and biases as one matrix, a bias being a
  weight on a constant 1.

Each group's members get consecutive rows, so an instruction writes one slice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .fuse import Fusion
from .graph import CONST, PARAM, Graph
from .instructions import Rows, index
from .schedule import Group


@dataclass
class Layout:
    """Where every node lives, by node index."""

    once_row: dict[int, int]  # row in the once-per-call buffer
    params: list[int]  # parameter nodes, in storage order (their rows are 0, 1, ...)
    consts: list[int]  # constant nodes, in storage order (their rows follow the parameters')
    row: dict[int, int]  # row in the per-sample buffer
    input_rows: list[int]  # the first per-sample row of each argument
    imports: list[int]  # once-per-call nodes that also get a per-sample row, constants first
    n_rows: int  # how many rows the per-sample buffer has
    ones: list[int]  # per-sample rows holding 1.0, each right after a biased layer's inputs


class Imports(NamedTuple):
    """How once-per-call values reach the per-sample buffer, as (per-sample rows, source):
    constants once, when a buffer is made; the others on every call, and their gradients
    summed over the batch back into the once-per-call gradients where one is needed."""

    const: tuple[Rows, np.ndarray] | None
    dyn: tuple[Rows, Rows] | None
    grad: tuple[Rows, Rows] | None


def allocate(
    graph: Graph, fusion: Fusion, groups: list[Group], deps: dict[int, list[int]]
) -> Layout:
    """Rows in both buffers for every input, parameter, constant and group member, and a row
    of ones right after each biased layer's inputs where they end up as one run of rows."""
    once_row, params, consts = _once_rows(graph, fusion, groups)
    rows = _PerSampleRows(_biased_layer_inputs(fusion, groups))
    # The inputs argument by argument (an unused input still gets its row, unread).
    input_rows = [rows.place([graph.index.get(p) for p in ps]) for ps in graph.placeholders]
    imports = _imports(graph, groups, deps)
    for block in [[i] for i in imports] + [g.members for g in groups if g.per_sample]:
        rows.place(block)
    n_rows = len(rows.at)
    return Layout(once_row, params, consts, rows.row, input_rows, imports, n_rows, rows.ones)


def _biased_layer_inputs(fusion: Fusion, groups: list[Group]) -> dict[int, list[tuple[int, ...]]]:
    """The inputs of each layer with biases, in the order its neurons read them, by the last
    of them: where they are one run of rows, a row of ones goes right after it, so that the
    layer reads its inputs and the ones as one view and adds its biases inside its matrix
    product (`Dense.xb`)."""
    found: dict[int, list[tuple[int, ...]]] = {}
    for g in groups:
        if g.kind == "dense":
            neuron = fusion.dense[g.members[0]]
            if neuron.bias is not None:  # a layer's neurons all have a bias or none
                found.setdefault(neuron.inputs[-1], []).append(tuple(neuron.inputs))
    return found


@dataclass
class _PerSampleRows:
    """Per-sample rows handed out in order, block by block."""

    ends: dict[int, list[tuple[int, ...]]]  # biased layers' inputs, by their last input
    row: dict[int, int] = field(default_factory=dict)
    ones: list[int] = field(default_factory=list)
    at: list[int | None] = field(default_factory=list)  # the node in each row (None: none)

    def place(self, block: Sequence[int | None]) -> int:
        """Consecutive rows for `block` (None: a row for no node), then a row of ones if the
        rows up to here end with a biased layer's inputs; returns the block's first row."""
        start = len(self.at)
        for i in block:
            if i is not None:
                self.row[i] = len(self.at)
            self.at.append(i)
        last = block[-1] if block else None
        if last is not None and any(
            tuple(self.at[-len(xs) :]) == xs for xs in self.ends.get(last, ())
        ):
            self.ones.append(len(self.at))
            self.at.append(None)
        return start


def _once_rows(
    graph: Graph, fusion: Fusion, groups: list[Group]
) -> tuple[dict[int, int], list[int], list[int]]:
    """Once-per-call rows: parameters (layers' neurons, each its weights then its bias; then the
    rest), constants, then once-per-call group members in run order."""
    kind = graph.kind
    order: list[int] = []
    for g in groups:
        if g.kind == "dense":  # neuron by neuron, weights then bias, as a model lists them
            for neuron in (fusion.dense[i] for i in g.members):
                order += neuron.weights if neuron.bias is None else [*neuron.weights, neuron.bias]
    once_row: dict[int, int] = {}
    params: list[int] = []
    for i in order + list(range(len(kind))):
        if kind[i] == PARAM and i not in once_row:
            once_row[i] = len(params)
            params.append(i)
    consts = [i for i in range(len(kind)) if kind[i] == CONST]
    for i in consts + [i for g in groups if not g.per_sample for i in g.members]:
        once_row[i] = len(once_row)
    return once_row, params, consts


def _imports(graph: Graph, groups: list[Group], deps: dict[int, list[int]]) -> list[int]:
    """The once-per-call nodes a per-sample instruction reads, or that are outputs (outputs are
    read from the per-sample buffer), constants first."""
    batch = graph.batch
    needed: set[int] = set()
    for g in groups:
        if g.per_sample:
            for i in g.members:
                needed.update(d for d in deps[i] if not batch[d])
    needed.update(o for o in graph.outputs if not batch[o])
    return sorted(needed, key=lambda i: (graph.kind[i] != CONST, i))


def plan_imports(graph: Graph, layout: Layout, const_values: np.ndarray) -> Imports:
    """The index arrays that copy imports into the per-sample buffer (and gradients back)."""
    row, once_row = layout.row, layout.once_row
    const_at = {c: k for k, c in enumerate(layout.consts)}
    consts = [i for i in layout.imports if graph.kind[i] == CONST]
    dyn = [i for i in layout.imports if graph.kind[i] != CONST]
    grad = [i for i in dyn if graph.needs[i]]

    def pair(nodes: list[int]) -> tuple[Rows, Rows] | None:
        if not nodes:
            return None
        return index([row[i] for i in nodes]), index([once_row[i] for i in nodes])

    const: tuple[Rows, np.ndarray] | None = None
    if consts:
        const = (index([row[i] for i in consts]), const_values[[const_at[i] for i in consts]])
    return Imports(const, pair(dyn), pair(grad))
