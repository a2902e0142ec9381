"""Differential tests against PyTorch float64: random expression DAGs over every op.

Hypothesis draws a small program (leaves, then ops whose operands are earlier nodes, reused
freely, or Python numbers). The same program is built in tapegrad and in torch; the output and
every leaf gradient must agree to 1e-9 relative where finite, and be the same kind of
non-finite (both nan, or the same signed inf) where not.

Inputs are mostly in sensible domains, but edge values (zeros of both signs, negatives for
log/sqrt/pow, large magnitudes, infinities) are drawn too, so IEEE behaviour is compared as well.
Every primitive is also compared alone on a grid of edge points, nan included.

Where tapegrad differs from torch on purpose, the reference is built tapegrad's way and the
reason is given where that happens: division is the composite x * y**-1 (`_torch_div`; torch's
fused division is compared on its own), a number exponent uses torch's general pow rather than
its scalar fast paths (`_torch_pow`), a missing clamp bound is an infinite one (`_torch_clamp`),
and relu(-0.0) is +0.0. Ties in max/min split the gradient half and half, as torch does.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import operator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from op_args import n_args

import tapegrad
from tapegrad import Value, ops
from tapegrad import valuemath as vm
from tapegrad.engine import apply

torch = pytest.importorskip("torch")

F64 = torch.float64
RTOL = 1e-9
ATOL = 1e-12  # a tiny floor, for results that are zero up to rounding


def _t(c):
    """A number as a constant float64 tensor (for torch functions that want tensors)."""
    return torch.tensor(float(c), dtype=F64)


def _bound(c, missing: float):
    return _t(missing) if c is None else (c if isinstance(c, torch.Tensor) else _t(c))


# name -> (tapegrad function, torch function). Operands are Values/tensors or numbers.
UNARY = {
    "exp": (lambda x: x.exp(), torch.exp),
    "log": (lambda x: x.log(), torch.log),
    "tanh": (lambda x: x.tanh(), torch.tanh),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
    # + 0.0 turns torch's relu(-0.0) = -0.0 into tapegrad's +0.0 (floatmath and numpymath agree
    # on +0.0); the sign of that zero only shows as the sign of an inf after dividing by it.
    "relu": (lambda x: x.relu(), lambda t: torch.relu(t) + 0.0),
    "abs": (abs, torch.abs),
    "sqrt": (lambda x: x.sqrt(), torch.sqrt),
    "sin": (lambda x: x.sin(), torch.sin),
    "cos": (lambda x: x.cos(), torch.cos),
    "neg": (operator.neg, operator.neg),
    "softplus": (lambda x: x.softplus(), lambda t: torch.logaddexp(t, _t(0.0))),
}


def _torch_binary(fn):
    def run(a, b):
        a = a if isinstance(a, torch.Tensor) else _t(a)
        b = b if isinstance(b, torch.Tensor) else _t(b)
        return fn(a, b)

    return run


def _torch_pow(a, b):
    # A number exponent goes to torch as a tensor: for Python-number exponents torch takes
    # fast paths (0.5 -> sqrt, -1 -> reciprocal, ...) whose IEEE edge results differ from its own
    # general pow, e.g. (-inf) ** 0.5 is nan by sqrt but inf by pow (C99), and d/dx at -0.0 is
    # -inf by sqrt but inf by pow. tapegrad has one pow op, which follows torch's general pow.
    return a ** (b if isinstance(b, torch.Tensor) else _t(b))


def _torch_div(a, b):
    # tapegrad's division is the composite x * y**-1 (DESIGN.md: div has no rule of its own; a
    # number divisor c becomes x * (1/c)). The reference builds the same composite so both do
    # the same roundings: a one-ulp difference from torch's fused division would otherwise be
    # blown up by whatever follows (x/x - 1 is 0 in one and 1e-16 in the other, then log).
    # Torch's fused division itself is compared in test_division_matches_torch below.
    if isinstance(b, torch.Tensor):
        return a * b ** _t(-1.0)
    return a * (_t(1.0) / _t(b))


# Arithmetic keeps Python numbers as they are on both sides, so `2 - x`, `3 / x`, `2 ** x`
# and `x + 1` exercise the reflected and scalar paths of both libraries.
BINARY = {
    "add": (operator.add, operator.add),
    "sub": (operator.sub, operator.sub),
    "mul": (operator.mul, operator.mul),
    "div": (operator.truediv, _torch_div),
    "pow": (operator.pow, _torch_pow),
    "max": (vm.maximum, _torch_binary(torch.maximum)),
    "min": (vm.minimum, _torch_binary(torch.minimum)),
    "logaddexp": (vm.logaddexp, _torch_binary(torch.logaddexp)),
}


def _affine_of(mul, add):
    """b + w1*x1 + ... + wn*xn from (w1..wn, x1..xn, b), added left to right from b."""

    def affine(*args):
        n = len(args) // 2
        return functools.reduce(add, map(mul, args[:n], args[n:-1]), args[-1])

    return affine


def _torch_sum(*args):
    return functools.reduce(operator.add, args)


# Variadic ops: name -> (tapegrad function, torch function, argument counts drawn).
VARIADIC = {
    "affine": (
        lambda *a: tapegrad.dot(a[: len(a) // 2], a[len(a) // 2 : -1], a[-1]),
        _affine_of(operator.mul, operator.add),
        [3, 5, 7],
    ),
    "sum": (lambda *a: tapegrad.sum(a), _torch_sum, [1, 2, 3, 4]),
}


def _tg_clamp(x, lo, hi):
    return x.clamp(lo, hi)


def _torch_clamp(x, lo, hi):
    # tapegrad documents a missing bound as -inf / +inf, so torch gets those tensors rather than
    # None: torch's rules differ between the two (x < lo == hi gives lo no gradient, but with
    # max=None, lo = inf does get it), and tapegrad cannot tell a None from an infinity.
    return torch.clamp(x, min=_bound(lo, -math.inf), max=_bound(hi, math.inf))


SENSIBLE = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
EDGE = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, -8.0, 0.5, 1e-8, 700.0, -700.0, 1e3, -1e3, 1e200, -1e200]
    + [math.inf, -math.inf]
)
NUMBERS = st.one_of(
    st.sampled_from([2, 3, -1, 0, 2.0, 0.5, 1 / 3, -2.0, 3.0, 1.5, -0.5, 10.0, 0.0, -1.0]),
    st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def leaf_values(draw):
    # Mostly sensible, one draw in four an edge value.
    return draw(EDGE) if draw(st.integers(0, 3)) == 0 else draw(SENSIBLE)


@st.composite
def programs(draw, max_leaves: int = 3, max_steps: int = 8):
    """Leaf values and a list of steps (op, operands): an operand is ("node", i) or ("num", c)."""
    leaves = draw(st.lists(leaf_values(), min_size=1, max_size=max_leaves))
    steps = []
    n = len(leaves)
    for _ in range(draw(st.integers(1, max_steps))):
        node = st.integers(0, n - 1).map(lambda i: ("node", i))
        # Recent nodes are preferred so graphs grow deep, but any node can be reused.
        recent = st.just(("node", n - 1))
        anything = st.one_of(recent, node, NUMBERS.map(lambda c: ("num", c)))
        kind = draw(st.sampled_from(["unary", "binary", "binary", "clamp", "variadic"]))
        if kind == "unary":
            op = draw(st.sampled_from(sorted(UNARY)))
            args = [draw(st.one_of(recent, node))]
        elif kind == "binary":
            op = draw(st.sampled_from(sorted(BINARY)))
            a, b = draw(anything), draw(anything)
            if a[0] == "num" and b[0] == "num":
                a = draw(node)
            args = [a, b]
        elif kind == "variadic":
            op = draw(st.sampled_from(sorted(VARIADIC)))
            args = [draw(anything) for _ in range(draw(st.sampled_from(VARIADIC[op][2])))]
            args[-1] = draw(st.one_of(recent, node))  # at least one node
        else:
            op = "clamp"
            bound = st.one_of(st.none(), anything)
            args = [draw(st.one_of(recent, node)), draw(bound), draw(bound)]
        steps.append((op, args))
        n += 1
    return leaves, steps


def run_tapegrad(program):
    leaves, steps = program
    nodes = [Value(v) for v in leaves]
    for op, args in steps:
        vals = [None if a is None else nodes[a[1]] if a[0] == "node" else a[1] for a in args]
        if op == "clamp":
            nodes.append(_tg_clamp(*vals))
        elif op in VARIADIC:
            nodes.append(VARIADIC[op][0](*vals))
        elif op in UNARY:
            nodes.append(UNARY[op][0](*vals))
        else:
            nodes.append(BINARY[op][0](*vals))
    out = nodes[-1]
    out.backward()
    return out.data, [leaf.grad for leaf in nodes[: len(leaves)]]


def _torch_step(op, vals):
    if op == "clamp":
        return _torch_clamp(*vals)
    if op in VARIADIC:
        return VARIADIC[op][1](*vals)
    if op in UNARY:
        return UNARY[op][1](*vals)
    return BINARY[op][1](*vals)


def run_torch(program):
    """Torch's output and leaf gradients, plus the error scales `agree` allows for each."""
    leaves, steps = program
    nodes = [torch.tensor(float(v), dtype=F64, requires_grad=True) for v in leaves]
    local = [[] for _ in leaves]
    for op, args in steps:
        vals = [None if a is None else nodes[a[1]] if a[0] == "node" else a[1] for a in args]
        nodes.append(_torch_step(op, vals))
        local.append(_local_derivatives(op, args, vals))
    out = nodes[-1]
    out.backward()
    grads = [0.0 if t.grad is None else t.grad.item() for t in nodes[: len(leaves)]]
    fwd_scale, grad_scale = _error_scales([t.item() for t in nodes], local, len(leaves))
    return out.item(), grads, fwd_scale, grad_scale[: len(leaves)]


