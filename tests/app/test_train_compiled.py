"""fit(compile=True) and the CLI's compiled default give eager's numbers, far faster."""

import json

import numpy as np
import pytest
from references import require

from tapegrad.cli import main
from tapegrad.data import blobs, moons, spiral
from tapegrad.nn import MLP
from tapegrad.optim import SGD, Adam, linear
from tapegrad.train import evaluate, fit, outputs, predict


def _close(a, b, rel=1e-9):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.allclose(a, b, rtol=rel, atol=rel * max(1.0, np.abs(b).max()))


def _both(make_data, nouts, loss, opt, **kw):
    """Train the same seeded model eagerly and compiled; return [(history, model)] * 2."""
    X, y = make_data()
    act = kw.pop("act", "relu")
    runs = []
    for compile in (False, True):
        model = MLP(X.shape[1], nouts, act=act, seed=3)
        hist = fit(
            model,
            X,
            y,
            loss=loss,
            optimizer=opt(model),
            progress=False,
            compile=compile,
            seed=5,
            **kw,
        )
        runs.append((hist, model))
    return runs


@pytest.mark.parametrize(
    "make_data, nouts, loss, opt, kw",
    [
        (
            lambda: moons(60, noise=0.1, seed=1),
            [8, 1],
            "hinge",
            lambda m: SGD(m.parameters(), lr=linear(1.0, 0.1, 15)),
            {"steps": 15, "l2": 1e-4},
        ),
        (
            lambda: moons(60, noise=0.1, seed=2),
            [8, 1],
            "bce",
            lambda m: Adam(m.parameters(), lr=0.02),
            {"epochs": 3, "batch_size": 16},
        ),
        (
            lambda: spiral(20, classes=3, seed=3),
            [8, 3],
            "softmax_ce",
            lambda m: Adam(m.parameters(), lr=0.02),
            {"steps": 12, "batch_size": 25, "l2": 1e-3},
        ),
        (
            lambda: blobs(50, seed=4),
            [6, 1],
            "mse",
            lambda m: SGD(m.parameters(), lr=0.05, momentum=0.9),
            {"steps": 10, "act": "tanh"},
        ),
    ],
)
def test_compiled_history_equals_eager(make_data, nouts, loss, opt, kw):
    (eager, m_eager), (compiled, m_comp) = _both(make_data, nouts, loss, opt, **kw)
    assert len(eager) == len(compiled)
    assert _close(compiled.loss, eager.loss)
    assert compiled.accuracy == eager.accuracy
    assert _close([p.data for p in m_comp.parameters()], [p.data for p in m_eager.parameters()])


def test_compiled_validation_and_evaluation_equal_eager():
    X, y = spiral(30, classes=3, seed=7)
    model = MLP(2, [10, 3], seed=1)
    fit(
        model,
        X,
        y,
        loss="softmax_ce",
        steps=20,
        optimizer=Adam(model.parameters(), lr=0.05),
        progress=False,
        compile=True,
    )
    eager, comp = evaluate(model, X, y, "softmax_ce"), evaluate(model, X, y, "softmax_ce", True)
    assert comp["accuracy"] == eager["accuracy"]
    assert comp["loss"] == pytest.approx(eager["loss"], rel=1e-12)
    assert _close(outputs(model, X, compile=True), outputs(model, X), rel=1e-12)
    assert (predict(model, X, "softmax_ce", compile=True) == predict(model, X, "softmax_ce")).all()


def test_demo_compiled_reproduces_micrograd_numbers(tmp_path):
    """micrograd's demo ends at loss 0.010978 and 100 % accuracy; the compiled run must too."""
    from tapegrad.commands.demo import demo_setup

    X, y, model, optimizer = demo_setup(100)
    hist = fit(
        model,
        X,
        y,
        loss="hinge",
        optimizer=optimizer,
        steps=100,
        l2=1e-4,
        progress=False,
        compile=True,
    )
    assert hist.loss[0] == pytest.approx(0.8958441028683222, rel=1e-12)
    assert hist.loss[-1] == pytest.approx(0.010978370135492717, rel=1e-9)
    assert hist.accuracy[-1] == 1.0


def test_cli_digits_reaches_97_percent_on_held_out_split(tmp_path, capsys):
    require("sklearn")
    code = main(
        [
            "train",
            "--data",
            "digits",
            "--hidden",
            "64",
            "--act",
            "tanh",
            "--loss",
            "softmax_ce",
            "--optim",
            "adam",
            "--lr",
            "0.01",
            "--epochs",
            "30",
            "--batch-size",
            "32",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    test_line = next(line for line in printed.splitlines() if line.startswith("test"))
    accuracy = float(test_line.rsplit("accuracy", 1)[1].strip().rstrip("%")) / 100
    assert accuracy >= 0.97
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["val_accuracy"][-1] >= 0.97
