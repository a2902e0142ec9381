"""The op table's math namespace over Values, and the op functions users call.

Each function applies its primitive when any argument is a Value and falls back to plain
float math otherwise. Run through these, a vector-Jacobian rule builds Values, which is how
`backward(create_graph=True)` and `grad(grad(f))` differentiate a derivative.

Every op whose `Op.function` names one is lifted here under that name (a test checks it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from . import engine, ops
from . import floatmath as fm
from .engine import Constant, Value, apply, as_value
from .modes import check_traced, tracers


def data_of(x: Value | float) -> float:
    """`x.data` for a Value, `x` itself for a number: what comparisons and masks look at."""
    return x.data if isinstance(x, Value) else x


def _lift(op: ops.Op):
    def fn(*args):
        if any(isinstance(a, Value) for a in args):
            return apply(op, *[as_value(a) for a in args])
        return op.fwd(fm, *args)

    fn.__name__ = op.name
    fn.__doc__ = f"The `{op.name}` primitive on Values (or plain floats)."
    return fn


exp = _lift(ops.EXP)
log = _lift(ops.LOG)
tanh = _lift(ops.TANH)
sigmoid = _lift(ops.SIGMOID)
relu = _lift(ops.RELU)
abs = _lift(ops.ABS)  # noqa: A001
sqrt = _lift(ops.SQRT)
sin = _lift(ops.SIN)
cos = _lift(ops.COS)
pow = _lift(ops.POW)  # noqa: A001
maximum = _lift(ops.MAX)
minimum = _lift(ops.MIN)
logaddexp = _lift(ops.LOGADDEXP)
_clamp = _lift(ops.CLAMP)
_affine = _lift(ops.AFFINE)
_sum = _lift(ops.SUM)


def dot(ws: Iterable[Value | float], xs: Iterable[Value | float], b: Value | float = 0.0):
    """`b + ws[0] * xs[0] + ws[1] * xs[1] + ...` as one node (the `affine` op, a neuron's
    weighted sum), added in that order, as micrograd's `sum((w * x ...), b)` adds."""
    ws, xs = list(ws), list(xs)
    if len(ws) != len(xs):
        raise ValueError(f"dot needs as many weights as inputs, got {len(ws)} and {len(xs)}")
    return _affine(*ws, *xs, b)


def sum(values: Iterable[Value | float]) -> Value | float:  # noqa: A001
    """`values[0] + values[1] + ...` as one node (the `sum` op), added left to right; 0.0 for
    no values."""
    values = list(values)
    return _sum(*values) if values else 0.0


def clamp(
    x: Value | float, lo: Value | float | None = None, hi: Value | float | None = None
) -> Value | float:
    """Limit x to [lo, hi]; None leaves that side open."""
    return _clamp(x, -fm.inf if lo is None else lo, fm.inf if hi is None else hi)


def softplus(x: Value | float) -> Value | float:
    """log(1 + exp(x)), stable for any x."""
    return logaddexp(x, 0.0)


def div(a: Value | float, b: Value | float) -> Value | float:
    if isinstance(a, Value) or isinstance(b, Value):
        return as_value(a) / b
    return fm.div(a, b)


# Masks and signs read data only: they steer a rule but carry no gradient. A compiled tape
# could not replay that choice per sample, so while one records they are guarded as Value's
# comparisons are (`check_traced`).


def eq(a: Value | float, b: Value | float) -> bool:
    if tracers:
        check_traced("rule ==", a, b)
    return data_of(a) == data_of(b)


def gt(a: Value | float, b: Value | float) -> bool:
    if tracers:
        check_traced("rule >", a, b)
    return data_of(a) > data_of(b)


def ge(a: Value | float, b: Value | float) -> bool:
    if tracers:
        check_traced("rule >=", a, b)
    return data_of(a) >= data_of(b)


def lt(a: Value | float, b: Value | float) -> bool:
    if tracers:
        check_traced("rule <", a, b)
    return data_of(a) < data_of(b)


def sign(x: Value | float) -> float:
    if tracers:
        check_traced("rule sign()", x)
    return fm.sign(data_of(x))


def where(cond: bool, a: Value | float, b: Value | float) -> Value | float:
    return a if cond else b


__all__ = [
    "Constant",
    "abs",
    "clamp",
    "cos",
    "div",
    "dot",
    "exp",
    "log",
    "logaddexp",
    "maximum",
    "minimum",
    "pow",
    "relu",
    "sigmoid",
    "sin",
    "softplus",
    "sqrt",
    "sum",
    "tanh",
]

engine.VALUE_MATH[:] = [sys.modules[__name__]]  # the rules' namespace for gradients as Values
