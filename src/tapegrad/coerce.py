"""Which numbers a Value accepts, and how they become its float `data`.

Any real number does (`int`, `float`, `bool`, `Fraction`, NumPy's floats, ints and bools);
anything else is a TypeError naming its type. Conversion follows IEEE 754 as PyTorch does: an
integer too large for a float becomes an infinity rather than an OverflowError.
"""

from __future__ import annotations

import numbers
from typing import Any

_INF = float("inf")


def is_real(x: object) -> bool:
    """Whether `x` is a real number a Value can hold."""
    if type(x) is float or type(x) is int:  # the common cases, without the ABC's check
        return True
    return isinstance(x, numbers.Real) or _is_numpy_bool(x)


def as_float(x: Any) -> float:
    """`x` as a float (±inf when it is too large for one); TypeError if it is not a real."""
    if not is_real(x):
        raise TypeError(f"Value data must be a real number, got {type(x).__name__}: {x!r:.60}")
    try:
        return float(x)
    except OverflowError:  # 10**400: float() refuses where torch.tensor(...) rounds to inf
        return _INF if x > 0 else -_INF


def _is_numpy_bool(x: Any) -> bool:
    # NumPy's bool_ is not registered as numbers.Real; its floats and ints are.
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    return kind == "b" and type(x).__module__ == "numpy" and x.shape == ()
