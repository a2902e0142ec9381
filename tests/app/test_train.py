"""The training loop: micrograd's demo step for step, the objective and its gradients against
PyTorch float64, the lecture's toy fit, batching, validation, labels, predict and errors."""

from __future__ import annotations

import gc
import json
import math
import random

import numpy as np
import pytest
from references import require

from tapegrad import is_grad_enabled
from tapegrad.nn import MLP
from tapegrad.optim import SGD, linear
from tapegrad.train import History, evaluate, fit, loss_and_grad, outputs, predict

torch = require("torch")


# --- references ------------------------------------------------------------------------------


def weights(model):
    """(W, b) per layer as NumPy arrays, read off the neurons' parameters."""
    return [
        (
            np.array([[w.data for w in n.w] for n in layer.neurons]),
            np.array([n.b.data for n in layer.neurons]),
        )
        for layer in model.layers
    ]


ACTS = {
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "linear": lambda z: z,
}


def np_forward(model, X):
    h = np.asarray(X, dtype=np.float64)
    layers = weights(model)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if i < len(layers) - 1:
            h = ACTS[model.act](h)
    return h[:, 0] if h.shape[1] == 1 else h


def torch_objective(model, X, targets, loss, alpha):
    """PyTorch float64: the objective, the outputs, and the gradient of every parameter in
    tapegrad's parameter order (layer by layer, neuron by neuron, weights then bias)."""
    F = torch.nn.functional
    params = []
    h = torch.tensor(np.asarray(X), dtype=torch.float64)
    n_layers = len(model.layers)
    for i, (W, b) in enumerate(weights(model)):
        W = torch.tensor(W, requires_grad=True)
        b = torch.tensor(b, requires_grad=True)
        params.append((W, b))
        h = h @ W.T + b
        if i < n_layers - 1:
            h = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[model.act](h)
    if loss == "softmax_ce":
        per = F.cross_entropy(h, torch.tensor(targets), reduction="none")
    else:
        s = h[:, 0]
        t = torch.tensor(targets, dtype=torch.float64)
        per = {
            "hinge": lambda: torch.relu(1 - t * s),
            "mse": lambda: (s - t) ** 2,
            "bce": lambda: F.binary_cross_entropy_with_logits(s, t, reduction="none"),
        }[loss]()
    total = per.mean() + alpha * sum((W**2).sum() + (b**2).sum() for W, b in params)
    total.backward()
    grads = []
    for W, b in params:
        for j in range(W.shape[0]):
            grads += W.grad[j].tolist() + [b.grad[j].item()]
    return total.item(), h.detach().numpy(), grads


# --- micrograd's demo ------------------------------------------------------------------------


def micrograd_demo(steps):
    """micrograd 0.1.0 running its own demo.ipynb training cells (full batch): each step's
    (loss, accuracy), and the weights after each step."""
    from micrograd.engine import Value
    from micrograd.nn import MLP as MicroMLP
    from sklearn.datasets import make_moons

    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    y = y * 2 - 1
    model = MicroMLP(2, [16, 16, 1])

    def loss():
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]  # noqa: B905
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]  # noqa: B905
        return total_loss, sum(accuracy) / len(accuracy)

    record, weights = [], []
    for k in range(steps):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        record.append((float(total_loss.data), float(acc)))
        weights.append([p.data for p in model.parameters()])
        _free_micrograd_graph(total_loss)
    return record, weights


def _free_micrograd_graph(root) -> None:
    """Break the reference cycle in each node of a micrograd graph (its `_backward` closure
    refers to the node itself), so reference counting frees the graph with the collector off."""
    stack, seen = [root], {id(root)}
    while stack:
        node = stack.pop()
        if node._prev:  # a leaf's (a weight's) closure refers to nothing: keep it
            node._backward = None
        for child in node._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)


@pytest.fixture(scope="module")
def micrograd_100_steps():
    """micrograd's whole demo run (100 steps), run once for the tests that compare with it."""
    require("micrograd.engine")
    require("sklearn.datasets")
    py_state, np_state = random.getstate(), np.random.get_state()
    gc.disable()  # micrograd's graphs are reference cycles (broken after each step)
    try:
        return micrograd_demo(100)
    finally:
        gc.enable()
        random.setstate(py_state)
        np.random.set_state(np_state)