def _local_derivatives(op, args, vals) -> list[tuple[int, float, list[tuple[int, float]]]]:
    """For one step: per operand slot, (its node, d step / d slot, [(node, d2 step / d slot d
    other slot)]). Slots are separate fresh leaves, so x / x has two partials that cancel."""
    fresh = [
        torch.tensor(v.item(), dtype=F64, requires_grad=True) if isinstance(v, torch.Tensor) else v
        for v in vals
    ]
    slots = [(a[1], t) for a, t in zip(args, fresh, strict=True) if isinstance(t, torch.Tensor)]
    tensors = [t for _, t in slots]
    firsts = torch.autograd.grad(
        _torch_step(op, fresh), tensors, create_graph=True, allow_unused=True
    )
    result = []
    for (i, _), d in zip(slots, firsts, strict=True):
        if d is None or not d.requires_grad:
            seconds = [None] * len(slots)
        else:
            seconds = torch.autograd.grad(d, tensors, retain_graph=True, allow_unused=True)
        hess = [
            (j, 0.0 if h is None else h.item()) for (j, _), h in zip(slots, seconds, strict=True)
        ]
        result.append((i, 0.0 if d is None else d.item(), hess))
    return result


def _finite_product(a: float, b: float) -> float:
    """|a| * |b|, with 0 * anything = 0 and non-finite factors left out (as 0)."""
    if not a or not b or not math.isfinite(a) or not math.isfinite(b):
        return 0.0
    return abs(a) * abs(b)


