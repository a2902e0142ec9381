"""Replay: a Program run over one batch on reusable buffers, forward and, for a gradient,
backward. The once-per-call buffer (`vi`, gradients `gi`) holds parameters, constants and what
depends on them alone; the per-sample buffer (`v`, `g`), shaped (rows, batch), everything that
depends on an input. Per-sample buffers are kept for the last few batch sizes, so a training
loop allocates nothing per step."""

from __future__ import annotations

import operator

import numpy as np

from .program import Program

data_of = operator.attrgetter("data")  # a Value's .data, for map()
_BUFFER_CACHE = 4  # batch sizes whose buffers a tape keeps


class Replay:
    """A Program's buffers, and the loop that runs its instructions over them."""

    __slots__ = ("prog", "_buffers", "_vi", "_gi")

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._vi = np.zeros(prog.n_once)
        self._gi = np.zeros(prog.n_once)
        self._vi[prog.n_params : prog.n_params + len(prog.const_values)] = prog.const_values

    def run(
        self, arrays: list[np.ndarray], n: int, params: np.ndarray | None, reduction: str | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Forward over a batch of `n` at `params` (or the parameters' `.data`), then with a
        `reduction` ("mean" or "sum") backward: the value buffer (valid until the next run) and
        the parameters' gradient (None without a reduction). One function, not two methods: a
        small model's call is all Python overhead, and splitting it cost ~1 % of a step."""
        prog, vi, gi = self.prog, self._vi, self._gi
        v, g = self._batch_buffers(n)
        with np.errstate(all="ignore"):
            # Forward: parameters, once-per-call values, inputs, imports, per-sample values.
            if params is None:
                vi[: prog.n_params] = np.fromiter(
                    map(data_of, prog.params), np.float64, count=prog.n_params
                )
            else:
                vi[: prog.n_params] = params
            for ins in prog.once:
                ins.forward(vi, vi)
            for start, a in zip(prog.input_rows, arrays, strict=True):
                if a.ndim == 1:
                    v[start] = a
                else:
                    v[start : start + a.shape[1]] = a.T
            if prog.imports_dyn is not None:
                imported, src = prog.imports_dyn
                v[imported] = vi[src][:, None]
            for ins in prog.per_sample:
                ins.forward(v, vi)
            if reduction is None:
                return v, None
            # Backward: seed the output's gradient, then the same instructions reversed.
            g.fill(0.0)
            gi.fill(0.0)
            g[prog.out_rows[0]] = 1.0 / n if reduction == "mean" else 1.0
            for ins in prog.per_sample_backward:
                ins.backward(v, g, vi, gi)
            if prog.imports_grad is not None:  # once-per-call values: sum over the batch
                imported, src = prog.imports_grad
                gi[src] += g[imported].sum(axis=1)
            for ins in prog.once_backward:
                ins.backward(vi, gi, vi, gi)
            return v, gi[: prog.n_params].copy()

    def _batch_buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Value and gradient buffers for a batch of n, constants' rows filled in."""
        bufs = self._buffers.get(n)
        if bufs is None:
            prog = self.prog
            v = np.zeros((prog.n_rows, n))
            if prog.imports_const is not None:
                rows, values = prog.imports_const
                v[rows] = values[:, None]
            bufs = (v, np.zeros((prog.n_rows, n)))
            if len(self._buffers) >= _BUFFER_CACHE:
                del self._buffers[next(iter(self._buffers))]
            self._buffers[n] = bufs
        return bufs
