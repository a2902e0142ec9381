"""A model's layer runs as one matrix product forward and one for its weights' and biases'
gradients: the bias is read as one more weight, on a row of ones the layout puts right after
the layer's inputs. Where a layer cannot (its inputs are not one run of rows, its weights are
not one block), it keeps the separate bias add. Either way, eager's numbers (to 1e-12: a matrix
product adds in BLAS's order)."""

import numpy as np
import pytest
from eager_sums import eager_sums

import tapegrad
from tapegrad import Value, nn
from tapegrad.tape.instructions import Dense


def layers(tape):
    """The tape's dense layers, in run order."""
    return [ins for ins in tape._replay.prog.per_sample if isinstance(ins, Dense)]


def assert_matches_eager(tape, fn, params, columns, one_list=False):
    """The tape's outputs and summed gradients are eager's, to 1e-12 (`one_list`: fn takes the
    columns as one list argument)."""
    want, grads = eager_sums((lambda *x: fn(list(x))) if one_list else fn, params, columns)
    for p in params:
        p.grad = 0.0
    batch = [np.stack(columns, axis=1)] if one_list else columns
    outs = tape.backward(*batch, reduction="sum")
    assert outs == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert [p.grad for p in params] == pytest.approx(grads, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("act", ["relu", "tanh", "linear"])
@pytest.mark.parametrize("batch", [1, 7, 100])
@pytest.mark.parametrize("fused", [True, False])
def test_a_models_layers_fold_their_biases_into_one_product(act, batch, fused):
    """Every layer of an MLP (whatever its hidden activation, a linear one reading the layer
    before directly; fused neurons or micrograd's explicit sums) folds its biases into its
    product, and a loss over the outputs and a target (another argument) gives eager's
    numbers and gradients at batch 1, 7 and 100."""
    model = nn.MLP(3, [6, 5, 2], act=act, seed=3, fused=fused)

    def fn(x0, x1, x2, t):  # products with t: `o - t` would make t an input of the last layer
        return tapegrad.sum([o * t for o in model([x0, x1, x2])]).tanh()

    tape = tapegrad.compile(fn, 0.0, 0.0, 0.0, 0.0)
    assert [d.describe() for d in layers(tape)] == ["dense[6x3]", "dense[5x6]", "dense[2x5]"]
    assert all(d.folds_bias for d in layers(tape))
    columns = list(np.random.default_rng(batch).normal(size=(4, batch)))
    assert_matches_eager(tape, fn, model.parameters(), columns)


def test_replays_after_other_batch_sizes_still_read_ones():
    """Each batch size's buffer gets its own rows of ones: a model replayed at 4, 9, then 4
    again gives value_and_grad's numbers each time, as a fresh tape's."""
    model = nn.MLP(2, [4, 1], seed=5)
    tape = tapegrad.compile(lambda x: model(x), [0.0, 0.0])
    assert all(d.folds_bias for d in layers(tape))
    rng = np.random.default_rng(6)
    for n in [4, 9, 4]:
        X = rng.normal(size=(n, 2))
        got = tape.value_and_grad(X)
        fresh = tapegrad.compile(lambda x: model(x), [0.0, 0.0]).value_and_grad(X)
        np.testing.assert_array_equal(got[0], fresh[0])
        np.testing.assert_array_equal(got[1], fresh[1])


def _layer(ws, bs, xs):
    """A layer written by hand: neuron k is bs[k] + sum_i ws[k][i] * xs[i] (no bias: None)."""
    return [
        tapegrad.sum([w * x for w, x in zip(row, xs, strict=True)] + ([] if b is None else [b]))
        for row, b in zip(ws, bs, strict=True)
    ]


def _params(rng, n, m):
    """An (n, m) weight matrix and n biases, made neuron by neuron as a model makes them."""
    ws, bs = [], []
    for _ in range(n):
        ws.append([Value(float(rng.normal())) for _ in range(m)])
        bs.append(Value(float(rng.normal())))
    return ws, bs


@pytest.mark.parametrize(
    ("case", "folds"),
    [
        ("permuted inputs", {"dense[3x3]": False}),  # its rows are not one increasing run
        ("inputs shared by two layers", {"dense[6x3]": True}),  # one layer: same inputs, biases
        ("inputs shared with a layer without biases", {"dense[3x3]": True, "dense[2x3]": False}),
        ("a suffix of the inputs", {"dense[1x2]": True}),  # the ones row follows its run
        ("a prefix of the inputs", {"dense[1x2]": False}),  # another input follows its run
        ("weights read elsewhere too", {"dense[3x3]": True}),  # backward adds, as before
        ("half of a hidden group", {"dense[6x3]": True, "dense[1x2]": False}),
    ],
)
def test_layers_that_cannot_fold_keep_the_bias_add_and_every_one_matches_eager(case, folds):
    """A layer folds its biases only where its inputs and a row of ones are one run of rows
    and its weights and biases one block; every other layer adds them as before. Either way
    eager's numbers and gradients."""
    rng = np.random.default_rng(11)
    W, B = _params(rng, 3, 3)
    V, C = _params(rng, 3, 3)
    U, D = _params(rng, 1, 2)
    E = [[Value(float(rng.normal())) for _ in range(3)] for _ in range(2)]

    def fn(xs):  # the inputs as one argument: one run of rows
        x0, x1, x2 = xs
        if case == "permuted inputs":
            out = _layer(W, B, [x2, x0, x1])
        elif case == "inputs shared by two layers":
            out = _layer(W, B, xs) + _layer(V, C, xs)
        elif case == "inputs shared with a layer without biases":
            out = _layer(W, B, xs) + _layer(E, [None, None], xs)
        elif case == "a suffix of the inputs":
            out = _layer(U, D, [x1, x2]) + [x0]
        elif case == "a prefix of the inputs":
            out = _layer(U, D, [x0, x1]) + [x2]
        elif case == "weights read elsewhere too":
            out = _layer(W, B, xs) + [W[0][0] * x2]
        else:  # two layers at one level, one tanh group: a third layer reads half of it
            a = [o.tanh() for o in _layer(W, B, xs)]
            b = [o.tanh() for o in _layer(V, C, xs)]
            out = _layer(U, D, a[1:]) + a[:1] + b
        return tapegrad.sum([o * o for o in out])

    params = [p for m in (W, V, U, E) for row in m for p in row] + B + C + D
    columns = list(rng.normal(size=(3, 7)))
    tape = tapegrad.compile(fn, [0.0] * 3)
    assert {d.describe(): d.folds_bias for d in layers(tape)} == folds
    assert_matches_eager(tape, fn, params, columns, one_list=True)
