"""Every ```python block in README.md runs, in order, in one namespace, in a temporary
directory; a block that raises fails the test with its line number in README.md."""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
PYTHON = {"python", "py", "python3"}


def python_blocks(text: str, languages=PYTHON) -> list[tuple[int, str]]:
    """(line number of the block's first code line, code) for each fenced block in one of
    `languages` (python by default)."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        start = i + 1
        j = start
        while j < len(lines) and not closing.match(lines[j]):
            j += 1
        if lang in languages:
            blocks.append((start + 1, "\n".join(lines[start:j]) + "\n"))
        i = j + 1
    return blocks


def test_block_extraction_keeps_line_numbers_and_skips_other_languages():
    text = "# t\n\n```sh\nls\n```\n\n```python\nx = 1\ny = x\n```\n```py\nz = 2\n```\n"
    assert python_blocks(text) == [(8, "x = 1\ny = x\n"), (12, "z = 2\n")]


def test_readme_python_blocks_run(tmp_path, monkeypatch, sklearn):  # its tables: sklearn
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # a block may plot: never open a window
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README.md has no ```python block to test"
    namespace: dict = {"__name__": "__readme__"}
    for line, code in blocks:
        # Pad with blank lines so tracebacks point at the README's own line numbers.
        compiled = compile("\n" * (line - 1) + code, str(README), "exec")
        error = None
        try:
            exec(compiled, namespace)  # README.md is this repository's own file
        except Exception as exc:  # report it with the README's line numbers, minus this frame
            error = "".join(traceback.format_exception(exc, exc, exc.__traceback__.tb_next))
        if error is not None:
            pytest.fail(f"README.md block at line {line} raised:\n{error}", pytrace=False)


def test_the_inside_table_names_every_module():
    """README's "Inside" table matches the package's layout: every module (or subpackage) is
    named, and every name in the table exists."""
    package = README.parent / "src" / "tapegrad"
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Inside") :].split("\n\n")[1]
    first_cells = "".join(row.split("|")[2] for row in table.splitlines()[2:])
    named = set(re.findall(r"`([\w/]+(?:\.py|/))`", first_cells))
    actual = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    actual |= {p.name + "/" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert named == actual, f"missing {sorted(actual - named)}, gone {sorted(named - actual)}"


def test_readme_command_line_examples_run(tmp_path, monkeypatch, capsys, sklearn):
    """The Command line section: its python block writes iris.csv, then every `tapegrad` line
    of its sh block runs (in-process) and exits 0, doing what its comment says."""
    import shlex

    from tapegrad import cli

    # iris and digits ship with scikit-learn: the `sklearn` fixture skips without it
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line") :]
    section = section[: section.index("\n## ", 1)]
    ((_, setup),) = python_blocks(section)
    exec(compile(setup, str(README), "exec"), {"__name__": "__readme__"})
    ((_, commands),) = python_blocks(section, {"sh"})
    lines = [shlex.split(line, comments=True) for line in commands.splitlines()]
    assert len(lines) >= 5 and all(argv[0] == "tapegrad" for argv in lines)
    for argv in lines:
        assert cli.main([*argv[1:], "--no-progress"] if argv[1] in ("train", "demo") else
                        argv[1:]) == 0, argv  # fmt: skip
    out = capsys.readouterr().out
    assert "3 classes from column 'species': setosa, versicolor, virginica" in out
    with open(tmp_path / "predictions.csv", newline="") as fh:
        header = fh.readline().strip().split(",")
        first = fh.readline()
    assert header[-4:] == ["species", "p_setosa", "p_versicolor", "p_virginica"]
    assert ",setosa," in first
    for folder in ("train", "train-2", "demo"):
        assert (tmp_path / "tapegrad-out" / folder / "run.json").exists()
    assert (tmp_path / "neuron.svg").read_text().lstrip().startswith("<")


def test_readme_says_which_extra_the_built_in_tables_need(tmp_path, monkeypatch, capsys):
    """The Command line section names the extra that brings scikit-learn (whose tables it
    uses) and the command's one error line without scikit-learn names the same extra."""
    import tomllib

    from tapegrad import cli
    from tapegrad.commands import common

    section = README.read_text(encoding="utf-8").split("## Command line", 1)[1]
    section = section.split("\n## ", 1)[0]
    named = re.search(r'pip install -e "\.\[(\w+)\]"', section)
    assert named, "the Command line section does not say which extra its tables need"
    pyproject = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))
    extra = pyproject["project"]["optional-dependencies"][named[1]]
    assert any(req.startswith("scikit-learn") for req in extra)
    monkeypatch.chdir(tmp_path)
    for name in ("sklearn", "sklearn.datasets"):  # as if scikit-learn were not installed
        monkeypatch.setitem(sys.modules, name, None)
    for table in ("iris", "digits"):
        argv = ["train", "--data", table, "--epochs", "1", "--no-progress"]
        assert cli.main(argv) == common.ERROR
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("tapegrad train: error: ")
        assert "scikit-learn" in err and f"tapegrad[{named[1]}]" in err
