"""IEEE-754 math on NumPy arrays: the namespace the compiled tape runs the op table with.

The names `tapegrad.floatmath` offers, elementwise, each giving element for element what the
eager engine gives (IEEE results as PyTorch float64 has them: `exp(1000) = inf`, `log(0) = -inf`,
`div(1, 0) = inf`, `pow(-8, 1/3) = nan`). Every function runs under `np.errstate(all="ignore")`,
so no RuntimeWarning escapes. `unchecked` holds them without that guard, for a caller already
under it: the tape enters it once per replay (it costs about a microsecond, as much as a NumPy
call on a small batch), since the `+ - *` the rules apply are NumPy's operators and need it too.
Where an op's forward rule is one call that takes `out=` (`relu`, or in `unchecked` a NumPy
function itself), the tape writes its result straight into the op's rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import ParamSpec, TypeVar

import numpy as np

inf = np.inf
nan = np.nan

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _quiet(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `fn` with NumPy's floating-point warnings off: inf and nan are results, not errors."""

    @functools.wraps(fn)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapped


@_quiet
def exp(x: np.ndarray | float) -> np.ndarray:
    """e**x; inf where it overflows."""
    return np.exp(x)


@_quiet
def log(x: np.ndarray | float) -> np.ndarray:
    """Natural log: -inf at 0, nan below 0."""
    return np.log(x)


@_quiet
def log1p(x: np.ndarray | float) -> np.ndarray:
    """log(1 + x), exact near 0: -inf at -1, nan below -1."""
    return np.log1p(x)


@_quiet
def tanh(x: np.ndarray | float) -> np.ndarray:
    """Hyperbolic tangent (±1 at ±inf)."""
    return np.tanh(x)


@_quiet
def sqrt(x: np.ndarray | float) -> np.ndarray:
    """Square root; nan below 0."""
    return np.sqrt(x)


@_quiet
def sin(x: np.ndarray | float) -> np.ndarray:
    """Sine; nan at ±inf."""
    return np.sin(x)


@_quiet
def cos(x: np.ndarray | float) -> np.ndarray:
    """Cosine; nan at ±inf."""
    return np.cos(x)


@_quiet
def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """1 / (1 + e**-x), without overflow for any x."""
    # floatmath's split on the sign: exp only sees -|x|, so sigmoid(±1000) is exactly 1.0 / 0.0.
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


@_quiet
def pow(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
    """x**y as C99 pow: 0**-1 = inf, (-0.0)**-1 = -inf, (-8)**(1/3) = nan."""
    # float_power, because np.power swaps in sqrt for a broadcast exponent of 0.5, and
    # sqrt(-inf) is nan where pow(-inf, 0.5) is inf.
    return np.float_power(x, y)


@_quiet
def div(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """a / b as IEEE divides: ±inf for a nonzero over 0, nan for 0 / 0."""
    return np.divide(a, b)


@_quiet
def relu(x: np.ndarray | float, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0): nan kept (np.maximum returns a nan it meets), as torch.relu; -0.0 becomes
    0.0 (max(-0.0, 0.0) may be either zero; + 0.0 makes it +0.0, as IEEE adds zeros)."""
    return np.add(np.maximum(x, 0.0, out=out), 0.0, out=out)


@_quiet
def sign(x: np.ndarray | float) -> np.ndarray:
    """-1, 0 or 1 as torch.sign: ±0.0 keep their sign, nan gives 0.0 (np.sign gives nan)."""
    return np.where(np.isnan(x), 0.0, np.copysign(np.sign(x), x))


@_quiet
def abs(x: np.ndarray | float) -> np.ndarray:
    """|x|."""
    return np.abs(x)


@_quiet
def maximum(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """The larger of a and b, `a` on a tie (the sign of max(0.0, -0.0)), nan if either is nan."""
    return np.where(np.greater_equal(a, b), a, np.maximum(a, b))


@_quiet
def minimum(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """The smaller of a and b, `a` on a tie (nan if either is nan)."""
    return np.where(np.less_equal(a, b), a, np.minimum(a, b))


@_quiet
def isfinite(x: np.ndarray | float) -> np.ndarray:
    """Whether x is neither infinite nor nan."""
    return np.isfinite(x)


def where(cond: np.ndarray | bool, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """`a` where `cond` holds, else `b`, elementwise (floatmath's `a if cond else b`)."""
    return np.where(cond, a, b)


# Comparisons give masks for `where`; they never carry gradient. nan compares False, as in
# Python and PyTorch, and NumPy does not warn about it.
def eq(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """The mask a == b."""
    return np.equal(a, b)


def gt(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """The mask a > b."""
    return np.greater(a, b)


def ge(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """The mask a >= b."""
    return np.greater_equal(a, b)


def lt(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """The mask a < b."""
    return np.less(a, b)


# A variadic rule's vector (see floatmath): the arguments stacked on a new first axis, so
# `each` is the scalar rule on whole arrays and `largest`, `total` reduce over that axis.


def stack(xs) -> np.ndarray:
    """The arguments as one array, stacked along a new first axis."""
    return np.asarray(xs)  # not np.stack: the same array, in a third of the time


def each(fn: Callable, *vectors: np.ndarray) -> np.ndarray:
    """`fn` on the vectors element by element: on the whole arrays at once."""
    return fn(*vectors)


def largest(xs: np.ndarray) -> np.ndarray:
    """The largest along the first axis (nan where any is nan)."""
    return np.maximum.reduce(xs, axis=0)


def total(xs: np.ndarray) -> np.ndarray:
    """The sum along the first axis, row after row, as a chain of + adds. Where a row has more
    than one element NumPy's reduction adds row by row (its inner loop runs along the row);
    along a lone axis (a 1-D vector, or a batch of one) it may add in pairs, which regroups
    the terms and can round to another number, so there it accumulates."""
    if xs.ndim > 1 and xs[0].size > 1:
        return np.add.reduce(xs, axis=0)
    return np.add.accumulate(xs, axis=0)[-1]


# The functions above that are one NumPy call with the same arguments: `unchecked` holds that
# NumPy function itself, one Python call fewer for each the tape makes (a step makes dozens).
_ONE_CALL = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "tanh": np.tanh, "sqrt": np.sqrt,
    "sin": np.sin, "cos": np.cos, "abs": np.abs, "div": np.divide, "pow": np.float_power,
    "isfinite": np.isfinite, "where": np.where,
    "eq": np.equal, "gt": np.greater, "ge": np.greater_equal, "lt": np.less,
}  # fmt: skip


def _defined_here() -> dict[str, object]:
    """Every public function of this module (and inf, nan): what a rule may call."""
    funcs = {
        name: _ONE_CALL.get(name, getattr(f, "__wrapped__", f))
        for name, f in globals().items()
        if callable(f) and getattr(f, "__module__", None) == __name__ and not name.startswith("_")
    }
    return {"inf": inf, "nan": nan, **funcs}


unchecked = SimpleNamespace(**_defined_here())
"""The same namespace without the per-call `np.errstate` guard (see the module docstring), the
one-call functions as the NumPy functions they call."""

__all__ = sorted(vars(unchecked))