def test_demo_first_steps_equal_micrograd(micrograd_100_steps):
    from tapegrad.commands.demo import demo_setup

    reference, ref_weights = micrograd_100_steps[0][:3], micrograd_100_steps[1][2]
    X, y, model, optimizer = demo_setup(100)
    h = fit(model, X, y, loss="hinge", optimizer=optimizer, steps=3, l2=1e-4, progress=False)
    for k, (loss, acc) in enumerate(reference):
        assert h.loss[k] == pytest.approx(loss, rel=1e-9, abs=1e-9), k
        assert h.accuracy[k] == acc, k
    assert h.lr == [1.0 - 0.9 * k / 100 for k in range(3)]
    np.testing.assert_allclose([p.data for p in model.parameters()], ref_weights, atol=1e-9)


def test_demo_trajectory_equals_micrograd_for_all_100_steps(micrograd_100_steps):
    """The whole demo, eager, with fused neurons (the default): every step's loss to 1e-9
    relative and its accuracy exactly, and the final weights, as micrograd 0.1.0 gives them."""
    from tapegrad.commands.demo import demo_setup

    reference, ref_weights = micrograd_100_steps
    X, y, model, optimizer = demo_setup(100)
    assert all(n.fused for layer in model.layers for n in layer.neurons)
    h = fit(model, X, y, loss="hinge", optimizer=optimizer, steps=100, l2=1e-4, progress=False)
    assert len(h.loss) == 100
    for k, (loss, acc) in enumerate(reference):
        assert h.loss[k] == pytest.approx(loss, rel=1e-9), k
        assert h.accuracy[k] == acc, k
    np.testing.assert_allclose([p.data for p in model.parameters()], ref_weights[-1], atol=1e-9)


# --- the objective and its gradients vs PyTorch ----------------------------------------------


