"""Numerical derivatives by central differences, and `gradcheck`, which compares them with
autograd and, when they disagree, names the op whose rule is wrong."""

from __future__ import annotations

from collections.abc import Callable

from . import floatmath as fm
from .closures import describe
from .engine import Value, enable_grad, local_vjp, no_grad, topological_order
from .functional import value_and_grad
from .ops import BY_SYMBOL
from .valuemath import data_of


class GradcheckError(AssertionError):
    """Autograd and central differences disagree; the message holds the table."""


def _evaluate(f: Callable, args) -> float:
    with no_grad():
        out = f(*[Value(a) for a in args])
    return float(data_of(out))


def numerical_derivative(f: Callable, x: float, h: float = 1e-6) -> float:
    """(f(x + h) - f(x - h)) / 2h: the slope of `f` at `x`, as the lecture's first cells
    nudge x. `f` may return a float or a Value."""
    x = float(x)
    _check_step(h)
    return (_evaluate(f, [x + h]) - _evaluate(f, [x - h])) / (2.0 * h)


def numerical_gradient(f: Callable, *inputs: float, h: float = 1e-6) -> tuple[float, ...]:
    """Central-difference partial derivative of `f` for every input."""
    _check_step(h)
    xs = [float(data_of(x)) for x in inputs]
    out = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        out.append((_evaluate(f, up) - _evaluate(f, down)) / (2.0 * h))
    return tuple(out)


def _check_step(h) -> None:
    if isinstance(h, bool) or not isinstance(h, int | float) or not 0 < h < fm.inf:
        raise ValueError(f"the central-difference step must be a positive finite number, got {h!r}")


ATOL, RTOL = 1e-5, 1e-3
"""gradcheck's default tolerances (PyTorch's): |autograd - numerical| <= ATOL + RTOL*|numerical|."""


def agree(
    a: float, n: float, atol: float = ATOL, rtol: float = RTOL, *, allow_nonfinite: bool = False
) -> bool:
    """Whether an autograd value `a` matches a numerical estimate `n` within the tolerances.

    A nan or an infinity on either side is a disagreement: it says nothing about whether the
    rule is right. With `allow_nonfinite=True`, the same infinity on both sides, or nan on
    both, counts as agreement (for functions that are meant to blow up at the point)."""
    if not (fm.isfinite(a) and fm.isfinite(n)):
        return allow_nonfinite and (a == n or (a != a and n != n))
    return abs(a - n) <= atol + rtol * abs(n)


NONFINITE_HINT = (
    "a nan or an infinity is never counted as agreement unless asked for "
    "(gradcheck(..., allow_nonfinite=True), or tapegrad grad --allow-nonfinite, accept the "
    "same inf, or nan, on both sides)"
)


def gradcheck(
    f: Callable,
    *inputs: float,
    eps: float = 1e-6,
    atol: float = ATOL,
    rtol: float = RTOL,
    allow_nonfinite: bool = False,
) -> bool:
    """Check `f`'s autograd gradient against central differences at `inputs`.

    Returns True, or raises GradcheckError with a table (input, autograd, numerical, error)
    and the ops in the graph whose own rule disagrees with central differences. A nan or inf
    gradient fails unless `allow_nonfinite` and both sides give the very same value.
    """
    xs = [float(data_of(x)) for x in inputs]
    _, auto = value_and_grad(f, argnums=tuple(range(len(xs))))(*xs)
    numeric = numerical_gradient(f, *xs, h=eps)
    ok = [
        agree(auto[i], numeric[i], atol, rtol, allow_nonfinite=allow_nonfinite)
        for i in range(len(xs))
    ]
    bad = [i for i in range(len(xs)) if not ok[i]]
    if not bad:
        return True
    rows = [f"{'input':>8} {'autograd':>16} {'numerical':>16} {'error':>12}"]
    nonfinite = False
    for i in range(len(xs)):
        flag = ""
        if i in bad:
            finite = fm.isfinite(auto[i]) and fm.isfinite(numeric[i])
            nonfinite = nonfinite or not finite
            flag = "  <- disagrees" if finite else "  <- not finite"
        rows.append(
            f"{i:>8} {auto[i]:>16.8g} {numeric[i]:>16.8g} {abs(auto[i] - numeric[i]):>12.3g}{flag}"
        )
    suspects = _suspect_ops(f, xs, eps, atol, rtol)
    blame = (
        "ops whose rule disagrees with central differences: " + ", ".join(suspects)
        if suspects
        else "every op's local rule agrees; the function may not be smooth at this point"
    )
    if nonfinite:
        blame += "\n" + NONFINITE_HINT
    raise GradcheckError(
        f"gradcheck failed for {getattr(f, '__name__', f)}:\n" + "\n".join(rows) + "\n" + blame
    )


def _suspect_ops(f: Callable, xs, eps: float, atol: float, rtol: float) -> list[str]:
    """Check each node's vector-Jacobian rule against central differences of its forward rule."""
    with enable_grad():  # gradcheck may run inside no_grad; the walk needs a recorded graph
        out = f(*[Value(x) for x in xs])
    suspects = []
    for node in topological_order(out):
        if not node._prev:
            continue
        op = BY_SYMBOL.get(node._op)
        if node._fn is not None or op is None:  # the lecture's closure: no forward rule
            suspects.append(
                f"{describe(node)}, whose own _backward closure cannot be checked alone (it "
                f"has no forward rule): register the op (tapegrad.register_op) to have it named"
            )
            continue
        args = [c.data for c in node._prev]
        auto = local_vjp(node, 1.0, fm)
        for i, a in enumerate(auto):
            if a is None:
                continue
            up, down = list(args), list(args)
            up[i] += eps
            down[i] -= eps
            numeric = (op.fwd(fm, *up) - op.fwd(fm, *down)) / (2.0 * eps)
            # A rule cannot be judged where both sides blow up alike (a nan input, a pole).
            if not agree(a, numeric, atol, rtol, allow_nonfinite=True):
                suspects.append(
                    f"'{op.name}' argument {i} at {args} (rule {a:.8g}, numerical {numeric:.8g})"
                )
    return suspects
