"""What the per-op tests need to know about an op that its entry in the op table does not say.

An op's entry (`tapegrad.ops.Op`) carries its own test facts: `domain` (where the tests sample
it: one interval for every argument or one per argument), `kinks` (where it has no derivative,
which samples keep away from: "zero", or "ties" of two arguments) and `reference` (its PyTorch
counterpart, `torch.<reference>`). Only what is specific to the tests lives here, once:

- a variadic op (any number of arguments) gets argument counts: a sample count for the tests
  at fixed points, the counts gradcheck draws, the counts the random graphs against PyTorch
  draw; and how to call it (its helper) and to compose it from `*` and `+` (PyTorch's side);
- an op whose arguments have a shape beyond intervals and kinks: clamp's (x, lo, hi), lo < hi;
- a rule masked at a point (pow's at p == 0), where its second derivative is not central
  differences' of its first.

`tests/core/test_op_facts.py` checks these name exactly the ops of `ops.OPS` that need them,
and nothing that is gone. The tools the per-op tests share are here too: every argument's
share of a gradient, an op as a function, a wrong rule patched into the table.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import tapegrad
from tapegrad import ops
from tapegrad.engine import apply


def _affine_of(mul, add):
    """b + w1*x1 + ... + wn*xn from (w1..wn, x1..xn, b), added left to right from b."""

    def affine(*args):
        n = len(args) // 2
        return functools.reduce(add, map(mul, args[:n], args[n:-1]), args[-1])

    return affine


def _sum_of(mul, add):
    return lambda *args: functools.reduce(add, args)


@dataclasses.dataclass(frozen=True)
class Variadic:
    """A variadic op's argument counts, its helper and its composition from `*` and `+`."""

    sample: int
    """The argument count of a sample call, in the tests at fixed points."""
    gradcheck: tuple[int, ...]
    """The argument counts gradcheck draws (tests/core/test_ops_properties.py)."""
    graphs: tuple[int, ...]
    """The argument counts the random graphs against PyTorch draw."""
    helper: Callable
    """How users call it: `helper(*args)` builds one node of the op."""
    compose: Callable | None
    """`compose(mul, add)`: the op as a function of its arguments made of `mul` and `add`
    only, in its order of additions (PyTorch's side: `compose(torch.mul, torch.add)`); None
    for an op that is not made of them, which names its `torch` counterpart instead."""
    torch: Callable | None = None
    """`torch(torch_module, *tensors)`: PyTorch's counterpart, for an op with no `compose`."""

    def on_torch(self, torch) -> Callable:
        """PyTorch's counterpart as a function of tensors."""
        if self.compose is not None:
            return self.compose(torch.mul, torch.add)
        assert self.torch is not None, "a variadic op needs compose or torch"
        return functools.partial(self.torch, torch)


VARIADIC = {
    # w, x, b: a neuron with one input (more inputs: tests/core/test_fused.py); gradcheck
    # draws neurons with 1 to 4 inputs, the random graphs 1 to 3
    "affine": Variadic(
        sample=3,
        gradcheck=(3, 5, 7, 9),
        graphs=(3, 5, 7),
        helper=lambda *a: tapegrad.dot(a[: len(a) // 2], a[len(a) // 2 : -1], a[-1]),
        compose=_affine_of,
    ),
    "sum": Variadic(
        sample=3,
        gradcheck=(2, 3, 4, 5, 6),
        graphs=(1, 2, 3, 4),
        helper=lambda *a: tapegrad.sum(a),
        compose=_sum_of,
    ),
    # softmax cross-entropy's 10 classes are drawn by the tape tests (tests/tape/)
    "logsumexp": Variadic(
        sample=3,
        gradcheck=(2, 3, 5),
        graphs=(2, 3, 4),
        helper=lambda *a: tapegrad.logsumexp(a),
        compose=None,
        torch=lambda torch, *xs: torch.logsumexp(
            torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in xs]), 0
        ),
    ),
}

BOUNDED = {"clamp"}
"""Ops of (x, lo, hi), sampled with lo < hi and x below, inside or above [lo, hi], away from
its ends: where lo > hi the result is hi whatever x is (not a kink the domain says)."""

MASKED = {"pow": {1: 0.0}}
"""Op -> {argument: value} where its rule is masked (pow's d/dx is exactly 0 at p == 0, as
torch's), so the second derivatives there are not central differences' of the first: the
second-order gradcheck keeps that argument off that value."""

KINDS_OF_KINK = ("", "zero", "ties")
GAP = 1e-3  # samples keep this far from kinks, well beyond gradcheck's eps of 1e-6


def n_args(op: ops.Op) -> int:
    """How many arguments a sample call of `op` takes: its arity, or a variadic op's count."""
    return op.arity if op.arity is not None else VARIADIC[op.name].sample


def intervals(op: ops.Op, n: int | None = None) -> list[tuple[float, float]]:
    """The interval each of `n` arguments (a sample call's by default) is drawn from: the op's
    `domain`, given once for all arguments or once per argument."""
    n = n_args(op) if n is None else n
    domain = op.domain
    if isinstance(domain[0], tuple):
        assert len(domain) == n, f"{op.name}: {len(domain)} intervals for {n} arguments"
        return [tuple(map(float, d)) for d in domain]
    return [tuple(map(float, domain))] * n


def all_shares(op: ops.Op, m, g, out, *args) -> list:
    """Every argument's share of the output's gradient `g`, through the op's rules (whether the
    op has one rule per argument or, variadic, one rule for all)."""
    if op.vjp is not None:
        return list(op.vjp(m, g, out, *args))
    return [rule(m, g, out, *args) for rule in op.vjps]


def op_function(op: ops.Op) -> Callable:
    """The op as a function of its arguments (Values or numbers), named for error messages."""

    def f(*xs):
        return apply(op, *xs)

    f.__name__ = f"apply_{op.name}"
    return f


def patch_rule(monkeypatch, op: ops.Op, arg: int) -> None:
    """Put a wrong copy of `op` (its rule for argument `arg` off by 50 % plus a half) into the
    op table, as a buggy edit of ops.py would."""

    def off(right, g):
        return right + g * 0.5 * (1.0 + abs(right))

    if op.partials is not None:  # variadic: one rule for all arguments; spoil `arg`'s partial
        good_all = op.partials

        def wrong_all(m, out, *args):
            partials = list(good_all(m, out, *args))
            partials[arg] = off(partials[arg], 1.0)
            return partials

        patched = dataclasses.replace(op, partials=wrong_all)
    else:
        good = op.vjps[arg]

        def wrong(m, g, out, *args):
            return off(good(m, g, out, *args), g)

        vjps = list(op.vjps)
        vjps[arg] = wrong
        patched = dataclasses.replace(op, vjps=tuple(vjps))
    monkeypatch.setitem(ops.OPS, op.name, patched)
    monkeypatch.setitem(ops.BY_SYMBOL, op.symbol, patched)
