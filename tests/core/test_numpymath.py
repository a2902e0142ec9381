"""The NumPy namespace of the op table: IEEE results as PyTorch float64 gives them, the same
numbers as the eager float namespace elementwise, and no warnings. (The same on any floats
Hypothesis draws: test_numpymath_properties.py.)"""

import inspect
import itertools
import math
import warnings

import numpy as np
import pytest
from op_facts import all_shares, n_args

from tapegrad import floatmath as fm
from tapegrad import numpymath as npm
from tapegrad.ops import OPS

SPECIALS = [
    0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -8.0, 1 / 3, -1 / 3, 1e-300, -1e-300,
    5e-324, 20.0, -20.0, 710.0, -745.5, 1000.0, -1000.0, 1e308, -1e308,
    math.inf, -math.inf, math.nan,
]  # fmt: skip
# The namespace's functions (what rules call: log1p, sign and div are no ops, and logaddexp and
# clamp are ops made of these), each also PyTorch's function of the same name.
UNARY = ["exp", "log", "log1p", "tanh", "sqrt", "sin", "cos", "sigmoid", "relu", "abs", "sign"]
BINARY = ["pow", "div", "maximum", "minimum"]
COMPARE = ["eq", "gt", "ge", "lt"]

RNG = np.random.default_rng(5)
VALUES = np.concatenate([SPECIALS, RNG.standard_normal(50) * 10, RNG.uniform(-1, 1, 20)])
PAIRS = np.array(list(itertools.product(SPECIALS, SPECIALS)) + list(RNG.standard_normal((60, 2))))


