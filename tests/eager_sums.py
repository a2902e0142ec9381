"""The eager reference the compiled-tape tests compare a replay against."""

from __future__ import annotations

import numpy as np

from tapegrad import Value


def eager_sums(fn, params, columns):
    """fn eagerly per sample: its outputs, and d(sum of outputs)/d(param) added in walk order."""
    outs = []
    for p in params:
        p.grad = 0.0
    for i in range(len(columns[0])):
        out = fn(*[Value(float(c[i])) for c in columns])
        out.backward()
        outs.append(out.data)
    return np.array(outs), [p.grad for p in params]
