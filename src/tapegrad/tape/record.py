"""Recording: `fn` run once on placeholder Values (the only place the tape calls it, at
construction and in `Tape.check`), and the Values it returns.

While `fn` runs, a `Guard` watches Python control flow: a comparison, `bool()` or `float()` of
a Value that depends on a placeholder is a TracingError, since its answer (the example's)
would be replayed for every sample. The same on parameters and constants is allowed."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from threading import get_ident
from typing import NamedTuple

from ..engine import Value, enable_grad
from ..modes import tracers
from .args import ArgSpec, Example, fn_name


class TracingError(TypeError):
    """`fn` used an input's number in Python while `compile` recorded it: a comparison (`if x
    > 0`, builtin `max`/`min`), `bool()` or `float()` (`math.*`) of a Value that depends on a
    placeholder. The answer would be the example's, frozen into the tape for every sample.
    A TypeError, as JAX's ConcretizationTypeError is for the same mistake under `jax.jit`."""


class Recording(NamedTuple):
    """What one run of `fn` on placeholders left behind."""

    placeholders: list[list[Value]]  # per argument (one for a number, n for a vector)
    outputs: list[Value]  # the returned Values: the output's first, then aux's
    parts: tuple[tuple[bool, int], ...]  # (is one Value, how many): output, then aux


def record(
    fn: Callable, specs: list[ArgSpec], examples: tuple[Example, ...], has_aux: bool
) -> Recording:
    """Run `fn` once on fresh placeholders shaped by `specs`, holding the examples' numbers."""
    placeholders = [s.placeholders(e) for s, e in zip(specs, examples, strict=True)]
    args = [p[0] if s.size is None else list(p) for s, p in zip(specs, placeholders, strict=True)]
    result = _call(fn, args, Guard(fn, placeholders))
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


def _call(fn: Callable, args: list, guard: Guard) -> object:
    """`fn(*args)` with gradients recorded and `guard` watching this thread's comparisons; an
    error it raises gets a note on what recording cannot do."""
    thread = get_ident()
    outer = tracers.get(thread)  # compile called inside a function being recorded
    tracers[thread] = guard
    try:
        with enable_grad():
            return fn(*args)
    except TracingError:
        raise  # says it all
    except Exception as err:
        err.add_note(
            f"(raised while tapegrad.compile recorded {fn_name(fn)} on placeholder Values; "
            f"control flow or indexing that needs an input's number cannot be recorded: "
            f"express it with ops, and give class targets as one-hot vectors)"
        )
        raise
    finally:
        if outer is None:
            del tracers[thread]
        else:
            tracers[thread] = outer


class _Unknown(Enum):
    """The answer `Guard.source` has for a Value not walked yet (None means "no input")."""

    UNKNOWN = 0


_UNKNOWN = _Unknown.UNKNOWN

_FIX = {
    "float()": (
        "keep it a Value and use its methods (x.exp(), x.log(), x.tanh(), x.relu(), "
        "x.max(y), x.clamp(lo, hi)) instead of float() or math.*"
    ),
    "bool()": (
        "choose per sample with ops, not `if x:` (a Value is always true, whatever its "
        "number): x.relu(), x.max(y), x.min(y), x.clamp(lo, hi), abs(x)"
    ),
}
_FIX_COMPARE = (
    "choose per sample with ops instead: x.relu(), x.max(y) and x.min(y) (not builtin max and "
    "min, which compare in Python), x.clamp(lo, hi), abs(x)"
)

_FIX_RULE = (
    "take the derivative outside the compiled function (tape.backward and "
    "tape.value_and_grad give the parameters' gradients), or differentiate ops whose rules "
    "need no mask (tanh, sigmoid, softplus instead of relu, abs, max, min, clamp)"
)


class Guard:
    """What `record` puts in `tracers` for its thread while `fn` runs: refuses a comparison,
    bool() or float() of a Value that depends on a placeholder, and a derivative rule's mask
    (relu's, abs's, ...: `valuemath`) on one. Whether a Value depends on one is found by a walk
    back only when asked, and remembered: a model that compares nothing pays nothing."""

    __slots__ = ("fn", "source")

    def __init__(self, fn: Callable, placeholders: list[list[Value]]) -> None:
        self.fn = fn
        # Value -> the placeholder it was found to depend on, or None: it depends on none.
        self.source: dict[Value, Value | None] = {p: p for group in placeholders for p in group}

    def check(self, what: str, x: Value, other: object = None) -> None:
        """Raise TracingError if `what` ("<", "bool()", ...) reads an input through `x` or
        `other` (the right side of a comparison)."""
        for side in (x, other):
            if isinstance(side, Value):
                placeholder = self._input_of(side)
                if placeholder is not None:
                    raise TracingError(self._message(what, x, other, side, placeholder))

    def _input_of(self, v: Value) -> Value | None:
        """A placeholder `v` depends on, or None; every node walked is remembered."""
        source = self.source
        found = source.get(v, _UNKNOWN)
        if found is not _UNKNOWN:
            return found
        walked, stack = {v}, [v]
        while stack:
            for child in stack.pop()._prev:
                found = source.get(child, _UNKNOWN)
                if found is None or child in walked:
                    continue
                if found is not _UNKNOWN:
                    source[v] = found
                    return found  # the walk stops here: its other nodes stay unknown
                walked.add(child)
                stack.append(child)
        source.update(dict.fromkeys(walked))
        return None

    def _message(self, what: str, x: Value, other: object, side: Value, placeholder: Value) -> str:
        rule = what.startswith("rule ")  # a mask inside a derivative rule (valuemath)
        what = what.removeprefix("rule ")
        if what.endswith("()"):
            asked, subject = f"{what[:-2]}({_show(x)})", "the Value"
        else:
            asked = f"{_show(x)} {what} {_show(other)}"
            subject = "the right side" if side is other else "the left side"
        fix = _FIX_RULE if rule else _FIX.get(what, _FIX_COMPARE)
        if rule:
            asked = f"a derivative whose rule reads its input's number ({asked})"
        return (
            f"{fn_name(self.fn)} computed {asked} while tapegrad.compile recorded it, but "
            f"{subject} depends on the input {placeholder.label}: the answer would be the "
            f"example's, frozen into the tape and replayed for every sample. To fix it, {fix}. "
            f"Python control flow is frozen at recording, as with jax.jit; comparing parameters "
            f"or constants is allowed."
        )


def _show(x: object) -> str:
    """A side of a comparison for the message: a Value by its label and number."""
    if not isinstance(x, Value):
        return repr(x)
    return f"{x.label} (={x.data!r})" if x.label else f"Value(data={x.data!r})"


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
