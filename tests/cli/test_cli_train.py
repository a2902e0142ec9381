"""`tapegrad demo`, `tapegrad train` and `tapegrad predict` end to end in temporary directories:
files that are what they claim, accuracy checked with an independent NumPy forward pass,
and bad options that say what is allowed."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import tapegrad
from tapegrad.cli import main
from tapegrad.data import moons

PNG = b"\x89PNG\r\n\x1a\n"


def np_forward(model, X):
    """The MLP's outputs computed with NumPy from its weights (hidden act, linear last)."""
    acts = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}
    h = np.asarray(X, dtype=np.float64)
    for i, layer in enumerate(model.layers):
        W = np.array([[w.data for w in n.w] for n in layer.neurons])
        b = np.array([n.b.data for n in layer.neurons])
        h = h @ W.T + b
        if i < len(model.layers) - 1:
            h = acts[model.act](h)
    return h


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000, path


def test_demo_reaches_the_accuracy_and_writes_its_files(tmp_path):
    # A fresh process, as a user runs it (and without the test process's heap to collect).
    run = subprocess.run(
        [sys.executable, "-m", "tapegrad", "demo", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = tmp_path / "tapegrad-out" / "demo"  # each run in its own folder (issue 11)
    assert_png(out / "decision_boundary.png")
    assert_png(out / "loss.png")
    doc = json.loads((out / "model.json").read_text())
    assert doc["architecture"]["nouts"] == [16, 16, 1]
    assert "<svg" in (out / "neuron.svg").read_text()
    model = tapegrad.load(out / "model.json")
    X, y = moons(100, noise=0.1, seed=1337)
    scores = np_forward(model, X)[:, 0]
    assert np.mean((scores > 0) == (y == 1)) >= 0.97
    text = run.stdout
    assert "step 100:" in text and "accuracy" in text and "neuron.svg" in text


def test_demo_out_and_steps_options(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--steps", "2", "--no-progress"]) == 0
    assert "step 2:" in capsys.readouterr().out  # the last step, counted from 1
    assert_png(tmp_path / "d" / "loss.png")


def write_csv(path, X, y, header=True):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(["a", "b", "target"])
        for row, label in zip(X.tolist(), y.tolist(), strict=True):
            w.writerow([*row, label])


def test_train_on_moons_prints_metrics_and_saves(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", "moons", "--hidden", "8", "--steps", "4", "--no-progress"]
    assert main([*args, "--validation-fraction", "0", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "train (80 rows): loss" in text and "test  (20 rows): loss" in text
    assert "accuracy" in text
    history = json.loads((out / "history.json").read_text())
    assert history["loss"] and len(history["loss"]) == 4 and history["unit"] == "step"
    assert len(history["val_loss"]) == 4 and history["data"] == "moons"
    assert_png(out / "loss.png")
    assert_png(out / "decision_boundary.png")
    model = tapegrad.load(out / "model.json")
    # the defaults for a user's data (issue 11): softmax_ce for two classes too, tanh
    assert model.nouts == [8, 2] and model.act == "tanh"


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def standardised(X, rows):
    """X scaled with the mean and population standard deviation of `rows` (StandardScaler)."""
    return (X - X[rows].mean(axis=0)) / X[rows].std(axis=0)


def test_train_then_predict_on_a_csv(tmp_path, capsys):
    X, y = moons(60, noise=0.1, seed=3)
    data = tmp_path / "points.csv"
    write_csv(data, X, y)
    model_path = tmp_path / "m.json"
    args = ["train", "--data", str(data), "--label", "target", "--hidden", "6", "--act", "tanh"]
    args += ["--optim", "adam", "--lr", "0.05", "--epochs", "2", "--batch-size", "16"]
    args += ["--test-fraction", "0", "--validation-fraction", "0"]
    args += ["--out", str(tmp_path / "o"), "--save", str(model_path)]
    assert main([*args, "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "2 epochs" in text and "train (60 rows)" in text and "test  (" not in text
    model = tapegrad.load(model_path)
    assert model.nouts == [6, 2] and model.act == "tanh"  # softmax_ce for two classes

    preds = tmp_path / "pred" / "p.csv"
    preds.parent.mkdir()  # predict does not make folders (issue 10: a missing one is an error)
    argv = ["predict", "--model", str(model_path), "--data", str(data), "-o", str(preds)]
    assert main([*argv, "--proba"]) == 0
    text = capsys.readouterr().out
    assert "wrote 60 predictions" in text and "accuracy" in text
    with open(preds, newline="") as fh:
        rows = list(csv.DictReader(fh))
    # the prediction goes in the label's own column (issue 11), the probabilities beside it
    assert list(rows[0]) == ["a", "b", "target", "p_0", "p_1"]
    # every row trained, so the inputs are standardised with every row's statistics
    probs = softmax(np_forward(model, standardised(X, slice(None))))
    got = [[float(r["p_0"]), float(r["p_1"])] for r in rows]
    np.testing.assert_allclose(got, probs, rtol=1e-9)
    assert [int(r["target"]) for r in rows] == np.argmax(probs, axis=1).tolist()


def test_predict_on_features_only_and_multiclass(tmp_path, capsys):
    from tapegrad.data import spiral, split_indices

    out = tmp_path / "s"
    args = ["train", "--data", "spiral", "--hidden", "5", "--steps", "2", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    assert "loss softmax_ce" in capsys.readouterr().out
    model = tapegrad.load(out / "model.json")
    assert model.nouts == [5, 3]
    X = np.array([[0.1, 0.2], [-0.5, 0.3], [0.9, -0.9]])
    features = tmp_path / "f.csv"
    np.savetxt(features, X, delimiter=",")
    preds = tmp_path / "p.csv"
    argv = ["predict", "--model", str(out / "model.json"), "--data", str(features)]
    assert main([*argv, "-o", str(preds)]) == 0
    with open(preds, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["x0", "x1", "label"]
    Xs, ys = spiral(50, classes=3, seed=1337)
    train, _ = split_indices(len(Xs), 0.2, 1337, stratify=ys)
    scaled = (X - Xs[train].mean(axis=0)) / Xs[train].std(axis=0)
    want = np.argmax(np_forward(model, scaled), axis=1)
    assert [int(r["label"]) for r in rows] == want.tolist()


def test_plus_minus_one_labels_train_hinge_and_predict_in_their_coding(tmp_path, capsys):
    X, y = moons(40, noise=0.1, seed=5)
    data = tmp_path / "pm.csv"
    write_csv(data, X, 2 * y - 1, header=False)
    out = tmp_path / "o"
    argv = ["train", "--data", str(data), "--hidden", "4", "--steps", "3", "--no-progress"]
    assert main([*argv, "--loss", "hinge", "--out", str(out)]) == 0
    assert "loss hinge" in capsys.readouterr().out
    preds = tmp_path / "p.csv"
    assert (
        main(["predict", "--model", str(out / "model.json"), "--data", str(data), "-o", str(preds)])
        == 0
    )
    with open(preds, newline="") as fh:
        rows = list(csv.DictReader(fh))
    from tapegrad.data import split_indices

    train, _ = split_indices(len(X), 0.2, 1337, stratify=y)
    scores = np_forward(tapegrad.load(out / "model.json"), standardised(X, train))[:, 0]
    assert [int(r["x2"]) for r in rows] == np.where(scores > 0, 1, -1).tolist()


def test_resume_continues_from_the_saved_weights(tmp_path, capsys):
    out = tmp_path / "r"
    base = ["train", "--data", "moons", "--hidden", "4", "--no-progress", "--out", str(out)]
    base += ["--batch-size", "100"]  # the full batch: the first entry is one objective
    base += ["--validation-fraction", "0"]  # standardised on every training row
    assert main([*base, "--steps", "3", "--optim", "adam"]) == 0
    saved = tapegrad.load(out / "model.json")
    # the same folder again: --force (issue 19); the model resumed is read before it is replaced
    resume = ["--resume", str(out / "model.json"), "--force"]
    assert main([*base, "--steps", "1", "--optim", "adam", *resume]) == 0
    capsys.readouterr()
    history = json.loads((out / "history.json").read_text())
    # The resumed run's first objective is the saved model's, on the same training split,
    # with the same standardisation (kept in the checkpoint).
    from tapegrad.data import split_indices
    from tapegrad.tables import DEFAULT_L2

    X, y = moons(100, noise=0.1, seed=1337)
    train, _ = split_indices(len(X), 0.2, 1337, stratify=y)
    p = softmax(np_forward(saved, standardised(X, train)[train]))
    cross_entropy = -np.mean(np.log(p[np.arange(len(train)), y[train]]))
    penalty = DEFAULT_L2 * sum(p.data**2 for p in saved.parameters())
    assert history["loss"][0] == pytest.approx(cross_entropy + penalty, rel=1e-9)
    assert history["l2_term"][0] == pytest.approx(penalty, rel=1e-9)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--hidden", "16,x"], "expected comma-separated hidden layer sizes"),
        (["train", "--optim", "rmsprop"], "invalid choice: rmsprop (choose from sgd, adam)"),
        (["train", "--act", "gelu"], "choose from relu, tanh, sigmoid, linear"),
        (["train", "--loss", "l1"], "choose from hinge, mse, bce, softmax_ce"),
        (["train", "--data", "mooons"], "unknown data set 'mooons': use one of moons, circles"),
        (["train", "--data", "missing.csv"], "no such file 'missing.csv'"),
        (["train", "--steps", "0"], "expected a whole number >= 1, got '0'"),
        (["train", "--lr", "-1"], "expected a number > 0, got '-1'"),
        (["train", "--test-fraction", "1.5"], "expected a fraction in [0, 1)"),
        (["train", "--steps", "3", "--epochs", "2"], "not allowed with argument"),
        (["demo", "--steps", "ten"], "expected a whole number >= 1, got 'ten'"),
        (["predict", "--data", "moons"], "the following arguments are required: --model"),
    ],
)
def test_bad_options_say_what_is_allowed(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    # argparse quotes the choices or not depending on the Python patch release
    assert message.replace("'", "") in capsys.readouterr().err.replace("'", "")


def test_bad_data_and_model_files_are_reported(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n3,oops,1\n")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.csv: line 3, column 2 ('b'): 'oops' is not a finite number" in (
        capsys.readouterr().err
    )
    broken = tmp_path / "model.json"
    broken.write_text('{"format": "tapegrad-model", "version": 1, "architec')
    assert main(["predict", "--model", str(broken), "--data", "moons"]) == 2
    assert "tapegrad predict: error:" in capsys.readouterr().err
    wide = tmp_path / "wide.csv"
    np.savetxt(wide, np.ones((3, 4)), delimiter=",")
    model_path = tmp_path / "m2.json"
    tapegrad.save(tapegrad.nn.MLP(2, [1], seed=0), model_path)
    assert main(["predict", "--model", str(model_path), "--data", str(wide)]) == 2
    # a model saved without preprocessing takes its columns by position (issue 11)
    assert "4 columns, but the model takes 2 feature columns" in capsys.readouterr().err


def test_predict_reads_outputs_with_the_loss_the_model_was_trained_with(tmp_path, capsys):
    """A regression model (mse) saved by `train` predicts numbers in the target's units
    without --loss."""
    import csv

    from tapegrad.data import split_indices

    data = tmp_path / "reg.csv"
    rows = [(i / 10, (i % 7) / 10, 0.3 * i / 10 - (i % 7) / 20 + 0.05) for i in range(30)]
    data.write_text("a,b,y\n" + "".join(f"{a},{b},{y}\n" for a, b, y in rows))
    out = tmp_path / "m"
    argv = ["train", "--data", str(data), "--loss", "mse", "--hidden", "4", "--steps", "3"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    preds = tmp_path / "p.csv"
    assert (
        main(["predict", "--model", str(out / "model.json"), "--data", str(data), "-o", str(preds)])
        == 0
    )
    assert "(mse)" in capsys.readouterr().out
    with open(preds, newline="") as fh:
        table = list(csv.DictReader(fh))
    values = np.array(rows)
    X, target = values[:, :2], values[:, 2]
    train, _ = split_indices(30, 0.2, 1337)
    raw = np_forward(tapegrad.load(out / "model.json"), standardised(X, train))[:, 0]
    want = raw * target[train].std() + target[train].mean()  # back in the target's units
    np.testing.assert_allclose([float(r["y"]) for r in table], want, rtol=1e-9)
    assert not {float(r["y"]) for r in table} <= {0.0, 1.0}


def test_train_help_shows_the_librarys_defaults():
    """`tapegrad train` keeps its defaults beside its options (so --help needs no NumPy);
    they are `fit_table`'s."""
    from tapegrad import tables
    from tapegrad.commands import train

    assert train.DEFAULT_EPOCHS == tables.DEFAULT_EPOCHS
    assert train.DEFAULT_LR == tables.DEFAULT_LR


def _regression_csv(path, n=300, seed=0):
    rs = np.random.RandomState(seed)
    X = rs.randn(n, 20)
    y = X[:, 0] - X[:, 1] + 0.3 * rs.randn(n)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*(f"x{i}" for i in range(20)), "y"])
        w.writerows([*row, t] for row, t in zip(X.tolist(), y.tolist(), strict=True))
    return path


def test_train_stops_early_says_why_and_patience_none_runs_every_epoch(tmp_path, capsys):
    data = str(_regression_csv(tmp_path / "reg.csv"))
    common = ["train", "--data", data, "--epochs", "300", "--hidden", "64,64", "--l2", "0"]
    assert main([*common, "--no-progress", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "stopped at epoch" in out and "validation loss has not improved" in out
    assert "valid (48 rows)" in out and "kept epoch" in out
    history = json.loads((tmp_path / "a" / "history.json").read_text())
    assert len(history["loss"]) < 300 and history["kept"] is not None
    args = ["--no-progress", "--patience", "none", "--epochs", "30", "--out", str(tmp_path / "b")]
    assert main([*common[:3], *common[5:], *args]) == 0
    history = json.loads((tmp_path / "b" / "history.json").read_text())
    assert len(history["loss"]) == 30 and history["kept"] is None
    with pytest.raises(SystemExit) as exit_:
        main([*common, "--validation-fraction", "0", "--patience", "x"])
    assert exit_.value.code == 2
    assert "expected a whole number >= 0 or 'none'" in capsys.readouterr().err
