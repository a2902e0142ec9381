"""One op, one entry: every list of ops outside `ops.OPS` agrees with it, so an op cannot be
half-added (a rule in the table that users cannot call, or a name that calls nothing).

The lists are Value's methods and the Value namespace `valuemath` (which the rules run on under
`create_graph`). The expression language's functions and the explain page's formulas are not
lists: they are read from the table (`expr.FUNCTIONS`) and written by the rules themselves
(`textmath`), and checked here to cover every op. The tests' own per-op tables are checked
where they live (`test_ops.py`, `test_torch_reference.py`)."""

from __future__ import annotations

import pytest

import tapegrad
from tapegrad import Value, ops, textmath
from tapegrad import floatmath as fm
from tapegrad import valuemath as vm
from tapegrad.engine import Constant, apply
from tapegrad.expr import COMPOSITES, FUNCTIONS, parse

OPS = sorted(ops.OPS)
WITH_METHOD = [name for name in OPS if ops.OPS[name].method]
POINT = (0.3, 0.7, 1.1)  # inside every op's domain, no ties: each argument distinct


def _args(op: ops.Op) -> list[float]:
    return list(POINT[: op.arity])


@pytest.mark.parametrize("name", WITH_METHOD)
def test_value_method_applies_the_op(name):
    op = ops.OPS[name]
    first, *rest = _args(op)
    x = Value(first)
    method = getattr(Value, op.method, None)
    assert method is not None, f"op {name!r} names method {op.method!r}, Value has none: add it"
    out = method(x, *rest)
    assert out._op == op.symbol and out._prev[0] is x
    assert [c.data for c in out._prev] == _args(op)
    assert all(type(c) is Constant for c in out._prev[1:])  # numbers become Constants
    assert out.data == apply(op, *map(Value, _args(op))).data


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("add", lambda a, b: a + b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a**b),
    ],
)
def test_operator_only_ops_are_the_operators(name, build):
    a, b = Value(0.3), Value(0.7)
    out = build(a, b)
    assert ops.OPS[name].method is None and out._op == ops.OPS[name].symbol
    assert out._prev == (a, b)


def test_the_expression_language_divides_with_the_div_op():
    a, b = -1.5885683833831, 0.7
    out = parse("a / b").evaluate({"a": a, "b": b})
    assert out._op == ops.OPS["div"].symbol == "/" and out.data == a / b
    assert parse("x / x").evaluate({"x": a}).data == 1.0


def test_every_operator_only_op_is_tested_above():
    only_operators = {n for n, op in ops.OPS.items() if op.method is None and op.arity}
    assert only_operators == {"add", "mul", "div", "pow"}


# Variadic ops (any number of arguments) are reached through a helper each, which takes lists.
VARIADIC = {
    "affine": (lambda xs: tapegrad.dot(xs[:2], xs[2:4], xs[4]), 5),  # b + w0*x0 + w1*x1
    "sum": (lambda xs: tapegrad.sum(xs), 4),
    "logsumexp": (lambda xs: tapegrad.logsumexp(xs), 3),
}


def test_every_variadic_op_has_a_helper():
    assert {n for n, op in ops.OPS.items() if op.arity is None} == set(VARIADIC)
    for name in VARIADIC:
        op = ops.OPS[name]
        assert op.method is None and op.function is None and op.vjp


@pytest.mark.parametrize("name", sorted(VARIADIC))
def test_variadic_helper_builds_one_node_of_the_op(name):
    helper, n = VARIADIC[name]
    op = ops.OPS[name]
    xs = [Value(0.25 * (k + 1)) for k in range(n)]
    out = helper(xs)
    assert out._op == op.symbol and out._prev == tuple(xs)
    assert out.data == op.fwd(fm, *[x.data for x in xs])
    assert helper([x.data for x in xs]) == out.data  # numbers alone: plain float math


@pytest.mark.parametrize("name", OPS)
def test_value_namespace_lifts_the_op(name):
    """valuemath.<function> applies the op on Values and is plain float math on numbers."""
    op = ops.OPS[name]
    if op.function is None:
        assert op.method is None, f"{name}: a method but no valuemath function"
        return
    fn = getattr(vm, op.function, None)
    assert fn is not None, f"op {name!r} names function {op.function!r}: add it to valuemath"
    xs = [Value(v) for v in _args(op)]
    out = fn(*xs)
    assert out._op == op.symbol and out._prev == tuple(xs)
    assert fn(*_args(op)) == op.fwd(fm, *_args(op))


@pytest.mark.parametrize("name", WITH_METHOD)
def test_expression_language_has_the_op(name):
    """Every op with a method is a function of the expression language, under that name,
    running the Value namespace's function with the op's arity (read from the table)."""
    op = ops.OPS[name]
    assert op.method in FUNCTIONS, f"op {name!r}: expr.FUNCTIONS does not read it from the table"
    fn, fewest, most = FUNCTIONS[op.method]
    assert fn is getattr(vm, op.function) and fewest <= op.arity == most
    call = f"{op.method}({', '.join(map(repr, _args(op)))})"
    assert parse(call).evaluate({}).data == apply(op, *map(Value, _args(op))).data


def test_expression_functions_are_ops_or_named_composites():
    from_ops = {op.method for op in ops.OPS.values() if op.method}
    assert set(FUNCTIONS) - from_ops == set(COMPOSITES) == {"softplus"}  # no rule of their own


@pytest.mark.parametrize("name", OPS)
def test_every_op_writes_its_rules_as_text(name):
    """The explain page's words for an op are its rules run on `textmath`: every op's rules run
    there (forward and one gradient per argument), so no op goes without its formula."""
    op = ops.OPS[name]
    k = op.arity or 5
    args = [f"x{i}" for i in range(k)]
    text = textmath.formula(op, args)
    assert isinstance(text.forward, str) and len(text.grads) == k
    assert all(isinstance(t, str) and t for t in text.grads)
