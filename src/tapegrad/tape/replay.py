"""Replay: a Program run over one batch on reusable buffers, forward and, for a gradient,
backward. The once-per-call buffer (`vi`, gradients `gi`) holds parameters, constants and what
depends on them alone; the per-sample buffer (`v`, `g`), shaped (rows, batch), everything that
depends on an input. Instructions are bound to the buffers once (`Bound`): the once-per-call
ones when the Replay is made, the per-sample ones for each of the last few batch sizes, so a
training loop allocates nothing and indexes nothing per step beyond the rules' own results.
A replay can hold more than one once-per-call buffer (`Side`), each with the parameters in its
first rows: a loop can rotate them, the tape reading each where it stands, so that an update
writes the new weights into one while the weights a step started from stay in another."""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from .instructions import Adder, Reader, Rows, Step, reader
from .program import Program

data_of = operator.attrgetter("data")  # a Value's .data, for map()
_BUFFER_CACHE = 4  # batch sizes whose buffers a tape keeps


@dataclass(slots=True)
class Bound:
    """A Program's per-sample instructions bound to buffers for one batch size."""

    v: np.ndarray  # values, (rows, batch)
    g: np.ndarray  # gradients, (rows, batch)
    forward: list[Step]
    backward: list[Step]  # in backward order, only what a gradient flows through
    seed: np.ndarray  # the first output's gradient row


@dataclass(slots=True)
class Side:
    """A once-per-call buffer and its instructions: the parameters a replay reads (its first
    rows, `params`), the constants after them and the once-per-call values. A replay has one,
    and more on request (`Replay.param_arrays`), each read where it stands, with no copy."""

    vi: np.ndarray
    params: np.ndarray
    once: list[Step]
    once_backward: list[Step]  # in backward order, only what a gradient flows through


