"""The notebooks run top to bottom on the venv's own kernel, in a temporary directory, and show
their pictures; notebook 01 (the picture-heavy one) also runs with Graphviz's `dot` hidden, on
the pure-Python renderer. The committed files carry no outputs."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from references import require

nbformat = require("nbformat")  # Jupyter, to run the notebooks as a reader would
NotebookClient = require("nbclient").NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = (
    "01_derivatives_and_backprop.ipynb",
    "02_training_an_mlp.ipynb",
    "03_beyond_micrograd.ipynb",
)
PICTURE_NOTEBOOK = NOTEBOOK_DIR / EXPECTED[0]
CELL_TIMEOUT = 300  # seconds per cell: a hang guard on a shared machine, not a speed check
PICTURE_TYPES = ("image/svg+xml", "image/png")
DRAWING_CALLS = ("draw_dot(", "plots.", "function_and_tangent(")

# Runs first in the kernel: proves the kernel is this venv's interpreter.
SAME_PYTHON = f"import sys\nassert sys.prefix == {sys.prefix!r}, sys.prefix"


def path_without_dot(path: str) -> str:
    """`path` without the directories that hold an executable `dot`."""
    keep = []
    for d in path.split(os.pathsep):
        dot = os.path.join(d, "dot")
        if d and not (os.path.isfile(dot) and os.access(dot, os.X_OK)):
            keep.append(d)
    return os.pathsep.join(keep)


def execute(nb_path: Path, workdir: Path, env: dict[str, str], guard: str):
    """Run a notebook with `guard` prepended, on the python3 kernel in `workdir`.

    jupyter_client starts the python3 kernel with `sys.executable`, so the kernel is this
    venv's Python; `env` is the kernel's whole environment."""
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(guard))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=env)  # raises CellExecutionError, naming the cell, if one fails
    return nb


def displayed(nb) -> list[dict]:
    """The rich outputs (display data and results) of every code cell."""
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type in ("display_data", "execute_result")
    ]


def drawing_cells(nb) -> list[str]:
    """Code cells whose last line draws a picture, so must display one."""
    cells = []
    for cell in nb.cells:
        lines = cell.source.strip().splitlines() if cell.cell_type == "code" else []
        if lines and lines[-1].startswith(DRAWING_CALLS):
            cells.append(cell)
    return cells


def assert_pictures_shown(nb) -> None:
    for cell in drawing_cells(nb):
        kinds = {k for out in cell.outputs if "data" in out for k in out["data"]}
        assert kinds & set(PICTURE_TYPES), f"no picture from cell:\n{cell.source}"


def svgs(nb) -> list[str]:
    return [out["data"]["image/svg+xml"] for out in displayed(nb) if "image/svg+xml" in out.data]


def assert_backpropagated_L_drawn(nb) -> None:
    """The picture after `L.backward()` shows the lecture's numbers: L = -8, dL/da = 6,
    dL/db = -4, dL/df = 4 (Graphviz writes '-' as '&#45;': compare unescaped text)."""
    cell = next(c for c in nb.cells if c.source.strip() == "L.backward()\ndraw_dot(L)")
    [svg] = [html.unescape(o["data"]["image/svg+xml"]) for o in cell.outputs if "data" in o]
    for text in ("data -8.0000", "grad 6.0000", "grad -4.0000", "grad 4.0000"):
        assert text in svg, text


WORDS = dict(zip("one two three four five six seven eight nine".split(), range(1, 10), strict=True))
SCALE = {"": 1, "hundred": 100, "thousand": 1000}
TOLD = re.compile(r"about ([\d,]+|[a-z]+)(?: (hundred|thousand))? nodes")


def nodes_told(markdown: str) -> int:
    """The node count a notebook's prose gives ("about four hundred nodes", "about 8,000
    nodes"): a rounded figure, to be checked against the count its code prints."""
    m = TOLD.search(" ".join(markdown.split()))
    assert m, f"no 'about N nodes' in:\n{markdown}"
    number = int(m[1].replace(",", "")) if m[1][0].isdigit() else WORDS[m[1]]
    return number * SCALE[m[2] or ""]


def assert_about(count: int, told: int) -> None:
    assert abs(count - told) <= 0.25 * told, f"the prose says about {told} nodes, the code {count}"


def test_nodes_told_reads_the_prose():
    assert nodes_told("a graph of about four\nhundred nodes;") == 400
    assert nodes_told("the graph's about 8,000 nodes") == 8000
    with pytest.raises(AssertionError, match="no 'about N nodes'"):
        nodes_told("a graph of ~100,000 nodes")
    with pytest.raises(AssertionError, match="says about 1000 nodes, the code 409"):
        assert_about(409, 1000)


