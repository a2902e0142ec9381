"""Value: a scalar that records the ops applied to it, and backpropagation through them.

The lecture's API is kept: `Value(data, _children=(), _op='', label='')`, `.data`, `.grad`,
`.label`, `._op`, `._prev`, `._backward()` and `.backward()`. Unlike micrograd, a node holds no
closure: its `_op` names a rule in `tapegrad.ops`, and its only references are to its children,
so a graph has no reference cycles and is freed the moment its output is dropped.
"""

from __future__ import annotations

import numbers
import threading
from contextlib import ContextDecorator
from typing import TYPE_CHECKING

from . import floatmath as fm
from .graph import topological_order
from .ops import (
    ABS,
    BY_SYMBOL,
    CLAMP,
    COS,
    EXP,
    LOG,
    LOGADDEXP,
    MAX,
    MIN,
    MUL,
    POW,
    RELU,
    SIGMOID,
    SIN,
    SQRT,
    TANH,
    Op,
)
from .ops import ADD as _ADD

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType


class AnomalyError(RuntimeError):
    """Raised under `detect_anomaly()` at the first non-finite value or gradient."""


class _Mode:
    """The engine's switches in force: whether ops record a graph, check for non-finite
    values, and which module path (scope) new Values are tagged with."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "plain")

    def __init__(self, grad_enabled: bool = True, anomaly: bool = False, scope=None) -> None:
        self.grad_enabled = grad_enabled
        self.anomaly = anomaly
        self.scope = scope  # e.g. "layers.1.neurons.3"
        self.plain = grad_enabled and not anomaly  # apply()'s fast path


class _State(threading.local):
    """This thread's mode and the modes that `with` blocks replaced (threading.local runs
    __init__ once per thread, so every thread starts recording, with no scope)."""

    def __init__(self) -> None:
        self.mode = _Mode()
        self.saved: list[_Mode] = []


_state = _State()
_new = object.__new__
_MANY = object()  # in Value._b: `_a` holds a tuple of three or more children


def _as_float(x) -> float:
    if isinstance(x, numbers.Real) or _is_numpy_bool(x):
        return float(x)
    raise TypeError(f"Value data must be a real number, got {type(x).__name__}: {x!r:.60}")


def _is_numpy_bool(x) -> bool:
    # NumPy's bool_ is not registered as numbers.Real; its floats and ints are.
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    return kind == "b" and type(x).__module__ == "numpy" and x.shape == ()


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) or _is_numpy_bool(x)


class Value:
    """A scalar in a computation graph: its data, its gradient, and the op and children that
    made it."""

    # The children live in two slots rather than a tuple: one object per node for Python's
    # cyclic collector to walk instead of two, which is most of what eager steps cost it.
    # `_prev` rebuilds the lecture's tuple on demand.
    __slots__ = ("data", "grad", "_a", "_b", "_op", "label", "_scope")
    __array_ufunc__ = None  # so `np.float64(2) * x` defers to Value and gives a Value

    def __init__(self, data, _children=(), _op: str = "", label: str = "") -> None:
        self.data = data if type(data) is float else _as_float(data)
        self.grad = 0.0
        if _children:
            self._prev = _children
        else:
            self._a = self._b = None
        self._op = _op
        self.label = label
        self._scope = _state.mode.scope

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def __float__(self) -> float:
        return self.data

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The children, in order: the Values this one was computed from."""
        a = self._a
        if a is None:
            return ()
        b = self._b
        if b is None:
            return (a,)
        return a if b is _MANY else (a, b)

    @_prev.setter
    def _prev(self, children: Iterable[Value]) -> None:
        children = tuple(children)
        if len(children) > 2:
            self._a, self._b = children, _MANY
        else:
            self._a, self._b = (*children, None, None)[:2]

    # Arithmetic. Numbers mixed in become Constant leaves; sub, div and neg are composites.
    def __add__(self, other):
        if type(other) is not Value:
            other = _operand(other)
            if other is NotImplemented:
                return other
        return apply(_ADD, self, other)

    def __radd__(self, other):
        other = _operand(other)
        return other if other is NotImplemented else apply(_ADD, other, self)

    def __mul__(self, other):
        if type(other) is not Value:
            other = _operand(other)
            if other is NotImplemented:
                return other
        return apply(MUL, self, other)

    def __rmul__(self, other):
        other = _operand(other)
        return other if other is NotImplemented else apply(MUL, other, self)

    def __pow__(self, other):
        other = _operand(other)
        return other if other is NotImplemented else apply(POW, self, other)

    def __rpow__(self, other):
        other = _operand(other)
        return other if other is NotImplemented else apply(POW, other, self)

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other):
        if isinstance(other, Value):
            return self + (-other)
        return self + -float(other) if _is_real(other) else NotImplemented

    def __rsub__(self, other):
        return other + (-self) if _is_real(other) else NotImplemented

    def __truediv__(self, other):
        if isinstance(other, Value):
            return self * other**-1.0
        return self * fm.div(1.0, float(other)) if _is_real(other) else NotImplemented

    def __rtruediv__(self, other):
        return other * self**-1.0 if _is_real(other) else NotImplemented

    def __abs__(self) -> Value:
        return apply(ABS, self)

    # Comparisons look at data only and record nothing. Equality stays identity, so Values
    # can live in sets and dicts as the lecture's `trace` needs.
    def __lt__(self, other) -> bool:
        return self.data < _data(other)

    def __le__(self, other) -> bool:
        return self.data <= _data(other)

    def __gt__(self, other) -> bool:
        return self.data > _data(other)

    def __ge__(self, other) -> bool:
        return self.data >= _data(other)

    __hash__ = object.__hash__

    # Unary and binary ops by name.
    def exp(self) -> Value:
        return apply(EXP, self)

    def log(self) -> Value:
        return apply(LOG, self)

    def tanh(self) -> Value:
        return apply(TANH, self)

    def sigmoid(self) -> Value:
        return apply(SIGMOID, self)

    def relu(self) -> Value:
        return apply(RELU, self)

    def abs(self) -> Value:
        return apply(ABS, self)

    def sqrt(self) -> Value:
        return apply(SQRT, self)

    def sin(self) -> Value:
        return apply(SIN, self)

    def cos(self) -> Value:
        return apply(COS, self)

    def max(self, other: Value | float) -> Value:
        """max(self, other); on a tie each side gets half the gradient, as in PyTorch."""
        return apply(MAX, self, as_value(other))

    def min(self, other: Value | float) -> Value:
        """min(self, other); on a tie each side gets half the gradient, as in PyTorch."""
        return apply(MIN, self, as_value(other))

    def clamp(self, lo: Value | float | None = None, hi: Value | float | None = None) -> Value:
        """Limit to [lo, hi] (None: unbounded); the gradient passes inside, boundaries included."""
        lo = -fm.inf if lo is None else lo
        hi = fm.inf if hi is None else hi
        return apply(CLAMP, self, as_value(lo), as_value(hi))

    def logaddexp(self, other: Value | float) -> Value:
        """log(exp(self) + exp(other)), computed without overflow."""
        return apply(LOGADDEXP, self, as_value(other))

    def softplus(self) -> Value:
        """log(1 + exp(self)), stable for any input."""
        return apply(LOGADDEXP, self, Constant(0.0))

    # Backpropagation.
    def _backward(self) -> None:
        """Apply this node's chain rule once: add its share of `self.grad` into each child's
        `.grad`. `backward()` does this for every node in order; the lecture does it by hand."""
        for child, contribution in zip(self._prev, local_vjp(self, self.grad), strict=True):
            if contribution is not None:
                child.grad += contribution

    def backward(self, create_graph: bool = False) -> None:
        """Backpropagate from this Value: add d(self)/d(node) into every node's `.grad`.

        `self.grad` is seeded with 1. Gradients accumulate, as in micrograd and PyTorch: a second
        call on the same graph adds the same gradients again (every `.grad` doubles), so zero
        them between steps (`Module.zero_grad()` or `tapegrad.graph.zero_grad(root)`).
        With `create_graph=True` the gradients are themselves Values, so they can be
        differentiated again.
        """
        for node, g in backprop(self, create_graph=create_graph).items():
            node.grad = node.grad + g