def _error_scales(values, local, n_leaves):
    """Magnitudes that rounding errors scale with, in units of the last place.

    Forward: |node| plus the children's scales weighted by |d node / d child| (cancellation in
    x - y makes the result's error relative to |x| + |y|, not to |x - y|). Backward: the
    gradient with every local partial taken in absolute value (the sum whose terms can cancel),
    each partial widened by how much its own inputs' forward error moves it (second partials
    times forward scales: cos(1e187) has an arbitrary slope). Non-finite factors are left out:
    where they matter, the result is non-finite and compared by kind.
    """
    fwd = [0.0] * len(values)  # leaves are exact
    for k in range(n_leaves, len(values)):
        fwd[k] = abs(values[k]) + sum(_finite_product(d, fwd[i]) for i, d, _ in local[k])
    back = [0.0] * len(values)
    back[-1] = 1.0
    for k in range(len(values) - 1, n_leaves - 1, -1):
        for i, d, hess in local[k]:
            wobble = sum(_finite_product(h, fwd[j]) for j, h in hess)
            back[i] += _finite_product(abs(d) + wobble, back[k])
    return fwd[-1], back


def agree(got: float, want: float, scale: float = 0.0) -> bool:
    """Equal to RTOL of max(|want|, scale) where finite; the same kind of non-finite (nan, or
    the same signed inf) where not."""
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want):
        return got == want
    if not math.isfinite(got):
        return False
    bound = RTOL * max(abs(want), scale) + ATOL
    return abs(got - want) <= bound or not math.isfinite(bound)


