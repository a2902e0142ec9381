"""The differential fuzzer: random expression trees over every op of the table, edge values
mixed in (0, -0.0, ±1e-300, ±1e300, ±inf, nan), run four ways and compared.

- compiled against eager, bit for bit (nan is nan, 0.0 is not -0.0): output and gradients;
- `backward(create_graph=True)` against eager, bit for bit (the gradients' numbers);
- eager against PyTorch float64, within rounding (scaled by how each node's error can grow);
- second order, `tapegrad.grad` nested, against `torch.autograd.grad(create_graph=True)`.

The trees read the op table when they are drawn (`fuzz_trees.op_names`), so a new op is fuzzed
at once. Where tapegrad and PyTorch differ on purpose, the difference is in `KNOWN`, one list,
each entry an op and a condition narrow enough to name, with its reason; any other difference
fails, printing the program. The normal suite runs a quick, derandomized budget; `pytest -m
fuzz` runs thousands of trees (TAPEGRAD_FUZZ_EXAMPLES sets how many).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fuzz_trees import (
    EDGES,
    ORDINARY,
    agree,
    arg_counts,
    describe,
    error_scales,
    local_derivatives,
    op_names,
    replays_exactly,
    run_compiled,
    run_create_graph,
    run_eager,
    run_torch,
    same_bits,
    second_order,
)
from references import require

hypothesis = require("hypothesis")
st = require("hypothesis.strategies")
given, settings, example = hypothesis.given, hypothesis.settings, hypothesis.example

QUICK_EXAMPLES = 60
LONG_EXAMPLES = int(os.environ.get("TAPEGRAD_FUZZ_EXAMPLES", "5000"))
RTOL_COMPILED = 1e-12  # compiled against eager where bits may differ: a few ulps, scaled
RTOL_SECOND = 1e-6  # second order against PyTorch: no per-node error scales there


# --------------------------------------------------------------------------- known differences


@dataclass(frozen=True)
class Step:
    """One step as a known difference sees it: the op's name, its operands' numbers, its output
    and the gradient that reached it (tapegrad's)."""

    name: str
    args: tuple[float, ...]
    out: float
    g: float


def _n(i):
    return ("node", i)


def _c(c):
    return ("num", c)


@dataclass(frozen=True)
class Known:
    """A difference from PyTorch that is understood: where (`what`: "value", "gradient" or
    "second order"; the ops; a condition on the step) and why, with programs that show it
    (`test_every_known_difference_is_real` keeps the list from outliving its reasons)."""

    what: str
    ops: tuple[str, ...]
    when: Callable[[Step], bool]
    reason: str
    examples: tuple


def _nan(x: float) -> bool:
    return math.isnan(x)


def _near_one(x: float) -> bool:
    return math.isfinite(x) and 1.0 - abs(x) < 1e-8


def _pow_masked(s: Step) -> bool:
    x, p = s.args[:2]
    at_zero = x == 0.0 and not p < 0.0  # p >= 0 or nan
    # x**-2 overflows, or a gradient arrives infinite where the mask gives an exact 0
    return at_zero or (p == 0.0 and (_nan(x) or abs(x) < 1e-150 or not math.isfinite(s.g)))


def _div_overflows(s: Step) -> bool:
    a, b = s.args[:2]
    with_b = abs(b) > 0.0 and math.isinf(s.out / b / b if math.isfinite(s.out) else 0.0)
    return with_b or (abs(b) > 0.0 and math.isinf(1.0 / b / b))


INF, NAN = math.inf, math.nan

KNOWN = [
    Known(
        "value",
        ("relu",),
        lambda s: s.args[0] == 0.0 and math.copysign(1.0, s.args[0]) < 0.0,
        "relu(-0.0) is +0.0 in tapegrad (floatmath and numpymath both, so eager and compiled "
        "agree) and -0.0 in PyTorch, which returns x itself where x >= 0; the sign shows only "
        "as an inf's sign after dividing by it (log's and sqrt's gradients)",
        (([(-0.0, False)], [("relu", [_n(0)])]),),
    ),
    Known(
        "gradient",
        ("tanh",),
        lambda s: _near_one(s.out),
        "tanh's rule is g * (1 - out²), reusing its output (DESIGN.md); where |out| rounds to "
        "within 1e-8 of 1, 1 - out² has lost most of its digits, and PyTorch's backward "
        "evaluates 1 - out² in its own way (its bits differ from tapegrad's for most x > 3)",
        (([(3.2248062015503876, False)], [("mul", [_n(0), _c(3.0)]), ("tanh", [_n(1)])]),),
    ),
    Known(
        "second order",
        ("pow",),
        _pow_masked,
        "pow's rules take PyTorch's limits by masks read from the data: d/dp is 0 at x == 0 "
        "with p >= 0, d/dx is 0 at p == 0. A mask's chosen branch is a constant, so its "
        "second derivative is 0; PyTorch's double backward forms p(p-1) x^(p-2) and "
        "log(x)² x^p there, 0 * inf or 0 * nan, and gives nan",
        (
            ([(INF, False)], [("pow", [_c(0.0), _n(0)])]),
            ([(NAN, False)], [("pow", [_n(0), _c(0.0)])]),
            ([(-1e-300, False)], [("pow", [_n(0), _c(0.0)])]),
            ([(1.0, False), (INF, False)], [("pow", [_n(0), _c(0.0)]), ("pow", [_n(2), _n(1)])]),
        ),
    ),
    Known(
        "second order",
        ("div", "truediv"),  # the table's op, and the same op reached through `/`
        _div_overflows,
        "where a second derivative of a / b (2a/b³, -1/b²) is beyond the float range, the "
        "chain's terms are infinite; tapegrad's Values and PyTorch's double backward group "
        "them differently, and PyTorch's inf - inf gives nan where tapegrad keeps the sign "
        "(cos(cos(c / x)) at x = c = 1e-200: about 0.54/x², +inf) or the terms cancel "
        "exactly (d/dx0 of exp(x0 / x1)'s gradients at x0 = 0: 1/x1² - 1/x1² = 0)",
        (
            (
                [(1e-200, False)],
                [("div", [_c(1e-200), _n(0)]), ("cos", [_n(1)]), ("cos", [_n(2)])],
            ),
            ([(0.0, False), (1e-300, False)], [("truediv", [_n(0), _n(1)]), ("exp", [_n(2)])]),
        ),
    ),
    Known(
        "second order",
        ("relu", "abs", "max", "min", "clamp"),
        lambda s: any(not math.isfinite(a) for a in s.args),
        "these rules choose by masks read from the data (relu's x > 0, abs's sign, the ties "
        "of max, min and clamp), constants to a second derivative; PyTorch's double backward "
        "multiplies its masks into the second-order terms, and at a nan or inf argument "
        "0 * nan is nan where tapegrad has no term at all",
        (
            ([(NAN, False), (NAN, False)], [("mul", [_n(0), _n(1)]), ("relu", [_n(2)])]),
            (
                [(NAN, False), (NAN, False), (NAN, False)],
                [
                    ("affine", [_n(0), _n(2), _c(3.726)]),
                    ("max", [_n(3), _c(-2.14)]),
                    ("abs", [_n(4)]),
                ],
            ),
        ),
    ),
    Known(
        "second order",
        ("mul", "affine"),
        lambda s: any(math.isinf(a) for a in s.args),
        "an infinite factor times second-order terms that underflow: inf * (a * b) with "
        "a * b = 0 is nan, (inf * a) * b is inf; tapegrad's Values and PyTorch's double "
        "backward associate those products differently, and IEEE gives each its answer",
        (
            (
                [(1e-300, False)],
                [("cos", [_n(0)]), ("sigmoid", [_n(1)]), ("mul", [_c(INF), _n(2)])],
            ),
        ),
    ),
]
"""Every known and explained difference between tapegrad and PyTorch float64. Division is not
here: it is exact IEEE division once it is a primitive (issue 19)."""


def is_known(what: str, steps: list[Step]) -> str | None:
    """The reason of the first entry of `KNOWN` that covers a difference in `what` caused at
    one of `steps`, or None."""
    for entry in KNOWN:
        for s in steps:
            if entry.what == what and s.name in entry.ops and entry.when(s):
                return entry.reason
    return None


# --------------------------------------------------------------------------- programs


NUMBERS = st.one_of(
    st.sampled_from(EDGES + ORDINARY + [2, 3, -1, 0]),
    st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False),
)
LEAF = st.one_of(st.sampled_from(EDGES), st.sampled_from(ORDINARY), st.floats(-4.0, 4.0))


