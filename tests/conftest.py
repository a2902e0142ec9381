"""Shared test settings and fixtures: the references (see references.py) and the browser."""

import importlib.util
import os

import pytest
from references import require

if importlib.util.find_spec("hypothesis") is not None:  # the property tests' library, optional
    from hypothesis import HealthCheck, settings

    # CI machines are shared and slow: no per-example deadline, a fixed example budget.
    settings.register_profile(
        "default", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the reference for values and gradients (float64): skips where it is missing."""
    return require("torch")


@pytest.fixture(scope="session")
def sklearn():
    """scikit-learn, with the data sets tapegrad's tables and examples are checked against."""
    require("sklearn.datasets")
    return require("sklearn")


@pytest.fixture(scope="session")
def micrograd():
    """micrograd 0.1.0, the lecture's engine, with its `engine` and `nn` modules."""
    require("micrograd.engine")
    require("micrograd.nn")
    return require("micrograd")


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (see tests/browser.py)."""
    from browser import start_chromium, stop_chromium

    driver = start_chromium()
    yield driver
    stop_chromium(driver)


@pytest.fixture
def browser(chromium):
    """The module's browser, its console read empty before and after each test (no
    JavaScript error may be logged)."""
    from browser import javascript_errors

    javascript_errors(chromium)
    yield chromium
    assert javascript_errors(chromium) == []


@pytest.fixture
def failing_dot(tmp_path, monkeypatch):
    """A `dot` on PATH that fails as a broken Graphviz does (exit 1, a message on stderr), with
    the test in tmp_path: the builtin renderer must take over and say why once."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dot").write_text("#!/bin/sh\necho 'Error: out of memory' >&2\nexit 1\n")
    (bindir / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.chdir(tmp_path)