def small_problem(loss, nout=1, act="relu", n=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    model = MLP(3, [5, 4, nout], act=act, seed=seed)
    if loss == "softmax_ce":
        y = rng.integers(0, nout, size=n)
        return model, X, y, y.tolist()
    if loss == "mse":
        y = rng.normal(size=n)
        return model, X, y, y.tolist()
    y = rng.integers(0, 2, size=n)
    return model, X, y, ((2 * y - 1) if loss == "hinge" else y).tolist()


@pytest.mark.parametrize(
    "loss, nout, act, alpha",
    [
        ("hinge", 1, "relu", 1e-4),
        ("mse", 1, "tanh", 0.0),
        ("bce", 1, "sigmoid", 1e-2),
        ("softmax_ce", 3, "relu", 1e-3),
    ],
)
def test_loss_and_grad_matches_torch(loss, nout, act, alpha):
    model, X, y, targets = small_problem(loss, nout, act)
    want_loss, want_out, want_grads = torch_objective(model, X, targets, loss, alpha)
    step = loss_and_grad(model, loss, alpha)
    for _ in range(2):  # gradients are zeroed each call, not accumulated
        value, outs = step(X.tolist(), targets)
        assert value == pytest.approx(want_loss, rel=1e-12)
        np.testing.assert_allclose(np.array(outs).reshape(want_out.shape), want_out, rtol=1e-12)
        np.testing.assert_allclose(
            [p.grad for p in model.parameters()], want_grads, rtol=1e-10, atol=1e-13
        )


def test_first_history_entry_is_the_objective_before_the_update():
    model, X, y, targets = small_problem("hinge")
    want_loss, _, _ = torch_objective(model, X, targets, "hinge", 1e-3)
    scores = np_forward(model, X)
    h = fit(model, X, y, optimizer=SGD(model, lr=0.1), steps=2, l2=1e-3, progress=False)
    assert h.loss[0] == pytest.approx(want_loss, rel=1e-12)
    assert h.accuracy[0] == np.mean((scores > 0) == (y == 1))
    assert h.unit == "step" and len(h) == 2 and h.lr == [0.1, 0.1]


# --- the lecture's toy problem ---------------------------------------------------------------


def test_lecture_tanh_mlp_fits_the_toy_set():
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    model = MLP(3, [4, 4, 1], act="tanh", seed=0)
    h = fit(model, xs, ys, loss="mse", optimizer=SGD(model, lr=0.2), steps=150, progress=False)
    pred = np_forward(model, xs)
    assert np.mean((pred - np.array(ys)) ** 2) < 0.01
    assert evaluate(model, xs, ys, loss="mse")["loss"] < 0.01
    assert h.accuracy[-1] == 1.0  # signs right, the lecture's reading of mse on -1/+1
    assert h.loss[-1] < h.loss[0]


# --- batches, epochs, validation -------------------------------------------------------------


class Spy:
    """A model wrapper that records every row it is called on, and whether grad was on."""

    def __init__(self, model):
        self.model, self.nin, self.nouts, self.calls = model, model.nin, model.nouts, []

    def parameters(self):
        return self.model.parameters()

    def __call__(self, x):
        self.calls.append((tuple(x), is_grad_enabled()))
        return self.model(x)


def test_epochs_visit_every_row_once_in_batches():
    X = np.arange(20.0).reshape(10, 2) / 10
    y = np.array([0, 1] * 5)
    spy = Spy(MLP(2, [3, 1], seed=1))
    opt = SGD(spy, lr=linear(0.5, 0.05, 8))
    h = fit(spy, X, y, optimizer=opt, epochs=2, batch_size=3, seed=4, progress=False)
    assert h.unit == "epoch" and len(h) == 2
    assert opt.step_count == 8  # ceil(10 / 3) batches per epoch
    assert h.lr == [linear(0.5, 0.05, 8)(3), linear(0.5, 0.05, 8)(7)]
    seen = [row for row, grad_on in spy.calls if grad_on]
    rows = sorted(map(tuple, X.tolist()))
    assert sorted(seen[:10]) == rows and sorted(seen[10:]) == rows
    assert seen[:10] != seen[10:]  # reshuffled between epochs


def test_steps_draw_seeded_batches_without_repeats():
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    runs = []
    for seed in (7, 7, 8):
        spy = Spy(MLP(2, [3, 1], seed=1))
        fit(spy, X, y, optimizer=SGD(spy, lr=0.1), steps=4, batch_size=5, seed=seed, progress=False)
        runs.append([row for row, _ in spy.calls])
    assert len(runs[0]) == 20
    for k in range(4):
        assert len(set(runs[0][5 * k : 5 * k + 5])) == 5
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_validation_is_measured_after_each_update_without_grad():
    model, X, y, _ = small_problem("hinge", n=20)
    Xv, yv = X[:6] + 0.1, y[:6]
    spy = Spy(model)
    h = fit(spy, X, y, optimizer=SGD(model, lr=0.1), steps=3, validation=(Xv, yv), progress=False)
    assert len(h.val_loss) == len(h.val_accuracy) == 3
    assert sum(1 for _, grad_on in spy.calls if not grad_on) == 3 * 6
    final = evaluate(model, Xv, yv, loss="hinge")
    assert h.val_loss[-1] == final["loss"] and h.val_accuracy[-1] == final["accuracy"]
    scores = np_forward(model, Xv)
    assert final["loss"] == pytest.approx(np.mean(np.maximum(0, 1 - (2 * yv - 1) * scores)))


def test_validation_every_few_steps_and_always_at_the_end():
    model, X, y, _ = small_problem("hinge", n=10)
    spy = Spy(model)
    h = fit(
        spy,
        X,
        y,
        optimizer=SGD(model, lr=0.1),
        steps=4,
        validation=(X, y),
        eval_every=2,
        progress=False,
    )
    measured = [v is not None for v in h.val_loss]
    assert measured == [True, False, True, True]
    assert [v is not None for v in h.val_accuracy] == measured
    assert sum(1 for _, grad_on in spy.calls if not grad_on) == 3 * 10
    assert h.val_loss[-1] == evaluate(model, X, y)["loss"]


# --- labels ----------------------------------------------------------------------------------


def test_hinge_and_bce_accept_either_label_coding():
    model, X, y, _ = small_problem("hinge")
    runs = []
    for loss, labels in [("hinge", y), ("hinge", 2 * y - 1), ("bce", y), ("bce", 2 * y - 1)]:
        m = MLP(3, [5, 4, 1], seed=0)
        runs.append(fit(m, X, labels, loss=loss, optimizer=SGD(m, lr=0.1), steps=2, progress=False))
    assert runs[0].loss == runs[1].loss and runs[2].loss == runs[3].loss


@pytest.mark.parametrize(
    "loss, y, pattern",
    [
        ("hinge", [0, 1, 2, 1], r"hinge needs two classes labelled 0/1 or -1/\+1, got \{0, 1, 2\}"),
        ("bce", [0, 3, 1, 1], r"bce needs labels 0/1"),
        ("softmax_ce", [0, 1.5, 1, 1], r"softmax_ce needs class indices"),
        ("hinge", [0, 1, 1], r"X has 4 rows but y has 3 labels"),
        ("nope", [0, 1, 1, 0], r"unknown loss 'nope': expected one of hinge, mse, bce, softmax_ce"),
    ],
)
def test_bad_labels_and_losses_are_named(loss, y, pattern):
    model = MLP(2, [3, 1], seed=0)
    with pytest.raises(ValueError, match=pattern):
        fit(model, np.zeros((4, 2)), y, loss=loss, steps=1, progress=False)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(steps=2, epochs=2), "give steps or epochs, not both"),
        (dict(steps=0), "steps must be a positive int"),
        (dict(batch_size=-1), "batch_size must be a positive int"),
        (dict(l2=-1.0), "l2 must be a finite number >= 0"),
        (dict(loss="softmax_ce"), "softmax_ce needs one output per class"),
        (dict(validation=(np.zeros((2, 2)),)), r"validation must be a pair"),
    ],
)
def test_bad_arguments_are_named(kwargs, pattern):
    model = MLP(2, [3, 1], seed=0)
    with pytest.raises(ValueError, match=pattern):
        fit(model, np.zeros((4, 2)), [0, 1, 1, 0], progress=False, **kwargs)