@st.composite
def programs(draw, max_leaves: int = 3, max_steps: int = 7):
    """Leaves (number, is_input) and steps (op name, operands), as fuzz_trees describes."""
    leaves = draw(st.lists(st.tuples(LEAF, st.booleans()), min_size=1, max_size=max_leaves))
    names = op_names()  # the table as it is now
    steps = []
    n = len(leaves)
    for _ in range(draw(st.integers(1, max_steps))):
        node = st.integers(0, n - 1).map(lambda i: ("node", i))
        recent = st.just(("node", n - 1))  # preferred, so trees grow deep
        anything = st.one_of(recent, node, NUMBERS.map(lambda c: ("num", float(c))))
        name = draw(st.sampled_from(names))
        args = [draw(anything) for _ in range(draw(st.sampled_from(arg_counts(name))))]
        if all(a[0] == "num" for a in args):
            args[draw(st.integers(0, len(args) - 1))] = draw(st.one_of(recent, node))
        steps.append((name, args))
        n += 1
    return leaves, steps


# --------------------------------------------------------------------------- the checks


def shared_thrice(program) -> bool:
    """Whether some node is an operand three times or more: its gradient is then a sum of
    three or more shares, which eager adds in its walk's order and the tape in its own (both
    commute for two)."""
    uses: dict[int, int] = {}
    for _, args in program[1]:
        for a in args:
            if a[0] == "node":
                uses[a[1]] = uses.get(a[1], 0) + 1
    return any(n >= 3 for n in uses.values())


