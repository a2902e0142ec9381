"""Differential tests against PyTorch float64: random expression DAGs over every op.

This module holds the harness and the tests at fixed points; test_torch_reference_properties.py
the tests Hypothesis draws (they skip without it). PyTorch comes from the `torch` fixture
(tests/references.py), passed to every function here that builds on its side.

Hypothesis draws a small program (leaves, then ops whose operands are earlier nodes, reused
freely, or Python numbers). The same program is built in tapegrad and in torch; the output and
every leaf gradient must agree to 1e-9 relative where finite, and be the same kind of
non-finite (both nan, or the same signed inf) where not.

Inputs are mostly in sensible domains, but edge values (zeros of both signs, negatives for
log/sqrt/pow, large magnitudes, infinities) are drawn too, so IEEE behaviour is compared as well.
Every primitive is also compared alone on a grid of edge points, nan included.

Where tapegrad differs from torch on purpose, the reference is built tapegrad's way and the
reason is given where that happens: a number divided by a tensor is torch.div, not torch's
`number / tensor` (which is `tensor.reciprocal() * number`, two roundings), a number exponent
uses torch's general pow rather than its scalar fast paths (`_torch_pow`), a missing clamp
bound is an infinite one (`_torch_clamp`), and relu(-0.0) is +0.0. Ties in max/min split the
gradient half and half, as torch does.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator

import pytest
from op_facts import VARIADIC as VARIADIC_FACTS
from op_facts import n_args

from tapegrad import Value, ops
from tapegrad import valuemath as vm
from tapegrad.engine import apply

RTOL = 1e-9
ATOL = 1e-12  # a tiny floor, for results that are zero up to rounding


def _t(torch, c):
    """A number as a constant float64 tensor (for torch functions that want tensors)."""
    return torch.tensor(float(c), dtype=torch.float64)


def _bound(torch, c, missing: float):
    return _t(torch, missing) if c is None else (c if isinstance(c, torch.Tensor) else _t(torch, c))


# name -> (tapegrad function, torch function given torch first). Operands are Values/tensors
# or numbers.
UNARY = {
    "exp": (lambda x: x.exp(), lambda torch, t: torch.exp(t)),
    "log": (lambda x: x.log(), lambda torch, t: torch.log(t)),
    "tanh": (lambda x: x.tanh(), lambda torch, t: torch.tanh(t)),
    "sigmoid": (lambda x: x.sigmoid(), lambda torch, t: torch.sigmoid(t)),
    # + 0.0 turns torch's relu(-0.0) = -0.0 into tapegrad's +0.0 (floatmath and numpymath agree
    # on +0.0); the sign of that zero only shows as the sign of an inf after dividing by it.
    "relu": (lambda x: x.relu(), lambda torch, t: torch.relu(t) + 0.0),
    "abs": (abs, lambda torch, t: torch.abs(t)),
    "sqrt": (lambda x: x.sqrt(), lambda torch, t: torch.sqrt(t)),
    "sin": (lambda x: x.sin(), lambda torch, t: torch.sin(t)),
    "cos": (lambda x: x.cos(), lambda torch, t: torch.cos(t)),
    "neg": (operator.neg, lambda torch, t: -t),
    "softplus": (lambda x: x.softplus(), lambda torch, t: torch.logaddexp(t, _t(torch, 0.0))),
}


def _torch_binary(name):
    def run(torch, a, b):
        a = a if isinstance(a, torch.Tensor) else _t(torch, a)
        b = b if isinstance(b, torch.Tensor) else _t(torch, b)
        return getattr(torch, name)(a, b)

    return run


def _torch_pow(torch, a, b):
    # A number exponent goes to torch as a tensor: for Python-number exponents torch takes
    # fast paths (0.5 -> sqrt, -1 -> reciprocal, ...) whose IEEE edge results differ from its own
    # general pow, e.g. (-inf) ** 0.5 is nan by sqrt but inf by pow (C99), and d/dx at -0.0 is
    # -inf by sqrt but inf by pow. tapegrad has one pow op, which follows torch's general pow.
    return a ** (b if isinstance(b, torch.Tensor) else _t(torch, b))


# Arithmetic keeps Python numbers as they are on both sides, so `2 - x`, `3 / x`, `2 ** x`
# and `x + 1` exercise the reflected and scalar paths of both libraries.
BINARY = {
    "add": (operator.add, lambda torch, a, b: a + b),
    "sub": (operator.sub, lambda torch, a, b: a - b),
    "mul": (operator.mul, lambda torch, a, b: a * b),
    # torch.div, as tapegrad divides: torch's own `3 / t` is t.reciprocal() * 3, which rounds
    # twice (x/x - 1 would then be 1e-16 in one and 0 in the other, and a log after it blows
    # that up).
    "div": (operator.truediv, _torch_binary("div")),
    "pow": (operator.pow, _torch_pow),
    "max": (vm.maximum, _torch_binary("maximum")),
    "min": (vm.minimum, _torch_binary("minimum")),
    "logaddexp": (vm.logaddexp, _torch_binary("logaddexp")),
}


# Variadic ops: name -> (tapegrad function, torch function, argument counts drawn), from their
# facts in tests/op_facts.py; torch's side is the op composed from * and + (or its counterpart).
VARIADIC = {
    name: (
        facts.helper,
        lambda torch, *a, facts=facts: (
            facts.compose(operator.mul, operator.add)(*a)  # numbers stay float64
            if facts.compose is not None
            else facts.on_torch(torch)(*a)
        ),
        list(facts.graphs),
    )
    for name, facts in VARIADIC_FACTS.items()
}


def _tg_clamp(x, lo, hi):
    return x.clamp(lo, hi)


def _torch_clamp(torch, x, lo, hi):
    # tapegrad documents a missing bound as -inf / +inf, so torch gets those tensors rather than
    # None: torch's rules differ between the two (x < lo == hi gives lo no gradient, but with
    # max=None, lo = inf does get it), and tapegrad cannot tell a None from an infinity.
    return torch.clamp(x, min=_bound(torch, lo, -math.inf), max=_bound(torch, hi, math.inf))


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


def _torch_step(torch, op, vals):
    if op == "clamp":
        return _torch_clamp(torch, *vals)
    if op in VARIADIC:
        return VARIADIC[op][1](torch, *vals)
    if op in UNARY:
        return UNARY[op][1](torch, *vals)
    return BINARY[op][1](torch, *vals)


def run_torch(torch, program):
    """Torch's output and leaf gradients, plus the error scales `agree` allows for each."""
    leaves, steps = program
    nodes = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in leaves]
    local = [[] for _ in leaves]
    for op, args in steps:
        vals = [None if a is None else nodes[a[1]] if a[0] == "node" else a[1] for a in args]
        nodes.append(_torch_step(torch, op, vals))
        local.append(_local_derivatives(torch, op, args, vals))
    out = nodes[-1]
    out.backward()
    grads = [0.0 if t.grad is None else t.grad.item() for t in nodes[: len(leaves)]]
    fwd_scale, grad_scale = _error_scales([t.item() for t in nodes], local, len(leaves))
    return out.item(), grads, fwd_scale, grad_scale[: len(leaves)]


