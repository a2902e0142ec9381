"""The fused neuron (the table's variadic `affine` op) and the n-ary `sum` through everything
that walks a graph: the helpers, micrograd's order of additions, `_prev` and `_backward()` by
hand, higher order, anomaly mode, pictures, the compiled tape and PyTorch."""

from __future__ import annotations

import functools
import operator
import random

import numpy as np
import pytest

import tapegrad
from tapegrad import AnomalyError, Value, detect_anomaly, grad, losses
from tapegrad.nn import MLP, Neuron


def micrograd_order(ws, xs, b):
    """b + w0*x0 + w1*x1 + ..., one addition after another: micrograd's sum((w*x ...), b)."""
    out = b
    for w, x in zip(ws, xs, strict=True):
        out = out + w * x
    return out


def test_dot_is_one_node_added_in_micrograds_order():
    rng = random.Random(0)
    for n in (1, 2, 16, 100):
        ws, xs = [rng.uniform(-1, 1) for _ in range(n)], [rng.uniform(-3, 3) for _ in range(n)]
        b = rng.uniform(-1, 1)
        out = tapegrad.dot([Value(w) for w in ws], [Value(x) for x in xs], Value(b))
        assert out._op == "affine" and len(out._prev) == 2 * n + 1
        assert out.data == micrograd_order(ws, xs, b)  # bit for bit, on Python 3.12 too
        assert tapegrad.dot(ws, xs, b) == out.data  # numbers alone: a float


def test_dot_matches_micrograds_own_neuron_bit_for_bit(micrograd):
    MValue = micrograd.engine.Value
    rng = random.Random(1)
    ws, xs = [rng.uniform(-1, 1) for _ in range(16)], [rng.uniform(-3, 3) for _ in range(16)]
    theirs = sum((MValue(w) * MValue(x) for w, x in zip(ws, xs, strict=True)), MValue(0.25))
    assert tapegrad.dot(list(map(Value, ws)), list(map(Value, xs)), 0.25).data == theirs.data


def test_sum_is_one_node_and_edge_cases():
    xs = [Value(v) for v in (0.1, 0.2, 0.3, 0.4)]
    out = tapegrad.sum(xs)
    assert out._op == "sum" and out._prev == tuple(xs)
    assert out.data == ((0.1 + 0.2) + 0.3) + 0.4
    out.backward()
    assert [x.grad for x in xs] == [1.0] * 4
    assert tapegrad.sum([]) == 0.0
    one = tapegrad.sum([xs[0]])  # a node with one child, two, three: all backpropagate
    two = tapegrad.sum(xs[:2])
    (one * two).backward()
    # d(one * two)/dx0 = two + one = 0.3 + 0.1, /dx1 = one = 0.1, after the 1s from above
    assert xs[0].grad == pytest.approx(1.4) and xs[1].grad == pytest.approx(1.1)
    b = Value(2.0)
    lone = tapegrad.dot([], [], b)  # no inputs: just the bias
    lone.backward()
    assert lone.data == 2.0 and b.grad == 1.0
    with pytest.raises(ValueError, match="as many weights as inputs, got 2 and 1"):
        tapegrad.dot([1.0, 2.0], [Value(1.0)])


def test_prev_and_backward_by_hand():
    w, x, b = [Value(2.0), Value(-3.0)], [Value(0.5), Value(4.0)], Value(1.0)
    out = tapegrad.dot(w, x, b)
    assert out._prev == (*w, *x, b)
    out.grad = 2.0
    out._backward()  # the lecture's step, by hand: x.grad into w, w.grad into x, grad into b
    assert [v.grad for v in w] == [1.0, 8.0]
    assert [v.grad for v in x] == [4.0, -6.0]
    assert b.grad == 2.0


def test_higher_order_through_a_fused_neuron():
    def f(x):  # x*x + 2*x + 1 = (x + 1)**2, as one affine node
        return tapegrad.dot([x, x], [x, 2.0], 1.0)

    assert grad(f)(3.0) == 8.0
    assert grad(grad(f))(3.0) == 2.0
    x = Value(3.0)
    y = f(x)
    y.backward(create_graph=True)
    dx = x.grad
    assert isinstance(dx, Value) and dx.data == 8.0
    x.grad = 0.0
    dx.backward()
    assert x.grad == 2.0
    assert tapegrad.gradcheck(lambda a, b, c: tapegrad.dot([a, b], [b, c], a) ** 2, 0.3, -1.2, 2.0)


def test_anomaly_names_the_neurons_scope():
    model = MLP(2, [3, 1], seed=0)
    model.layers[0].neurons[1].w[0].data = 1e308
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        model([10.0, 1.0])
    message = str(caught.value)
    assert "op 'affine' in layers.0.neurons.1 gave inf" in message
    wide = Neuron(20, seed=0)
    wide.w[3].data = 1e308
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"\.\.\. 41 inputs"):
        wide([10.0] * 20)


