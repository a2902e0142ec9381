"""Every primitive in the op table: its test facts (where gradcheck samples it), a wrong rule
deep in a graph is caught and named, and IEEE edge cases give PyTorch's values and gradients.
The gradchecks at random points of each op's domain are in test_ops_properties.py."""

from __future__ import annotations

import math

import op_facts
import pytest
from op_facts import patch_rule

from tapegrad import Value, gradcheck, no_grad, ops
from tapegrad.check import GradcheckError

OP_NAMES = sorted(ops.OPS)


@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_has_a_domain(name):
    """The op's entry says where gradcheck samples it (test_ops_properties.py): an interval for
    every argument, where it is smooth but for a kink the tests know how to keep away from;
    what intervals cannot say (argument counts, a shape) is in tests/op_facts.py."""
    op = ops.OPS[name]
    where = f"op {name!r}: give its entry in ops.py"
    if op.arity is None:
        assert name in op_facts.VARIADIC, f"{name!r} is variadic: add its counts to op_facts.py"
    for lo, hi in op_facts.intervals(op):
        assert math.isfinite(lo) and math.isfinite(hi) and lo < hi, f"{where} a domain lo < hi"
    assert op.kinks in op_facts.KINDS_OF_KINK, f"{where} kinks in {op_facts.KINDS_OF_KINK}"
    if op.kinks == "ties" and op.arity != 2:
        assert name in op_facts.BOUNDED, f"{name!r}: tell op_facts.py how its ties are avoided"
    if op.kinks == "zero":  # samples on both sides of 0, a gap away from it
        gap = op_facts.GAP
        assert all(lo < -gap and gap < hi for lo, hi in op_facts.intervals(op)), where


def test_no_domain_is_left_for_an_op_that_is_gone():
    facts = set(op_facts.VARIADIC) | op_facts.BOUNDED | set(op_facts.MASKED)
    assert facts <= set(ops.OPS), facts - set(ops.OPS)


def test_a_wrong_rule_deep_inside_a_graph_is_named(monkeypatch):
    def f(x, y):
        return ((x * y).tanh() + y.exp()).log() * x

    assert gradcheck(f, 0.7, -0.4)
    patch_rule(monkeypatch, ops.OPS["exp"], 0)
    with pytest.raises(GradcheckError, match="'exp' argument 0") as caught:
        gradcheck(f, 0.7, -0.4)
    assert "'tanh'" not in str(caught.value) and "'log'" not in str(caught.value)


def test_gradcheck_inside_no_grad_still_names_the_op(monkeypatch):
    patch_rule(monkeypatch, ops.OPS["tanh"], 0)
    with no_grad(), pytest.raises(GradcheckError, match="'tanh' argument 0"):
        gradcheck(lambda x: x.tanh(), 0.3)


# IEEE edge cases: forward value and gradient against torch float64, never an exception or a
# complex number. (name, tapegrad/torch function of one input, the input.)
IEEE_CASES = [
    ("tanh(1000)", lambda x: x.tanh(), 1000.0),
    ("tanh(-1000)", lambda x: x.tanh(), -1000.0),
    ("sigmoid(1000)", lambda x: x.sigmoid(), 1000.0),
    ("sigmoid(-1000)", lambda x: x.sigmoid(), -1000.0),
    ("exp(1000)", lambda x: x.exp(), 1000.0),
    ("log(0)", lambda x: x.log(), 0.0),
    ("log(-1)", lambda x: x.log(), -1.0),
    ("sqrt(-1)", lambda x: x.sqrt(), -1.0),
    ("sqrt(0)", lambda x: x.sqrt(), 0.0),
    ("1/x at 0", lambda x: 1 / x, 0.0),
    ("-1/x at 0", lambda x: -1 / x, 0.0),
    ("x/0 at 1", lambda x: x / 0, 1.0),
    ("x/0 at -1", lambda x: x / 0, -1.0),
    ("0/x at 0", lambda x: 0 / x, 0.0),
    ("x/0 at 0", lambda x: x / 0, 0.0),
    ("x ** (1/3) at -8", lambda x: x ** (1 / 3), -8.0),
    ("(-8) ** x at 1/3", lambda x: (-8.0) ** x, 1 / 3),
    ("x ** -1 at 0", lambda x: x**-1, 0.0),
    ("0 ** x at -1", lambda x: 0.0**x, -1.0),
    ("x ** 0.5 at 0", lambda x: x**0.5, 0.0),
    ("x ** 2 at 1e200", lambda x: x**2, 1e200),
    ("exp(x) ** 2 at 400", lambda x: x.exp() ** 2, 400.0),
    ("x * 1e308 * 10", lambda x: x * 1e308 * 10, 1.0),
]


