"""Run folders (issue 19): a run takes its folder exclusively (made fresh, or refused when
another run holds it or, without --force, when it is not empty), builds its files in a private
staging folder and renames them in, so two runs never mix files, a planted symlink is replaced
and never written through, and --force leaves none of the old run's files beside the new."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest

import tapegrad
from tapegrad import cli
from tapegrad._files import RUN_FILES, RunFolder, RunFolderError
from tapegrad.commands import common
from tapegrad.data import moons

fcntl = pytest.importorskip("fcntl")  # the run lock is flock (POSIX)

TRAIN = ["train", "--data", "moons", "--epochs", "1", "--hidden", "2", "--no-progress"]
MOONS_FILES = {"model.json", "history.json", "loss.png", "decision_boundary.png", "report.html"}
MOONS_FILES.add("run.json")


def three_features(path):
    """moons with a third column: a run on it draws no decision boundary."""
    X, y = moons(60, noise=0.1, seed=0)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "c", "y"])
        for (a, b), label in zip(X.tolist(), y.tolist(), strict=True):
            w.writerow([a, b, a * b, label])
    return path


def snapshot(folder):
    """Every entry of `folder`: name -> bytes (files) or the link's target (symlinks)."""
    out = {}
    for name in sorted(os.listdir(folder)):
        p = folder / name
        out[name] = ("link", os.readlink(p)) if p.is_symlink() else p.read_bytes()
    return out


def test_an_existing_run_folder_is_refused_without_force_and_nothing_changes(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*TRAIN, "--out", str(out)]) == 0
    before = snapshot(out)
    assert set(before) == MOONS_FILES
    capsys.readouterr()
    assert cli.main([*TRAIN, "--seed", "2", "--out", str(out)]) == common.ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"--out {str(out)!r} is not empty" in err and "--force" in err
    assert snapshot(out) == before  # model.json included: nothing replaced


def test_force_replaces_the_run_and_leaves_none_of_its_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*TRAIN, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")  # not a run's file: kept
    (out / "old-extra.png").write_bytes(b"x")  # listed in the old run.json: deleted with it
    doc = json.loads((out / "run.json").read_text())
    doc["files"].append(str(out / "old-extra.png"))
    (out / "run.json").write_text(json.dumps(doc))
    data = three_features(tmp_path / "three.csv")
    argv = ["train", "--data", str(data), "--epochs", "1", "--hidden", "2", "--no-progress"]
    assert cli.main([*argv, "--out", str(out), "--force"]) == 0
    files = set(os.listdir(out))
    # the old run's decision boundary (two features) must not stay beside the new run's files
    assert files == (MOONS_FILES - {"decision_boundary.png"}) | {"notes.txt"}
    assert (out / "notes.txt").read_text() == "mine"
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["data"] == str(data)
    assert tapegrad.load(out / "model.json").nin == 3


