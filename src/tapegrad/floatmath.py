"""IEEE-754 math on Python floats: the namespace the eager engine runs the op table with.

Python's `math` raises where IEEE (and PyTorch) return a value: `exp(1000)` is an
OverflowError, `log(0)` and `sqrt(-1)` are ValueErrors, `1/0` is a ZeroDivisionError and
`(-8) ** (1/3)` is a complex number. Each function here returns what PyTorch returns instead:
inf, -inf or nan.
"""

# Bound to a private name: this module's public names are the float namespace the op table's
# rules may use, and numpymath must offer each of them (`annotations` would be one more).
from __future__ import annotations as _annotations

import math
import operator as _operator
from functools import reduce as _reduce

inf = math.inf
nan = math.nan
isfinite = math.isfinite
tanh = math.tanh  # already total: tanh(±1000) = ±1.0


def exp(x: float) -> float:
    """e**x; inf where it overflows."""
    try:
        return math.exp(x)
    except OverflowError:
        return inf


def log(x: float) -> float:
    """Natural log: -inf at 0, nan below 0 (and for nan)."""
    if x > 0.0:
        return math.log(x)
    if x == 0.0:
        return -inf
    return nan  # negative or nan


def log1p(x: float) -> float:
    """log(1 + x), exact near 0: -inf at -1, nan below -1."""
    if x > -1.0:
        return math.log1p(x)
    if x == -1.0:
        return -inf
    return nan


def sqrt(x: float) -> float:
    """Square root; nan below 0."""
    return math.sqrt(x) if x >= 0.0 else nan


def sin(x: float) -> float:
    """Sine; nan at ±inf."""
    return math.sin(x) if math.isfinite(x) else nan


def cos(x: float) -> float:
    """Cosine; nan at ±inf."""
    return math.cos(x) if math.isfinite(x) else nan


def sigmoid(x: float) -> float:
    """1 / (1 + e**-x), without overflow for any x."""
    # Split on the sign so exp never overflows: sigmoid(±1000) is exactly 1.0 / 0.0.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    if x < 0.0:
        e = math.exp(x)
        return e / (1.0 + e)
    return nan


def _is_odd_integer(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0.0


def pow(x: float, y: float) -> float:  # noqa: A001 - the namespace mirrors math and NumPy names
    """x**y as C99 pow: 0**-1 = inf, (-8)**(1/3) = nan, never an exception."""
    try:
        return math.pow(x, y)
    except OverflowError:
        return -inf if x < 0.0 and _is_odd_integer(y) else inf
    except ValueError:
        if x == 0.0:  # 0 ** negative: a pole, signed like 1/x for odd integer powers of -0.0
            return math.copysign(inf, x) if _is_odd_integer(y) else inf
        return nan  # negative base, fractional exponent: real result does not exist


def div(a: float, b: float) -> float:
    """a / b as IEEE divides: ±inf for a nonzero over 0, nan for 0 / 0."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return nan
        return math.copysign(inf, a) * math.copysign(1.0, b)


def relu(x: float) -> float:
    """max(x, 0), nan kept."""
    return x if x > 0.0 or x != x else 0.0  # nan passes through, as torch.relu


def sign(x: float) -> float:
    """-1, 0 or 1 (±0.0 keep their sign, nan gives 0.0)."""
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x if x == 0.0 else 0.0  # 0.0 or -0.0; nan gives 0.0, as torch.sign


def abs(x: float) -> float:  # noqa: A001
    """|x|."""
    return math.fabs(x)


def maximum(a: float, b: float) -> float:
    """The larger of a and b, `a` on a tie (nan if either is nan)."""
    if a != a or b != b:
        return nan
    return a if a >= b else b


def minimum(a: float, b: float) -> float:
    """The smaller of a and b, `a` on a tie (nan if either is nan)."""
    if a != a or b != b:
        return nan
    return a if a <= b else b


def where(cond: bool, a: float, b: float) -> float:
    """`a` if `cond`, else `b`."""
    return a if cond else b


# Comparisons give masks for `where`; they never carry gradient. The operator module's own
# functions: on floats they are exactly `a == b` etc., without a Python call (ReLU's rule, run
# once per neuron per sample, calls one).
eq = _operator.eq
gt = _operator.gt
ge = _operator.ge
lt = _operator.lt


# A variadic rule may take its arguments as one vector (`ops.LOGSUMEXP`): `stack` makes it,
# `each` maps a scalar rule over vectors element by element, `largest` and `total` reduce one.
# Here a vector is a tuple of floats; NumPy's is one array, so the tape runs each as one call.


def stack(xs) -> tuple[float, ...]:
    """The arguments as one vector."""
    return tuple(xs)


def each(fn, *vectors) -> list:
    """`fn` applied to the vectors' elements, position by position."""
    return [fn(*t) for t in zip(*vectors, strict=True)]


def largest(xs) -> float:
    """The largest element (nan if any is nan)."""
    return _reduce(maximum, xs)


def total(xs) -> float:
    """The elements added left to right, as a chain of + adds them."""
    return _reduce(_operator.add, xs)