def describe(program) -> str:
    leaves, steps = program
    lines = [f"x{i} = {v!r}" for i, v in enumerate(leaves)]
    for k, (op, args) in enumerate(steps, start=len(leaves)):
        names = [
            "None" if a is None else f"x{a[1]}" if a[0] == "node" else repr(a[1]) for a in args
        ]
        lines.append(f"x{k} = {op}({', '.join(names)})")
    return "\n".join(lines)


def check_against_torch(program) -> None:
    out, grads = run_tapegrad(program)
    t_out, t_grads, out_scale, grad_scales = run_torch(program)
    where = describe(program)
    assert agree(out, t_out, out_scale), f"output {out!r} != torch {t_out!r}\n{where}"
    for i, (g, tg, sc) in enumerate(zip(grads, t_grads, grad_scales, strict=True)):
        assert agree(g, tg, sc), f"d/dx{i}: {g!r} != torch {tg!r}\n{where}"


def _n(i):
    return ("node", i)


def _c(c):
    return ("num", c)


@settings(max_examples=300)
@given(programs())
@example(([2.0], [("sub", [_c(2), _n(0)])]))  # 2 - x
@example(([0.0], [("div", [_c(3), _n(0)])]))  # 3 / 0
@example(([-0.0], [("div", [_c(3), _n(0)])]))  # 3 / -0.0
@example(([-1.5], [("pow", [_c(2), _n(0)])]))  # 2 ** x
@example(([-8.0], [("pow", [_n(0), _c(1 / 3)])]))  # (-8) ** (1/3)
@example(([0.0], [("pow", [_n(0), _c(-1)])]))  # 0 ** -1
@example(([1.0, 1.0], [("max", [_n(0), _n(1)]), ("min", [_n(2), _n(0)])]))  # ties
@example(([0.5], [("mul", [_n(0), _n(0)]), ("add", [_n(1), _n(0)]), ("mul", [_n(2), _n(1)])]))
def test_random_dags_match_torch(program):
    check_against_torch(program)


def _patch_rule(monkeypatch, symbol: str, arg: int, factor: float) -> None:
    """Put a wrong copy of an op's rule for argument `arg` into the op table."""
    op = ops.BY_SYMBOL[symbol]
    good = op.vjps[arg]
    vjps = list(op.vjps)
    vjps[arg] = lambda m, g, out, *args: good(m, g, out, *args) * factor
    wrong = dataclasses.replace(op, vjps=tuple(vjps))
    monkeypatch.setitem(ops.BY_SYMBOL, symbol, wrong)
    monkeypatch.setitem(ops.OPS, op.name, wrong)


def test_the_harness_catches_a_rule_off_by_one_part_in_a_million(monkeypatch):
    program = ([0.3, -1.2], [("tanh", [_n(0)]), ("mul", [_n(2), _n(1)])])
    check_against_torch(program)
    _patch_rule(monkeypatch, "tanh", 0, 1.000001)
    with pytest.raises(AssertionError, match="d/dx0"):
        check_against_torch(program)


DIVISORS = st.one_of(st.floats(1e-100, 1e100), st.floats(-1e100, -1e-100))