class Constant(Value):
    """A number mixed into an expression (the 2 in `2 * x`): a leaf that gets no gradient."""

    __slots__ = ()


def as_value(x: Value | float) -> Value:
    """`x` if it is a Value, else a Constant holding it (TypeError for non-numbers)."""
    return x if isinstance(x, Value) else Constant(x)


def _data(x) -> float:
    return x.data if isinstance(x, Value) else x


def _operand(x):
    """A Value for the other side of an arithmetic operator, or NotImplemented."""
    if isinstance(x, Value):
        return x
    return Constant(x) if _is_real(x) else NotImplemented


def apply(op: Op, *args: Value) -> Value:
    """Run primitive `op` on Values: compute the forward rule, record the node."""
    if len(args) == 2:
        a, b = args
        data = op.fwd(fm, a.data, b.data)
    elif len(args) == 1:
        a, b = args[0], None
        data = op.fwd(fm, a.data)
    else:
        a, b = args, _MANY
        data = op.fwd(fm, *[x.data for x in args])
    mode = _state.mode
    if mode.plain:  # the hot path: fill the slots directly, skipping __init__'s checks
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out._a = a
        out._b = b
        out._op = op.symbol
        out.label = ""
        out._scope = mode.scope
        return out
    out = Value(data, args if mode.grad_enabled else (), op.symbol if mode.grad_enabled else "")
    if mode.anomaly and not fm.isfinite(data) and all(fm.isfinite(x.data) for x in args):
        raise AnomalyError(
            f"op '{op.symbol}' gave {data} from finite inputs {_describe(args)} (forward pass)"
        )
    return out


def _describe(nodes) -> str:
    return "(" + ", ".join(f"{n.label or type(n).__name__}={n.data!r}" for n in nodes) + ")"