def assert_same(actual, expected, rtol=1e-15):
    """Equal to `rtol` (one rounding apart at most), nan where nan, infinities signed alike."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(
        np.isinf(actual) & (actual > 0), np.isinf(expected) & (expected > 0)
    )
    np.testing.assert_array_equal(
        np.isinf(actual) & (actual < 0), np.isinf(expected) & (expected < 0)
    )
    fin = np.isfinite(expected)
    np.testing.assert_allclose(actual[fin], expected[fin], rtol=rtol, atol=1e-320)


def t64(torch, x):
    return torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64)


@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_torch(name, torch):
    got = getattr(npm, name)(VALUES)
    ref = getattr(torch, name)(t64(torch, VALUES)).numpy()
    assert_same(got, ref)


@pytest.mark.parametrize("name", BINARY)
def test_binary_matches_torch(name, torch):
    a, b = PAIRS[:, 0], PAIRS[:, 1]
    assert_same(
        getattr(npm, name)(a, b), getattr(torch, name)(t64(torch, a), t64(torch, b)).numpy()
    )


@pytest.mark.parametrize("name", sorted(COMPARE))
def test_comparisons_match_torch(name, torch):
    a, b = PAIRS[:, 0], PAIRS[:, 1]
    got = getattr(npm, name)(a, b)
    assert got.dtype == bool
    np.testing.assert_array_equal(got, getattr(torch, name)(t64(torch, a), t64(torch, b)).numpy())


def test_where_matches_torch(torch):
    cond = RNG.random(40) < 0.5
    a, b = RNG.standard_normal(40), np.full(40, math.nan)
    np.testing.assert_array_equal(
        npm.where(cond, a, b), torch.where(torch.tensor(cond), t64(torch, a), t64(torch, b)).numpy()
    )
    assert npm.where(npm.gt(VALUES, 0.0), 1.0, 0.0).shape == VALUES.shape


def test_ieee_headline_values():
    assert npm.exp(1000.0) == math.inf
    assert npm.log(0.0) == -math.inf
    assert math.isnan(npm.log(-1.0))
    assert npm.div(1.0, 0.0) == math.inf and npm.div(-1.0, 0.0) == -math.inf
    assert math.isnan(npm.pow(-8.0, 1 / 3))
    assert npm.pow(0.0, -1.0) == math.inf and npm.pow(-0.0, -1.0) == -math.inf
    assert npm.sigmoid(1000.0) == 1.0 and npm.sigmoid(-1000.0) == 0.0
    assert math.isnan(npm.relu(math.nan)) and npm.relu(-3.0) == 0.0
    assert npm.inf == math.inf and math.isnan(npm.nan)


def test_pow_is_c99_even_for_a_broadcast_half():
    # np.power swaps in sqrt for an exponent of 0.5 broadcast over an array, and
    # sqrt(-inf) = nan where pow(-inf, 0.5) = inf; the eager namespace gives inf.
    x = np.array([-math.inf, -0.0, 4.0])
    assert_same(npm.pow(x, 0.5), [fm.pow(v, 0.5) for v in x.tolist()])
    assert npm.pow(x, 0.5)[0] == math.inf


def test_no_warnings_escape():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in UNARY:
            getattr(npm, name)(VALUES)
        for name in BINARY + sorted(COMPARE):
            getattr(npm, name)(PAIRS[:, 0], PAIRS[:, 1])


def _names(module) -> set:
    return {
        n for n in dir(module) if not n.startswith("_") and n not in ("math", "np", "functools")
    }


def test_offers_every_name_the_float_namespace_offers():
    # A rule may use anything floatmath has; the tape must find the same name here.
    missing = _names(fm) - set(vars(npm.unchecked))
    assert not missing, f"numpymath lacks {sorted(missing)}"
    assert set(npm.__all__) == set(vars(npm.unchecked))
    for name, f in vars(npm.unchecked).items():
        checked = getattr(npm, name)
        assert f in (checked, getattr(checked, "__wrapped__", None), npm._ONE_CALL.get(name))


@pytest.mark.parametrize("name", sorted(npm._ONE_CALL))
def test_the_unchecked_one_call_functions_are_the_checked_ones(name):
    """Where `unchecked` holds a NumPy function itself, it gives the checked function's
    numbers bit for bit (the specials, signed zeros and nan included), so the two cannot
    drift apart."""
    checked, raw = getattr(npm, name), getattr(npm.unchecked, name)
    params = inspect.signature(checked).parameters
    n = len(params) - ("out" in params)  # its arguments: 1 to 3 (where's)
    args = [PAIRS[:, 0], PAIRS[:, 1], -PAIRS[:, 0]][:n]
    if name == "where":
        args[0] = PAIRS[:, 0] > PAIRS[:, 1]
    want = np.asarray(checked(*args), dtype=np.float64)
    with np.errstate(all="ignore"):
        got = np.asarray(raw(*args), dtype=np.float64)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("name", sorted(set(UNARY) | {"isfinite"}))
def test_unary_equals_float_namespace_elementwise(name):
    got = getattr(npm, name)(VALUES)
    ref = np.array([getattr(fm, name)(v) for v in VALUES.tolist()], dtype=np.float64)
    assert_same(got, ref)
    zeros = ref == 0.0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(ref[zeros]))
    with np.errstate(all="ignore"):
        assert_same(getattr(npm.unchecked, name)(VALUES), ref)


@pytest.mark.parametrize("name", BINARY + sorted(COMPARE))
def test_binary_equals_float_namespace_elementwise(name):
    a, b = PAIRS[:, 0], PAIRS[:, 1]
    got = np.asarray(getattr(npm, name)(a, b), dtype=np.float64)
    ref = np.array(
        [getattr(fm, name)(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)],
        dtype=np.float64,
    )
    assert_same(got, ref)
    zeros = ref == 0.0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(ref[zeros]))


def _arity_args(arity: int, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pools = [np.array(SPECIALS), rng.standard_normal(20) * 3]
    pool = np.concatenate(pools)
    # every combination of specials for small arity, plus ties (a == b) on purpose
    cols = [rng.choice(pool, n) for _ in range(arity)]
    if arity >= 2:
        cols[1][: n // 4] = cols[0][: n // 4]
    return cols


@pytest.mark.parametrize("op_name", sorted(OPS))
def test_op_table_rules_give_the_eager_numbers_on_arrays(op_name):
    """Every rule in the table, run with this namespace on arrays, equals the same rule run by
    the eager engine's float namespace one element at a time (ops added later included).
    The rules get eager's own output, so a one-ulp difference in a forward value (tanh near 1)
    is not amplified by a rule such as 1 - out*out."""
    op = OPS[op_name]
    args = _arity_args(n_args(op), 400, seed=len(op_name))
    g = np.random.default_rng(1).standard_normal(400)
    rows = list(zip(*[a.tolist() for a in args], strict=True))
    ref_out = np.array([op.fwd(fm, *row) for row in rows], dtype=np.float64)
    with np.errstate(all="ignore"):
        out = np.broadcast_to(op.fwd(npm.unchecked, *args), g.shape)
        grads = [
            np.broadcast_to(c, g.shape) for c in all_shares(op, npm.unchecked, g, ref_out, *args)
        ]
    assert_same(out, ref_out)
    per_row = [
        all_shares(op, fm, gk, ok, *row)
        for gk, ok, row in zip(g.tolist(), ref_out.tolist(), rows, strict=True)
    ]
    for j in range(len(args)):
        assert_same(grads[j], [shares[j] for shares in per_row])


@pytest.mark.parametrize("shape", [(12,), (12, 1), (12, 2), (30, 33), (9, 1, 1), (9, 3, 5)])
def test_total_adds_row_after_row_as_eager_does(shape):
    """`total` is the left fold t0 + t1 + t2 + ... of eager's chain of +, bit for bit, over a
    lone axis (where NumPy's reduction would add in pairs) and over rows of many numbers (where
    it adds row by row), also on a view of every other row. Magnitudes from 1e-20 to 1e20 make
    any regrouping show."""
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    for _ in range(20):
        big = rng.standard_normal((2 * shape[0], *shape[1:]))
        big *= 10.0 ** rng.integers(-20, 21, big.shape)
        for xs in (big[: shape[0]], big[::2]):
            folded = xs[0].copy()
            for row in xs[1:]:
                folded = folded + row
            np.testing.assert_array_equal(npm.total(xs), folded)