def test_feature_count_must_match_the_model():
    with pytest.raises(ValueError, match="X has 3 features but the model takes 2 inputs"):
        fit(MLP(2, [3, 1], seed=0), np.zeros((4, 3)), [0, 1, 1, 0], steps=1, progress=False)


# --- using the model -------------------------------------------------------------------------


def test_predict_reads_outputs_per_loss():
    model, X, _, _ = small_problem("softmax_ce", nout=3)
    raw = np_forward(model, X)
    np.testing.assert_allclose(outputs(model, X), raw, rtol=1e-12)
    np.testing.assert_array_equal(predict(model, X, loss="softmax_ce"), np.argmax(raw, axis=1))
    binary = MLP(3, [4, 1], seed=2)
    scores = np_forward(binary, X)
    np.testing.assert_array_equal(predict(binary, X, loss="hinge"), (scores > 0).astype(int))
    np.testing.assert_array_equal(predict(binary, X, loss="bce"), (scores > 0).astype(int))
    np.testing.assert_allclose(predict(binary, X, loss="mse"), scores, rtol=1e-12)


def test_default_optimizer_trains():
    X = np.random.default_rng(3).normal(size=(40, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = MLP(2, [8, 1], seed=3)
    h = fit(model, X, y, steps=60, progress=False)
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert evaluate(model, X, y)["accuracy"] >= 0.9


# --- history and progress --------------------------------------------------------------------


def test_history_to_dict_is_json_and_round_trips():
    h = History(loss=[1.0, math.nan], accuracy=[0.5, None], lr=[0.1, 0.1], seconds=2.0)
    d = json.loads(json.dumps(h.to_dict(), allow_nan=False))
    assert d["loss"] == [1.0, None] and d["accuracy"] == [0.5, None] and d["unit"] == "step"
    assert History.from_dict(d).lr == [0.1, 0.1]


@pytest.mark.parametrize("compile_", [False, True])
def test_history_times_each_entry_from_the_runs_start(compile_):
    """`elapsed` has one number per entry, growing, from the run's start (the first entry's
    includes recording the tape) to no later than the run's end, validation included; it
    round-trips through to_dict."""
    model, X, y, _ = small_problem("hinge")
    h = fit(model, X, y, epochs=3, batch_size=4, validation=(X, y), progress=False,
            compile=compile_)  # fmt: skip
    assert len(h.elapsed) == len(h) == 3
    assert 0.0 < h.elapsed[0] < h.elapsed[1] < h.elapsed[2] <= h.seconds
    assert History.from_dict(json.loads(json.dumps(h.to_dict()))).elapsed == h.elapsed


def test_progress_bar_shows_loss_and_accuracy(capsys):
    model, X, y, _ = small_problem("hinge")
    fit(model, X, y, optimizer=SGD(model, lr=0.1), steps=2, progress="bar")
    err = capsys.readouterr().err
    assert "2/2" in err and "loss=" in err and "acc=" in err
    fit(model, X, y, optimizer=SGD(model, lr=0.1), steps=2, progress=False)
    assert capsys.readouterr().err == ""