def local_vjp(node: Value, g: float | Value, m: ModuleType | None = None) -> list:
    """The gradient `g` of `node` pushed through its op's rule: one entry per child
    (None for Constants). Runs on floats, or on Values when `g` is a Value or `m` says so."""
    prev = node._prev
    if not prev:
        return []
    rules = _rules(node)
    if m is None:
        m = valuemath if isinstance(g, Value) else fm
    if m is fm:
        out, args = node.data, [c.data for c in prev]
    else:
        out, args = node, prev
    return [
        None if type(child) is Constant else rule(m, g, out, *args)
        for child, rule in zip(prev, rules, strict=True)
    ]


def _rules(node: Value) -> tuple:
    try:
        return BY_SYMBOL[node._op].vjps  # read at every use, so a patched table takes effect
    except KeyError:
        raise ValueError(
            f"{node!r} (label {node.label!r}) has children but its _op {node._op!r} is not a "
            f"primitive in tapegrad.ops, so it has no derivative rule"
        ) from None


def backprop(root: Value, seed: float | Value = 1.0, create_graph: bool = False) -> dict:
    """d(root)/d(node) for every node that root depends on, returned as a dict.

    Nothing is written to `.grad`; `Value.backward()` and `tapegrad.grad` both build on this.
    With `create_graph` the rules run on Values, so the gradients are differentiable.
    """
    m = valuemath if create_graph else fm
    anomaly = _state.mode.anomaly
    grads = {root: seed}
    get = grads.get
    # This loop runs once per node, so binary ops (most of any graph) are unrolled: it is
    # the same as `zip(prev, local_vjp(node, g, m))` at a third of the cost.
    for node in reversed(topological_order(root)):
        a = node._a
        if a is None:  # a leaf
            continue
        g = get(node)
        if g is None:
            continue
        rules = _rules(node)
        out = node if create_graph else node.data
        b = node._b
        if b is not None and b is not _MANY:
            x, y = (a, b) if create_graph else (a.data, b.data)
            if type(a) is not Constant:
                c = rules[0](m, g, out, x, y)
                if anomaly:
                    _check_gradient(node, a, g, c)
                total = get(a)
                grads[a] = c if total is None else total + c
            if type(b) is not Constant:
                c = rules[1](m, g, out, x, y)
                if anomaly:
                    _check_gradient(node, b, g, c)
                total = get(b)
                grads[b] = c if total is None else total + c
        else:
            prev = node._prev
            args = prev if create_graph else [child.data for child in prev]
            for child, rule in zip(prev, rules, strict=True):
                if type(child) is not Constant:
                    c = rule(m, g, out, *args)
                    if anomaly:
                        _check_gradient(node, child, g, c)
                    total = get(child)
                    grads[child] = c if total is None else total + c
    return grads


def _check_gradient(node: Value, child: Value, g, contribution) -> None:
    if fm.isfinite(_data(contribution)) or not fm.isfinite(_data(g)):
        return
    name = child.label or type(child).__name__
    raise AnomalyError(
        f"op '{node._op}' (output {node.label or 'unlabelled'}={node.data!r}) gave gradient "
        f"{_data(contribution)} to its input {name}={child.data!r} from finite gradient "
        f"{_data(g)!r} (backward pass; inputs {_describe(node._prev)})"
    )


class _Switch(ContextDecorator):
    """Change this thread's mode for a `with` block (or a decorated call), then restore it."""

    def mode(self, old: _Mode) -> _Mode:
        """The mode inside the block, given the mode outside it."""
        raise NotImplementedError

    def __enter__(self):
        st = _state
        st.saved.append(st.mode)
        st.mode = self.mode(st.mode)
        return self

    def __exit__(self, *exc) -> bool:
        _state.mode = _state.saved.pop()
        return False


class no_grad(_Switch):
    """Ops inside record no graph: results are plain leaves. A context manager and decorator,
    per thread, like `torch.no_grad()`."""

    def mode(self, old: _Mode) -> _Mode:
        return _Mode(False, old.anomaly, old.scope)


class enable_grad(_Switch):
    """Record graphs again inside a `no_grad` block."""

    def mode(self, old: _Mode) -> _Mode:
        return _Mode(True, old.anomaly, old.scope)


def is_grad_enabled() -> bool:
    return _state.mode.grad_enabled


class detect_anomaly(_Switch):
    """Raise AnomalyError at the first op whose output, or whose gradient, is inf or nan while
    its inputs were finite, naming the op and the labels involved. Slower: for debugging."""

    def mode(self, old: _Mode) -> _Mode:
        return _Mode(old.grad_enabled, True, old.scope)


class scope(_Switch):
    """Tag every Value created inside with a path (nested scopes join with '.'): modules use it
    so pictures can collapse a network into its layers and neurons."""

    def __init__(self, name: str) -> None:
        self.name = str(name)

    def mode(self, old: _Mode) -> _Mode:
        path = f"{old.scope}.{self.name}" if old.scope else self.name
        return _Mode(old.grad_enabled, old.anomaly, path)


def current_scope() -> str | None:
    return _state.mode.scope


from . import valuemath  # noqa: E402  (valuemath builds on Value and apply, defined above)