def check_compiled(torch, program) -> None:
    """Compiled against eager, bit for bit. Within rounding (error scales as `check_torch`'s)
    where the orders or the functions differ: a dense layer (BLAS's order, the documented
    exception), an op whose NumPy function is not libm's (`replays_exactly`), and for the
    gradients a node shared three times or more (`shared_thrice`)."""
    eager = run_eager(program)
    compiled, instructions = run_compiled(program)
    where = f"\n{describe(program)}\ntape: {instructions}"
    exact = not any(s.startswith("dense") for s in instructions) and all(
        replays_exactly(name) for name, _ in program[1]
    )
    fwd = back = [0.0] * len(eager.values)
    if not exact or shared_thrice(program):
        ref, _ = run_torch(torch, program)
        fwd, back = error_scales(ref.values, local_derivatives(torch, program))
    same_out = _comparison(exact)
    same_grad = _comparison(exact and not shared_thrice(program))
    assert same_out(compiled.out, eager.out, fwd[-1]), (
        f"compiled {compiled.out!r} != eager {eager.out!r}{where}"
    )
    for i, (c, e) in enumerate(zip(compiled.grads, eager.grads, strict=True)):
        if c is not None:  # a parameter (an input's gradient is not the tape's to give)
            assert same_grad(c, e, back[i]), f"d/dx{i}: compiled {c!r} != eager {e!r}{where}"


def _comparison(exact: bool) -> Callable[[float, float, float], bool]:
    """Bit for bit, or within RTOL_COMPILED of the error scale given."""
    if exact:
        return lambda a, b, scale: same_bits(a, b)
    return lambda a, b, scale: agree(a, b, scale, RTOL_COMPILED)


def check_create_graph(torch, program) -> None:
    """backward(create_graph=True) gives eager's gradients, bit for bit."""
    eager = run_eager(program)
    values = run_create_graph(program)
    for i, (v, e) in enumerate(zip(values.grads, eager.grads, strict=True)):
        assert same_bits(v, e), f"d/dx{i}: create_graph {v!r} != eager {e!r}\n{describe(program)}"


def _steps(program, eager, ks) -> list[Step]:
    leaves, steps = program
    out = []
    for k in ks:
        name, args = steps[k - len(leaves)]
        nums = tuple(eager.values[a[1]] if a[0] == "node" else a[1] for a in args)
        out.append(Step(name, nums, eager.values[k], eager.node_grads[k]))
    return out