@given(x=st.floats(-1e6, 1e6), y=DIVISORS)
def test_division_matches_torch(x, y):
    """The composite x * y**-1 against torch's fused division: value and both gradients.

    Not for |y| below ~1e-154: there y**-2 in d/dy = x * -y**-2 overflows to inf where torch's
    -x / y / y is still finite, and for subnormal y even y**-1 overflows (0 / 5e-324 is nan).
    """
    cases = {
        "value / value": (lambda a, b: a / b, True, True),
        "value / number": (lambda a, b: a / y, True, False),
        "number / value": (lambda a, b: x / b, False, True),
    }
    for name, (f, grad_x, grad_y) in cases.items():
        a, b = Value(x), Value(y)
        out = f(a, b)
        out.backward()
        ta = torch.tensor(x, dtype=F64, requires_grad=True)
        tb = torch.tensor(y, dtype=F64, requires_grad=True)
        t_out = f(ta, tb)
        t_out.backward()
        assert agree(out.data, t_out.item()), f"{name}: {out.data!r} != {t_out.item()!r}"
        if grad_x:
            assert agree(a.grad, ta.grad.item()), f"{name} d/dx: {a.grad!r} != {ta.grad.item()!r}"
        if grad_y:
            assert agree(b.grad, tb.grad.item()), f"{name} d/dy: {b.grad!r} != {tb.grad.item()!r}"


# Every primitive alone, on a grid of edge points: IEEE behaviour op by op, value and gradients.
TORCH_PRIMITIVES = {
    "add": torch.add,
    "mul": torch.mul,
    "pow": torch.pow,
    "exp": torch.exp,
    "log": torch.log,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "abs": torch.abs,
    "sqrt": torch.sqrt,
    "sin": torch.sin,
    "cos": torch.cos,
    "max": torch.maximum,
    "min": torch.minimum,
    "clamp": torch.clamp,
    "logaddexp": torch.logaddexp,
    "affine": _affine_of(torch.mul, torch.add),
    "sum": _torch_sum,
}
GRID = {
    1: [-math.inf, -1000.0, -8.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 700.0, 1000.0, math.inf],
    2: [-math.inf, -8.0, -2.0, -0.5, -0.0, 0.0, 1 / 3, 0.5, 1.0, 3.0, 1000.0, math.inf],
    3: [-math.inf, -1.0, 0.0, 0.5, 1.0, math.inf],
}
NAN = math.nan


def _grid(arity: int):
    points = GRID[arity] + [NAN]
    return list(itertools.product(points, repeat=arity))


def test_the_tables_name_every_op_and_nothing_else():
    """Each op of the table is drawn into the random graphs (by itself or its composite) and
    has a torch counterpart; no table keeps an op that is gone."""
    drawn = set(UNARY) | set(BINARY) | set(VARIADIC) | {"clamp"}
    missing = sorted(set(ops.OPS) - drawn)
    assert not missing, f"add to UNARY, BINARY or VARIADIC: {missing}"
    assert set(TORCH_PRIMITIVES) == set(ops.OPS)


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_primitive_matches_torch_on_edge_points(name):
    assert name in TORCH_PRIMITIVES, f"op {name!r} has no torch counterpart in this test: add one"
    op = ops.OPS[name]
    failures = []
    for point in _grid(n_args(op)):
        xs = [Value(v) for v in point]
        out = apply(op, *xs)
        out.backward()
        ts = [torch.tensor(v, dtype=F64, requires_grad=True) for v in point]
        t_out = TORCH_PRIMITIVES[name](*ts)
        t_out.backward()
        pairs = [(out.data, t_out.item())] + [
            (x.grad, 0.0 if t.grad is None else t.grad.item()) for x, t in zip(xs, ts, strict=True)
        ]
        if not all(agree(got, want) for got, want in pairs):
            failures.append(
                f"{name}{point}: (value, grads) {pairs[0][0]!r}, "
                f"{[g for g, _ in pairs[1:]]} != torch {[w for _, w in pairs]}"
            )
    assert not failures, "\n".join(failures[:20])