def _local_derivatives(torch, op, args, vals) -> list[tuple[int, float, list[tuple[int, float]]]]:
    """For one step: per operand slot, (its node, d step / d slot, [(node, d2 step / d slot d
    other slot)]). Slots are separate fresh leaves, so x / x has two partials that cancel."""
    fresh = [
        torch.tensor(v.item(), dtype=torch.float64, requires_grad=True)
        if isinstance(v, torch.Tensor)
        else v
        for v in vals
    ]
    slots = [(a[1], t) for a, t in zip(args, fresh, strict=True) if isinstance(t, torch.Tensor)]
    tensors = [t for _, t in slots]
    firsts = torch.autograd.grad(
        _torch_step(torch, op, fresh), tensors, create_graph=True, allow_unused=True
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


def check_against_torch(torch, program) -> None:
    out, grads = run_tapegrad(program)
    t_out, t_grads, out_scale, grad_scales = run_torch(torch, program)
    where = describe(program)
    assert agree(out, t_out, out_scale), f"output {out!r} != torch {t_out!r}\n{where}"
    for i, (g, tg, sc) in enumerate(zip(grads, t_grads, grad_scales, strict=True)):
        assert agree(g, tg, sc), f"d/dx{i}: {g!r} != torch {tg!r}\n{where}"


def _n(i):
    return ("node", i)


def _c(c):
    return ("num", c)


def _patch_rule(monkeypatch, symbol: str, arg: int, factor: float) -> None:
    """Put a wrong copy of an op's rule for argument `arg` into the op table."""
    op = ops.BY_SYMBOL[symbol]
    good = op.vjps[arg]
    vjps = list(op.vjps)
    vjps[arg] = lambda m, g, out, *args: good(m, g, out, *args) * factor
    wrong = dataclasses.replace(op, vjps=tuple(vjps))
    monkeypatch.setitem(ops.BY_SYMBOL, symbol, wrong)
    monkeypatch.setitem(ops.OPS, op.name, wrong)


def test_the_harness_catches_a_rule_off_by_one_part_in_a_million(monkeypatch, torch):
    program = ([0.3, -1.2], [("tanh", [_n(0)]), ("mul", [_n(2), _n(1)])])
    check_against_torch(torch, program)
    _patch_rule(monkeypatch, "tanh", 0, 1.000001)
    with pytest.raises(AssertionError, match="d/dx0"):
        check_against_torch(torch, program)


# Every primitive alone, on a grid of edge points: IEEE behaviour op by op, value and gradients.
# Its torch counterpart is the entry's `reference`, torch.<reference>; a variadic op's (reference
# "") is in tests/op_facts.py: composed from torch.mul and torch.add, or named.
def torch_primitive(torch, op: ops.Op):
    if op.reference:
        return getattr(torch, op.reference)
    return VARIADIC_FACTS[op.name].on_torch(torch)


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
    counterparts = {n for n, op in ops.OPS.items() if op.reference or n in VARIADIC_FACTS}
    assert counterparts == set(ops.OPS), set(ops.OPS) - counterparts


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_primitive_matches_torch_on_edge_points(name, torch):
    op = ops.OPS[name]
    assert op.reference or name in VARIADIC_FACTS, f"op {name!r}: give its entry a reference"
    reference = torch_primitive(torch, op)
    failures = []
    for point in _grid(n_args(op)):
        xs = [Value(v) for v in point]
        out = apply(op, *xs)
        out.backward()
        ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
        t_out = reference(*ts)
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
