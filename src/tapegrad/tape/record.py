"""Recording: `fn` run once on placeholder Values, and the Values it returns.

This is the only place the tape calls `fn`: `Tape` records at construction and `Tape.check`
records again to compare. The output is a Value or a list of Values; with `has_aux`, a pair
(output, aux) of those, kept apart in `Recording.parts` so a call can hand back both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ._engine import Value, enable_grad
from .args import ArgSpec, Example, fn_name


class Recording(NamedTuple):
    """What one run of `fn` on placeholders left behind."""

    placeholders: list[list[Value]]
    """Per argument, its placeholder Values (one for a number, n for a vector)."""
    outputs: list[Value]
    """The returned Values: the output's first, then aux's."""
    parts: tuple[tuple[bool, int], ...]
    """(is one Value, how many) for the output, then for aux with `has_aux`."""


def record(
    fn: Callable, specs: list[ArgSpec], examples: tuple[Example, ...], has_aux: bool
) -> Recording:
    """Run `fn` once on fresh placeholders shaped by `specs`, holding the examples' numbers."""
    placeholders = [s.placeholders(e) for s, e in zip(specs, examples, strict=True)]
    args = [p[0] if s.size is None else list(p) for s, p in zip(specs, placeholders, strict=True)]
    result = _call(fn, args)
    if not has_aux:
        values, single = _as_outputs(fn, result, "return")
        return Recording(placeholders, values, ((single, len(values)),))
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(
            f"with has_aux=True, {fn_name(fn)} must return a pair (output, aux), got "
            f"{type(result).__name__}"
        )
    out, out_single = _as_outputs(fn, result[0], "return as output")
    aux, aux_single = _as_outputs(fn, result[1], "return as aux")
    return Recording(placeholders, out + aux, ((out_single, len(out)), (aux_single, len(aux))))


def _call(fn: Callable, args: list) -> object:
    """`fn(*args)` with gradients recorded; an error it raises gets a note on what recording
    cannot do."""
    try:
        with enable_grad():
            return fn(*args)
    except Exception as err:
        err.add_note(
            f"(raised while tapegrad.compile recorded {fn_name(fn)} on placeholder Values; "
            f"control flow or indexing that needs an input's number cannot be recorded: "
            f"express it with ops, and give class targets as one-hot vectors)"
        )
        raise


def _as_outputs(fn: Callable, result: object, what: str) -> tuple[list[Value], bool]:
    """`result` as a list of Values and whether it was one Value, or a TypeError."""
    if isinstance(result, Value):
        return [result], True
    if isinstance(result, list | tuple) and result:
        for i, r in enumerate(result):
            if not isinstance(r, Value):
                raise TypeError(
                    f"{fn_name(fn)} must {what} a Value or a list of Values; item {i} is "
                    f"{type(r).__name__} (does it depend on the inputs or a parameter?)"
                )
        return list(result), False
    raise TypeError(
        f"{fn_name(fn)} must {what} a Value or a non-empty list of Values, got "
        f"{type(result).__name__}"
    )
