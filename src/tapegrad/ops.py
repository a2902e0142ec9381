"""The primitive table: every op's forward rule and vector-Jacobian rules, written once.

Each rule takes a math namespace `m` first and uses only its functions and the arithmetic
operators `+ - *`, so one rule runs three ways:

- eager: `m` is `tapegrad.floatmath`, values are Python floats;
- higher order: `m` is the Value namespace, values are Values, so gradients are differentiable;
- compiled tape: `m` is the NumPy namespace, values are arrays over a batch.

`fwd(m, *args)` returns the op's output. `vjps[i](m, g, out, *args)` returns the gradient that
flows into argument i, given the output's gradient `g` and the output `out` itself. A
derivative that reuses `out` (exp, tanh, sigmoid) is cheaper and, run on Values, still exact.
A variadic op (`affine`, a whole neuron's `b + sum w*x`, and `sum`) has instead one rule,
`partials(m, out, *args)`, that returns every argument's local derivative d(out)/d(arg) at
once; each argument's gradient is `g` times its own (the chain rule, as the lecture writes
`self.grad += other.data * out.grad`), which `backward()` adds in one pass over the children.

Everything else (neg, sub, softplus, softmax, losses) is composed from these and has no rule
of its own. Numerical stability lives inside the rules, once, so every mode inherits it.

The table reads in two parts: the simple rules first (add, mul, exp, tanh, ...: one line per
derivative), then the ones where PyTorch's choices at corners need care (pow at 0, the ties of
max and min, clamp's bounds, logaddexp's infinities, logsumexp over a vector), each with its
reason beside it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from operator import add, mul

_NAME = "<the op's name>"  # Op's default method and function name


@dataclass(frozen=True)
class Op:
    """A primitive: its name, the symbol a Value shows as `_op`, its rules, and where users
    reach it.

    `method` names the Value method that applies it (`x.exp()`), which is also its name in the
    expression language (`tapegrad grad "exp(x)"`); `function` names it in the math namespaces
    (`valuemath.maximum`, as `numpy.maximum`). Both are the op's name unless given; None where
    there is none (`+` and `*` are operators only). A test checks every name given is there.
    """

    name: str
    symbol: str
    fwd: Callable
    vjps: tuple[Callable, ...]
    method: str | None = _NAME
    function: str | None = _NAME
    partials: Callable | None = None
    """A variadic op's one rule: `partials(m, out, *args)` gives d(out)/d(arg) for every
    argument at once (the lecture's local derivatives), so n arguments cost one call. Each
    argument's gradient is `g` times its own (the chain rule): `backward()` adds those in one
    pass, and the op's `vjp`, and its `vjps` for a node with one or two children, are made
    from it."""
    domain: tuple[float, float] | tuple[tuple[float, float], ...] = (-10.0, 10.0)
    """Where the tests sample it: one interval for every argument, or one per argument, on
    which the op is smooth but for its `kinks`."""
    kinks: str = ""
    """Where it has no derivative, which tests keep away from: "zero" (the argument is 0) or
    "ties" (two arguments are equal)."""
    reference: str = ""
    """PyTorch's counterpart, `torch.<reference>`, which the tests check values and gradients
    against; "" for a variadic op (tests/op_facts.py says what PyTorch computes it with)."""
    vector: bool = False
    """A variadic op whose rules begin `xs = m.stack(xs)` and then treat the arguments as one
    vector, so a caller holding them stacked already may pass that one array instead."""
    vjp: Callable | None = field(default=None, init=False)
    """A variadic op's gradients: `vjp(m, g, out, *args)` is `g` times each of its partials."""

    def __post_init__(self) -> None:
        for name in ("method", "function"):
            if getattr(self, name) is _NAME:
                object.__setattr__(self, name, self.name)  # frozen: set once, here
        if self.partials is not None:
            vjp = _vjp_from_partials(self.partials)
            object.__setattr__(self, "vjp", vjp)
            shares = tuple(lambda m, g, o, *a, i=i: vjp(m, g, o, *a)[i] for i in (0, 1))
            object.__setattr__(self, "vjps", shares)

    @property
    def arity(self) -> int | None:
        """How many arguments it takes; None for a variadic op (any number)."""
        return None if self.vjp else len(self.vjps)

    def __repr__(self) -> str:
        return f"Op({self.name!r}, symbol={self.symbol!r}, arity={self.arity})"


# fmt: off
# --- the simple rules ----------------------------------------------------------------------

ADD = Op("add", "+", lambda m, a, b: a + b,
         (lambda m, g, out, a, b: g,
          lambda m, g, out, a, b: g),
         method=None, function=None, reference="add")  # only the operator +
MUL = Op("mul", "*", lambda m, a, b: a * b,
         (lambda m, g, out, a, b: g * b,
          lambda m, g, out, a, b: g * a),
         method=None, function=None, reference="mul")  # only the operator *
# IEEE division, as torch.div (1/0 = inf, 0/0 = nan), not a * b**-1, which rounds twice and
# overflows at the ends of the range. d/db = -g * (out / b), torch's form: never b*b or b**-2,
# which overflow or underflow where a/b/b is finite (at b = 1e-160, 1e160).
DIV = Op("div", "/", lambda m, a, b: m.div(a, b),
         (lambda m, g, out, a, b: m.div(g, b),
          lambda m, g, out, a, b: -g * m.div(out, b)),
         method=None, domain=((-10.0, 10.0), (0.1, 10.0)), reference="div")  # the operator /
EXP = Op("exp", "exp", lambda m, x: m.exp(x),
          (lambda m, g, out, x: g * out,),
          domain=(-20.0, 20.0), reference="exp")
TANH = Op("tanh", "tanh", lambda m, x: m.tanh(x),
           (lambda m, g, out, x: g * (1.0 - out * out),),
           domain=(-5.0, 5.0), reference="tanh")
LOG = Op("log", "log", lambda m, x: m.log(x),
          (lambda m, g, out, x: m.div(g, x),),
          domain=(1e-3, 1e3), reference="log")
SIGMOID = Op("sigmoid", "sigmoid", lambda m, x: m.sigmoid(x),
              (lambda m, g, out, x: g * out * (1.0 - out),),
              domain=(-20.0, 20.0), reference="sigmoid")
SQRT = Op("sqrt", "sqrt", lambda m, x: m.sqrt(x),
           (lambda m, g, out, x: m.div(g, 2.0 * out),),
           domain=(1e-2, 1e3), reference="sqrt")
SIN = Op("sin", "sin", lambda m, x: m.sin(x),
          (lambda m, g, out, x: g * m.cos(x),),
          reference="sin")
COS = Op("cos", "cos", lambda m, x: m.cos(x),
          (lambda m, g, out, x: -(g * m.sin(x)),),
          reference="cos")
RELU = Op("relu", "relu", lambda m, x: m.relu(x),
           (lambda m, g, out, x: m.where(m.ge(0.0, x), 0.0, g),),  # nan passes g, as torch
           kinks="zero", reference="relu")
ABS = Op("abs", "abs", lambda m, x: m.abs(x),
          (lambda m, g, out, x: g * m.sign(x),),
          kinks="zero", reference="abs")
# fmt: on

# --- variadic: one node for what would be a chain of + and * --------------------------------
# Both add left to right, as a chain of + would, so a fused neuron gives micrograd's
# `sum((wi*xi ...), b)` bit for bit. Python's sum() does exactly that before 3.12, and faster
# than reduce(); from 3.12 it compensates float rounding, which a chain of + does not.
_in_order = sum if sys.version_info < (3, 12) else lambda items, start: reduce(add, items, start)


def _affine(m, *args):
    # affine(w1..wn, x1..xn, b) = b + w1*x1 + ... + wn*xn, b added first as micrograd does.
    n = len(args) >> 1
    return _in_order(map(mul, args[:n], args[n:-1]), args[-1])


def _affine_local(m, out, *args):
    # d(out)/d(w_i) = x_i, d(out)/d(x_i) = w_i: each factor's local derivative is the other.
    n = len(args) >> 1
    return args[n:-1] + args[:n] + (1.0,)


def _vjp_from_partials(partials: Callable) -> Callable:
    """A variadic op's VJP from its partial derivatives: each argument gets `g` times its own."""
    return lambda m, g, out, *args: [g * p for p in partials(m, out, *args)]


# fmt: off
AFFINE = Op("affine", "affine", _affine, (), method=None, function=None, partials=_affine_local)
SUM = Op("sum", "sum", lambda m, *args: reduce(add, args), (), method=None, function=None,
         partials=lambda m, out, *args: (1.0,) * len(args))
# fmt: on


# --- PyTorch's corner cases ----------------------------------------------------------------


def _pow_dx(m, g, out, x, p):
    # d/dx x**p = p * x**(p-1); PyTorch takes it as exactly 0 when p == 0 (even at x == 0).
    # g * (p * ...) in torch's order: (g * p) can underflow to 0 where p * x**(p-1) is inf.
    return m.where(m.eq(p, 0.0), 0.0, g * (p * m.pow(x, p - 1.0)))


def _pow_dp(m, g, out, x, p):
    # d/dp x**p = x**p * log(x); at x == 0 with p >= 0 the limit is 0, not 0 * -inf. The mask
    # scales g rather than replacing it, as PyTorch: a nan or inf g still gives nan there.
    dp = out * m.log(x)
    return g * m.where(m.eq(x, 0.0), m.where(m.ge(p, 0.0), 0.0, dp), dp)


def _route(m, g, a, b):
    """The part of max(a, b)'s gradient `g` that `a` gets, as PyTorch: none if `b` wins (exactly
    0, even when `g` is nan), half on a tie, else all (so also when a or b is nan)."""
    return m.where(m.lt(a, b), 0.0, m.where(m.eq(a, b), 0.5 * g, g))


def _logaddexp(m, a, b):
    # log(e^a + e^b) without overflow; a == b is split off (a + log 2) so that inf + inf gives
    # inf, not nan.
    big = m.maximum(a, b)
    return m.where(m.eq(a, b), a + 0.6931471805599453, big + m.log1p(m.exp(-m.abs(a - b))))


# fmt: off
POW = Op("pow", "**", lambda m, x, p: m.pow(x, p),
         (_pow_dx, _pow_dp), method=None,  # only the operator x ** p
         domain=((0.1, 5.0), (-3.0, 3.0)), reference="pow")
MAX = Op("max", "max", lambda m, a, b: m.maximum(a, b),
         (lambda m, g, out, a, b: _route(m, g, a, b),
          lambda m, g, out, a, b: _route(m, g, b, a)),
         function="maximum", kinks="ties", reference="maximum")
MIN = Op("min", "min", lambda m, a, b: m.minimum(a, b),
         (lambda m, g, out, a, b: _route(m, g, b, a),
          lambda m, g, out, a, b: _route(m, g, a, b)),
         function="minimum", kinks="ties", reference="minimum")
# clamp passes the gradient to x inside [lo, hi], boundaries included (as torch.clamp);
# outside, to the bound that clipped it. When lo > hi the result is hi whatever x is.
CLAMP = Op("clamp", "clamp", lambda m, x, lo, hi: m.minimum(m.maximum(x, lo), hi),
           (lambda m, g, out, x, lo, hi: m.where(m.ge(x, lo), m.where(m.ge(hi, x), g, 0.0), 0.0),
            lambda m, g, out, x, lo, hi: m.where(m.lt(x, lo), m.where(m.lt(lo, hi), g, 0.0), 0.0),
            lambda m, g, out, x, lo, hi: m.where(m.gt(x, hi), g, m.where(m.gt(lo, hi), g, 0.0))),
           kinks="ties", reference="clamp")
# d/da = 1 / (1 + e^(b - a)) (as torch): finite when a is inf, where e^(a - out) is e^nan.
LOGADDEXP = Op("logaddexp", "logaddexp", _logaddexp,
               (lambda m, g, out, a, b: m.div(g, 1.0 + m.exp(b - a)),
                lambda m, g, out, a, b: m.div(g, 1.0 + m.exp(a - b))),
               domain=(-30.0, 30.0), reference="logaddexp")
# fmt: on


def _logsumexp(m, *xs):
    # log(sum(exp(x))) as shift + log(sum(exp(x - shift))), as torch.logsumexp: shift is the
    # largest x, so no term is over 1 and nothing overflows; an infinite or nan largest shifts
    # by 0 instead, so +inf gives inf (not inf - inf), all -inf gives -inf, a nan gives nan.
    # Its arguments work as one vector (`m.stack`), so the tape runs each step once over all.
    xs = m.stack(xs)
    big = m.largest(xs)
    shift = m.where(m.isfinite(big), big, 0.0)
    return shift + m.log(m.total(m.each(lambda x: m.exp(x - shift), xs)))


# d(out)/d(x_i) = exp(x_i - out), softmax's i-th probability (as torch.logsumexp's gradient).
# No method or function (None, None): users call tapegrad.logsumexp(values).
# fmt: off
LOGSUMEXP = Op("logsumexp", "logsumexp", _logsumexp, (), None, None, vector=True,
               partials=lambda m, out, *xs: m.each(lambda x: m.exp(x - out), m.stack(xs)))
# fmt: on

OPS: dict[str, Op] = {}
"""Every primitive by name."""

BY_SYMBOL: dict[str, Op] = {}
"""Every primitive by the symbol a Value records in `_op`."""


def register(op: Op) -> Op:
    """Enter `op` in the table: the one way in, for the built-ins below and for the ops of
    `tapegrad.register_op` alike."""
    if op.name in OPS or op.symbol in BY_SYMBOL:
        taken = OPS.get(op.name) or BY_SYMBOL[op.symbol]
        raise ValueError(f"{op!r}: its name or symbol is already {taken!r}'s")
    OPS[op.name] = op
    BY_SYMBOL[op.symbol] = op
    return op


def unregister(name: str) -> Op:
    """Take op `name` out of the table (what `tapegrad.unregister_op` does first)."""
    op = OPS.pop(name)
    del BY_SYMBOL[op.symbol]
    return op


for _op in (ADD, MUL, DIV, EXP, TANH, LOG, SIGMOID, SQRT, SIN, COS, RELU, ABS, AFFINE, SUM,
            POW, MAX, MIN, CLAMP, LOGADDEXP, LOGSUMEXP):  # fmt: skip
    register(_op)
