"""Which gradient writes store and which add: a backward pass writes each gradient row first
from one instruction, and adds into it from any later one. Walking the writes in the order a
backward pass runs them, a write none of whose rows were written before stores its values
(`Scatter.first`), so its rows need no zeros before the pass; a write that finds some of its
rows written adds, and the rest of its rows (none, in a layered model) are zeroed per pass.

This replaces filling both gradient buffers with zeros on every step, which on a small model
costs as much as a layer's product."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .instructions import Instruction, Scatter


def plan_writes(
    per_sample: list[Instruction],
    sum_back: Scatter | None,
    once: list[Instruction],
    seeded: int,
    n_params: int,
    sizes: tuple[int, int],
) -> tuple[list[int], list[int]]:
    """Mark the first writes (`Scatter.first`) of a backward pass: the per-sample
    instructions' in reverse, each's writes in the order it makes them, then the imports'
    gradients summed back (`sum_back`), then the once-per-call instructions' in reverse.
    `seeded`: the per-sample row the pass starts from (its seed is filled in, not written);
    `sizes`: the rows of the per-sample and once-per-call buffers. Returns the rows to zero
    before each pass, per-sample and once-per-call: rows a write adds into before any stores
    there, and the parameters' rows no write reaches (their gradient is 0, and the caller may
    have written into the gradient view it got)."""
    written = (np.zeros(sizes[0], dtype=bool), np.zeros(sizes[1], dtype=bool))
    zero = (np.zeros(sizes[0], dtype=bool), np.zeros(sizes[1], dtype=bool))
    written[0][seeded] = True

    def visit(once_buffer: bool, scatter: Scatter) -> None:
        done, rows = written[once_buffer], scatter.rows()
        seen = done[rows]
        scatter.first = not seen.any()
        if not scatter.first:
            zero[once_buffer][rows[~seen]] = True
        done[rows] = True

    def walk(instructions: Iterable[Instruction], once_buffer: bool) -> None:
        for ins in instructions:
            if ins.needed:
                for to_once, scatter in ins.writes():
                    visit(once_buffer or to_once, scatter)

    walk(reversed(per_sample), False)
    if sum_back is not None:
        visit(True, sum_back)
    walk(reversed(once), True)
    zero[1][:n_params] |= ~written[1][:n_params]
    return np.flatnonzero(zero[0]).tolist(), np.flatnonzero(zero[1]).tolist()
