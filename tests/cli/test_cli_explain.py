"""`tapegrad explain` end to end in a temporary directory: the page it writes, and the one line
it prints where it cannot (an existing file without --force, a folder, a failing `dot`)."""

import warnings

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
