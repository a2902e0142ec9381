"""The loss table: every loss in `tapegrad.losses.TABLE` is served by fit (eager and compiled),
evaluate, predict, checkpoints and the CLI's --loss choices, so adding a loss is one entry
(plus its value and gradient tests against PyTorch in test_losses.py)."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad import checkpoint, losses
from tapegrad.cli import build_parser
from tapegrad.nn import MLP
from tapegrad.optim import SGD
from tapegrad.train import evaluate, fit, predict

N_CLASSES = 3


def labels(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Labels a loss of this kind takes: two classes, three classes, or numbers."""
    if kind == "binary":
        return rng.integers(0, 2, size=n)
    if kind == "classes":
        return rng.integers(0, N_CLASSES, size=n)
    return rng.normal(size=n)


def np_forward(model: MLP, X: np.ndarray) -> np.ndarray:
    """The MLP's outputs from its weights with NumPy (relu hidden layers, linear last)."""
    h = X
    for i, layer in enumerate(model.layers):
        W = np.array([[w.data for w in n.w] for n in layer.neurons])
        b = np.array([n.b.data for n in layer.neurons])
        h = h @ W.T + b
        if i < len(model.layers) - 1:
            h = np.maximum(h, 0)
    return h[:, 0] if h.shape[1] == 1 else h


def problem(name: str):
    spec = losses.TABLE[name]
    rng = np.random.default_rng(7)
    X = rng.normal(size=(24, 3))
    y = labels(spec.kind, len(X), rng)
    nout = spec.n_outputs(N_CLASSES if spec.kind == "classes" else None)
    return X, y, nout


def test_every_record_is_complete():
    assert set(losses.LOSSES) == set(losses.TABLE)
    for name, spec in losses.TABLE.items():
        assert spec.name == name and losses.LOSSES[name] is spec.fn
        assert spec.kind in losses.KINDS
        assert losses.lookup(name) is spec
    for kind in losses.KINDS:  # the CLI picks exactly one loss per kind
        defaults = [s.name for s in losses.TABLE.values() if s.kind == kind and s.default]
        assert defaults == [losses.default_loss(kind)]


@pytest.mark.parametrize("name", list(losses.TABLE))
def test_fit_eager_and_compiled_agree(name):
    X, y, nout = problem(name)
    runs = []
    for compile in (False, True):
        model = MLP(3, [5, nout], seed=1)
        opt = SGD(model, lr=0.05)
        h = fit(model, X, y, loss=name, optimizer=opt, steps=3, progress=False, compile=compile)
        runs.append((h, [p.data for p in model.parameters()]))
    (eager, w_eager), (taped, w_taped) = runs
    assert len(eager) == len(taped) == 3
    np.testing.assert_allclose(taped.loss, eager.loss, rtol=1e-9)
    assert taped.accuracy == pytest.approx(eager.accuracy, abs=1e-12)
    np.testing.assert_allclose(w_taped, w_eager, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(losses.TABLE))
@pytest.mark.parametrize("compile", [False, True])
def test_predict_and_evaluate_read_outputs_as_the_kind_says(name, compile):
    X, y, nout = problem(name)
    model = MLP(3, [5, nout], seed=2)
    raw = np_forward(model, X)
    expected = {
        "binary": (raw > 0).astype(int),
        "classes": np.argmax(raw, axis=-1),
        "regression": raw,
    }[losses.TABLE[name].kind]
    np.testing.assert_allclose(predict(model, X, loss=name, compile=compile), expected, rtol=1e-9)
    result = evaluate(model, X, y, loss=name, compile=compile)
    assert np.isfinite(result["loss"])
    assert result["accuracy"] is None or 0 <= result["accuracy"] <= 1


@pytest.mark.parametrize("name", list(losses.TABLE))
def test_checkpoints_remember_every_loss(name, tmp_path):
    path = tmp_path / "model.json"
    tapegrad.save(MLP(2, [1], seed=0), path, loss=name)
    assert checkpoint.load_training(path)[0] == name


@pytest.mark.parametrize("command", ["train", "predict"])
def test_cli_offers_every_loss(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    option = next(a for a in sub._actions if a.dest == "loss")
    assert tuple(option.choices) == tuple(losses.TABLE)


def test_unknown_loss_is_named_everywhere():
    model = MLP(2, [1], seed=0)
    X, y = np.zeros((2, 2)), [0, 1]
    for call in (
        lambda: fit(model, X, y, loss="svm", progress=False),
        lambda: predict(model, X, loss="svm"),
        lambda: evaluate(model, X, y, loss="svm"),
        lambda: losses.accuracy([1.0], [1], "svm"),
    ):
        with pytest.raises(ValueError, match="unknown loss 'svm': expected one of hinge"):
            call()
