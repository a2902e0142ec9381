"""Every primitive in the op table, gradchecked at random points of its domain (the domain its
entry gives, `ops.Op.domain`, kept away from its `kinks`): first and second order, and a wrong
rule patched in is caught and named. Property tests: they need Hypothesis, and skip without it
(see tests/references.py)."""

from __future__ import annotations

import op_facts
import pytest
from op_facts import GAP, op_function, patch_rule
from references import require

from tapegrad import grad, gradcheck, ops
from tapegrad.check import GradcheckError

hypothesis = require("hypothesis")
st = require("hypothesis.strategies")
given, settings = hypothesis.given, hypothesis.settings


def reals(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo: float, hi: float):
    """(lo, hi) without (-GAP, GAP): both sides of a kink at 0."""
    return st.one_of(reals(GAP, hi), reals(lo, -GAP))


def apart(a, b):
    return st.tuples(a, b).filter(lambda t: abs(t[0] - t[1]) > GAP)


@st.composite
def bounded_args(draw, lo: float, hi: float):
    """(x, lo, hi) with lo < hi and x below, inside or above the interval, away from its ends."""
    a, b, c = sorted(draw(st.lists(reals(lo, hi), min_size=3, max_size=3)))
    if b - a <= GAP or c - b <= GAP:
        a, b, c = a - 2 * GAP, b, c + 2 * GAP
        if c - b <= GAP or b - a <= GAP:
            b = (a + c) / 2
    where = draw(st.sampled_from(["below", "inside", "above"]))
    return {"below": (a, b, c), "inside": (b, a, c), "above": (c, a, b)}[where]


@st.composite
def variadic_args(draw, op: ops.Op):
    """Arguments for one of the op's drawn counts (a neuron's 2n + 1 for affine), each from its
    domain's interval."""
    n = draw(st.sampled_from(op_facts.VARIADIC[op.name].gradcheck))
    return tuple(draw(reals(lo, hi)) for lo, hi in op_facts.intervals(op, n))


def domain(op: ops.Op, masked: bool = False):
    """Where gradcheck samples `op`: its entry's intervals, kept away from its kinks (and, with
    `masked`, from the points where its rule is masked, op_facts.MASKED)."""
    if op.arity is None:
        return variadic_args(op)
    if op.name in op_facts.BOUNDED:
        return bounded_args(*op_facts.intervals(op)[0])
    draws = [reals(lo, hi) for lo, hi in op_facts.intervals(op)]
    if op.kinks == "zero":
        draws = [away_from_zero(lo, hi) for lo, hi in op_facts.intervals(op)]
    if masked:
        for i, point in op_facts.MASKED.get(op.name, {}).items():
            draws[i] = draws[i].filter(lambda x, point=point: x != point)
    if op.kinks == "ties":
        return apart(*draws)
    return st.tuples(*draws)


OP_NAMES = sorted(ops.OPS)
DOMAINS = {name: domain(ops.OPS[name]) for name in OP_NAMES}


@pytest.mark.parametrize("name", OP_NAMES)
@settings(max_examples=40)
@given(data=st.data())
def test_gradcheck_passes_for_every_primitive(name, data):
    if name not in DOMAINS:
        pytest.fail(f"op {name!r} has no gradcheck domain")
    op = ops.OPS[name]
    args = data.draw(DOMAINS[name], label="inputs")
    assert gradcheck(op_function(op), *args) is True


# At p == 0 exactly, pow's d/dx rule is masked to 0 (so 0 ** 0 has gradient 0, not 0 * inf), which
# also zeroes d2/dx dp there: torch's pow does the same (its mixed partial at p = 0 is 0 too).
SECOND_ORDER_DOMAINS = {name: domain(ops.OPS[name], masked=True) for name in OP_NAMES}


@pytest.mark.parametrize("name", OP_NAMES)
@settings(max_examples=10)
@given(data=st.data())
def test_every_rule_is_itself_differentiable(name, data):
    """Run on Values, each vector-Jacobian rule builds a graph whose own gradient (a second
    derivative of the op) agrees with central differences of the first derivative."""
    op = ops.OPS[name]
    args = data.draw(SECOND_ORDER_DOMAINS[name], label="inputs")
    for i in range(len(args)):
        first = grad(op_function(op), argnums=i)
        first.__name__ = f"d{name}/dx{i}"
        assert gradcheck(first, *args)


# A variadic op's first two arguments (its domain always draws at least two).
ARGS = [(name, i) for name in OP_NAMES for i in range(ops.OPS[name].arity or 2)]


@pytest.mark.parametrize(("name", "arg"), ARGS)
@settings(max_examples=5)
@given(data=st.data())
def test_gradcheck_catches_a_wrong_rule_and_names_the_op(name, arg, data):
    op = ops.OPS[name]
    args = data.draw(DOMAINS[name], label="inputs")
    f = op_function(op)
    with pytest.MonkeyPatch.context() as monkeypatch, pytest.raises(GradcheckError) as caught:
        patch_rule(monkeypatch, op, arg)
        gradcheck(f, *args)
    assert gradcheck(f, *args)  # the table is restored
    message = str(caught.value)
    assert f"'{name}' argument {arg}" in message, message
    assert "<- disagrees" in message.splitlines()[2 + arg], message
