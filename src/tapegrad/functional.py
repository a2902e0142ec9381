"""`grad` and `value_and_grad`: derivatives of plain Python functions, JAX-style.

`f` takes numbers and returns a Value built from them. The result takes and returns floats, and
nests: `grad(grad(f))(x)` is the second derivative, because a `grad` running inside another
one builds its gradient out of Values (`create_graph`) instead of floats.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence

from ._helpers import name_of
from .engine import Constant, Value, _as_float, backprop, enable_grad

_nesting = threading.local()


def value_and_grad(
    f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable:
    """Return a function computing `f(*args)` and its gradient with respect to `argnums`.

    The gradient is one float for an int `argnums`, a tuple for a sequence. With `has_aux`,
    `f` returns `(output, aux)` and the result is `((value, aux), gradient)`.
    """
    single = isinstance(argnums, int)
    try:
        nums = (argnums,) if single else tuple(argnums)
    except TypeError:  # not iterable: a float, None, ...
        nums = ()
    if not nums or not all(isinstance(i, int) for i in nums):
        raise TypeError(f"argnums must be an int or a non-empty sequence of ints, got {argnums!r}")

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        for i in nums:
            if not -len(args) <= i < len(args):
                raise ValueError(
                    f"argnums {i} is out of range: {name_of(f)} was called with {len(args)} "
                    f"positional argument(s)"
                )
        inputs = list(args)
        for i in nums:
            if not isinstance(args[i], Value):
                try:
                    inputs[i] = Value(_as_float(args[i]))
                except TypeError:
                    raise TypeError(
                        f"argument {i} of {name_of(f)} must be a real number or a Value to be "
                        f"differentiated, got {type(args[i]).__name__}"
                    ) from None
        depth = getattr(_nesting, "depth", 0)
        _nesting.depth = depth + 1
        try:
            # grad is a transform: it records f even inside an outer no_grad (as torch.func.grad
            # does); without this its gradient would silently be 0.
            with enable_grad():
                result = f(*inputs, **kwargs)
        finally:
            _nesting.depth = depth
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(
                    f"with has_aux=True, {name_of(f)} must return a pair (output, aux), "
                    f"got {type(result).__name__}"
                )
            out, aux = result
        else:
            out, aux = result, None
        if not isinstance(out, Value):
            raise TypeError(
                f"gradient only defined for functions returning one Value (a scalar); "
                f"{name_of(f)} returned {type(out).__name__}"
                + (
                    " - for several outputs, take the gradient of each"
                    if isinstance(out, list | tuple)
                    else " - does the output depend on the inputs?"
                )
            )
        # Inside another grad (or on Value inputs), keep gradients as Values so the outer
        # grad can differentiate them; at the top level, hand back plain floats.
        nested = depth > 0 or any(isinstance(args[i], Value) for i in nums)
        with enable_grad():  # a nested gradient must record its graph for the outer grad
            grads = backprop(out, create_graph=nested)
        gs = [grads.get(inputs[i], 0.0) for i in nums]
        if nested:
            value, gs = out, [g if isinstance(g, Value) else Constant(g) for g in gs]
        else:
            value, gs = out.data, [float(g) for g in gs]
        g = gs[0] if single else tuple(gs)
        return ((value, aux), g) if has_aux else (value, g)

    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Return a function computing the gradient of `f` with respect to `argnums`
    (with `has_aux`: the pair `(gradient, aux)`)."""
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        (value_aux, g) = vg(*args, **kwargs)
        return (g, value_aux[1]) if has_aux else g

    return wrapped
