"""Value: a scalar that remembers how it was computed, so it can backpropagate through it.

Read this file top to bottom: `Value` with `+`, `*`, `tanh` and `backward` comes first, the
rest of its operators after, and `apply` (how one op is run and recorded) last. The derivative
rules are in `ops.py`; `backward()` runs them in `backprop.py`. Those three files are the whole
path from `Value(2.0) * Value(3.0)` to `.backward()`; `modes.py` (no_grad, detect_anomaly,
scope), `coerce.py` (which numbers are accepted) and `compare.py` (`<`, `float()`, ...) can
wait.

The lecture's API is kept: `Value(data, _children=(), _op='', label='')`, `.data`, `.grad`,
`.label`, `._op`, `._prev`, `._backward()` and `.backward()`. Unlike micrograd, a node holds no
closure: its `_op` names a rule in `ops.py`, and its only references are to its children, so a
graph has no reference cycles and is freed the moment its output is dropped. (The lecture's
own closure ops, `out._backward = fn`, still work: `closures.py` says how.) Values take
attributes of your own as micrograd's do (`p.m = 0.0`), kept in a `__dict__` made on first use.
"""

from __future__ import annotations

from . import compare
from . import floatmath as fm
from .backprop import add_gradients, topological_order  # noqa: F401  (re-exported)
from .closures import SUBCLASSES, backward_of, set_backward, subclass_of
from .coerce import as_float, is_real
from .methods import add_methods
from .modes import *  # noqa: F403  (no_grad, detect_anomaly, scope, ...: re-exported from here)
from .modes import check_output, state
from .ops import ADD, MUL, TANH, Op

MANY = object()  # in Value._b: `_a` holds a tuple of three or more children


class Value:
    """A scalar in a computation graph: its data, its gradient, and the op and children that
    made it."""

    # The children live in two slots rather than a tuple: one object per node for Python's
    # cyclic collector to walk instead of two, which is most of what eager steps cost it.
    # `_prev` rebuilds the lecture's tuple on demand.
    # A `__dict__` takes attributes of your own (`p.m = 0.0`); it is made on first use. A label
    # and the lecture's own `_backward` closure (`_fn`) live there too, as few nodes have one.
    __slots__ = ("data", "grad", "_a", "_b", "_op", "_scope", "__dict__")
    label = ""
    _fn = None  # None: the op table's rule serves this node (closures.py)
    __array_ufunc__ = None  # so `np.float64(2) * x` defers to Value and gives a Value

    def __init__(self, data, _children=(), _op: str = "", label: str = "") -> None:
        self.data = data if type(data) is float else as_float(data)
        self.grad = 0.0
        self._a = self._b = None
        if _children:  # a node built by hand, as the lecture does: Value(3.0, (a, b), "+")
            children = tuple(_children)
            self._a, self._b = (children, MANY) if len(children) > 2 else (*children, None)[:2]
        self._op = _op
        if label:
            self.label = label
        self._scope = state.mode.scope

    def __init_subclass__(cls, **kwargs) -> None:  # a Value class of your own: see apply()
        super().__init_subclass__(**kwargs)
        if cls.__module__ != __name__:
            SUBCLASSES.append(cls)

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The children, in order: the Values this one was computed from."""
        a = self._a
        if a is None:  # a leaf (tested first: the commonest case, and the cheapest)
            return ()
        b = self._b  # None: one child; MANY: `a` is a tuple of three or more
        return (a,) if b is None else a if b is MANY else (a, b)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # The lecture's ops. A number mixed in (`x + 1`, `2 * x`) becomes a Constant leaf.
    def __add__(self, other):
        if type(other) is not Value:
            other = _operand(other)
            if other is NotImplemented:
                return other
        return apply(ADD, self, other)

    def __radd__(self, other):
        other = _operand(other)
        return other if other is NotImplemented else apply(ADD, other, self)

    def __mul__(self, other):
        if type(other) is not Value:
            other = _operand(other)
            if other is NotImplemented:
                return other
        return apply(MUL, self, other)

    def __rmul__(self, other):
        other = _operand(other)
        return other if other is NotImplemented else apply(MUL, other, self)

    def tanh(self) -> Value:
        return apply(TANH, self)

    def backward(self, create_graph: bool = False) -> None:
        """Backpropagate from this Value: add d(self)/d(node) into every node's `.grad`.

        `self.grad` is seeded with 1. Gradients accumulate, as in PyTorch: a second call on the
        same graph adds the same gradients again (every `.grad` doubles; micrograd compounds
        stale interior grads instead, see the README), so zero them between steps
        (`Module.zero_grad()` or `tapegrad.graph.zero_grad(root)`).
        With `create_graph=True` the gradients are themselves Values, so they can be
        differentiated again.
        """
        add_gradients(self, create_graph=create_graph)

    _backward = property(backward_of, set_backward)  # the lecture's _backward(): closures.py

    # The rest of the arithmetic: `**` (the table's pow), - and / (composites with no rule of
    # their own) and abs() are added at the bottom of this file, with the methods named after
    # ops (`methods.py`); the comparisons (<, <=, >, >=), float() and bool() too, from
    # `compare.py`.


class Constant(Value):
    """A number mixed into an expression (the 2 in `2 * x`): a leaf that gets no gradient."""

    __slots__ = ()


def as_value(x: Value | float) -> Value:
    """`x` if it is a Value, else a Constant holding it (TypeError for non-numbers)."""
    return x if isinstance(x, Value) else Constant(x)


def _operand(x):
    """A Value for the other side of an arithmetic operator, or NotImplemented."""
    return x if isinstance(x, Value) else Constant(x) if is_real(x) else NotImplemented


_new = object.__new__


def apply(op: Op, *args: Value) -> Value:
    """Run primitive `op` on Values: compute its forward rule on their data, record the node."""
    n = len(args)
    if n == 2:
        a, b = args
        data = op.fwd(fm, a.data, b.data)
    elif n == 1:
        a, b = args[0], None
        data = op.fwd(fm, a.data)
    else:
        a, b = args, MANY
        data = op.fwd(fm, *[x.data for x in args])
    mode = state.mode
    cls = subclass_of(args) or Value if SUBCLASSES else Value  # closures.py
    if mode.plain:  # the hot path: fill the slots directly, skipping __init__'s checks
        out = _new(cls)
        out.data = data
        out.grad = 0.0
        out._a = a
        out._b = b
        out._op = op.symbol
        out._scope = mode.scope
        return out
    if mode.anomaly:
        check_output(op.symbol, data, args)
    out = _new(cls)  # not cls(...): a subclass's own __init__ may set a closure
    children, symbol = (args, op.symbol) if mode.grad_enabled else ((), "")
    Value.__init__(out, data, children, symbol)
    return out


add_methods(Value, apply, as_value)
for _name, _fn in compare.methods(Value).items():  # <, <=, >, >=, float(), bool()
    setattr(Value, _name, _fn)