def _same(got: float, want: float) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    return got == want or abs(got - want) <= 1e-12 * abs(want)


@pytest.mark.parametrize(("name", "f", "x"), IEEE_CASES, ids=[c[0] for c in IEEE_CASES])
def test_ieee_edge_cases_match_torch(name, f, x, torch):
    v = Value(x)
    out = f(v)
    out.backward()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    t_out = f(t)
    t_out.backward()
    assert type(out.data) is float and type(v.grad) is float  # never complex, never a Value
    assert _same(out.data, t_out.item()), f"{name}: {out.data!r} != torch {t_out.item()!r}"
    assert _same(v.grad, t.grad.item()), f"{name}: grad {v.grad!r} != torch {t.grad.item()!r}"


def test_ieee_edge_cases_without_torch_are_pytorchs_published_values():
    """The same cases against the values DESIGN.md quotes from PyTorch, so they are checked even
    where torch is not installed."""
    inf, nan = math.inf, math.nan
    expected = {
        "tanh(1000)": (1.0, 0.0),
        "tanh(-1000)": (-1.0, 0.0),
        "sigmoid(1000)": (1.0, 0.0),
        "sigmoid(-1000)": (0.0, 0.0),
        "exp(1000)": (inf, inf),
        "log(0)": (-inf, inf),
        "log(-1)": (nan, -1.0),
        "1/x at 0": (inf, -inf),
        "x/0 at 1": (inf, inf),
        "x/0 at 0": (nan, inf),
        "x ** (1/3) at -8": (nan, nan),
        "x ** -1 at 0": (inf, -inf),
        "sqrt(-1)": (nan, nan),
    }
    cases = {name: (f, x) for name, f, x in IEEE_CASES}
    for name, (value, slope) in expected.items():
        f, x = cases[name]
        v = Value(x)
        out = f(v)
        out.backward()
        assert _same(out.data, value) and _same(v.grad, slope), (name, out.data, v.grad)


# --- nan and inf are not agreement (issue 10) ----------------------------------------------------


def test_gradcheck_counts_nan_as_disagreement():
    # The case: x * nan has gradient nan on both sides, which checks nothing.
    with pytest.raises(GradcheckError, match=r"not finite[\s\S]*allow_nonfinite=True"):
        gradcheck(lambda x: x * float("nan"), 1.0)
    assert gradcheck(lambda x: x * float("nan"), 1.0, allow_nonfinite=True)
    with pytest.raises(GradcheckError, match="not finite"):  # inf beside nan: never the same
        gradcheck(lambda x: x.log(), 0.0, allow_nonfinite=True)


def test_agree_accepts_non_finite_only_when_asked_and_identical():
    from tapegrad.check import agree

    inf, nan = math.inf, math.nan
    for a, n in [(nan, nan), (inf, inf), (-inf, -inf), (nan, 1.0), (inf, 1e308), (inf, nan)]:
        assert not agree(a, n)
    assert agree(nan, nan, allow_nonfinite=True) and agree(-inf, -inf, allow_nonfinite=True)
    for a, n in [(inf, -inf), (inf, nan), (nan, 0.0), (1.0, inf)]:
        assert not agree(a, n, allow_nonfinite=True)


def test_a_zero_step_is_a_clear_error():
    from tapegrad.check import numerical_derivative, numerical_gradient

    for call in (
        lambda: gradcheck(lambda x: x * x, 1.0, eps=0),
        lambda: numerical_derivative(lambda x: x * x, 1.0, h=0.0),
        lambda: numerical_gradient(lambda x: x * x, 1.0, h=-1e-6),
        lambda: numerical_gradient(lambda x: x * x, 1.0, h=math.inf),
    ):
        with pytest.raises(ValueError, match="step must be a positive finite number"):
            call()
