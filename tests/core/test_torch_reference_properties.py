"""Differential tests against PyTorch float64 that Hypothesis draws: random expression DAGs
over every op, and division over the whole float range (the harness, its tables and the tests
at fixed points are in test_torch_reference.py). Property tests: without Hypothesis they skip,
and without PyTorch too (see tests/references.py)."""

from __future__ import annotations

import math

from references import require
from test_torch_reference import BINARY, UNARY, VARIADIC, _c, _n, check_against_torch

from tapegrad import Value

hypothesis = require("hypothesis")
st = require("hypothesis.strategies")
example, given, settings = hypothesis.example, hypothesis.given, hypothesis.settings

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
def test_random_dags_match_torch(torch, program):
    check_against_torch(torch, program)


FLOATS = st.floats()  # the whole range: subnormals, ±0.0, ±inf and nan too


def same(got: float, want: float, signed_zero: bool = True) -> bool:
    """The same float bit for bit (any nan matches any nan; a zero's sign only if asked)."""
    if want != want:
        return got != got
    return got == want and (not signed_zero or math.copysign(1, got) == math.copysign(1, want))


@example(x=1e-200, y=1e-160)  # the cases: b**-2 overflowed, b**-1 lost the last bits
@example(x=1e200, y=1e160)
@example(x=math.inf, y=-1e300)
@example(x=-1.5885683833831, y=-1.5885683833831)
@example(x=5e-324, y=1e-300)
@example(x=1.0, y=-0.0)
@example(x=0.0, y=0.0)
@given(x=FLOATS, y=FLOATS)
def test_division_is_torch_div_bit_for_bit(torch, x, y):
    """Division is torch.div over the whole float range: the value and every gradient, bit for
    bit (a gradient's zero may differ in sign: a leaf's .grad is 0.0 + its share), with a Value
    or a number on either side. torch's own `number / tensor` is `tensor.reciprocal() * number`,
    which rounds twice, so torch.div stands for it."""

    def tensor(v):
        return torch.tensor(v, dtype=torch.float64, requires_grad=True)

    cases = {
        "value / value": (lambda a, b: a / b, lambda ta, tb: torch.div(ta, tb)),
        "value / number": (lambda a, b: a / y, lambda ta, tb: torch.div(ta, y)),
        "number / value": (lambda a, b: x / b, lambda ta, tb: torch.div(tensor(x).detach(), tb)),
    }
    for name, (ours, theirs) in cases.items():
        a, b, ta, tb = Value(x), Value(y), tensor(x), tensor(y)
        out, t_out = ours(a, b), theirs(ta, tb)
        out.backward()
        t_out.backward()
        assert same(out.data, t_out.item()), f"{name}: {out.data!r} != torch {t_out.item()!r}"
        for arg, v, t in (("x", a, ta), ("y", b, tb)):
            want = 0.0 if t.grad is None else t.grad.item()
            assert same(v.grad, want, False), f"{name} d/d{arg}: {v.grad!r} != torch {want!r}"
