"""A math namespace whose values are text: run an op's own rules on it and they write themselves.

Every rule in the op table is written once, over a math namespace `m` (see `ops.py`): floats
for eager `backward()`, Values for higher order, NumPy for the tape. Here `m` is a fourth
namespace whose values are pieces of expressions, so the rule, run as it is, writes itself out:

    >>> from tapegrad import ops, textmath
    >>> textmath.formula(ops.TANH)
    Formula(forward='tanh(x)', grads=('g * (1 - out * out)',))
    >>> textmath.formula(ops.MUL).grads
    ('g * b', 'g * a')

Why: the explain page needs each op's forward and derivative in words, and a prose copy of
every rule would drift from it; text the rule writes itself cannot, and an op added with
`tapegrad.register_op` reads on the page with no further edit. It offers every name
`floatmath` does (a test checks).

The text is Python over these names, so evaluated with `floatmath` it gives the rule's number
(`a / b`, `x ** p` and `(a if c else b)` stand for div, pow and where). Parentheses appear where
Python needs them, so the order of evaluation is kept, and around a negative right operand for
the reader (`g * (-x)`). Nothing is reordered or cancelled (`g * 1` stays); whole floats are
written as integers. A rule that branches with Python `if` on a value is refused.
"""

from __future__ import annotations as _annotations

import inspect as _inspect
import math as _math
import re as _re
import sys as _sys
from collections.abc import Callable as _Callable
from collections.abc import Sequence as _Sequence
from typing import NamedTuple as _NamedTuple

from . import floatmath as _floatmath

# How tightly each kind of expression binds, as in Python; higher binds tighter.
COMPARE, ADD, MUL, UNARY, POW, ATOM = 2, 3, 4, 5, 6, 7


class Text:
    """A value of this namespace: an expression's text and how tightly it binds (`prec`)."""

    __slots__ = ("text", "prec")

    def __init__(self, text: str, prec: int = ATOM) -> None:
        self.text = text
        self.prec = prec

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Text({self.text!r})"

    def __add__(self, other):
        return _binary(self, "+", other, ADD)

    def __radd__(self, other):
        return _binary(other, "+", self, ADD)

    def __sub__(self, other):
        return _binary(self, "-", other, ADD)

    def __rsub__(self, other):
        return _binary(other, "-", self, ADD)

    def __mul__(self, other):
        return _binary(self, "*", other, MUL)

    def __rmul__(self, other):
        return _binary(other, "*", self, MUL)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(other, self)

    def __pow__(self, other):
        return pow(self, other)

    def __rpow__(self, other):
        return pow(other, self)

    def __neg__(self):
        return Text(f"-{_wrap(self, ATOM)}", UNARY)

    def __pos__(self):
        return self

    def __bool__(self):
        raise TypeError(
            f"a rule asked whether {self.text!r} is true (Python `if`, `and`, `or`, `max`): "
            "rules must branch with m.where(m.gt(a, b), then, otherwise), so every namespace "
            "can run them"
        )


class Formula(_NamedTuple):
    """An op's rules as text: its forward, and the gradient flowing into each argument."""

    forward: str
    grads: tuple[str, ...]


_NAME = _re.compile(r"[\w.#'{}\[\]]+")  # a name, a name with an attribute, a label like w#2
_NUMBER = _re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def symbol(text: str) -> Text:
    """`text` as a value of this namespace: a name or a number as it is (a negative number
    binds as a unary minus does), anything else in parentheses."""
    if _NAME.fullmatch(text) or _NUMBER.fullmatch(text):
        return Text(text)
    if text[:1] == "-" and (_NAME.fullmatch(text[1:]) or _NUMBER.fullmatch(text[1:])):
        return Text(text, UNARY)
    return Text(f"({text})")


def number(x: float) -> Text:
    """A constant of a rule as text: shortest round-trip form, whole numbers as integers."""
    x = float(x)
    if x != x:
        return Text("nan")
    if x == 0.0:  # -0.0 kept: it is not 0 to a division
        return Text("-0.0", UNARY) if _math.copysign(1.0, x) < 0 else Text("0")
    if _math.isinf(x):
        text = "inf"
    elif x.is_integer() and _math.fabs(x) < 1e16:
        text = str(int(_math.fabs(x)))
    else:
        text = repr(_math.fabs(x))
    return Text(f"-{text}", UNARY) if x < 0 else Text(text)


def _text(x) -> Text:
    if isinstance(x, Text):
        return x
    if isinstance(x, str):
        return symbol(x)
    if isinstance(x, (int, float)):
        return number(x)
    raise TypeError(f"textmath has no text for a {type(x).__name__}: {x!r:.60}")


