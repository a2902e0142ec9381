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
from .borrow import borrowing
from .coerce import as_float
from .engine import Constant, Value, enable_grad, topological_order, walk

_nesting = threading.local()


def value_and_grad(
    f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable:
    """Make a function that returns `f`'s value and its gradient, as JAX's `value_and_grad`.

    Args:
      f: a function of numbers (or Values) returning one Value built from them (a scalar).
      argnums: which positional argument to differentiate by (an int), or several (a
        sequence of ints).
      has_aux: `f` returns a pair `(output, aux)`; `aux` is passed through untouched.

    Returns:
      A function with `f`'s arguments that returns `(value, gradient)`, or `((value, aux),
      gradient)` with `has_aux`. The gradient is one number for an int `argnums`, a tuple for a
      sequence. At the top level both are floats; inside another `grad` (or called with
      Values) they are Values, so the outer transform can differentiate them in turn.

    Example:
      >>> from tapegrad import value_and_grad
      >>> f = lambda x, y: x * x * y
      >>> value_and_grad(f)(3.0, 2.0)
      (18.0, 12.0)
      >>> value_and_grad(f, argnums=(0, 1))(3.0, 2.0)
      (18.0, (12.0, 9.0))
      >>> value_and_grad(lambda x: (x * x, "aux"), has_aux=True)(3.0)
      ((9.0, 'aux'), 6.0)
    """
    single, nums = _argnums(argnums)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        inputs = _inputs(f, args, nums)
        depth = getattr(_nesting, "depth", 0)
        _nesting.depth = depth + 1
        try:
            # grad is a transform: it records f even inside an outer no_grad (as torch.func.grad
            # does); without this its gradient would silently be 0.
            with enable_grad():
                result = f(*inputs, **kwargs)
        finally:
            _nesting.depth = depth
        out, aux = _output(f, result, has_aux)
        # Inside another grad (or on Value inputs), keep gradients as Values so the outer
        # grad can differentiate them; at the top level, hand back plain floats.
        nested = depth > 0 or any(isinstance(args[i], Value) for i in nums)
        with enable_grad():  # a nested gradient must record its graph for the outer grad
            grads = gradients(out, create_graph=nested)
        gs = [grads.get(inputs[i], 0.0) for i in nums]
        if nested:
            value, gs = out, [g if isinstance(g, Value) else Constant(g) for g in gs]
        else:
            value, gs = out.data, [float(g) for g in gs]
        g = gs[0] if single else tuple(gs)
        return ((value, aux), g) if has_aux else (value, g)

    return wrapped


def _argnums(argnums) -> tuple[bool, tuple[int, ...]]:
    """(one argument?, the argument positions), checked."""
    single = isinstance(argnums, int)
    try:
        nums = (argnums,) if single else tuple(argnums)
    except TypeError:  # not iterable: a float, None, ...
        nums = ()
    if not nums or not all(isinstance(i, int) for i in nums):
        raise TypeError(f"argnums must be an int or a non-empty sequence of ints, got {argnums!r}")
    return single, nums


def _inputs(f: Callable, args: tuple, nums: tuple[int, ...]) -> list:
    """`args` with the differentiated ones as Values (fresh leaves for numbers)."""
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
                inputs[i] = Value(as_float(args[i]))
            except TypeError:
                raise TypeError(
                    f"argument {i} of {name_of(f)} must be a real number or a Value to be "
                    f"differentiated, got {type(args[i]).__name__}"
                ) from None
    return inputs


def _output(f: Callable, result, has_aux: bool) -> tuple[Value, object]:
    """(the Value to differentiate, aux) from what `f` returned, checked."""
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
    return out, aux


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Make a function that returns `f`'s gradient, as JAX's `grad` (a thin wrapper over
    `value_and_grad`).

    Args:
      f: a function of numbers (or Values) returning one Value built from them (a scalar).
      argnums: which positional argument to differentiate by (an int), or several (a
        sequence of ints).
      has_aux: `f` returns a pair `(output, aux)`; `aux` is passed through untouched.

    Returns:
      A function with `f`'s arguments that returns the gradient (one number for an int
      `argnums`, a tuple for a sequence), or `(gradient, aux)` with `has_aux`. Gradients nest:
      `grad(grad(f))` is the second derivative.

    Example:
      >>> from tapegrad import grad
      >>> cube = lambda x: x**3
      >>> grad(cube)(1.0)  # 3x**2
      3.0
      >>> grad(grad(cube))(1.0)  # 6x
      6.0
      >>> grad(lambda x, y: x * y + y, argnums=(0, 1))(2.0, 5.0)
      (5.0, 3.0)
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        (value_aux, g) = vg(*args, **kwargs)
        return (g, value_aux[1]) if has_aux else g

    return wrapped


def gradients(root: Value, create_graph: bool = False) -> dict:
    """d(root)/d(node) for every node but Constants that root depends on, as a dict; every
    `.grad` is left as it was (the walk borrows them). With `create_graph`, Values."""
    order = topological_order(root)
    with borrowing(order):  # another thread's walk sharing a node finishes first
        saved = walk(order, 1.0, create_graph)
        grads = {n: n.grad for n in order if type(n) is not Constant and n.grad is not None}
        for node, old in zip(order, saved, strict=True):
            node.grad = old
    return grads
