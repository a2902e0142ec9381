"""The compiled function's arguments: what each example says about its shape (a number, or a
vector of n numbers), the placeholder Values made from it, and the checks that turn a batch
into float64 arrays of those shapes, with errors that name the argument."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..engine import Value

if TYPE_CHECKING:
    import numpy.typing as npt

Example = float | Sequence[float] | np.ndarray
"""What `compile` takes per argument: a number, or a flat sequence of numbers."""


class ArgSpec(NamedTuple):
    """One argument of the compiled function: a scalar (`size` None) or `size` numbers."""

    name: str
    size: int | None

    @classmethod
    def from_example(cls, name: str, example: Example) -> ArgSpec:
        """The shape `example` stands for, or a TypeError saying what it should be."""
        if isinstance(example, Value):
            raise TypeError(
                f"example argument {name} is a Value: give plain numbers (the tape makes its own "
                f"placeholder Values), e.g. {example.data!r}"
            )
        if is_number(example):
            return cls(name, None)
        if isinstance(example, np.ndarray) and example.ndim != 1:
            raise TypeError(
                f"example argument {name} must be a number or a flat sequence of numbers, got "
                f"an array of shape {example.shape}"
            )
        if isinstance(example, Sequence | np.ndarray) and not isinstance(example, str | bytes):
            bad = [i for i, v in enumerate(example) if not is_number(v)]
            if bad:
                i = bad[0]
                raise TypeError(
                    f"example argument {name}[{i}] must be a real number, got "
                    f"{type(example[i]).__name__}: {example[i]!r:.60}"
                )
            return cls(name, len(example))
        raise TypeError(
            f"example argument {name} must be a number or a sequence of numbers, got "
            f"{type(example).__name__}"
        )

    @property
    def shape(self) -> str:
        """The shape a batch passes for this argument: `(batch,)` or `(batch, n)`."""
        return "(batch,)" if self.size is None else f"(batch, {self.size})"

    def describe(self) -> str:
        """The argument and its batch shape, as `Tape`'s repr shows it."""
        return f"{self.name}: {self.shape}"

    def placeholders(self, example: Example) -> list[Value]:
        """Fresh leaf Values holding the example's numbers, labelled after the argument."""
        # `from_example` gave a size to sequences and arrays only: a number has none.
        if isinstance(example, Sequence | np.ndarray):
            return [Value(float(v), label=f"{self.name}[{i}]") for i, v in enumerate(example)]
        return [Value(float(example), label=self.name)]

    def check(self, a: npt.ArrayLike) -> np.ndarray:
        """`a` as a float64 array of this argument's shape, or an error saying what is wrong."""
        try:
            arr = np.asarray(a)
        except ValueError as err:  # a ragged list
            raise ValueError(f"argument {self.name}: expected shape {self.shape}: {err}") from None
        if arr.dtype.kind not in "biuf":
            hint = " (pass numbers, not Values)" if arr.dtype.kind == "O" else ""
            raise TypeError(
                f"argument {self.name}: expected real numbers, got an array of dtype "
                f"{arr.dtype}{hint}"
            )
        if self.size is None:
            ok = arr.ndim == 1
        else:
            ok = arr.ndim == 2 and arr.shape[1] == self.size
        if not ok:
            raise ValueError(
                f"argument {self.name}: expected an array of shape {self.shape} (one row per "
                f"sample), got shape {arr.shape}"
            )
        return arr.astype(np.float64, copy=False)


def check_batch(specs: list[ArgSpec], batch: tuple, fn: Callable) -> tuple[list[np.ndarray], int]:
    """Every batch argument as a float64 array of its spec's shape, and the common batch size;
    an error naming the argument when a shape, a type or a batch size is wrong."""
    if len(batch) != len(specs):
        expected = ", ".join(s.describe() for s in specs) or "no arguments"
        raise TypeError(
            f"the tape of {fn_name(fn)} takes {len(specs)} batch argument(s) "
            f"({expected}), got {len(batch)}"
        )
    arrays, n, first = [], None, None
    for spec, a in zip(specs, batch, strict=True):
        arr = spec.check(a)
        if n is None:
            n, first = arr.shape[0], spec.name
        elif arr.shape[0] != n:
            raise ValueError(
                f"argument {spec.name} has a batch of {arr.shape[0]} but argument {first} "
                f"has {n}: every argument needs one row per sample"
            )
        arrays.append(arr)
    if n is None:
        raise TypeError(
            f"{fn_name(fn)} takes no inputs, so there is no batch to replay over: give "
            f"it at least one argument"
        )
    if n == 0:
        raise ValueError("the batch is empty: give at least one sample")
    return arrays, n


def is_number(x: object) -> bool:
    """A real number: a Python int or float, or a NumPy scalar of a real dtype."""
    return isinstance(x, numbers.Real) or (
        isinstance(x, np.generic) and x.dtype.kind in "biuf" and x.shape == ()
    )


def arg_names(fn: Callable, n: int) -> list[str]:
    """The names of `fn`'s first n positional parameters, `#i` where it has none to read."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [
        params[i].name if i < len(params) and params[i].kind in positional else f"#{i}"
        for i in range(n)
    ]


def fn_name(fn: Callable) -> str:
    """What messages call `fn`: its `__name__`, else its type's name."""
    return getattr(fn, "__name__", type(fn).__name__)
