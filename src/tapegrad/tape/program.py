"""The compiler: a recorded Graph to a Program, through its passes in order.

    fuse          chains of + into n-ary sums; layers' neurons into dense blocks   fuse.py
    dependencies  what each node that gets a row reads                            schedule.py
    levels        the longest path to each node within its buffer                 schedule.py
    group         same-level nodes into instructions, in run order                schedule.py
    allocate      rows in the once-per-call and per-sample buffers                layout.py
    emit          forward instructions per buffer; backward runs them reversed    emit.py
    writes        which gradient writes store (the first to their rows) or add    writes.py
    bind          (at replay) each instruction to its buffers' views              replay.py

Each pass is a function of the graph and the earlier passes' results, so one can be read (or
tested) alone; `build_program` only chains them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import Value
from .emit import emit
from .fuse import fuse
from .graph import Graph
from .instructions import Instruction, Rows, Scatter, index
from .layout import allocate, plan_imports
from .schedule import dependencies, group, levels
from .writes import plan_writes


@dataclass
class Program:
    """The graph compiled to instructions over two buffers: per-sample rows (rows, batch) for
    everything that depends on an input, and once-per-call rows for everything else."""

    params: list[Value]  # in storage order: rows 0.. of the once-per-call buffer
    n_params: int  # a field, not len(params): the replay reads it on every call
    const_values: np.ndarray  # the constants' numbers, stored right after the parameters
    n_once: int  # rows of the once-per-call buffer
    n_rows: int  # rows of the per-sample buffer
    input_rows: list[int]  # the first per-sample row of each argument
    out_rows: list[int]  # the per-sample row of each output Value
    # Once-per-call values the per-sample buffer reads (layout.Imports): constants as (rows,
    # values), filled in when a buffer is made; the others as (rows, source rows), copied in
    # on every call; those needing a gradient, theirs summed over the batch back to the source.
    imports_const: tuple[Rows, np.ndarray] | None
    imports_dyn: tuple[Rows, Rows] | None
    imports_grad: tuple[Rows, Scatter] | None
    ones: Rows | None  # per-sample rows of 1.0 (a layer's bias read as a weight on 1), if any
    # Gradient rows zeroed before each backward pass, per-sample and once-per-call (`writes`)
    zero_rows: Rows | None
    zero_once: Rows | None
    once: list[Instruction]  # what runs once per call, in order
    per_sample: list[Instruction]  # what runs over the batch, in order

    def describe(self) -> list[str]:
        """One entry per instruction a forward pass runs, once-per-call ones marked."""
        return [f"once: {ins.describe()}" for ins in self.once] + [
            ins.describe() for ins in self.per_sample
        ]


def build_program(graph: Graph) -> Program:
    """Compile `graph`: run the passes in order and collect what the replay needs."""
    fusion = fuse(graph)
    deps = dependencies(graph, fusion)
    groups = group(graph, fusion, deps, levels(graph, deps))
    layout = allocate(graph, fusion, groups, deps)
    const_values = np.array([graph.nodes[i].data for i in layout.consts], dtype=np.float64)
    once_groups = [g for g in groups if not g.per_sample]
    sample_groups = [g for g in groups if g.per_sample]
    once = emit(once_groups, layout.once_row, layout.once_row, graph, fusion)
    per_sample = emit(
        sample_groups, layout.row, layout.once_row, graph, fusion, frozenset(layout.ones)
    )
    imports = plan_imports(graph, layout, const_values)
    imports_grad = None
    if imports.grad is not None:
        imported, src = imports.grad
        imports_grad = (imported, Scatter(np.arange(len(layout.once_row))[src].tolist()))
    out_rows = [layout.row[o] for o in graph.outputs]
    n_params = len(layout.params)
    sum_back = None if imports_grad is None else imports_grad[1]
    sizes = (layout.n_rows, len(layout.once_row))
    zero_rows, zero_once = plan_writes(per_sample, sum_back, once, out_rows[0], n_params, sizes)
    return Program(
        params=[graph.nodes[i] for i in layout.params],
        n_params=n_params,
        const_values=const_values,
        n_once=len(layout.once_row),
        n_rows=layout.n_rows,
        input_rows=layout.input_rows,
        out_rows=out_rows,
        imports_const=imports.const,
        imports_dyn=imports.dyn,
        imports_grad=imports_grad,
        ones=index(layout.ones) if layout.ones else None,
        zero_rows=index(zero_rows) if zero_rows else None,
        zero_once=index(zero_once) if zero_once else None,
        once=once,
        per_sample=per_sample,
    )
