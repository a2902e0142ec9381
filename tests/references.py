"""The references the tests check tapegrad against (PyTorch, scikit-learn, micrograd) and the
property-testing library (Hypothesis): one way to get each.

None of them is a dependency of the project: they come with the dev extra. The core suite
(`tests/core`) runs with the project alone installed, so a test never imports a reference at
module level. A test asks for one by a fixture of `conftest.py` (`torch`, `sklearn`,
`micrograd`); a module of property tests calls `require("hypothesis")` at its top. Where the
reference is missing, the test (or the module) skips, saying what to install. Under CI
(`CI=true`), which installs the dev extra, a missing reference is a broken install, not a skip:
the test fails, naming it (as `browser.py` does for a missing browser).
"""

from __future__ import annotations

import importlib
import os
import sys

import pytest

PACKAGES = {
    "torch": "torch",
    "sklearn": "scikit-learn",
    "micrograd": "micrograd",
    "hypothesis": "hypothesis",
    "pandas": "pandas",  # not a reference: a DataFrame is one of fit_table's inputs
    "selenium": "selenium",  # drives the browser tests' Chromium (browser.py)
    "nbformat": "nbformat",  # with nbclient: the notebooks run as a reader runs them
    "nbclient": "nbclient",
    "nbconvert": "nbconvert",  # `jupyter nbconvert`, the shell's way to run a notebook
    "build": "build",  # the packaging test's sdist and wheel
}
"""Each reference's import name and the distribution pip installs it from."""


def in_ci() -> bool:
    """Whether this run is CI's, where everything the tests use must be installed."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(message: str):
    """Skip the test (or the module, when called at its top) locally; fail it under CI."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: the dev extra should have installed it)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require(module: str):
    """Import `module` (a reference, or one of its submodules) or skip/fail, naming it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = str(error)
    package = PACKAGES[module.partition(".")[0]]
    caller = os.path.basename(sys._getframe(1).f_globals.get("__file__", ""))
    who = "the test" if caller in ("", "conftest.py") else caller  # a fixture's, or a module's
    skip_or_fail(
        f"{who} needs {module}, which is not installed ({missing}): pip install {package}, "
        "or the project's dev extra"
    )
