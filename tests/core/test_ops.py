"""Every primitive in the op table: gradcheck at random points of its domain, a wrong rule is
caught and named, and IEEE edge cases give PyTorch's values and gradients."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, grad, gradcheck, no_grad, ops
from tapegrad.check import GradcheckError
from tapegrad.engine import apply


def reals(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo: float, hi: float):
    return st.one_of(reals(lo, hi), reals(-hi, -lo))


GAP = 1e-3  # keeps points this far from kinks, well beyond gradcheck's eps of 1e-6


def apart(a, b):
    return st.tuples(a, b).filter(lambda t: abs(t[0] - t[1]) > GAP)


@st.composite
def clamp_args(draw):
    """(x, lo, hi) with lo < hi and x below, inside or above the interval, away from its ends."""
    a, b, c = sorted(draw(st.lists(reals(-10, 10), min_size=3, max_size=3)))
    if b - a <= GAP or c - b <= GAP:
        a, b, c = a - 2 * GAP, b, c + 2 * GAP
        if c - b <= GAP or b - a <= GAP:
            b = (a + c) / 2
    where = draw(st.sampled_from(["below", "inside", "above"]))
    return {"below": (a, b, c), "inside": (b, a, c), "above": (c, a, b)}[where]


@st.composite
def affine_args(draw):
    """(w1..wn, x1..xn, b) for n = 1 to 4: the arguments of a neuron with n inputs."""
    n = draw(st.integers(1, 4))
    return tuple(draw(st.lists(reals(-10, 10), min_size=2 * n + 1, max_size=2 * n + 1)))


# The domain each primitive is gradchecked on: smooth there (kinks kept at a distance).
DOMAINS = {
    "add": st.tuples(reals(-10, 10), reals(-10, 10)),
    "mul": st.tuples(reals(-10, 10), reals(-10, 10)),
    "pow": st.tuples(reals(0.1, 5), reals(-3, 3)),
    "exp": st.tuples(reals(-20, 20)),
    "log": st.tuples(reals(1e-3, 1e3)),
    "tanh": st.tuples(reals(-5, 5)),
    "sigmoid": st.tuples(reals(-20, 20)),
    "relu": st.tuples(away_from_zero(GAP, 10)),
    "abs": st.tuples(away_from_zero(GAP, 10)),
    "sqrt": st.tuples(reals(1e-2, 1e3)),
    "sin": st.tuples(reals(-10, 10)),
    "cos": st.tuples(reals(-10, 10)),
    "max": apart(reals(-10, 10), reals(-10, 10)),
    "min": apart(reals(-10, 10), reals(-10, 10)),
    "clamp": clamp_args(),
    "logaddexp": st.tuples(reals(-30, 30), reals(-30, 30)),
    "affine": affine_args(),
    "sum": st.lists(reals(-10, 10), min_size=2, max_size=6).map(tuple),
}

OP_NAMES = sorted(ops.OPS)


def _op_function(op: ops.Op):
    def f(*xs):
        return apply(op, *xs)

    f.__name__ = f"apply_{op.name}"
    return f


@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_has_a_domain(name):
    assert name in DOMAINS, f"op {name!r} has no gradcheck domain in tests/test_ops.py: add one"


def test_no_domain_is_left_for_an_op_that_is_gone():
    assert set(DOMAINS) <= set(ops.OPS), set(DOMAINS) - set(ops.OPS)


@pytest.mark.parametrize("name", OP_NAMES)
@settings(max_examples=40)
@given(data=st.data())
def test_gradcheck_passes_for_every_primitive(name, data):
    if name not in DOMAINS:
        pytest.fail(f"op {name!r} has no gradcheck domain")
    op = ops.OPS[name]
    args = data.draw(DOMAINS[name], label="inputs")
    assert gradcheck(_op_function(op), *args) is True


# At p == 0 exactly, pow's d/dx rule is masked to 0 (so 0 ** 0 has gradient 0, not 0 * inf), which
# also zeroes d2/dx dp there: torch's pow does the same (its mixed partial at p = 0 is 0 too).
SECOND_ORDER_DOMAINS = {
    **DOMAINS,
    "pow": st.tuples(reals(0.1, 5), reals(-3, 3).filter(lambda p: p != 0.0)),
}


@pytest.mark.parametrize("name", OP_NAMES)
@settings(max_examples=10)
@given(data=st.data())
def test_every_rule_is_itself_differentiable(name, data):
    """Run on Values, each vector-Jacobian rule builds a graph whose own gradient (a second
    derivative of the op) agrees with central differences of the first derivative."""
    op = ops.OPS[name]
    args = data.draw(SECOND_ORDER_DOMAINS[name], label="inputs")
    for i in range(len(args)):
        first = grad(_op_function(op), argnums=i)
        first.__name__ = f"d{name}/dx{i}"
        assert gradcheck(first, *args)


def _patch_rule(monkeypatch, op: ops.Op, arg: int) -> None:
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


# A variadic op's first two arguments (its domain always draws at least two).
ARGS = [(name, i) for name in OP_NAMES for i in range(ops.OPS[name].arity or 2)]


@pytest.mark.parametrize(("name", "arg"), ARGS)
@settings(max_examples=5)
@given(data=st.data())
def test_gradcheck_catches_a_wrong_rule_and_names_the_op(name, arg, data):
    op = ops.OPS[name]
    args = data.draw(DOMAINS[name], label="inputs")
    f = _op_function(op)
    with pytest.MonkeyPatch.context() as monkeypatch, pytest.raises(GradcheckError) as caught:
        _patch_rule(monkeypatch, op, arg)
        gradcheck(f, *args)
    assert gradcheck(f, *args)  # the table is restored
    message = str(caught.value)
    assert f"'{name}' argument {arg}" in message, message
    assert "<- disagrees" in message.splitlines()[2 + arg], message


def test_a_wrong_rule_deep_inside_a_graph_is_named(monkeypatch):
    def f(x, y):
        return ((x * y).tanh() + y.exp()).log() * x

    assert gradcheck(f, 0.7, -0.4)
    _patch_rule(monkeypatch, ops.OPS["exp"], 0)
    with pytest.raises(GradcheckError, match="'exp' argument 0") as caught:
        gradcheck(f, 0.7, -0.4)
    assert "'tanh'" not in str(caught.value) and "'log'" not in str(caught.value)


def test_gradcheck_inside_no_grad_still_names_the_op(monkeypatch):
    _patch_rule(monkeypatch, ops.OPS["tanh"], 0)
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
def test_ieee_edge_cases_match_torch(name, f, x):
    torch = pytest.importorskip("torch")
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
