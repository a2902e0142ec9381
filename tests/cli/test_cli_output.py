"""What tapegrad hands on (issue 19): `predict`'s CSV is formula-safe by default, as OWASP's
CSV-injection advice says (`--raw-csv` writes cells as they are), and names from the user's
data reach the terminal with control and bidirectional characters escaped."""

from __future__ import annotations

import csv

import pytest

from tapegrad import cli, markup
from tapegrad.commands.predict import formula_safe

HEADER = ["+a", "b", "@note", "=label"]
CLASSES = ['=HYPERLINK("http://example.invalid","x")', "@SUM(A1)"]
NOTES = ["-2+3+cmd|' /C calc'!A0", "plain"]


def hostile_table(path):
    """Two numeric columns (b negative), a text column and a label whose names, cells and
    classes all begin as spreadsheet formulas."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for r in range(40):
            w.writerow([r % 7, -1.5 - r % 3, NOTES[r % 2], CLASSES[(r // 2) % 2]])
    return path


def rows_of(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def predicted(tmp_path, capsys):
    """(the data, the model) of a run on the hostile table."""
    data = hostile_table(tmp_path / "t.csv")
    argv = ["train", "--data", str(data), "--label", "=label", "--epochs", "1", "--no-progress"]
    assert cli.main([*argv, "--out", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return data, tmp_path / "run" / "model.json"


def test_predictions_are_formula_safe_by_default(tmp_path, predicted, capsys):
    data, model = predicted
    out = tmp_path / "p.csv"
    argv = ["predict", "--model", str(model), "--data", str(data), "-o", str(out), "--proba"]
    assert cli.main(argv) == 0
    header, *rows = rows_of(out)
    assert header == ["'+a", "b", "'@note", "'=label", *(f"p_{c}" for c in CLASSES)]
    for row in rows:
        assert row[1].startswith("-1.5") or row[1] in ("-2.5", "-3.5")  # numbers stay numbers
        assert row[2] in ("'" + NOTES[0], "plain")
        assert row[3] in ["'" + c for c in CLASSES]
        assert 0 <= float(row[4]) <= 1
    # no cell left that a spreadsheet would start as a formula
    cells = [cell for row in [header, *rows] for cell in row]
    assert all(not cell.startswith(("=", "+", "@")) for cell in cells)
    assert all(not cell.startswith("-") or float(cell) < 0 for cell in cells)


def test_raw_csv_writes_every_cell_as_it_is(tmp_path, predicted):
    data, model = predicted
    out = tmp_path / "raw.csv"
    argv = ["predict", "--model", str(model), "--data", str(data), "-o", str(out), "--raw-csv"]
    assert cli.main(argv) == 0
    header, *rows = rows_of(out)
    source = rows_of(data)
    assert header == HEADER
    assert [row[:3] for row in rows] == [row[:3] for row in source[1:]]  # a round trip
    assert {row[3] for row in rows} <= set(CLASSES)


@pytest.mark.parametrize(
    "cell, safe",
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("-inf", "'-inf"),
        ("-1.5", "-1.5"),
        ("+2e-3", "+2e-3"),
        ("-.5", "-.5"),
        ("1=1", "1=1"),
        ("", ""),
        ("setosa", "setosa"),
    ],
)
def test_formula_safe_follows_owasp_and_keeps_plain_numbers(cell, safe):
    assert formula_safe(cell) == safe


def test_bidirectional_and_control_characters_are_escaped_on_the_terminal(tmp_path, capsys):
    rlo = "\u202e"
    data = tmp_path / f"evil{rlo}vsc.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "y"])
        for r in range(20):
            w.writerow([r % 5, r % 3, f"yes{rlo}gnp.exe" if r % 2 else f"no\u200f{r % 2}"])
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--epochs", "1", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    shown = capsys.readouterr().out
    assert rlo not in shown and "\u200f" not in shown
    assert "yes\\u202egnp.exe" in shown and "no\\u200f0" in shown  # the class names, escaped
    predict = ["predict", "--model", str(out / "model.json"), "--data", str(data)]
    assert cli.main([*predict, "-o", str(tmp_path / "p.csv")]) == 0
    shown = capsys.readouterr().out
    assert rlo not in shown and "evil\\u202evsc.csv: loss" in shown
    # the CSV itself keeps the names exactly
    assert {row[2] for row in rows_of(tmp_path / "p.csv")[1:]} <= {f"yes{rlo}gnp.exe", "no\u200f0"}


def test_terminal_escapes_what_is_not_printable():
    assert markup.terminal_text("plain text, ünïcode") == "plain text, ünïcode"
    assert markup.terminal_text("a\u202eb\x1b[31mc\td") == "a\\u202eb\\x1b[31mc\\td"
    assert markup.terminal_text("one\ntwo", keep="\n") == "one\ntwo"
