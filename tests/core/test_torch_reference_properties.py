"""Differential tests against PyTorch float64 that Hypothesis draws: random expression DAGs
over every op, and division over its range (the harness, its tables and the tests at fixed
points are in test_torch_reference.py). Property tests: without Hypothesis they skip, and
without PyTorch too (see tests/references.py)."""

from __future__ import annotations

import math

from references import require
from test_torch_reference import BINARY, UNARY, VARIADIC, _c, _n, agree, check_against_torch

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


DIVISORS = st.one_of(st.floats(1e-100, 1e100), st.floats(-1e100, -1e-100))


@given(x=st.floats(-1e6, 1e6), y=DIVISORS)
def test_division_matches_torch(torch, x, y):
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
        ta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        t_out = f(ta, tb)
        t_out.backward()
        assert agree(out.data, t_out.item()), f"{name}: {out.data!r} != {t_out.item()!r}"
        if grad_x:
            assert agree(a.grad, ta.grad.item()), f"{name} d/dx: {a.grad!r} != {ta.grad.item()!r}"
        if grad_y:
            assert agree(b.grad, tb.grad.item()), f"{name} d/dy: {b.grad!r} != {tb.grad.item()!r}"
