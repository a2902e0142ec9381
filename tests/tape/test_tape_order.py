"""The compiled tape adds in the eager engine's order: a chain of `+` and the `sum` op give the
same bits compiled as eager, signed zeros included. The one exception, a dense layer's
weighted sums run as one matrix product (BLAS's order), is measured to cost no accuracy."""

import math
from fractions import Fraction
from functools import reduce
from operator import add

import numpy as np
import pytest

import tapegrad
from tapegrad import Value, nn


def same_bits(actual, expected):
    """Equal as IEEE doubles: nan matches nan, and 0.0 does not match -0.0."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape
    both_nan = np.isnan(actual) & np.isnan(expected)
    same = (actual == expected) & (np.signbit(actual) == np.signbit(expected))
    bad = ~(both_nan | same)
    assert not bad.any(), f"differs at {np.flatnonzero(bad)}: {actual[bad]} != {expected[bad]}"


def eager_rows(fn, *columns):
    """fn run eagerly on each sample (one Value per argument), its outputs' .data."""
    out = [fn(*[Value(float(c[i])) for c in columns]) for i in range(len(columns[0]))]
    return np.array([o.data for o in out])


def check_bits(fn, *columns):
    """The tape's outputs equal eager's bit for bit, sample by sample."""
    columns = [np.asarray(c, float) for c in columns]
    tape = tapegrad.compile(fn, *[0.0] * len(columns))
    same_bits(tape(*columns), eager_rows(fn, *columns))
    return tape


def test_chain_of_adds_is_not_regrouped():
    """Issue 19: a + b + c at (1, 1e16, -1e16) is 0.0 eager, and was 1.0 compiled."""
    fn = lambda a, b, c: a + b + c  # noqa: E731
    tape = check_bits(fn, [1.0, 1.0], [1e16, 1e16], [-1e16, -1e16])
    assert list(tape(np.array([1.0]), np.array([1e16]), np.array([-1e16]))) == [0.0]


def test_sum_op_adds_left_to_right():
    """Issue 19: tapegrad.sum([a, b, 1e300]) with a = 0.069, b = -1e300 is 0.0 eager, and was
    0.069 compiled."""
    fn = lambda a, b: tapegrad.sum([a, b, 1e300])  # noqa: E731
    tape = check_bits(fn, [0.069], [-1e300])
    assert tape(np.array([0.069]), np.array([-1e300]))[0] == 0.0


def test_right_operand_sum_keeps_its_grouping():
    """a + (b + c) adds b and c first, compiled as eagerly: 1 + (1e16 - 1e16) is 1.0."""
    fn = lambda a, b, c: a + (b + c)  # noqa: E731
    tape = check_bits(fn, [1.0], [1e16], [-1e16])
    assert tape(np.array([1.0]), np.array([1e16]), np.array([-1e16]))[0] == 1.0


def test_sums_mixing_chains_and_sum_nodes():
    """Sums whose left operand is a sum node, sum nodes whose first term is a chain, and
    Python's sum() (which starts at 0), each exactly as eager."""

    def fn(a, b, c):
        s = tapegrad.sum([a + b + c, c, b]) + a  # a sum node as a left operand
        t = tapegrad.sum([b, a + c]) + tapegrad.sum([s])  # one-term sum; right operands
        return sum([t, a, s, c]) + (a + (b + c))

    rng = np.random.default_rng(0)
    cols = [rng.standard_normal(50) * 10.0 ** rng.integers(-20, 20, 50) for _ in range(3)]
    check_bits(fn, *cols)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 9, 40, 300])
def test_long_sums_add_term_by_term(n):
    """Sums of n terms (pairwise summation would regroup from 8 on), with magnitudes from
    1e-20 to 1e20 so that any regrouping shows, per sample and once per call."""
    rng = np.random.default_rng(n)
    ws = [Value(float(v)) for v in rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)]

    def fn(x):
        per_sample = tapegrad.sum([w.exp() * x if k % 2 else w + x for k, w in enumerate(ws)])
        chained = reduce(add, [(x + w) * x for w in ws])  # a chain of +, not a layer
        once = sum(ws)  # parameters only: once per call
        return [per_sample, chained, once, per_sample + once]

    x = rng.standard_normal(7) * 1e10
    tape = tapegrad.compile(fn, 0.0)
    want = np.array([[o.data for o in fn(Value(float(v)))] for v in x])
    same_bits(tape(x), want)


def test_signed_zeros_survive_sums():
    """A sum of -0.0s is -0.0 eagerly (a left fold with no start value), and so compiled."""
    z = [-0.0, -0.0, -0.0]
    check_bits(lambda a: tapegrad.sum([a]), [-0.0, 0.0])
    check_bits(lambda a, b, c: tapegrad.sum([a, b, c]), z, z, z)
    check_bits(lambda a, b, c: a + b + c, z, [0.0, -0.0, 0.0], z)
    check_bits(lambda a, b: sum([a, b]), z[:2], z[:2])  # 0 + -0.0 is 0.0: eager's too


def test_sum_gradients_are_copies_of_g():
    """Every term of a folded sum gets the sum's gradient, bit for bit as eager."""
    ws = [Value(v) for v in (1e300, -1e300, 0.5, -0.0)]

    def fn(x):
        return (tapegrad.sum([ws[0] * x, ws[1], x]) + ws[2] + ws[3]) * (ws[2] + x)

    x = np.array([0.75])
    tape = tapegrad.compile(fn, 0.0)
    for w in ws:
        w.grad = 0.0
    tape.backward(x, reduction="sum")
    got = [w.grad for w in ws]
    for w in ws:
        w.grad = 0.0
    fn(Value(0.75)).backward()
    same_bits(got, [w.grad for w in ws])


