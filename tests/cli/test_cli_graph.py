"""`tapegrad graph` and `tapegrad grad` end to end in a temporary directory."""

import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tapegrad.cli import main

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed here")
NEURON = "tanh(x1*w1 + x2*w2 + b)"
NEURON_SET = ["x1=2", "x2=0", "w1=-3", "w2=1", "b=6.8813735870195432"]
ROOT = Path(__file__).resolve().parents[2]

# The lecture's neuron by hand: n = x1*w1 + x2*w2 + b = 0.8814, o = tanh(n) = 1/sqrt(2),
# do/dn = 1 - o**2 = 0.5, so do/dx1 = w1 * 0.5, do/dw1 = x1 * 0.5, do/dx2 = w2 * 0.5, ...
NEURON_TEXTS = {
    "x1",
    "w1",
    "x2",
    "w2",
    "b",
    "out",
    "tanh",
    f"data {1 / math.sqrt(2):.4f}",
    "data 0.8814",
    f"grad {-3 * 0.5:.4f}",  # x1
    f"grad {2 * 0.5:.4f}",  # w1
    f"grad {1 * 0.5:.4f}",  # x2, b, n
    f"grad {0 * 0.5:.4f}",  # w2
}


def svg_texts(path: Path) -> set[str]:
    root = ET.parse(path).getroot()
    return {"".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")}


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "graph" in out and "grad" in out


@needs_dot
def test_graph_writes_the_lecture_neuron_with_dot(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "graph", NEURON, "--set", *NEURON_SET, "-o", "neuron.svg")
    assert (code, err) == (0, "")
    assert "wrote neuron.svg (dot renderer)" in out
    assert NEURON_TEXTS <= svg_texts(tmp_path / "neuron.svg")


def test_graph_without_dot_uses_the_builtin_renderer(capsys, tmp_path, monkeypatch, no_dot):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "graph", NEURON, "--set", *NEURON_SET, "-o", "pics/neuron.svg")
    assert code == 0
    assert "builtin renderer" in out
    assert NEURON_TEXTS <= svg_texts(tmp_path / "pics" / "neuron.svg")
    code, _, err = run(capsys, "graph", NEURON, "--set", *NEURON_SET, "-o", "neuron.png")
    assert code == 2
    assert "install Graphviz" in err and ".svg" in err
    assert not (tmp_path / "neuron.png").exists()


@needs_dot
def test_graph_png_and_dot_source(capsys, tmp_path):
    code, _, _ = run(capsys, "graph", "x*y", "--set", "x=2", "y=3", "-o", str(tmp_path / "g.png"))
    assert code == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run(capsys, "graph", "x*y", "--set", "x=2", "y=3", "-o", str(tmp_path / "g.gv"))
    assert code == 0
    assert (tmp_path / "g.gv").read_text().startswith("digraph {")


def test_graph_text(capsys):
    code, out, _ = run(capsys, "graph", NEURON, "--set", *NEURON_SET, "--text")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"out [tanh]  data {1 / math.sqrt(2):.4f}  grad 1.0000"
    assert any(ln.endswith("x1  data 2.0000  grad -1.5000") for ln in lines)
    assert any(ln.endswith("w2  data 1.0000  grad 0.0000") for ln in lines)
    code, out, _ = run(capsys, "graph", "x*x", "--set", "x=3", "--no-backward", "--precision", "1")
    assert out.splitlines() == ["out [*]  data 9.0", "├── x  data 3.0", "└── x (shown above)"]


def test_graph_errors(capsys, tmp_path):
    code, _, err = run(capsys, "graph", "x*w", "--set", "x=1")
    assert code == 2 and "variable 'w' has no value" in err and "--set w=..." in err
    code, _, err = run(capsys, "graph", "x", "--set", "x=1", "z=2")
    assert code == 2 and "--set z: no such variable" in err
    code, _, err = run(capsys, "graph", "x", "--set", "x=abc")
    assert code == 2 and "'abc' is not a number" in err
    code, _, err = run(capsys, "graph", "x", "--set", "x")
    assert code == 2 and "expected NAME=VALUE" in err
    code, _, err = run(capsys, "graph", "x", "--set", "x=1", "x=2")
    assert code == 2 and "given twice" in err
    code, _, err = run(capsys, "graph", "x", "--set", "x=1", "-o", str(tmp_path / "g.jpg"))
    assert code == 2 and ".svg" in err
    target = tmp_path / "pwned"
    code, _, err = run(capsys, "graph", f"__import__('os').system('touch {target}')")
    assert code == 2 and "^^^" in err
    assert not target.exists()