def test_pictures_label_a_fused_neuron_and_collapse_groups_it():
    model = MLP(2, [16, 1], seed=0)
    out = model([0.5, -1.0])
    text = tapegrad.format_graph(out, max_lines=3)
    assert text.splitlines()[0].startswith("#1 [Σ w·x + b (16 inputs)]")
    assert "[sum w*x + b (16 inputs)]" in tapegrad.format_graph(out, max_lines=3, ascii=True)
    pic = tapegrad.draw_dot(out)
    assert "Σ w·x + b (2 inputs)" in pic.source and "Σ w·x + b (16 inputs)" in pic.source
    by_neuron = tapegrad.draw_dot(out, collapse="neuron").scene.nodes
    fields = {n.fields[0]: n.fields for n in by_neuron}
    # a hidden neuron: weights, bias, its affine node and its relu
    assert fields["layers.0.neurons.3"][1:3] == ("5 values, 2 ops", "in 2, out 1")
    assert len(tapegrad.draw_dot(out, collapse="layer").scene.nodes) < 10


def test_print_model_and_checkpoints_do_not_change(tmp_path):
    fused, explicit = MLP(2, [4, 1], seed=5), MLP(2, [4, 1], seed=5, fused=False)
    assert repr(fused) == "MLP(2, [4, 1], act='relu')"
    assert list(fused.state_dict()) == list(explicit.state_dict())
    path = tmp_path / "m.json"
    tapegrad.save(explicit, path)
    loaded = tapegrad.load(path)
    assert loaded.state_dict() == fused.state_dict()
    assert loaded([0.5, 0.25]).data == fused([0.5, 0.25]).data


def _eager_and_compiled(model, X, y):
    def loss_fn(x, t):
        return losses.hinge(model(x), t) + losses.l2(model, 1e-3)

    eager = []
    model.zero_grad()
    total = losses.mean([loss_fn(list(map(Value, row)), t) for row, t in zip(X, y, strict=True)])
    total.backward()
    eager = [p.grad for p in model.parameters()]
    model.zero_grad()
    tape = tapegrad.compile(loss_fn, [0.0, 0.0, 0.0], 1.0)
    out = tape.backward(np.array(X), np.array(y))
    return total.data, eager, float(np.mean(out)), [p.grad for p in model.parameters()], tape


@pytest.mark.parametrize("fused", [True, False])
def test_eager_equals_compiled_and_layers_are_matrix_products(fused):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(25, 3)).tolist(), np.where(rng.random(25) < 0.5, -1.0, 1.0).tolist()
    model = MLP(3, [8, 5, 1], seed=2, fused=fused)
    e_loss, e_grads, t_loss, t_grads, tape = _eager_and_compiled(model, X, y)
    assert t_loss == pytest.approx(e_loss, rel=1e-12)
    np.testing.assert_allclose(t_grads, e_grads, rtol=1e-12, atol=1e-15)
    assert [i for i in tape.instructions if i.startswith("dense")] == [
        "dense[8x3]",
        "dense[5x8]",
        "dense[1x5]",
    ]


def test_affine_nodes_that_are_not_layers_take_the_generic_path():
    w = [Value(0.5), Value(-2.0)]

    def fn(x):  # weights that depend on the input: not a layer, still the table's rules
        return tapegrad.dot([x[0] * w[0], x[1]], [x[1], w[1]], x[0]) + tapegrad.sum([x[0], *w])

    tape = tapegrad.compile(fn, [1.0, 1.0])
    assert not any(i.startswith("dense") for i in tape.instructions)
    X = np.array([[0.5, 1.5], [-1.0, 2.0], [3.0, 0.25]])
    for p in w:
        p.grad = 0.0
    out = tape.backward(X, reduction="sum")
    got = [p.grad for p in w]
    for p in w:
        p.grad = 0.0
    eager = functools.reduce(operator.add, [fn([Value(a), Value(b)]) for a, b in X.tolist()])
    eager.backward()
    assert float(out.sum()) == pytest.approx(eager.data, rel=1e-12)
    assert got == pytest.approx([p.grad for p in w], rel=1e-12)


def test_to_torch_of_a_fused_model(torch):
    model = MLP(2, [6, 3], act="tanh", seed=4)
    net = tapegrad.to_torch(model)
    x = [0.3, -0.7]
    want = net(torch.tensor(x, dtype=torch.float64)).tolist()
    assert [v.data for v in model(x)] == pytest.approx(want, rel=1e-12)
