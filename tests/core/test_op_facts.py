"""The tests' own table of op facts (tests/op_facts.py) names exactly the ops of the op table
that need one, and its facts agree with the ops' entries: a new op that needs a test-side fact
fails here, naming it, and no fact outlives its op."""

from __future__ import annotations

import op_facts
import pytest

from tapegrad import Value, ops
from tapegrad import floatmath as fm


def test_variadic_facts_name_exactly_the_variadic_ops():
    variadic = {name for name, op in ops.OPS.items() if op.arity is None}
    assert set(op_facts.VARIADIC) == variadic, "give each variadic op its counts in op_facts.py"


def test_bounded_names_exactly_the_ops_whose_ties_intervals_cannot_avoid():
    """A tie of two arguments is kept away from by drawing them apart; an op with more
    arguments and ties needs its shape said (clamp's lo < hi)."""
    shaped = {n for n, op in ops.OPS.items() if op.kinks == "ties" and op.arity not in (None, 2)}
    assert shaped == op_facts.BOUNDED


def test_masked_points_are_arguments_of_their_ops():
    for name, points in op_facts.MASKED.items():
        op = ops.OPS[name]
        for arg, point in points.items():
            lo, hi = op_facts.intervals(op)[arg]
            assert 0 <= arg < op.arity and lo < point < hi, (name, arg, point)


@pytest.mark.parametrize("name", sorted(op_facts.VARIADIC))
def test_variadic_facts_call_and_compose_the_op(name):
    """The helper builds one node of the op; the composition from * and + gives its value in
    its order of additions; every count drawn is one the op takes."""
    op, facts = ops.OPS[name], op_facts.VARIADIC[name]
    for n in {facts.sample, *facts.gradcheck, *facts.graphs}:
        xs = [Value(0.25 * (k + 1) - 0.6) for k in range(n)]
        out = facts.helper(*xs)
        assert out._op == op.symbol and out._prev == tuple(xs), (name, n)
        data = [x.data for x in xs]
        if facts.compose is not None:
            assert facts.compose(lambda a, b: a * b, lambda a, b: a + b)(*data) == out.data
        assert out.data == op.fwd(fm, *data)


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_op_names_its_reference(name):
    """A fixed-arity op's entry names its PyTorch counterpart; a variadic op's is composed."""
    op = ops.OPS[name]
    assert bool(op.reference) == (op.arity is not None), f"{name!r}: reference {op.reference!r}"


@pytest.mark.parametrize("name", sorted(n for n, op in ops.OPS.items() if op.reference))
def test_every_reference_is_a_torch_function(name, torch):
    assert callable(getattr(torch, ops.OPS[name].reference, None)), name
