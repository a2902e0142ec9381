"""What a new user meets first on the command line (issue 20): a usage error names the
subcommand it came from and shows that subcommand's usage; `--drop` takes several columns at
once; `tapegrad demo` counts its steps one way, from 1, in every line it prints."""

from __future__ import annotations

import re

import pytest

import tapegrad
from tapegrad import cli
from tapegrad.commands import common


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "x"],  # a bad value
        ["train", "--bogus"],  # an unknown option: was the top level's usage
        ["predict", "--model", "m.json", "--data", "moons", "--bogus", "3"],
        ["graph", "x", "--set", "x=1", "--nope"],
        ["demo", "--steps", "5", "extra"],  # a stray argument
    ],
)
def test_a_usage_error_shows_the_subcommands_own_usage(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == common.ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"usage: tapegrad {argv[0]} [-h]")
    assert f"\ntapegrad {argv[0]}: error: " in err
    assert "COMMAND ..." not in err


@pytest.mark.parametrize("argv", [["--bogus"], ["--bogus", "train"], []])
def test_a_usage_error_outside_any_command_shows_the_top_level_usage(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == common.ERROR
    err = capsys.readouterr().err
    assert err.startswith("usage: tapegrad [-h] [--version] COMMAND ...")
    assert "\ntapegrad: error: " in err


@pytest.mark.parametrize(
    "drop, dropped",
    [
        (["--drop", "id", "year"], ["id", "year"]),
        (["--drop", "id", "--drop", "year"], ["id", "year"]),
        (["--drop", "id", "year", "--drop", "2"], ["id", "year", "2"]),
        (["--drop", "0", "-1"], ["0", "-1"]),  # indexes, the last one negative
        ([], []),
    ],
)
def test_drop_takes_several_columns_or_repeats(drop, dropped):
    args = cli.build_parser().parse_args(["train", *drop, "--label", "y"])
    assert args.drop == dropped and args.label == "y"  # the next option is not swallowed


def test_drop_a_b_trains_as_repeated_drop_does(tmp_path, capsys):
    rows = "".join(
        f"id{i},{1990 + i % 7},{i % 5},{(i * 7) % 11},{'ab'[i % 2]}\n" for i in range(60)
    )
    (tmp_path / "t.csv").write_text("id,year,a,b,y\n" + rows)
    base = ["train", "--data", str(tmp_path / "t.csv"), "--label", "y", "--epochs", "1"]
    base += ["--no-progress", "--hidden", "none"]
    names = []
    for n, drop in enumerate((["--drop", "id", "year"], ["--drop", "id", "--drop", "year"])):
        out = tmp_path / f"o{n}"
        assert cli.main([*base, *drop, "--out", str(out)]) == common.OK, capsys.readouterr().err
        _, prep = tapegrad.checkpoint.load_training(out / "model.json")
        names.append(prep.feature_names)
    assert names == [["a", "b"], ["a", "b"]]


def test_demo_numbers_its_steps_from_1_in_every_line(tmp_path, capsys):
    assert cli.main(["demo", "--steps", "10", "--out", str(tmp_path / "d")]) == common.OK
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    progress = [re.match(r"step (\d+)/10: loss ([0-9.]+)", line) for line in lines[:-1]]
    assert all(progress), lines
    assert [int(m[1]) for m in progress] == list(range(1, 11))
    last = re.match(r"step (\d+): loss ([0-9.]+)", lines[-1])
    assert last and int(last[1]) == 10  # the step the last progress line showed, not 9
    assert float(last[2]) == pytest.approx(float(progress[-1][2]), abs=1e-4)