def markdown_before(nb, marker: str) -> str:
    """The text of the markdown cell before the first code cell holding `marker`."""
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and marker in c.source)
    return next(c.source for c in reversed(nb.cells[:at]) if c.cell_type == "markdown")


def test_notebook_02_node_counts_match_its_prose():
    """Notebook 02's "about N nodes" for a step's graph and for one sample's, against the
    graphs its code builds (structure only: the same for any weights)."""
    from tapegrad import data, losses
    from tapegrad.graph import stats
    from tapegrad.nn import MLP

    nb = nbformat.read(NOTEBOOK_DIR / EXPECTED[1], as_version=4)
    X, y = data.moons(100, noise=0.1, seed=1337)
    y = 2 * y - 1
    model = MLP(2, [16, 16, 1], seed=1337)
    scores = [model(row) for row in X.tolist()]
    hinge = [losses.hinge(s, t) for s, t in zip(scores, y.tolist(), strict=True)]
    step = losses.mean(hinge) + losses.l2(model, 1e-4)
    assert_about(stats(step).nodes, nodes_told(markdown_before(nb, "total.backward()")))
    sample = losses.hinge(model(X[0].tolist()), int(y[0]))
    assert_about(stats(sample).nodes, nodes_told(markdown_before(nb, "stats(sample_loss)")))


def assert_sample_nodes_as_told(nb) -> None:
    """The node count notebook 02 prints for one sample's loss is the one its prose gives."""
    cell = next(c for c in nb.cells if "print(stats(sample_loss))" in c.source)
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    count = re.search(r"nodes=(\d+)", printed)
    assert count, printed
    assert_about(int(count[1]), nodes_told(markdown_before(nb, "stats(sample_loss)")))


def test_the_three_notebooks_are_here():
    assert [p.name for p in NOTEBOOKS if p.name in EXPECTED] == list(EXPECTED)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert any(c.cell_type == "code" for c in nb.cells), f"{nb_path.name} has no code"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{nb_path.name} cell {i} has outputs: strip them"
            assert cell.execution_count is None, f"{nb_path.name} cell {i} has an execution count"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(nb_path, tmp_path):
    nb = execute(nb_path, tmp_path, dict(os.environ), SAME_PYTHON)
    assert_pictures_shown(nb)
    if nb_path.name == EXPECTED[1]:
        assert_sample_nodes_as_told(nb)
    if nb_path == PICTURE_NOTEBOOK:
        assert len(drawing_cells(nb)) >= 8  # the lecture's pictures, and each one shown
        assert_backpropagated_L_drawn(nb)
        if shutil.which("dot"):
            # With Graphviz installed, draw_dot renders with it (it stamps its SVG).
            assert any("Generated by graphviz" in svg for svg in svgs(nb))


def test_notebook_01_runs_without_graphviz_dot(tmp_path):
    env = dict(os.environ)
    env["PATH"] = path_without_dot(env.get("PATH", ""))
    guard = SAME_PYTHON + "\nimport shutil\nassert shutil.which('dot') is None, shutil.which('dot')"
    nb = execute(PICTURE_NOTEBOOK, tmp_path, env, guard)
    assert_pictures_shown(nb)
    graphs = [
        c for c in drawing_cells(nb) if c.source.strip().splitlines()[-1].startswith("draw_dot(")
    ]
    assert len(graphs) >= 7
    assert_backpropagated_L_drawn(nb)
    for cell in graphs:
        assert any("image/svg+xml" in out.get("data", {}) for out in cell.outputs), cell.source
    # No picture came from Graphviz: the pure-Python renderer drew them all.
    assert not any("Generated by graphviz" in svg for svg in svgs(nb))


def test_jupyter_nbconvert_runs_a_notebook_from_the_shell(tmp_path):
    """The dev extra's `jupyter nbconvert --to notebook --execute`, as a reader runs a notebook
    from a shell, on this venv's kernel: the executed copy holds the cell's output."""
    require("nbconvert")
    jupyter = Path(sys.executable).with_name("jupyter")
    source = tmp_path / "tiny.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        SAME_PYTHON + "\nimport tapegrad\nprint(tapegrad.Value(2.0) * 3)"
    )])  # fmt: skip
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, source)
    run = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "notebook", "--execute", str(source),
         "--output", "ran.ipynb", f"--ExecutePreprocessor.timeout={CELL_TIMEOUT}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=CELL_TIMEOUT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    [cell] = nbformat.read(tmp_path / "ran.ipynb", as_version=4).cells
    assert "".join(o.get("text", "") for o in cell.outputs).startswith("Value(data=6")