def check_torch(torch, program) -> None:
    """Eager against PyTorch, node by node: a value that differs where its operands agree is
    that step's; a gradient that differs where every step using it agrees is those steps'.
    A difference is allowed only where `KNOWN` covers its step."""
    eager = run_eager(program)
    ref, _ = run_torch(torch, program)
    fwd, back = error_scales(ref.values, local_derivatives(torch, program))
    leaves, steps = program
    first = len(leaves)
    operands = [[a[1] for a in args if a[0] == "node"] for _, args in steps]
    bad_value = [
        not agree(eager.values[k], ref.values[k], fwd[k], signed_zeros=True)
        for k in range(len(fwd))
    ]
    for k in range(first, len(fwd)):
        if bad_value[k] and not any(bad_value[i] for i in operands[k - first]):
            _fail_unless_known("value", program, _steps(program, eager, [k]), eager, ref, k)
    if any(bad_value):
        return  # the gradients of a tree whose values differ (as known) are not comparable
    users = [
        [k for k in range(first, len(fwd)) if i in operands[k - first]] for i in range(len(fwd))
    ]
    bad_grad = [not agree(eager.node_grads[i], ref.node_grads[i], back[i]) for i in range(len(fwd))]
    for i in range(len(fwd)):
        if bad_grad[i] and not any(bad_grad[k] for k in users[i]):
            _fail_unless_known("gradient", program, _steps(program, eager, users[i]), eager, ref, i)


def _fail_unless_known(what, program, steps, eager, ref, k) -> None:
    if is_known(what, steps) is None:
        got = eager.values[k] if what == "value" else eager.node_grads[k]
        want = ref.values[k] if what == "value" else ref.node_grads[k]
        pytest.fail(
            f"{what} of x{k}: tapegrad {got!r} != torch {want!r} (at {steps})\n{describe(program)}"
        )


def check_second_order(torch, program) -> None:
    """Nested tapegrad.grad against torch.autograd.grad(create_graph=True), to RTOL_SECOND of
    the largest second derivative or error scale of a first one (second derivatives that
    cancel to 0 carry the rounding of the terms they cancel); a difference is allowed where
    `KNOWN` covers a step of the program."""
    got = second_order(program)
    ref, want = run_torch(torch, program)
    back = error_scales(ref.values, local_derivatives(torch, program))[1]
    scale = max((_finite(abs(w)) for w in want + back[: len(want)]), default=0.0)
    eager = run_eager(program)
    every = _steps(program, eager, range(len(program[0]), len(eager.values)))
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if not agree(g, w, scale, RTOL_SECOND) and is_known("second order", every) is None:
            pytest.fail(f"second order d/dx{i}: tapegrad {g!r} != torch {w!r}\n{describe(program)}")


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def check_all(torch, program) -> None:
    check_compiled(torch, program)
    check_create_graph(torch, program)
    check_torch(torch, program)
    check_second_order(torch, program)


# --------------------------------------------------------------------------- the runs


REPRODUCTIONS = [
    # issue 19: 1 + 1e16 - 1e16 was regrouped by the tape (0.0 eager, 1.0 compiled)
    (
        [(1.0, True), (1e16, True), (-1e16, False)],
        [("add", [_n(0), _n(1)]), ("add", [_n(3), _n(2)])],
    ),
    # issue 19: sum([0.069, -1e300, 1e300]) (0.0 eager, 0.069 compiled)
    ([(0.069, True), (-1e300, False)], [("sum", [_n(0), _n(1), _c(1e300)])]),
]


@pytest.mark.parametrize("program", REPRODUCTIONS, ids=["chain", "sum"])
def test_reproductions(torch, program):
    check_all(torch, program)


@pytest.mark.parametrize(
    ("entry", "program"),
    [(k, p) for k in KNOWN for p in k.examples],
    ids=[f"{k.what}-{'-'.join(k.ops)}-{i}" for k in KNOWN for i in range(len(k.examples))],
)
def test_every_known_difference_is_real(torch, monkeypatch, entry, program):
    """Each entry's examples differ from PyTorch without the list, and that entry alone
    covers them: an entry whose difference is gone (or that covers nothing) fails here."""
    check = check_second_order if entry.what == "second order" else check_torch
    monkeypatch.setattr(sys.modules[__name__], "KNOWN", [])
    with pytest.raises(pytest.fail.Exception):
        check(torch, program)
    monkeypatch.setattr(sys.modules[__name__], "KNOWN", [entry])
    check(torch, program)


@settings(max_examples=QUICK_EXAMPLES, derandomize=True, deadline=None)
@given(programs())
def test_fuzz_quick(torch, program):
    """A quick, reproducible budget, in every run of the suite."""
    check_all(torch, program)


@pytest.mark.fuzz
@settings(max_examples=LONG_EXAMPLES, deadline=None)
@given(programs())
def test_fuzz_long(request, torch, program):
    """Thousands of trees: `pytest -m fuzz` (TAPEGRAD_FUZZ_EXAMPLES=n for another budget)."""
    if "fuzz" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the long run: pytest -m fuzz")
    check_all(torch, program)
