"""One set of limits (issue 19, `tapegrad.limits`): whatever `train` accepts and saves,
`predict` and `--resume` load, checked at the boundary values; a size over a limit is one line
and exit 2 before anything is allocated; `--resume` keeps its model's shape and says so."""

from __future__ import annotations

import csv
import json

import pytest

import tapegrad
from tapegrad import cli, limits
from tapegrad.commands import common

TRAIN = ["--epochs", "1", "--batch-size", "100", "--no-progress"]


@pytest.fixture
def no_training(monkeypatch):
    """Make training fail loudly: a refusal must come before it (and before any network)."""

    def refuse(*args, **kwargs):
        raise AssertionError("trained although the run should have been refused")

    monkeypatch.setattr("tapegrad.train.fit", refuse)
    monkeypatch.setattr("tapegrad.tables.MLP", refuse)


@pytest.fixture
def no_pictures(monkeypatch):
    """The run's pictures and report are not what these tests are about (and take long for a
    network of a thousand layers): the run writes its model, history.json and run.json."""
    monkeypatch.setattr("tapegrad.commands.train._pictures", lambda result, folder: [])


def saves_and_loads_back(tmp_path, capsys, data, hidden, label="-1"):
    """train (saving), predict and --resume on the saved model all succeed."""
    out, again = tmp_path / "run", tmp_path / "again"
    base = ["train", "--data", str(data), "--label", label, *TRAIN]
    assert cli.main([*base, "--hidden", hidden, "--out", str(out)]) == 0, capsys.readouterr()
    model = tapegrad.load(out / "model.json")
    predictions = tmp_path / "p.csv"
    argv = ["predict", "--model", str(out / "model.json"), "--data", str(data)]
    assert cli.main([*argv, "-o", str(predictions)]) == 0, capsys.readouterr().err
    assert cli.main([*base, "--resume", str(out), "--out", str(again)]) == 0
    assert tapegrad.load(again / "model.json").nouts == model.nouts
    return model


def test_the_deepest_network_train_makes_loads_back(tmp_path, capsys, no_pictures):
    model = saves_and_loads_back(tmp_path, capsys, "moons", ",".join(["1"] * 999))
    assert len(model.nouts) == limits.MAX_LAYERS


def test_one_layer_more_is_refused_before_training(tmp_path, capsys, no_training):
    argv = ["train", "--data", "moons", "--hidden", ",".join(["1"] * 1000), *TRAIN]
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == common.ERROR
    err = capsys.readouterr().err
    assert err.endswith("error: 1,001 layers, more than the limit 1,000\n"), err
    assert not (tmp_path / "o").exists()


def wide_table(path, columns, rows=12):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*(f"f{i}" for i in range(columns)), "y"])
        for r in range(rows):
            w.writerow([*(((r * 7 + i) % 5) for i in range(columns)), r % 2])
    return path


def test_the_widest_table_train_takes_loads_back(tmp_path):
    # Through the library (the command's own steps; the whole command on 10,000 columns takes
    # tens of seconds in the preprocessing's transform): fit_table's checks take the table,
    # and what predict and --resume read the model with, TableModel.load, takes it back.
    from tapegrad.nn import MLP
    from tapegrad.tables import Preprocessor, TableModel, TableSettings, _shape, read_table

    table = read_table(wide_table(tmp_path / "wide.csv", limits.MAX_COLUMNS, rows=6))
    prep = Preprocessor(label="y").fit(table)
    sizes = _shape(prep, "softmax_ce", TableSettings(hidden=[1]), None, None)
    path = tmp_path / "model.json"
    TableModel(MLP(prep.n_inputs, sizes, seed=0), prep, "softmax_ce").save(path)
    loaded = TableModel.load(path)
    assert loaded.model.nin == limits.MAX_COLUMNS == len(loaded.preprocessor.features)


def test_one_column_more_is_refused_before_training(tmp_path, capsys, no_training):
    data = wide_table(tmp_path / "wider.csv", limits.MAX_COLUMNS + 1, rows=4)
    argv = ["train", "--data", str(data), "--label", "y", "--hidden", "1", *TRAIN]
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == common.ERROR
    err = capsys.readouterr().err
    assert err.endswith("error: 10,001 feature columns, more than the limit 10,000\n"), err


@pytest.mark.parametrize(
    "hidden, message",
    [
        ("10000000000", "layer 1 (nouts[0]) has 10,000,000,000 neurons, more than the limit "
         "1,000,000"),
        ("700000", "3,500,002 parameters, more than the limit 2,000,000"),
        ("1000,1000,1000", "2,007,002 parameters, more than the limit 2,000,000"),
    ],
)  # fmt: skip
def test_a_network_over_the_limits_is_one_line_before_allocating(
    hidden, message, tmp_path, capsys, no_training
):
    argv = ["train", "--data", "moons", "--hidden", hidden, *TRAIN]
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == common.ERROR
    err = capsys.readouterr().err
    assert err == f"tapegrad train: error: {message}\n"


def test_resume_refuses_another_shape_and_keeps_its_own(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--data", "moons", *TRAIN]
    assert cli.main([*base, "--hidden", "4", "--act", "relu", "--out", str(out)]) == 0
    capsys.readouterr()
    resume = [*base, "--resume", str(out), "--out", str(tmp_path / "b")]
    assert cli.main([*resume, "--hidden", "16,16"]) == common.ERROR
    err = capsys.readouterr().err
    assert "has hidden [4] but hidden [16, 16] was asked (--hidden)" in err
    assert "leave --hidden out" in err and err.count("\n") == 1
    assert cli.main([*resume, "--act", "tanh"]) == common.ERROR
    assert "has act 'relu' but act 'tanh' was asked (--act)" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    # the same shape, or none given: the model's own, as run.json records
    assert cli.main([*resume, "--hidden", "4", "--act", "relu"]) == 0
    assert cli.main([*resume[:-1], str(tmp_path / "c")]) == 0
    for folder in ("b", "c"):
        run = json.loads((tmp_path / folder / "run.json").read_text())
        assert run["settings"]["hidden"] == [4] and run["settings"]["act"] == "relu"
