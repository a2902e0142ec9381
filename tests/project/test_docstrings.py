"""The examples in the teaching docstrings (grad, value_and_grad, fit, draw_dot) run as
doctests, so what they show is what the library does."""

from __future__ import annotations

import doctest

import pytest

import tapegrad
from tapegrad import functional, train, viz

DOCUMENTED = [functional.grad, functional.value_and_grad, train.fit, viz.draw_dot]


@pytest.mark.parametrize("fn", DOCUMENTED, ids=lambda f: f.__name__)
def test_docstring_has_args_returns_and_a_passing_example(fn):
    doc = fn.__doc__
    for section in ("Args:", "Returns:", "Example:"):
        assert section in doc, f"{fn.__name__}: no {section} section"
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(fn, fn.__name__, globs={"tapegrad": tapegrad, fn.__name__: fn})
    assert tests and tests[0].examples, f"{fn.__name__}: no examples"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{fn.__name__}: {result.failed} example(s) failed (see above)"
