"""`tapegrad train` and `predict` on tables as a user brings them (issue 11), and the command
line's handling of hostile input and output paths (issue 10): accuracies checked from the
written predictions against the file's own labels, weights against NumPy forward passes and
fresh runs, and every error as one line without a traceback."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from references import require

import tapegrad
from tapegrad import cli, data
from tapegrad.commands import common
from tapegrad.nn import MLP
from tapegrad.optim import SGD
from tapegrad.tables import Preprocessor, TableModel, read_table
from tapegrad.train import TrainingDiverged, fit

sklearn = require("sklearn")  # the bundled tables ship with scikit-learn

LABEL = {"iris": "species", "wine": "class", "breast_cancer": "diagnosis"}


def write_table(path, name):
    """scikit-learn's bundled table as a user would have it: a header, numbers, and the
    label's own names as text."""
    X, y, names, classes = data.real_table(name)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*names, LABEL[name]])
        for row, k in zip(X.tolist(), y.tolist(), strict=True):
            w.writerow([*(repr(v) for v in row), classes[k]])
    return [classes[k] for k in y.tolist()]


def run_cli(*argv, cwd):
    """`python -m tapegrad ARGV` in a fresh process: (status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "tapegrad", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return done.returncode, done.stdout, done.stderr


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- issue 11's done-when ----------------------------------------------------------------------


@pytest.mark.parametrize("name, bar", [("iris", 0.90), ("wine", 0.90), ("breast_cancer", 0.93)])
def test_bundled_tables_train_with_only_data_and_label(tmp_path, monkeypatch, capsys, name, bar):
    monkeypatch.chdir(tmp_path)
    truth = write_table(tmp_path / f"{name}.csv", name)
    assert cli.main(["train", "--data", f"{name}.csv", "--label", LABEL[name]]) == 0
    out = capsys.readouterr().out
    classes = sorted(set(truth))
    assert f"{len(classes)} classes from column {LABEL[name]!r}: {', '.join(classes)}" in out
    assert out.rstrip().splitlines()[-1].startswith("wrote everything to tapegrad-out/train:")
    argv = ["predict", "--model", "tapegrad-out/train/model.json", "--data", f"{name}.csv"]
    assert cli.main([*argv, "-o", "predictions.csv"]) == 0
    rows = read_csv(tmp_path / "predictions.csv")
    predicted = [r[LABEL[name]] for r in rows]
    assert set(predicted) <= set(classes)  # the class names, in the label's own column
    # accuracy on the held-out rows, counted from the written names against the file's own
    codes = np.array([classes.index(c) for c in truth])
    _, test = data.split_indices(len(truth), 0.2, 1337, stratify=codes)
    accuracy = np.mean([predicted[i] == truth[i] for i in test])
    assert accuracy >= bar
    run = json.loads((tmp_path / "tapegrad-out" / "train" / "run.json").read_text())
    assert run["command"] == f"tapegrad train --data {name}.csv --label {LABEL[name]}"
    assert run["outcome"]["test"]["accuracy"] == pytest.approx(accuracy)


def test_predict_probabilities_are_the_softmax_of_the_standardised_forward_pass(tmp_path):
    write_table(tmp_path / "iris.csv", "iris")
    model_path = tmp_path / "m.json"
    argv = ["train", "--data", str(tmp_path / "iris.csv"), "--label", "species"]
    argv += ["--epochs", "5", "--no-progress", "--out", str(tmp_path / "run")]
    argv += ["--validation-fraction", "0"]  # standardised on every training row
    assert cli.main([*argv, "--save", str(model_path)]) == 0
    preds = tmp_path / "p.csv"
    argv = ["predict", "--model", str(model_path), "--data", str(tmp_path / "iris.csv")]
    assert cli.main([*argv, "-o", str(preds), "--proba"]) == 0
    rows = read_csv(preds)
    X, y, _, classes = data.real_table("iris")
    train, _ = data.split_indices(len(X), 0.2, 1337, stratify=y)
    Z = (X - X[train].mean(axis=0)) / X[train].std(axis=0)
    model = tapegrad.load(model_path)
    for layer in model.layers[:-1]:
        W = np.array([[w.data for w in n.w] for n in layer.neurons])
        Z = np.tanh(Z @ W.T + np.array([n.b.data for n in layer.neurons]))
    last = model.layers[-1]
    Z = Z @ np.array([[w.data for w in n.w] for n in last.neurons]).T
    Z = Z + np.array([n.b.data for n in last.neurons])
    p = np.exp(Z - Z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    got = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    np.testing.assert_allclose(got, p, rtol=1e-9, atol=1e-15)
    assert [r["species"] for r in rows] == [classes[k] for k in np.argmax(p, axis=1)]
    # the Python API applies the very same mapping
    tm = TableModel.load(model_path)
    table = read_table(tmp_path / "iris.csv")
    assert tm.predict(table) == [r["species"] for r in rows]
    np.testing.assert_allclose(tm.predict_proba(table), p, rtol=1e-9, atol=1e-15)


def test_a_regression_reports_r2_in_the_targets_units(tmp_path, capsys):
    from sklearn.metrics import r2_score

    rs = np.random.RandomState(0)
    X = rs.uniform(-2, 2, size=(200, 2))
    target = 1000.0 + 300.0 * X[:, 0] - 150.0 * X[:, 1] ** 2 + rs.normal(0, 10, 200)
    path = tmp_path / "houses.csv"
    path.write_text(
        "size,age,price\n"
        + "".join(
            f"{a!r},{b!r},{t!r}\n" for (a, b), t in zip(X.tolist(), target.tolist(), strict=True)
        )
    )
    out = tmp_path / "run"
    argv = ["train", "--data", str(path), "--label", "price", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "regression on column 'price'" in text and "R²" in text
    preds = tmp_path / "p.csv"
    assert cli.main(["predict", "--model", str(out / "model.json"), "--data", str(path), "-o",
                     str(preds)]) == 0  # fmt: skip
    predicted = np.array([float(r["price"]) for r in read_csv(preds)])
    _, test = data.split_indices(200, 0.2, 1337)
    r2 = r2_score(target[test], predicted[test])
    run = json.loads((out / "run.json").read_text())
    assert run["outcome"]["test"]["r2"] == pytest.approx(r2, rel=1e-9)
    assert r2 > 0.9


def test_the_stored_preprocessing_round_trips_through_the_checkpoint(tmp_path):
    write_table(tmp_path / "wine.csv", "wine")
    table = read_table(tmp_path / "wine.csv")
    prep = Preprocessor(label="class").fit(table)
    model = MLP(prep.n_inputs, [3], seed=0)
    TableModel(model, prep, "softmax_ce").save(tmp_path / "m.json")
    loss, back = tapegrad.checkpoint.load_training(tmp_path / "m.json")
    assert loss == "softmax_ce" and back.to_dict() == prep.to_dict()
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["preprocessing"]["features"][0]["scale"] = -1.0
    doc.pop("checksum", None)
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(tapegrad.checkpoint.CheckpointError, match="scale must be > 0"):
        TableModel.load(tmp_path / "bad.json")


def test_stratified_split_keeps_every_class_in_proportion():
    y = np.array([0] * 50 + [1] * 50 + [2] * 50)
    for seed in range(20):
        train, test = data.split_indices(150, 0.2, seed, stratify=y)
        assert sorted([*train, *test]) == list(range(150))
        assert np.bincount(y[test]).tolist() == [10, 10, 10]
    y = np.array([0] * 7 + [1] * 90 + [2] * 3)
    train, test = data.split_indices(100, 0.25, 3, stratify=y)
    assert len(test) == 25 and set(np.unique(y[train])) == {0, 1, 2}
    counts = np.bincount(y[test], minlength=3)
    assert np.all(np.abs(counts - 0.25 * np.array([7, 90, 3])) < 1)
    a = data.split_indices(100, 0.25, 3, stratify=y)
    assert all(np.array_equal(p, q) for p, q in zip(a, (train, test), strict=True))


# --- divergence ----------------------------------------------------------------------------


def test_divergence_keeps_the_last_good_weights():
    X, y = data.moons(60, noise=0.1, seed=0)
    model = MLP(2, [8, 2], act="tanh", seed=1)
    with pytest.raises(TrainingDiverged) as caught:
        fit(model, X, y, loss="softmax_ce", optimizer=SGD(model, lr=1e4), steps=50,
            progress=False, compile=True)  # fmt: skip
    err = caught.value
    assert f"diverged at step {err.step}" in str(err) and "learning rate" in str(err)
    assert "Try a learning rate 10 times smaller" in str(err)
    assert len(err.history) == err.step - 1
    # the weights kept are those the last fine step started from: after step - 2 updates
    again = MLP(2, [8, 2], act="tanh", seed=1)
    if err.step > 2:
        fit(again, X, y, loss="softmax_ce", optimizer=SGD(again, lr=1e4), steps=err.step - 2,
            progress=False, compile=True)  # fmt: skip
    assert [p.data for p in model.parameters()] == [p.data for p in again.parameters()]


def test_a_divergent_cli_run_stops_with_the_message_and_exits_non_zero(tmp_path):
    write_table(tmp_path / "iris.csv", "iris")
    status, out, err = run_cli(
        "train", "--data", "iris.csv", "--label", "species", "--optim", "sgd", "--lr", "100",
        cwd=tmp_path,
    )  # fmt: skip
    assert status == common.ERROR and "Traceback" not in err
    assert "training diverged at step" in err and "learning rate 99" in err and "--lr" in err
    model = tapegrad.load(tmp_path / "tapegrad-out" / "train" / "model.json")
    assert all(np.isfinite(p.data) for p in model.parameters())
    run = json.loads((tmp_path / "tapegrad-out" / "train" / "run.json").read_text())
    assert run["outcome"]["status"] == "diverged"
    assert out.rstrip().splitlines()[-1].startswith("wrote everything to tapegrad-out/train:")


# --- run folders ------------------------------------------------------------------------------


def test_two_runs_leave_two_complete_run_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", "moons", "--epochs", "3", "--no-progress"]
    assert cli.main(argv) == 0 and cli.main([*argv, "--seed", "2"]) == 0
    files = {"model.json", "history.json", "loss.png", "decision_boundary.png", "run.json"}
    files.add("report.html")  # issue 13: every run writes its training report
    for folder, seed in (("train", 1337), ("train-2", 2)):
        assert set(os.listdir(tmp_path / "tapegrad-out" / folder)) == files
        run = json.loads((tmp_path / "tapegrad-out" / folder / "run.json").read_text())
        assert run["settings"]["seed"] == seed
    assert cli.main(["demo", "--steps", "2", "--no-progress"]) == 0
    assert cli.main(["demo", "--steps", "2", "--no-progress"]) == 0
    assert (tmp_path / "tapegrad-out" / "demo-2" / "neuron.svg").exists()
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith("wrote everything to tapegrad-out/demo-2: decision_boundary.png")


def test_resume_from_a_run_folder_keeps_its_preprocessing(tmp_path, capsys):
    write_table(tmp_path / "iris.csv", "iris")
    base = ["train", "--data", str(tmp_path / "iris.csv"), "--label", "species", "--no-progress"]
    assert cli.main([*base, "--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    argv = [*base, "--epochs", "2", "--resume", str(tmp_path / "a"), "--out", str(tmp_path / "b")]
    assert cli.main(argv) == 0
    first = json.loads((tmp_path / "a" / "model.json").read_text())["preprocessing"]
    second = json.loads((tmp_path / "b" / "model.json").read_text())["preprocessing"]
    assert first == second


# --- bad tables: one line, no output ---------------------------------------------------------

BAD_TABLES = [
    ("ragged.csv", b"a,b,y\n1,2,x\n3,4\n5,6,y\n", "ragged.csv: line 3: expected 3 columns"),
    ("gaps.csv", b"a,b,y\n1,,\n3,4,NA\n", "gaps.csv: every row has a missing cell in 'y'"),
    ("one.csv", b"a,b,y\n1,2,x\n3,4,x\n", "one.csv: column 3 ('y'): every row has the same"),
    ("empty.csv", b"", "empty.csv: the file is empty"),
    ("latin1.csv", "a,b,y\n1,2,caf\xe9\n3,4,x\n".encode("latin-1"),
     "latin1.csv: line 2, column 3: byte 0xe9 is not UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize("name, content, message", BAD_TABLES)
def test_bad_tables_get_one_line_and_leave_no_output(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    status, out, err = run_cli("train", "--data", name, "--label", "y", cwd=tmp_path)
    assert status == common.ERROR
    assert err.startswith(f"tapegrad train: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "tapegrad-out").exists()


def test_a_missing_column_is_named(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,x\n3,4,z\n")
    argv = ["train", "--data", str(tmp_path / "t.csv"), "--label", "species"]
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == common.ERROR
    err = capsys.readouterr().err
    assert "t.csv: no column named 'species'; the columns are 'a', 'b', 'y'" in err
    assert not (tmp_path / "o").exists()


def test_drop_drop_missing_and_no_standardize(tmp_path, capsys):
    rows = "".join(f"id{i},{i % 5},{(i * 7) % 11},{'ab'[i % 2]}\n" for i in range(120))
    (tmp_path / "t.csv").write_text("id,a,b,y\n" + rows)
    (tmp_path / "gaps.csv").write_text("id,a,b,y\n" + rows + "id999,,3,a\n")
    base = ["--label", "y", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "o")]
    assert cli.main(["train", "--data", str(tmp_path / "t.csv"), *base]) == common.ERROR
    assert "--drop id" in capsys.readouterr().err  # an identifier column: how to leave it out
    base = ["train", "--data", str(tmp_path / "gaps.csv"), *base, "--drop", "id"]
    assert cli.main([*base, "--out", str(tmp_path / "imputed")]) == 0  # imputed, not refused
    assert "121 rows;" in capsys.readouterr().out
    assert cli.main([*base, "--drop-missing", "--no-standardize"]) == 0
    assert "120 rows (after dropping 1 with a missing cell)" in capsys.readouterr().out
    _, prep = tapegrad.checkpoint.load_training(tmp_path / "o" / "model.json")
    assert prep.feature_names == ["a", "b"] and not prep.standardize
    assert [(f.mean, f.scale) for f in prep.features] == [(0.0, 1.0), (0.0, 1.0)]


# --- issue 10: hostile input and output paths, never a traceback ------------------------------


def test_cli_attacks_on_output_paths_get_clear_errors(tmp_path):
    write_table(tmp_path / "iris.csv", "iris")
    (tmp_path / "latin.csv").write_bytes("a,b,y\n1,2,\xe9\n".encode("latin-1"))
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "adir").mkdir()
    status, _, err = run_cli(
        "train", "--data", "iris.csv", "--label", "species", "--epochs", "2", "--out", "run",
        cwd=tmp_path,
    )  # fmt: skip
    assert status == 0, err
    model = "run/model.json"
    before = (tmp_path / model).read_bytes()
    attacks = [
        (["predict", "--model", model, "--data", "iris.csv", "-o", model], "being read"),
        (["predict", "--model", model, "--data", "iris.csv", "-o", "iris.csv", "--force"],
         "being read"),
        (["predict", "--model", model, "--data", "iris.csv", "-o", "adir"], "is a folder"),
        (["predict", "--model", model, "--data", "iris.csv", "-o", "no/p.csv"], "does not exist"),
        (["predict", "--model", model, "--data", "iris.csv", "-o", "afile"], "pass --force"),
        (["predict", "--model", model, "--data", "latin.csv"], "is not UTF-8"),
        (["train", "--data", "latin.csv"], "is not UTF-8"),
        (["train", "--data", "iris.csv", "--label", "species", "--out", "afile"],
         "is a file, not a folder"),
        (["train", "--data", "iris.csv", "--label", "species", "--save", "nope/m.json"],
         "the folder 'nope' does not exist"),
        (["train", "--data", "iris.csv", "--label", "species", "--save", "iris.csv"],
         "being read"),
        (["train", "--data", "iris.csv", "--label", "species", "--save", "adir"],
         "is a folder"),
        (["predict", "--model", "iris.csv", "--data", "iris.csv", "-o", "x.csv"],
         "not valid JSON"),
    ]  # fmt: skip
    for argv, message in attacks:
        status, out, err = run_cli(*argv, cwd=tmp_path)
        assert status == common.ERROR, (argv, out, err)
        assert "Traceback" not in err and message in err, (argv, err)
        assert err.count("\n") == 1, err
    assert (tmp_path / model).read_bytes() == before
    assert (tmp_path / "afile").read_text() == "not a folder"
    assert not (tmp_path / "tapegrad-out").exists()  # refused before training: no run folder
    status, _, err = run_cli(
        "predict", "--model", model, "--data", "iris.csv", "-o", "afile", "--force", cwd=tmp_path
    )
    assert status == 0 and read_csv(tmp_path / "afile")[0]["species"] in {
        "setosa",
        "versicolor",
        "virginica",
    }
    assert sorted(os.listdir(tmp_path)) == ["adir", "afile", "iris.csv", "latin.csv", "run"]


def test_a_read_only_output_folder_is_refused_before_training(tmp_path, monkeypatch, capsys):
    import tempfile

    locked = tmp_path / "locked"
    locked.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # a read-only mount, even for root
        if dir is not None and os.path.abspath(dir) == str(locked):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    trained = []
    monkeypatch.setattr("tapegrad.train.fit", lambda *a, **k: trained.append(1))
    argv = ["train", "--data", "moons", "--out", str(locked)]
    assert cli.main(argv) == common.ERROR
    assert f"cannot write in {str(locked)!r}: Permission denied" in capsys.readouterr().err
    assert cli.main(["train", "--data", "moons", "--save", str(locked / "m.json")]) == 2
    assert "Permission denied" in capsys.readouterr().err and not trained


def test_a_big_model_skips_the_decision_boundary_with_a_note(tmp_path, monkeypatch, capsys):
    from tapegrad.commands import train

    monkeypatch.setattr(train, "MAX_PICTURE_PARAMETERS", 100)
    argv = ["train", "--data", "moons", "--hidden", "40", "--steps", "1", "--no-progress"]
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 0
    assert "decision_boundary.png skipped: the model has 202 parameters" in (
        capsys.readouterr().out
    )
    assert not (tmp_path / "o" / "decision_boundary.png").exists()


# --- a command line that reads like the others ---------------------------------------------


def test_expression_and_options_in_any_order(capsys):
    assert cli.main(["graph", "--set", "a=2", "b=3", "a*b"]) == 0
    assert "data 6.0000" in capsys.readouterr().out
    assert cli.main(["grad", "--at", "x=2", "x**3"]) == 0
    assert "12" in capsys.readouterr().out
    assert cli.main(["grad", "x**3", "--at", "x=2"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        cli.main(["grad", "--at", "x=2"])
    assert exc.value.code == 2 and "required: expr" in capsys.readouterr().err


def test_bare_tapegrad_prints_the_usage_and_exits_2(tmp_path):
    status, out, err = run_cli(cwd=tmp_path)
    assert status == 2 and out == "" and err.startswith("usage: tapegrad")
    assert "a command is required" in err


def test_every_options_help_shows_its_default():
    parser = cli.build_parser()
    for name in cli.COMMANDS:
        sub = cli.sub_parser(parser, name)
        formatter = sub._get_formatter()
        for action in sub._actions:
            flag = action.nargs == 0 or action.default is argparse_suppress()
            if not action.option_strings or flag or action.required:
                continue
            text = formatter._get_help_string(action)
            assert "default" in text, (name, action.option_strings, text)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def test_progress_is_plain_lines_when_output_is_not_a_terminal(capsys):
    X, y = data.moons(40, noise=0.1, seed=0)
    model = MLP(2, [4, 2], seed=0)
    fit(model, X, y, loss="softmax_ce", l2=1e-3, steps=20, compile=True)  # progress=True
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "\r" not in captured.out + captured.err and captured.err == ""
    assert [line.split(":")[0] for line in lines] == [f"step {n}/20" for n in (1, *range(2, 21, 2))]
    assert all("(data " in line and " + L2 " in line for line in lines)


def test_grad_steps_relative_to_x(capsys):
    assert cli.main(["grad", "x**2", "--at", "x=1e10"]) == common.OK
    assert "ok" in capsys.readouterr().out


def test_label_values_never_drive_allocations(tmp_path, capsys):
    X, y = data.moons(40, noise=0.1, seed=0)
    X, y = X.tolist(), y.tolist()
    for low, high in ((0, 1000000), (1999, 2000)):
        path = tmp_path / f"l{low}.csv"
        cells = [f"{a!r},{b!r},{high if k else low}\n" for (a, b), k in zip(X, y, strict=True)]
        path.write_text("a,b,y\n" + "".join(cells))
        out = tmp_path / f"o{low}"
        argv = ["train", "--data", str(path), "--steps", "2", "--no-progress", "--out", str(out)]
        assert cli.main(argv) == 0
        assert f"2 classes from column 'y': {low}, {high}" in capsys.readouterr().out
        assert tapegrad.load(out / "model.json").nouts == [16, 16, 2]
        preds = tmp_path / f"p{low}.csv"
        argv = ["predict", "--model", str(out / "model.json"), "--data", str(path)]
        assert cli.main([*argv, "-o", str(preds)]) == 0
        assert {r["y"] for r in read_csv(preds)} <= {str(low), str(high)}
    path = tmp_path / "huge.csv"
    path.write_text("a,b,y\n0,1,0\n1,0,1e20\n2,2,1\n")
    assert cli.main(["train", "--data", str(path), "--out", str(tmp_path / "h")]) == 2
    assert "line 3, column 3 ('y'): the label '1e20' is too large" in capsys.readouterr().err


# --- missing cells: imputed as training learnt ------------------------------------------------

GAPS = "".join(
    f"{'' if i % 7 == 0 else i % 5},{'NA' if i % 4 == 0 else (i * 3) % 11},"
    f"{'' if i % 9 == 0 else 'ab'[i % 2]},{'pq'[i % 2]}\n"
    for i in range(1, 60)
)


def test_predict_on_the_training_csv_with_gaps_answers_every_row(tmp_path):
    (tmp_path / "gaps.csv").write_text("a,b,c,y\n" + GAPS)
    train = ["train", "--data", "gaps.csv", "--label", "y", "--epochs", "1", "--no-progress"]
    status, out, err = run_cli(*train, cwd=tmp_path)
    assert status == 0, err
    assert "missing numbers imputed (median, with an indicator) in 'a', 'b'" in out
    model = "tapegrad-out/train/model.json"
    status, out, err = run_cli("predict", "--model", model, "--data", "gaps.csv", cwd=tmp_path)
    assert status == 0, err
    assert err == "" and "wrote 59 predictions of 'y'" in out
    with open(tmp_path / "predictions.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 60 and {r[3] for r in rows[1:]} <= {"p", "q"}
    (tmp_path / "new.csv").write_text("a,b,c,y\n1,2,zz,\n,3,zz,\n4,,a,p\n5,6,,\n")
    argv = ["predict", "--model", model, "--data", "new.csv", "-o", "n.csv"]
    status, out, err = run_cli(*argv, cwd=tmp_path)
    assert status == 0, err
    assert err == (
        "tapegrad predict: warning: 2 cells of 'c' had categories not seen in training: "
        "encoded as none of the known\n"
    )
    assert "on the 1 rows with a label" in out and "wrote 4 predictions" in out
    status, out, err = run_cli(*argv, "--drop-missing", "--force", cwd=tmp_path)
    assert status == 0, err
    assert "new.csv: skipped 3 rows with a missing cell in 'a', 'b', 'c' (--drop-missing)" in out
    with open(tmp_path / "n.csv", newline="") as fh:
        kept = list(csv.reader(fh))[1:]
    assert [r[:3] for r in kept] == [["1", "2", "zz"]] and kept[0][3] in ("p", "q")