class Replay:
    """A Program's buffers, and the loop that runs its bound instructions over them."""

    __slots__ = ("prog", "_bound", "_buffers", "_sides", "_side_of", "_gi", "_grad")

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self._bound: dict[tuple[int, int], Bound] = {}  # by (batch size, side)
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # (v, g) by batch size
        self._gi = np.zeros(prog.n_once)  # gradients: one buffer whichever side was read
        self._grad = self._gi[: prog.n_params]
        vi = np.zeros(prog.n_once)
        vi[prog.n_params : prog.n_params + len(prog.const_values)] = prog.const_values
        self._sides: list[Side] = []
        self._side_of: dict[int, int] = {}  # id of a side's parameter array: its number
        self._add_side(vi)

    def _add_side(self, vi: np.ndarray) -> None:
        prog, gi = self.prog, self._gi
        once = [ins.bind(vi, gi, vi, gi) for ins in prog.once]
        backward = [b for (_, b), ins in zip(once, prog.once, strict=True) if ins.needed]
        side = Side(vi, vi[: prog.n_params], [f for f, _ in once], backward[::-1])
        self._side_of[id(side.params)] = len(self._sides)
        self._sides.append(side)

    def param_arrays(self, count: int) -> list[np.ndarray]:
        """`count` parameter arrays the replay reads where they stand (the first is
        `params_view`), the new ones made holding its values. A training loop can rotate them:
        write a step's new weights into the next while the last ones keep theirs."""
        while len(self._sides) < count:
            self._add_side(self._sides[0].vi.copy())
        return [side.params for side in self._sides[:count]]

    def run(
        self,
        arrays: list[np.ndarray],
        n: int,
        params: np.ndarray | None,
        reduction: str | None,
        take: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Forward over a batch of `n` at `params` (`params[take]` with `take`; None: the
        parameters' `.data`; one of its own parameter arrays, `param_arrays`: as it stands),
        then with a `reduction` ("mean" or "sum") backward: the value buffer and the
        parameters' gradient (None without a reduction), both views valid until the next run.
        The caller holds NumPy's floating-point warnings off (`np.errstate(all="ignore")`), as
        the rules' inf and nan are results: a loop enters that once, not once a step. One
        function, not two methods: a small model's call is all Python overhead."""
        prog, gi = self.prog, self._gi
        k = self._side_of.get(id(params)) if take is None else None
        if k is None:  # not one of its own arrays: copied into the first
            k = 0
            self._load(params, take)
        side = self._sides[k]
        b = self._bound.get((n, k)) or self._bind(n, k)
        v = b.v
        # Forward: parameters, once-per-call values, inputs, imports, per-sample values.
        for step in side.once:
            step()
        for start, a in zip(prog.input_rows, arrays, strict=True):
            if a.ndim == 1:
                v[start] = a
            else:
                v[start : start + a.shape[1]] = a.T
        for step in b.forward:  # the imports first
            step()
        if reduction is None:
            return v, None
        # Backward: seed the output's gradient, then the same instructions reversed. Their
        # first writes store (`writes`): only rows an add finds first are zeroed.
        if prog.zero_rows is not None:
            b.g[prog.zero_rows] = 0.0
        if prog.zero_once is not None:
            gi[prog.zero_once] = 0.0
        b.seed.fill(1.0 / n if reduction == "mean" else 1.0)
        for step in b.backward:  # the imports' gradients last
            step()
        for step in side.once_backward:
            step()
        return v, self._grad

    def _load(self, params: np.ndarray | None, take: np.ndarray | None) -> None:
        """Copy the parameters into the first side: `params[take]`, `params`, or (None) their
        `.data`."""
        into = self._sides[0].params
        if params is None:
            prog = self.prog
            into[:] = np.fromiter(map(data_of, prog.params), np.float64, count=prog.n_params)
        elif take is not None:
            np.take(params, take, out=into)
        else:
            into[:] = params

    @property
    def params_view(self) -> np.ndarray:
        """The parameter values the replay reads, in `prog.params` order: a view of its buffer."""
        return self._sides[0].params

    def _bind(self, n: int, k: int) -> Bound:
        """Buffers for a batch of n (shared by the sides), constants' rows and rows of ones
        filled in, and the instructions bound to them and to side k's once-per-call buffer."""
        prog, vi, gi = self.prog, self._sides[k].vi, self._gi
        if n not in self._buffers:
            if len(self._buffers) >= _BUFFER_CACHE:  # the oldest batch size goes
                old = next(iter(self._buffers))
                del self._buffers[old]
                for key in [key for key in self._bound if key[0] == old]:
                    del self._bound[key]
            self._buffers[n] = self._new_buffers(n)
        v, g = self._buffers[n]
        steps = [ins.bind(v, g, vi, gi) for ins in prog.per_sample]
        forward = [f for f, _ in steps]
        backward = [b for (_, b), ins in zip(steps, prog.per_sample, strict=True) if ins.needed]
        backward.reverse()
        if prog.imports_dyn is not None:  # once-per-call values copied across the batch
            imported, src = prog.imports_dyn
            forward.insert(0, _copy_across(reader(v, imported), reader(vi, src), v, imported))
        if prog.imports_grad is not None:  # and their gradients summed over it
            imported_grads, back = prog.imports_grad
            backward.append(_sum_back(reader(g, imported_grads), back(gi)))
        bound = Bound(v, g, forward, backward, g[prog.out_rows[0]])
        self._bound[n, k] = bound
        return bound

    def _new_buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The value and gradient buffers for a batch of n, constants' rows and rows of ones
        filled in."""
        prog = self.prog
        v, g = np.zeros((prog.n_rows, n)), np.zeros((prog.n_rows, n))
        if prog.imports_const is not None:
            rows, values = prog.imports_const
            v[rows] = values[:, None]
        if prog.ones is not None:  # nothing writes them, nor reads their gradient rows
            v[prog.ones] = 1.0
        return v, g


def _copy_across(target: Reader, source: Reader, v: np.ndarray, rows: Rows) -> Step:
    """Copy once-per-call values (`source`) into their per-sample rows, across the batch."""
    if isinstance(rows, slice):
        view = target()

        def copy_view() -> None:
            np.copyto(view, source()[:, None])

        return copy_view

    def copy_rows() -> None:
        v[rows] = source()[:, None]

    return copy_rows


def _sum_back(grads: Reader, write: Adder) -> Step:
    """Write the gradients of imported rows, summed over the batch, to their sources."""
    return lambda: write(np.add.reduce(grads(), axis=1))  # .sum(axis=1), unwrapped