def grad_rows(out: str) -> dict[str, tuple[float, float, str]]:
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^d/d(\w+)\s+(\S+)\s+(\S+)\s+\S+\s+(ok|DIFFERS)$", line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), float(m.group(3)), m.group(4))
    return rows


def test_grad_prints_value_and_partials_beside_central_differences(capsys):
    code, out, _ = run(capsys, "grad", "x**y + sin(x)", "--at", "x=1.5", "y=2")
    assert code == 0
    x, y = 1.5, 2.0
    value = float(re.search(r"^value = (\S+)$", out, re.M).group(1))
    assert value == pytest.approx(x**y + math.sin(x), rel=1e-11)
    rows = grad_rows(out)
    assert list(rows) == ["x", "y"]
    closed = {"x": y * x ** (y - 1) + math.cos(x), "y": x**y * math.log(x)}
    for name, (auto, numeric, status) in rows.items():
        assert auto == pytest.approx(closed[name], rel=1e-11)
        assert numeric == pytest.approx(closed[name], rel=1e-6)
        assert status == "ok"


def test_grad_flags_a_kink_and_exits_1(capsys):
    code, out, _ = run(capsys, "grad", "relu(x)", "--at", "x=0")
    assert code == 1
    assert grad_rows(out)["x"] == (0.0, 0.5, "DIFFERS")  # one-sided slopes 0 and 1
    assert "disagree for x" in out


def test_grad_errors_and_no_variables(capsys):
    code, _, err = run(capsys, "grad", "x**y", "--at", "x=1")
    assert code == 2 and "variable 'y' has no value" in err and "--at y=..." in err
    code, _, err = run(capsys, "grad", "x.y", "--at", "x=1")
    assert code == 2 and "attribute access is not allowed" in err
    code, out, _ = run(capsys, "grad", "2*3")
    assert code == 0 and "value = 6" in out and "nothing to differentiate" in out


def test_real_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tapegrad", "grad", "x*x", "--at", "x=3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert grad_rows(result.stdout)["x"][0] == 6.0


def test_committed_readme_picture_is_the_neuron():
    picture = ROOT / "docs" / "images" / "neuron.svg"
    assert NEURON_TEXTS <= svg_texts(picture)


def test_graph_precision_must_be_a_number_of_digits(capsys):
    code, out, err = run(capsys, "graph", "x*x", "--set", "x=3", "--precision", "-5")
    assert code == 2 and out == ""
    assert "--precision must be 0 or more digits, got -5" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as info:
        main(["graph", "x*x", "--set", "x=3", "--precision", "two"])
    assert info.value.code == 2
    assert "--precision" in capsys.readouterr().err


def test_graph_says_once_why_the_builtin_renderer_ran(capsys, tmp_path, failing_dot):
    # A `dot` that fails: the picture is still written, with one note on stderr.
    code, out, err = run(capsys, "graph", NEURON, "--set", *NEURON_SET, "-o", "neuron.svg")
    assert code == 0 and "wrote neuron.svg (builtin renderer)" in out
    assert err.count("note:") == 1 and "exit status 1: Error: out of memory" in err
    assert NEURON_TEXTS <= svg_texts(tmp_path / "neuron.svg")


def test_grad_fails_on_nan_unless_asked(capsys):
    # The case: x**y at x=-2, y=0.5 is nan on both sides; that is not "ok".
    code, out, _ = run(capsys, "grad", "x**y", "--at", "x=-2", "y=0.5")
    assert code == 1
    assert " ok" not in out and out.count("NOT-FINITE") == 2
    assert "not finite (nan or inf) for the value, x, y" in out and "--allow-nonfinite" in out
    code, out, _ = run(capsys, "grad", "x**y", "--at", "x=-2", "y=0.5", "--allow-nonfinite")
    assert code == 0 and out.count(" ok") == 2
    code, out, _ = run(capsys, "grad", "log(x)", "--at", "x=0", "--allow-nonfinite")
    assert code == 1 and "NOT-FINITE" in out  # inf beside nan is never the same value


@pytest.mark.parametrize("eps", ["0", "-1e-6", "nan", "inf"])
def test_grad_eps_must_be_positive(capsys, eps):
    with pytest.raises(SystemExit) as info:
        main(["grad", "x*x", "--at", "x=2", f"--eps={eps}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--eps" in err and "expected a number > 0" in err and "Traceback" not in err
