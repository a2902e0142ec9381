"""The instructions a Program runs, each over a whole group of rows at once: an op's rules
(`OpGroup`), n-ary sums (`SumGroup`) and dense layers (`Dense`); and the row indexing they
share (`index`, `scatter`).

Every instruction has `forward(v, vi)` and `backward(v, g, vi, gi)`, over the values and
gradients of its own buffer (`v`, `g`) and of the once-per-call buffer (`vi`, `gi`), which a
dense layer reads its weights from. Backward adds into gradient rows, since a value read by
several instructions gets the sum of their gradients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..numpymath import unchecked as npm
from ..ops import Op

Rows = slice | np.ndarray
"""Rows of a buffer: a slice where possible (a view), else an index array."""

Scatter = Callable[[np.ndarray, np.ndarray], None]
"""Adds values (one per row it was built for) into a buffer's rows."""


def index(rows: list[int]) -> Rows:
    """Rows as a slice when they are evenly spaced and increasing (a view: no copy to read,
    an in-place add to write), else an index array."""
    if len(rows) == 1:
        return slice(rows[0], rows[0] + 1)
    step = rows[1] - rows[0] if rows else 0
    if step > 0 and rows == list(range(rows[0], rows[-1] + 1, step)):
        return slice(rows[0], rows[-1] + 1, step)
    return np.array(rows, dtype=np.intp)


def scatter(rows: list[int]) -> Scatter:
    """A function adding values (one per row of `rows`) into a buffer; rows may repeat."""
    idx = index(rows)
    if isinstance(idx, slice) or len(set(rows)) == len(rows):

        def add(buf: np.ndarray, values: np.ndarray) -> None:
            buf[idx] += values

        return add
    # A repeated row must get every value: `buf[idx] += values` would keep only one of them.
    order = np.argsort(idx, kind="stable")
    srt = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], srt[1:] != srt[:-1])))
    uniq = srt[starts]
    n = len(rows)

    def add_repeated(buf: np.ndarray, values: np.ndarray) -> None:
        values = np.broadcast_to(values, (n,) + buf.shape[1:])
        buf[uniq] += np.add.reduceat(values[order], starts, axis=0)

    return add_repeated


@dataclass(slots=True, eq=False)
class OpGroup:
    """Nodes with the same op at the same level: one call of the op's rules over all rows."""

    op: Op
    out: slice
    args: list[Rows]
    grads: list[tuple[int, Scatter]]  # (argument, adds its gradient) for the args needing one
    needed: bool  # a gradient flows through: backward runs it

    def forward(self, v: np.ndarray, vi: np.ndarray) -> None:
        """Write the op's forward rule over the argument rows into the output rows."""
        v[self.out] = self.op.fwd(npm, *[v[a] for a in self.args])

    def backward(self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray) -> None:
        """Add each needed argument's share of the output gradient, by the op's own rules."""
        gout = g[self.out]
        out = v[self.out]
        args = [v[a] for a in self.args]
        op = self.op
        if op.vjp is not None:  # variadic: one rule gives every argument's gradient
            shares = op.vjp(npm, gout, out, *args)
            for j, add in self.grads:
                add(g, shares[j])
            return
        for j, add in self.grads:
            add(g, op.vjps[j](npm, gout, out, *args))

    def describe(self) -> str:
        """The op and how many nodes run as this one call, e.g. `tanh[16]`."""
        return f"{self.op.name}[{self.out.stop - self.out.start}]"


@dataclass(slots=True, eq=False)
class SumGroup:
    """n-ary sums (folded chains of the table's add) of one length at one level, added left to
    right as eager's chain of + and its `sum` op add: ((t0 + t1) + t2) + ..., term k of every
    sum at step k. Not np.sum or add.reduceat: those add in pairs (numpy's pairwise summation,
    reduceat's first row plus the sum of the rest), which regroup, and where magnitudes differ
    a regrouped sum is another number (1 + 1e16 - 1e16 is 0.0 left to right, 1.0 regrouped)."""

    out: slice
    terms: np.ndarray  # (terms per sum, sums): terms[k, s] is the row of sum s's term k
    seg: Rows | None  # the sum each term needing a gradient belongs to
    scatter: Scatter | None  # adds into those terms' gradient rows
    needed: bool

    def forward(self, v: np.ndarray, vi: np.ndarray) -> None:
        """Write each sum of its terms' rows into its output row, left to right."""
        # accumulate is a running sum, out[k] = out[k-1] + t[k] from out[0] = t[0]: term by
        # term in order, so its last step is eager's left fold bit for bit (-0.0 included).
        v[self.out] = np.add.accumulate(v[self.terms], axis=0)[-1]

    def backward(self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray) -> None:
        """Add each sum's gradient into every term that needs one."""
        if self.scatter is not None:
            self.scatter(g, g[self.out][self.seg])  # add's rule: each term gets g

    def describe(self) -> str:
        """How many sums run as this one call, e.g. `sum[4]`."""
        return f"sum[{self.out.stop - self.out.start}]"


@dataclass(slots=True, eq=False)
class Dense:
    """A layer: neurons bias + sum_i w_i * x_i reading the same inputs, as one matrix product.
    Forward Y = W X + b; backward dW = dY X^T, db = dY summed, dX = W^T dY: the table's mul
    and add rules over every term at once."""

    out: slice
    x: Rows  # per-sample rows of the inputs
    w: Rows  # once-per-call rows of the weights, read as a (neurons, inputs) matrix
    shape: tuple[int, int]
    b: Rows | None
    gx: Scatter | None  # each adds a gradient where one is needed, else None
    gw: Scatter | None
    gb: Scatter | None
    needed: bool

    def forward(self, v: np.ndarray, vi: np.ndarray) -> None:
        """Y = W X + b into the layer's output rows (W and b from the once-per-call buffer)."""
        y = v[self.out]
        np.matmul(vi[self.w].reshape(self.shape), v[self.x], out=y)
        if self.b is not None:
            y += vi[self.b][:, None]

    def backward(self, v: np.ndarray, g: np.ndarray, vi: np.ndarray, gi: np.ndarray) -> None:
        """Add dW = dY X^T, db = sum of dY and dX = W^T dY where they are needed."""
        dy = g[self.out]
        if self.gw is not None:
            self.gw(gi, (dy @ v[self.x].T).ravel())
        if self.gb is not None:
            self.gb(gi, dy.sum(axis=1))
        if self.gx is not None:
            self.gx(g, vi[self.w].reshape(self.shape).T @ dy)

    def describe(self) -> str:
        """The layer's shape, e.g. `dense[16x2]` (neurons x inputs)."""
        return f"dense[{self.shape[0]}x{self.shape[1]}]"


Instruction = OpGroup | SumGroup | Dense
