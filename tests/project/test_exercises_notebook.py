"""The exercise notebook (notebooks/04_exercises.ipynb) runs on a real kernel three ways:
solved (every check prints "ok"), untouched as committed (every check says "not done yet",
no error and no traceback), and with each typical wrong answer filled in (it stops at that
exercise's check with ExerciseFailed and the answer's hint, shown without a stack, and writes
the page of its mistake beside the notebook)."""

from __future__ import annotations

import sys

import pytest
from exercise_solutions import NOTEBOOK, SOLUTIONS, WRONG, cells_by_tag
from references import require

nbformat = require("nbformat")
nbclient = require("nbclient")

CELL_TIMEOUT = 300  # seconds per cell: a hang guard on a shared machine, not a speed check
SAME_PYTHON = f"import sys\nassert sys.prefix == {sys.prefix!r}, sys.prefix"
EXERCISES = [tag.removeprefix("exercise-") for tag in SOLUTIONS]


def tag_of(cell) -> str:
    return next(iter(cell.metadata.get("tags", [])), "")


def run(answers: dict[str, str], workdir, stop_after: str | None = None):
    """The notebook with `answers` put into the cells they are tagged for (and nothing after
    the cell tagged `stop_after`), run top to bottom; gives the notebook and the tag of the
    cell that raised, if one did."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = []
    for cell in nb.cells:
        if tag_of(cell) in answers:
            cell.source = answers[tag_of(cell)]
        cells.append(cell)
        if stop_after and tag_of(cell) == stop_after:
            break
    nb.cells = [nbformat.v4.new_code_cell(SAME_PYTHON), *cells]
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )  # fmt: skip
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError:
        pass
    failed = [
        tag_of(c) for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", []))
    ]
    assert len(failed) <= 1, failed
    return nb, (failed[0] if failed else None)


def printed(nb, tag: str) -> str:
    [cell] = [c for c in nb.cells if tag_of(c) == tag]
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_every_exercise_has_its_check_and_its_solution():
    """Each exercise cell ships untouched (a NotImplementedError to replace) with a check
    cell after it, and its solution keeps every line the notebook gives."""
    cells = cells_by_tag()
    exercise_tags = [t for t in cells if t.startswith("exercise-")]
    assert exercise_tags == list(SOLUTIONS)
    order = list(cells)
    for tag in exercise_tags:
        check = tag.replace("exercise-", "check-")
        assert order.index(check) == order.index(tag) + 1, tag
        assert "raise NotImplementedError" in cells[tag], tag
        given = [line for line in cells[tag].splitlines() if "TODO" not in line]
        given = [line for line in given if "NotImplementedError" not in line]
        solution = SOLUTIONS[tag].splitlines()
        assert [line for line in given if line not in solution] == [], tag
    for w in WRONG.values():
        assert w.tag in SOLUTIONS and w.check in cells


def test_solved_every_check_prints_ok(tmp_path):
    nb, failed = run(SOLUTIONS, tmp_path)
    assert failed is None
    for name in EXERCISES:
        out = printed(nb, f"check-{name}")
        assert out.startswith("ok: ") and out.count("\n") == 1, (name, out)


def test_untouched_every_check_says_not_done_yet(tmp_path):
    nb, failed = run({}, tmp_path)
    assert failed is None  # no error output anywhere: no traceback
    for number, name in enumerate(EXERCISES, start=1):
        out = printed(nb, f"check-{name}")
        assert out.startswith("not done yet: write "), (name, out)
        assert f"(exercise {number}) first" in out, (name, out)


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_a_wrong_answer_fails_in_its_check_with_its_hint(wrong, tmp_path):
    w = WRONG[wrong]
    nb, failed = run({**SOLUTIONS, w.tag: w.source}, tmp_path, stop_after=w.check)
    assert failed == w.check
    [cell] = [c for c in nb.cells if tag_of(c) == w.check]
    [error] = [o for o in cell.outputs if o.output_type == "error"]
    assert error.ename == "ExerciseFailed"
    [hint] = [line for line in error.evalue.splitlines() if line.startswith("hint: ")]
    assert w.hint in hint, error.evalue
    # What the learner sees is the message alone: no stack of the checker's insides.
    shown = "\n".join(error.traceback)
    assert "Traceback" not in shown and "exercises.py" not in shown, shown
    assert shown.startswith("ExerciseFailed: exercise ")
    # ...and it links to the page of its mistake, written beside the notebook. A missing
    # out.grad factor is right where gradcheck measures (out.grad = 1): no mistake shows it.
    page = tmp_path / f"mistake-{w.check.removeprefix('check-')}.html"
    if wrong == "mul-without-out-grad":
        assert not page.exists() and "see: " not in error.evalue
    else:
        assert f"see: {page.name} " in error.evalue.splitlines()[-1]
        assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
