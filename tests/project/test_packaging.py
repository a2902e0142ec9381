"""Ready to publish: `python -m build` makes the sdist and the wheel from a clean copy of the
project, the wheel holds every file of the package the source tree has, and installed into a
fresh venv (with --no-deps: the dependencies come from the test's own environment) it imports
from there and runs `tapegrad demo`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from references import require

require("build")  # builds the sdist and wheel, as a release would

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tapegrad"
TOP_FILES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in")

pytestmark = pytest.mark.packaging


def package_files() -> set[str]:
    """Every file of the package in the source tree, as 'tapegrad/...' (caches left out)."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    # Without PYTHONPATH, so nothing is imported from the source tree by accident.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=300, **kwargs
    )
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and wheel, built from a copy (the build leaves egg-info and build/ behind)."""
    base = tmp_path_factory.mktemp("packaging")
    project = base / "project"
    project.mkdir()
    for name in TOP_FILES:
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "src",
        project / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    # No isolation: the dev extra installs build and setuptools, so nothing is downloaded.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", base / "dist", project])
    return base / "dist"


def test_sdist_and_wheel_carry_the_whole_package(dist):
    (wheel,) = dist.glob("tapegrad-*.whl")
    (sdist,) = dist.glob("tapegrad-*.tar.gz")
    expected = package_files()
    assert "tapegrad/commands/common.py" in expected  # subpackages are seen
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert {n for n in names if n.startswith("tapegrad/")} == expected
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata
    assert "tapegrad = tapegrad.cli:main" in entry_points
    with tarfile.open(sdist) as tf:
        top = tf.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(f"{top}/") for n in tf.getnames()}
    assert {f"src/{name}" for name in expected} <= in_sdist
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"} <= in_sdist


def test_the_installed_wheel_imports_and_runs_the_demo(dist, tmp_path):
    (wheel,) = dist.glob("tapegrad-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel])
    site = Path(
        run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    # NumPy, matplotlib, ... from this environment's site-packages, after the venv's own (a
    # plain path line: the .pth files there, such as an editable install's, are not run).
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    check = (
        "import importlib, pkgutil, sys, tapegrad\n"
        "walk = pkgutil.walk_packages(tapegrad.__path__, 'tapegrad.')\n"
        "mods = [m.name for m in walk if m.name != 'tapegrad.__main__']  # __main__ runs the CLI\n"
        "for name in mods:\n"
        "    importlib.import_module(name)\n"
        "files = [sys.modules[n].__file__ for n in ['tapegrad', *mods]]\n"
        "print(tapegrad.__version__, len(mods))\n"
        "print('\\n'.join(files))\n"
    )
    out = run([python, "-c", check], cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith("0.1.0 ")
    for path in out[1:]:
        assert Path(path).is_relative_to(site), f"{path} was not imported from the wheel"
    assert len(out) - 1 == sum(1 for f in package_files() if f.endswith(".py")) - 1  # no __main__

    demo = run(
        [
            venv / "bin" / "tapegrad",
            "demo",
            "--out",
            tmp_path / "out",
            "--steps",
            "10",
            "--no-progress",
        ],
        cwd=tmp_path,
    )
    assert "wrote" in demo.stdout
    for name in ("decision_boundary.png", "loss.png", "model.json", "neuron.svg"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
