"""Value's comparisons (`<`, `<=`, `>`, `>=`) and its conversions `float()` and `bool()`.

They look at `.data` only and record nothing; `engine.py` installs them on `Value`. Equality
(`==`) is not here: it stays identity, so Values can live in sets and dicts as the lecture's
`trace` needs, and `bool(x)` is True whatever the number, as for any object in micrograd.

While `tapegrad.compile` records a function in this thread, a comparison or conversion of a
Value that depends on one of its inputs would freeze the example's answer into the tape, so
the recording's guard (`tapegrad.tape.record`) refuses it. Outside recording `tracers` is
empty and each of these pays one look at it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from threading import get_ident

from .modes import tracers


def check_traced(what: str, *values) -> None:
    """While this thread records a tape: let its guard refuse `what` (a comparison, bool(),
    float(), or a derivative rule's mask) on `values` if one of them depends on an input."""
    guard = tracers.get(get_ident())
    if guard is not None:
        guard.check(what, *values)


def methods(value: type) -> dict[str, Callable]:
    """The comparison and conversion methods for the class `value` (passed in, not imported:
    `engine.py` imports this module)."""
    return {
        "__float__": _float,
        "__bool__": _bool,
        "__lt__": _comparison("<", operator.lt, value),
        "__le__": _comparison("<=", operator.le, value),
        "__gt__": _comparison(">", operator.gt, value),
        "__ge__": _comparison(">=", operator.ge, value),
    }


def _float(self) -> float:
    """The Value's number (checked while a tape records)."""
    if tracers:
        check_traced("float()", self)
    return self.data


def _bool(self) -> bool:
    """True, as for any object in micrograd: `if x:` does not look at `x.data`."""
    if tracers:
        check_traced("bool()", self)
    return True


def _comparison(symbol: str, compare: Callable[[float, float], bool], value: type) -> Callable:
    """`self <symbol> other` on the numbers, where `other` is a Value or a number. (`data_of`
    is written out: calling it would cost more than the look at `tracers` does.)"""

    def method(self, other) -> bool:
        if tracers:
            check_traced(symbol, self, other)
        return compare(self.data, other.data if isinstance(other, value) else other)

    method.__name__ = method.__qualname__ = f"__{compare.__name__}__"
    return method