def test_a_planted_symlink_is_replaced_never_written_through(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim_file"
    victim.write_text("precious")
    os.symlink("../victim_file", out / "report.html")
    os.symlink("../made_outside", out / "model.json")  # dangling: must not create the file
    assert cli.main([*TRAIN, "--out", str(out)]) == common.ERROR  # not empty
    assert "is not empty" in capsys.readouterr().err
    assert cli.main([*TRAIN, "--out", str(out), "--force"]) == 0
    assert victim.read_text() == "precious"
    assert not (tmp_path / "made_outside").exists()
    for name in ("report.html", "model.json"):
        assert not (out / name).is_symlink() and (out / name).is_file()
    assert "<html" in (out / "report.html").read_text().lower()


def test_a_symlink_planted_while_the_run_trains_is_replaced(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    victim = tmp_path / "victim_file"
    victim.write_text("precious")
    from tapegrad import tables

    real = tables.fit_table

    def plant_then_fit(*args, **kwargs):  # the folder is taken and empty: plant now
        os.symlink("../victim_file", out / "report.html")
        os.symlink("../victim_file", out / "history.json")
        return real(*args, **kwargs)

    monkeypatch.setattr(tables, "fit_table", plant_then_fit)
    assert cli.main([*TRAIN, "--out", str(out)]) == 0
    assert victim.read_text() == "precious"
    assert not (out / "report.html").is_symlink() and not (out / "history.json").is_symlink()
    assert set(os.listdir(out)) == MOONS_FILES


def test_a_folder_in_use_is_refused_even_with_force(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running tapegrad holds it
        for force in ([], ["--force"]):
            assert cli.main([*TRAIN, "--out", str(out), *force]) == common.ERROR
            err = capsys.readouterr().err
            assert f"--out {str(out)!r} is in use by another tapegrad run" in err, err
            assert err.count("\n") == 1
        assert cli.main(["demo", "--steps", "1", "--no-progress", "--out", str(out)]) == 2
        assert "is in use" in capsys.readouterr().err
        assert os.listdir(out) == []
    finally:
        os.close(fd)
    assert cli.main([*TRAIN, "--out", str(out)]) == 0  # released: taken


def test_a_crashed_run_releases_its_folder(tmp_path, capsys):
    out = tmp_path / "run"
    script = f"""
        import os
        from tapegrad._files import RunFolder
        run = RunFolder({str(out)!r})
        open(run.file("model.json"), "w").write("half")
        os._exit(9)  # killed mid-run: no cleanup runs
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, timeout=60)
    assert done.returncode == 9
    assert [e.startswith(".tapegrad-run-") for e in os.listdir(out)] == [True]  # its staging
    # The lock died with the process; what it staged is no run's and is cleared.
    assert cli.main([*TRAIN, "--out", str(out)]) == 0
    assert set(os.listdir(out)) == MOONS_FILES


def test_two_runs_started_together_never_mix_files(tmp_path):
    out = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MPLBACKEND": "Agg"}
    runs = {"3": ["--epochs", "3", "--hidden", "3"], "5": ["--epochs", "5", "--hidden", "5"]}
    procs = {
        key: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tapegrad",
                *TRAIN[:3],
                "--no-progress",
                *extra,
                "--out",
                str(out),
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for key, extra in runs.items()
    }
    results = {key: (p.wait(timeout=300), p.stderr.read()) for key, p in procs.items()}
    for p in procs.values():
        p.stdout.close()
        p.stderr.close()
    statuses = sorted(status for status, _ in results.values())
    assert statuses == [0, 2], results
    (winner,) = [key for key, (status, _) in results.items() if status == 0]
    (loser_err,) = [err for status, err in results.values() if status == 2]
    assert "is in use by another tapegrad run" in loser_err or "is not empty" in loser_err
    assert set(os.listdir(out)) == MOONS_FILES
    # every file is the winner's: hidden size, epochs, model and report agree
    n = int(winner)
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["hidden"] == [n] and run["settings"]["epochs"] == n
    assert json.loads((out / "model.json").read_text())["architecture"]["nouts"] == [n, 2]
    assert len(json.loads((out / "history.json").read_text())["loss"]) == n
    assert f"MLP(2, [{n}, 2]" in (out / "report.html").read_text()


def test_a_failed_run_leaves_no_folder_and_keeps_an_old_run(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n3,oops,1\n")
    fresh = tmp_path / "deep" / "fresh"
    argv = ["train", "--data", str(bad), "--no-progress"]
    assert cli.main([*argv, "--out", str(fresh)]) == common.ERROR
    assert not (tmp_path / "deep").exists()  # made for the run, removed with it
    out = tmp_path / "run"
    assert cli.main([*TRAIN, "--out", str(out)]) == 0
    before = snapshot(out)
    assert cli.main([*argv, "--out", str(out), "--force"]) == common.ERROR
    assert snapshot(out) == before  # the old run is replaced only by a finished one
    capsys.readouterr()


def test_the_default_folders_are_taken_fresh(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tapegrad-out" / "train").mkdir(parents=True)  # empty, but made by someone
    assert cli.main(TRAIN) == 0
    assert os.listdir(tmp_path / "tapegrad-out" / "train") == []
    assert set(os.listdir(tmp_path / "tapegrad-out" / "train-2")) == MOONS_FILES


def test_demo_folders_follow_the_same_rules(tmp_path, capsys):
    out = tmp_path / "d"
    demo = ["demo", "--steps", "1", "--no-progress", "--out", str(out)]
    assert cli.main(demo) == 0
    files = set(os.listdir(out))
    assert files == MOONS_FILES | {"neuron.svg"}
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.unlink(out / "neuron.svg")
    os.symlink(str(victim), out / "neuron.svg")
    assert cli.main(demo) == common.ERROR
    assert "is not empty" in capsys.readouterr().err
    assert cli.main([*demo, "--force"]) == 0
    assert victim.read_text() == "precious" and not (out / "neuron.svg").is_symlink()
    assert set(os.listdir(out)) == files
    run = json.loads((out / "run.json").read_text())
    assert all(os.path.dirname(f) == str(out) for f in run["files"])  # no staging path


def test_the_library_takes_run_folders_the_same_way(tmp_path):
    from tapegrad.tables import fit_table

    X, y = moons(40, noise=0.1, seed=0)
    out = tmp_path / "lib"
    settings = {"epochs": 1, "hidden": [2], "progress": False}
    first = fit_table(X, y, out=out, **settings)
    assert sorted(os.listdir(out)) == ["history.json", "model.json", "run.json"]
    assert first.files == [str(out / n) for n in ("model.json", "history.json", "run.json")]
    with pytest.raises(RunFolderError, match="is not empty"):
        fit_table(X, y, out=out, **settings)
    with pytest.raises(RunFolderError, match="is not empty"):
        first.save(out)
    fit_table(X, y, out=out, force=True, **{**settings, "hidden": [3]})
    assert tapegrad.load(out / "model.json").nouts == [3, 2]
    with RunFolder(tmp_path / "held"), pytest.raises(RunFolderError, match="in use"):
        first.save(tmp_path / "held", force=True)


def test_a_run_file_is_a_plain_name(tmp_path):
    with RunFolder(tmp_path / "f") as run:
        for bad in ("../x", "a/b", "", ".."):
            with pytest.raises(ValueError, match="plain name"):
                run.file(bad)
    assert set(RUN_FILES) >= MOONS_FILES | {"neuron.svg"}