# --------------------------------------------------------------------------- the dense layer


def micrograd_layer(ws, bs):
    """micrograd's neurons: sum((wi * xi for ...), b) per neuron, no activation."""
    return lambda x: [
        sum((wi * xi for wi, xi in zip(w, x, strict=True)), b) for w, b in zip(ws, bs, strict=True)
    ]


def test_dense_layers_still_found():
    """The matrix-product path fires for micrograd-style neurons and for tapegrad's nn."""
    rng = np.random.default_rng(1)
    ws = [[Value(float(v)) for v in row] for row in rng.standard_normal((5, 3))]
    bs = [Value(float(v)) for v in rng.standard_normal(5)]
    tape = tapegrad.compile(micrograd_layer(ws, bs), [0.0] * 3)
    assert "dense[5x3]" in tape.instructions
    mlp = tapegrad.compile(nn.MLP(3, [8, 1], seed=0), [0.0] * 3)
    assert [s for s in mlp.instructions if s.startswith("dense")] == ["dense[8x3]", "dense[1x8]"]
    explicit = nn.MLP(3, [8, 1], seed=0, fused=False)
    assert "dense[8x3]" in tapegrad.compile(explicit, [0.0] * 3).instructions


def exact_layer(w, b, x):
    """W x + b with every product and sum exact (fractions), rounded once at the end."""
    out = np.empty((w.shape[0], x.shape[0]))
    for s, row in enumerate(x):
        xs = [Fraction(v) for v in row]
        for j, (wj, bj) in enumerate(zip(w, b, strict=True)):
            out[j, s] = float(
                sum((Fraction(a) * c for a, c in zip(wj, xs, strict=True)), Fraction(bj))
            )
    return out


@pytest.mark.parametrize("seed", range(4))
def test_dense_exception_costs_no_accuracy(seed):
    """The one place the tape adds in another order: a layer's weighted sums as one matrix
    product. Against the exact result, its error is within the worst-case bound of any
    summation order (n * eps * sum |w x|, per entry) and, over the layer, no larger than a
    small multiple of eager's left-to-right error. Tolerance-based: valid for any BLAS."""
    rng = np.random.default_rng(seed)
    n_in, n_out, batch = 48, 24, 16
    w = rng.standard_normal((n_out, n_in)) * 10.0 ** rng.integers(-3, 4, (n_out, n_in))
    b = rng.standard_normal(n_out)
    x = rng.standard_normal((batch, n_in))
    ws = [[Value(float(v)) for v in row] for row in w]
    bs = [Value(float(v)) for v in b]
    fn = micrograd_layer(ws, bs)
    tape = tapegrad.compile(fn, [0.0] * n_in)
    assert f"dense[{n_out}x{n_in}]" in tape.instructions
    compiled = tape(x).T  # (neurons, batch)
    eager = np.array([[o.data for o in fn([Value(float(v)) for v in row])] for row in x]).T
    exact = exact_layer(w, b, x)
    scale = np.abs(w) @ np.abs(x).T + np.abs(b)[:, None]  # sum |w x| + |b|, per entry
    eps = np.finfo(float).eps
    bound = (n_in + 2) * eps * scale
    assert np.all(np.abs(compiled - exact) <= bound)
    assert np.all(np.abs(eager - exact) <= bound)
    err_tape = math.fsum(np.abs(compiled - exact).ravel() / scale.ravel())
    err_eager = math.fsum(np.abs(eager - exact).ravel() / scale.ravel())
    assert err_tape <= 4.0 * err_eager + 1e-3 * eps * exact.size


# --------------------------------------------------------------------------- shared gradients


@pytest.mark.parametrize("seed", range(4))
def test_shared_gradients_cost_no_accuracy(seed):
    """Where many shares of a gradient meet (a parameter used k times in each of a batch of
    samples), the tape adds them in its own order, eager in its walk's. Both are within the
    worst-case bound of summing them, and the tape's error is no larger than a small multiple
    of eager's, against the exact sum of the shares (each share is exact here: c * 1.0)."""
    rng = np.random.default_rng(seed)
    k, batch = 12, 64
    cs = rng.standard_normal((batch, k)) * 10.0 ** rng.integers(-8, 9, (batch, k))
    p = Value(1.0)

    def fn(c):
        terms = [p * ci for ci in c]
        return (terms[0] + terms[1]) + tapegrad.sum(terms[2:7]) + reduce(add, terms[7:])

    tape = tapegrad.compile(fn, [0.0] * k)
    p.grad = 0.0
    tape.backward(cs, reduction="sum")
    compiled = p.grad
    p.grad = 0.0
    reduce(add, [fn([Value(float(v)) for v in row]) for row in cs]).backward()
    eager = p.grad
    exact = math.fsum(cs.ravel())
    scale = math.fsum(np.abs(cs).ravel())
    eps = np.finfo(float).eps
    assert abs(compiled - exact) <= k * batch * eps * scale
    assert abs(eager - exact) <= k * batch * eps * scale
    assert abs(compiled - exact) <= 4.0 * abs(eager - exact) + 4 * eps * scale
