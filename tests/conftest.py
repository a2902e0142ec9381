"""Shared test settings."""

import os

import pytest
from hypothesis import HealthCheck, settings

# CI machines are shared and slow: no per-example deadline, a fixed example budget.
settings.register_profile(
    "default", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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