def _wrap(x: Text, prec: int) -> str:
    """x's text, in parentheses unless it binds at least as tightly as `prec`."""
    return x.text if x.prec >= prec else f"({x.text})"


def _binary(a, op: str, b, prec: int) -> Text:
    a, b = _text(a), _text(b)
    # Python groups `a - b - c` as (a - b) - c and `x ** p ** q` as x ** (p ** q); the other
    # side needs parentheses at equal strength (also for +: floats make a + (b + c) differ).
    # A power's operands are kept atomic, as people write them: (-x) ** 2, x ** (p - 1).
    left = _wrap(a, ATOM if prec == POW else prec)
    strict = ATOM if prec == POW else prec + 1
    right = _wrap(b, strict) if b.prec != UNARY or prec == COMPARE else f"({b.text})"
    return Text(f"{left} {op} {right}", prec)


def _call(name: str, *args) -> Text:
    return Text(f"{name}({', '.join(_text(a).text for a in args)})")


def _compare(a, op: str, b) -> Text:
    a, b = _text(a), _text(b)
    return Text(f"{_wrap(a, ADD)} {op} {_wrap(b, ADD)}", COMPARE)


# --- the namespace: every name floatmath offers ---------------------------------------------

inf = Text("inf")
nan = Text("nan")


def _function(name: str) -> _Callable[..., Text]:
    def function(*args) -> Text:
        return _call(name, *args)

    function.__name__ = name
    return function


# The functions, written as calls: `exp(x)`, `maximum(a, b)`, ...
for (
    _name
) in "exp log log1p tanh sigmoid sqrt sin cos relu sign abs isfinite maximum minimum".split():
    globals()[_name] = _function(_name)


def pow(x, p) -> Text:  # noqa: A001
    return _binary(x, "**", p, POW)


def div(a, b) -> Text:
    return _binary(a, "/", b, MUL)


def where(cond, a, b) -> Text:
    """`(a if cond else b)`: Python's conditional, parenthesised, so it reads the same
    wherever it stands."""
    return Text(f"({_text(a).text} if {_text(cond).text} else {_text(b).text})")


def _comparison(op: str) -> _Callable[[object, object], Text]:
    return lambda a, b: _compare(a, op, b)


eq, gt, ge, lt = (_comparison(op) for op in ("==", ">", ">=", "<"))


# A variadic rule's vector (see floatmath) is a tuple of texts; its reductions read as Python
# over floatmath: `largest((a, b, c))`, and a left-to-right `a + b + c`.


def stack(xs) -> tuple[Text, ...]:
    return tuple(_text(x) for x in xs)


each = _floatmath.each  # element by element, as on floats


def largest(xs) -> Text:
    texts = [_text(x).text for x in xs]
    return Text(f"largest(({', '.join(texts)}{',' if len(texts) == 1 else ''}))")


def total(xs) -> Text:
    first, *rest = xs
    out = _text(first)
    for x in rest:
        out = out + x
    return out


# --- an op's rules, written out -------------------------------------------------------------


def formula(
    op, args: _Sequence[str | Text] | None = None, out: str | Text = "out", g: str | Text = "g"
) -> Formula:
    """`op`'s forward rule and gradient rules (`ops.Op`, built in or registered), run on this
    namespace with `args` standing for its arguments, `out` for its output and `g` for the
    output's gradient. Names and numbers are used as they are; other texts are parenthesised.

    `args` defaults to the names the rules give their arguments (`x`, `a, b`, ...); a variadic
    op (any number of arguments) needs them given. A rule this namespace cannot run (one that
    calls a function no namespace offers, or branches with Python `if`) raises its error.
    """
    if args is None:
        args = _arg_names(op)
    xs = [_text(a) for a in args]
    o, grad = _text(out), _text(g)
    here = _sys.modules[__name__]
    forward = op.fwd(here, *xs)
    if op.vjp is not None:  # a variadic op: one rule gives every argument's gradient
        grads = op.vjp(here, grad, o, *xs)
    else:
        grads = [rule(here, grad, o, *xs) for rule in op.vjps]
    return Formula(_text(forward).text, tuple(_text(x).text for x in grads))


def _arg_names(op) -> list[str]:
    if op.vjp is not None:
        raise TypeError(f"op {op.name!r} takes any number of arguments: pass their names")
    try:
        params = list(_inspect.signature(op.vjps[0]).parameters.values())[3:]
    except (TypeError, ValueError):  # no signature to read
        params = []
    names = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    if len(names) != len(op.vjps) or len(set(names)) != len(names):
        names = ["x"] if len(op.vjps) == 1 else [f"x{i}" for i in range(len(op.vjps))]
    return names
