"""`tapegrad explain` end to end in a temporary directory: the page it writes, and the one line
it prints where it cannot (an existing file without --force, a folder, a failing `dot`)."""

import warnings

import pytest

from tapegrad.cli import main

NEURON = "tanh(x1*w1 + x2*w2 + b)"
NEURON_SET = ["x1=2", "x2=0", "w1=-3", "w2=1", "b=6.8813735870195432"]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def explain(capsys, *options):
    return run(capsys, "explain", NEURON, "--set", *NEURON_SET, *options)


def test_explain_writes_a_page(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = explain(capsys, "-o", "new/neuron.html")
    assert code == 0 and err == ""
    assert out.startswith("wrote new/neuron.html (")
    page = (tmp_path / "new" / "neuron.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "tanh(x1*w1 + x2*w2 + b)" in page


def test_explain_keeps_an_existing_file_unless_forced(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep me\n")
    code, out, err = explain(capsys, "-o", "notes.txt")
    assert code == 2 and out == ""
    assert err == "tapegrad explain: error: -o 'notes.txt' exists; pass --force to replace it\n"
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"
    code, out, err = explain(capsys, "-o", "notes.txt", "--force")
    assert code == 0 and err == "" and out.startswith("wrote notes.txt (")
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_explain_refuses_a_dangling_symlink_unless_forced(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "page.html").symlink_to(tmp_path / "elsewhere.html")
    code, _, err = explain(capsys, "-o", "page.html")
    assert code == 2 and "exists; pass --force" in err
    assert not (tmp_path / "elsewhere.html").exists()


def test_explain_into_a_folder_says_so_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pages").mkdir()
    code, out, err = explain(capsys, "-o", "pages")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Errno" not in err and ".tmp" not in err
    assert err.startswith("tapegrad explain: error: -o 'pages' is a folder; name a file in it")
    assert list((tmp_path / "pages").iterdir()) == []


def test_explain_under_a_file_says_so_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep me\n")
    code, _, err = explain(capsys, "-o", "notes.txt/page.html")
    assert code == 2 and err.count("\n") == 1 and "Errno" not in err
    assert "'notes.txt' is a file, not a folder" in err


def test_explain_write_errors_name_the_page_not_a_temp_file(capsys, tmp_path, monkeypatch):
    # A failure only the write itself finds (a full disk, a folder gone meanwhile).
    from tapegrad.pages import page

    def no_space(path, text, keep_suffix=True):
        raise OSError(28, "No space left on device", str(tmp_path / ".neuron.html.1-abc.tmp"))

    monkeypatch.setattr(page, "write_text", no_space)
    monkeypatch.chdir(tmp_path)
    code, _, err = explain(capsys, "-o", "neuron.html")
    assert code == 2
    assert err == (
        "tapegrad explain: error: cannot write -o 'neuron.html': No space left on device\n"
    )


def test_explain_says_once_why_the_builtin_renderer_ran(capsys, failing_dot):
    # A `dot` that fails: the page is still written, with one note on stderr as `graph` says it.
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        code, out, err = explain(capsys, "-o", "neuron.html")
    assert [str(w.message) for w in escaped] == []  # no Python warning with a source line
    assert code == 0 and out.startswith("wrote neuron.html (") and "builtin renderer" in out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tapegrad explain: note: Graphviz's `dot`")
    assert "exit status 1: Error: out of memory" in lines[0]
    assert "RendererWarning" not in err and "warnings.warn" not in err


# --- --mistake: the right walk and a mistaken one side by side -------------------------------


def mistake_page(tmp_path, name="m.html") -> dict:
    """The data a mistake page's script replays: names, both columns per step, the marked node."""
    import json
    import re

    html = (tmp_path / name).read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="[^"]*-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def final(data: dict, side: str) -> dict[str, float]:
    return {n: float(x) for n, x in zip(data["names"], data[side][-1], strict=True)}


def test_explain_mistake_assign_on_the_lectures_bug(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        capsys, "explain", "a + a", "--set", "a=3", "--mistake", "assign", "-o", "m.html"
    )
    assert code == 0 and err == ""
    assert out.startswith("wrote m.html (") and "first differ at a, step 1" in out
    data = mistake_page(tmp_path)
    assert final(data, "right")["a"] == 2.0 and final(data, "wrong")["a"] == 1.0  # db/da = 2


def test_explain_mistake_wrong_rule_plants_a_classic_one(capsys, tmp_path, monkeypatch):
    import mistake_reference as ref

    monkeypatch.chdir(tmp_path)
    code, out, err = explain(
        capsys, "--mistake", "wrong-rule", "--wrong-rule", "tanh-x", "-o", "m.html"
    )
    assert code == 0 and err == "" and "first differ at" in out
    # the reference: the lecture's neuron with tanh's rule as 1 - x**2, and with the right one
    values = dict(v.split("=") for v in NEURON_SET)
    x = {k: ref.Ref(float(v), label=k) for k, v in values.items()}
    n = x["x1"] * x["w1"] + x["x2"] * x["w2"] + x["b"]
    wrong = ref.backward(n.tanh(wrong=True))[-1]
    data = mistake_page(tmp_path)
    for name in values:
        assert final(data, "wrong")[name] == pytest.approx(wrong[name], abs=1e-4)
    x = {k: ref.Ref(float(v), label=k) for k, v in values.items()}
    right = ref.backward((x["x1"] * x["w1"] + x["x2"] * x["w2"] + x["b"]).tanh())[-1]
    for name in values:
        assert final(data, "right")[name] == pytest.approx(right[name], abs=1e-4)


def test_explain_mistake_no_zero_and_order(capsys, tmp_path, monkeypatch):
    import mistake_reference as ref

    monkeypatch.chdir(tmp_path)
    code, out, _ = run(
        capsys, "explain", "a*b*(a + b)", "--set", "a=-2", "b=3", "--mistake", "no-zero",
        "-o", "m.html",
    )  # fmt: skip
    assert code == 0 and "first differ at" in out
    a, b = ref.Ref(-2.0, label="a"), ref.Ref(3.0, label="b")
    root = a * b * (a + b)
    ref.backward(root)
    second = ref.backward(root, zero=False)[-1]  # micrograd's second pass, not zeroed
    data = mistake_page(tmp_path)
    assert final(data, "wrong")["a"] == pytest.approx(second["a"])
    assert final(data, "wrong")["b"] == pytest.approx(second["b"])
    # an expression makes a new node for every operation it names: no value but a variable is
    # used twice, so the order of the walk changes nothing, and the page says so
    code, out, _ = explain(capsys, "--mistake", "order", "--walk", "recursion", "-o", "t.html")
    assert code == 0 and "the mistake changes no gradient on this graph" in out


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--mistake", "wrong-rule"], "--mistake wrong-rule needs --wrong-rule NAME"),
        (["--wrong-rule", "tanh-x"], "--wrong-rule goes with --mistake wrong-rule"),
        (["--walk", "bfs", "--mistake", "assign"], "--walk goes with --mistake order"),
        (
            ["--mistake", "wrong-rule", "--wrong-rule", "exp-x"],
            "changes exp nodes, but this graph has none",
        ),
    ],
)
def test_explain_mistake_refusals_say_why(capsys, tmp_path, monkeypatch, options, said):
    monkeypatch.chdir(tmp_path)
    code, out, err = explain(capsys, *options, "-o", "m.html")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("tapegrad explain: error: ") and said in err
    assert not (tmp_path / "m.html").exists()
