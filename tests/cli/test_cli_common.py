"""The CLI's shared pieces: the exit-status convention (0 done, 1 a check says no, 2 could not
do it, 130 interrupted) across every command, the error line, and the option types."""

from __future__ import annotations

import argparse
import pkgutil

import numpy as np
import pytest

import tapegrad
import tapegrad.commands
from tapegrad import cli, data, nn
from tapegrad.commands import common


def test_the_statuses():
    assert (common.OK, common.NO, common.ERROR, common.INTERRUPTED) == (0, 1, 2, 130)


def test_fail_prints_the_error_as_argparse_does(capsys):
    assert common.fail("train", "no such file 'x.csv'") == common.ERROR
    assert capsys.readouterr().err == "tapegrad train: error: no such file 'x.csv'\n"


@pytest.mark.parametrize(
    "argv, status",
    [
        (["grad", "x*y", "--at", "x=2", "y=3"], common.OK),
        (["grad", "relu(x)", "--at", "x=0"], common.NO),  # a kink: the check says no
        (["grad", "x +", "--at", "x=1"], common.ERROR),  # does not parse
        (["graph", "x*y", "--set", "x=1"], common.ERROR),  # y has no value
        (["graph", "x", "--set", "x=1", "-o", "out.xyz"], common.ERROR),  # unknown format
        (["predict", "--model", "missing.json", "--data", "moons"], common.ERROR),
    ],
)
def test_every_command_follows_the_convention(argv, status, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == status
    err = capsys.readouterr().err
    assert (err == "") == (status != common.ERROR)
    if status == common.ERROR:
        assert err.startswith(f"tapegrad {argv[0]}: error: ")


def test_bad_data_for_train_and_predict_is_an_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n3,4,7\n5,6,1\n")  # three classes for --loss hinge
    argv = ["train", "--data", str(bad), "--loss", "hinge", "--steps", "1", "--no-progress"]
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == common.ERROR
    assert "hinge needs two classes" in capsys.readouterr().err
    model = tmp_path / "m.json"
    tapegrad.save(nn.MLP(3, [1], seed=0), model)
    wide = tmp_path / "wide.csv"
    np.savetxt(wide, np.ones((3, 5)), delimiter=",")
    assert cli.main(["predict", "--model", str(model), "--data", str(wide)]) == common.ERROR


def test_usage_errors_exit_with_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--steps", "zero"])
    assert exc.value.code == common.ERROR


def test_interrupt_exits_with_130(monkeypatch, capsys):
    from tapegrad.commands import grad

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(grad, "run", interrupted)
    assert cli.main(["grad", "x", "--at", "x=1"]) == common.INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"


def test_every_command_module_is_registered():
    modules = {m.name for m in pkgutil.iter_modules(tapegrad.commands.__path__)}
    assert modules - {"common"} == set(cli.COMMANDS)


def test_the_option_lists_match_the_library():
    assert common.DATA_NAMES == tuple(data.DATASETS)
    assert common.ACTIVATIONS == tuple(nn.ACTIVATIONS)
    assert common.LOSS_NAMES == tuple(tapegrad.losses.TABLE)


@pytest.mark.parametrize(
    "parse, good, bad",
    [
        (common.positive_int, [("1", 1), ("250", 250)], ["0", "-3", "1.5", "ten", ""]),
        (common.positive_float, [("0.5", 0.5), ("1e3", 1e3)], ["0", "-1", "nan", "inf", "x"]),
        (common.nonnegative_float, [("0", 0.0), ("2.5", 2.5)], ["-0.1", "nan", "-inf"]),
        (common.fraction, [("0", 0.0), ("0.25", 0.25)], ["1", "1.5", "-0.1", "nan"]),
        (common.seed, [("0", 0), ("4294967295", 2**32 - 1)], ["-1", "4294967296", "1.0"]),
        (common.hidden_sizes, [("16,16", [16, 16]), ("none", []), ("", [])], ["16,0", "a,b"]),
        (common.column, [("0", 0), ("-1", -1), ("label", "label")], []),
    ],
)
def test_option_types(parse, good, bad):
    for text, value in good:
        assert parse(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            parse(text)
