"""The op table's math namespace over Values, and the op functions users call.

Each function applies its primitive when any argument is a Value and falls back to plain
float math otherwise. Run through these, a vector-Jacobian rule builds Values, which is how
`backward(create_graph=True)` and `grad(grad(f))` differentiate a derivative.

Every op whose `Op.function` names one is made here from the table under that name, by
`install`: the built-ins on import, the ops of `tapegrad.register_op` when registered.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from functools import reduce
from typing import Any

from . import engine, ops
from . import floatmath as fm
from .engine import Constant, Value, apply, as_value
from .modes import check_traced, tracers


def data_of(x: Value | float) -> float:
    """`x.data` for a Value, `x` itself for a number: what comparisons and masks look at."""
    return x.data if isinstance(x, Value) else x


def lift(op: ops.Op) -> Callable[..., Any]:
    """Op `op` as a function of this namespace: it applies the op when any argument is a
    Value, and is plain float math otherwise."""

    def fn(*args):
        if any(isinstance(a, Value) for a in args):
            return apply(op, *[as_value(a) for a in args])
        return op.fwd(fm, *args)

    fn.__name__ = fn.__qualname__ = op.function or op.name
    fn.__doc__ = f"The `{op.name}` primitive on Values (or plain floats)."
    return fn


def install(op: ops.Op) -> None:
    """Offer `op` here under its `function` name: for every op of the table, built-in
    (below) or registered (`tapegrad.register_op`)."""
    if op.function:
        globals()[op.function] = lift(op)


def uninstall(op: ops.Op) -> None:
    """Withdraw what `install` offered."""
    if op.function:
        del globals()[op.function]


def __getattr__(name: str) -> Callable[..., Any]:
    # Declared for type checkers only: the op functions (exp, log, maximum, ...) are made from
    # the table below, so they cannot be written out; a name that is not there is an error.
    raise AttributeError(f"module 'tapegrad.valuemath' has no attribute {name!r}")


for _op in list(ops.OPS.values()):
    install(_op)
_clamp, _affine, _sum = lift(ops.CLAMP), lift(ops.AFFINE), lift(ops.SUM)  # for the helpers
_logsumexp = lift(ops.LOGSUMEXP)
_logaddexp, _maximum = lift(ops.LOGADDEXP), lift(ops.MAX)


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


def logsumexp(values: Iterable[Value | float]) -> Value | float:
    """log(exp(values[0]) + exp(values[1]) + ...) as one node (the `logsumexp` op), stable for
    any values; one value is itself."""
    values = list(values)
    if not values:
        raise ValueError("logsumexp of an empty list")
    return values[0] if len(values) == 1 else _logsumexp(*values)


def clamp(
    x: Value | float, lo: Value | float | None = None, hi: Value | float | None = None
) -> Value | float:
    """Limit x to [lo, hi]; None leaves that side open."""
    return _clamp(x, -fm.inf if lo is None else lo, fm.inf if hi is None else hi)


def softplus(x: Value | float) -> Value | float:
    """log(1 + exp(x)), stable for any x."""
    return _logaddexp(x, 0.0)


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


def isfinite(x: Value | float) -> bool:
    if tracers:
        check_traced("rule isfinite()", x)
    return fm.isfinite(data_of(x))


def sign(x: Value | float) -> float:
    if tracers:
        check_traced("rule sign()", x)
    return fm.sign(data_of(x))


def where(cond: bool, a: Value | float, b: Value | float) -> Value | float:
    return a if cond else b


# A variadic rule's vector (see floatmath): a tuple of Values, each element its own node.
# floatmath's stack, each and total work on Values as they are; largest needs the max op.
stack, each, total = fm.stack, fm.each, fm.total


def largest(xs: Iterable[Value | float]) -> Value | float:
    return reduce(_maximum, xs)


__all__ = ["Constant", "clamp", "dot", "logsumexp", "softplus", "sum"]
__all__ += [op.function for op in ops.OPS.values() if op.function]

engine.VALUE_MATH[:] = [sys.modules[__name__]]  # the rules' namespace for gradients as Values
