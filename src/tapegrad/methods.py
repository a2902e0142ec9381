"""Value's operators and methods beyond the lecture's `+ * tanh`: `**` (the table's pow), `-`
and `/` (composites, with no rule of their own), `abs()`, and a method for every op of the
table that names one (`x.exp()`, `x.relu()`, `x.max(y)`, `x.clamp(lo, hi)`, ...).

They are made here so the engine's text (engine.py) stays the path from `Value(2.0) *
Value(3.0)` to `backward()`; `engine.py` calls `add_methods` once, below `apply`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import floatmath as fm
from .coerce import as_float, is_real
from .ops import ABS, CLAMP, LOGADDEXP, OPS, POW, Op

if TYPE_CHECKING:
    from .engine import Value


def add_methods(cls: type, apply: Callable, as_value: Callable) -> None:
    """Give `cls` (Value) these operators and methods; `apply` runs an op, `as_value` makes a
    Constant of a number. An op's method the class defines itself is left as it is."""
    for method in _arithmetic(cls, apply, as_value) + _with_bounds(apply, as_value):
        _attach(cls, method.__name__, method)
    for op in OPS.values():
        if op.method and op.arity in (1, 2) and op.method not in vars(cls):
            _attach(cls, op.method, _method(op, apply, as_value))


def _arithmetic(cls: type, apply: Callable, as_value: Callable) -> list[Callable]:
    """`-x`, `x - y`, `x / y` (composites of + * **), `abs(x)` and `x ** y` (the table's pow);
    `cls` is Value."""

    def __neg__(self: Value) -> Value:
        return self * -1.0

    def __sub__(self: Value, other):
        if isinstance(other, cls):
            return self + (-other)
        return self + -as_float(other) if is_real(other) else NotImplemented

    def __rsub__(self: Value, other):
        return other + (-self) if is_real(other) else NotImplemented

    def __truediv__(self: Value, other):
        if isinstance(other, cls):
            return self * other**-1.0
        return self * fm.div(1.0, as_float(other)) if is_real(other) else NotImplemented

    def __rtruediv__(self: Value, other):
        return other * self**-1.0 if is_real(other) else NotImplemented

    def __abs__(self: Value) -> Value:
        return apply(ABS, self)

    def __pow__(self: Value, other):
        if isinstance(other, cls) or is_real(other):
            return apply(POW, self, as_value(other))
        return NotImplemented

    def __rpow__(self: Value, other):
        return apply(POW, as_value(other), self) if is_real(other) else NotImplemented

    return [__neg__, __sub__, __rsub__, __truediv__, __rtruediv__, __abs__, __pow__, __rpow__]


def _with_bounds(apply: Callable, as_value: Callable) -> list[Callable]:
    """`clamp` (whose bounds may be None) and `softplus` (logaddexp with 0)."""

    def clamp(self: Value, lo: Value | float | None = None, hi: Value | float | None = None):
        """Limit to [lo, hi] (None: unbounded); the gradient passes inside, boundaries
        included."""
        lo, hi = (-fm.inf if lo is None else lo), (fm.inf if hi is None else hi)
        return apply(CLAMP, self, as_value(lo), as_value(hi))

    def softplus(self: Value) -> Value:
        """log(1 + exp(self)), stable for any input."""
        return apply(LOGADDEXP, self, as_value(0.0))

    return [clamp, softplus]


def _attach(cls: type, name: str, method: Callable) -> None:
    method.__name__ = name
    method.__qualname__ = f"{cls.__name__}.{name}"
    setattr(cls, name, method)


def _method(op: Op, apply: Callable, as_value: Callable) -> Callable:
    """`x.exp()`, `x.max(y)`, ...: a method applying one- or two-argument `op` to this Value
    (and the other, which may be a number)."""
    if op.arity == 1:

        def method(self):
            return apply(op, self)
    else:

        def method(self, other):
            return apply(op, self, as_value(other))

    method.__doc__ = f"The `{op.name}` primitive; its rules are `tapegrad.ops.OPS[{op.name!r}]`."
    return method
