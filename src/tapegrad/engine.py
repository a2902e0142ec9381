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


class AnomalyError(RuntimeError):
    """Raised under `detect_anomaly()` at the first non-finite value or gradient."""


class _State(threading.local):
    """This thread's engine switches (threading.local runs __init__ once per thread)."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.scope: str | None = None  # the running module's path, e.g. "layers.1.neurons.3"
        self.plain = True  # grad_enabled and not anomaly: apply()'s fast path
        self.saved: list[dict] = []


_state = _State()


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

    __slots__ = ("data", "grad", "_prev", "_op", "label", "_scope")
    __array_ufunc__ = None  # so `np.float64(2) * x` defers to Value and gives a Value

    def __init__(self, data, _children=(), _op: str = "", label: str = "") -> None:
        self.data = data if type(data) is float else _as_float(data)
        self.grad = 0.0
        self._prev = _children if type(_children) is tuple else tuple(_children)
        self._op = _op
        self.label = label
        self._scope = _state.scope

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def __float__(self) -> float:
        return self.data

    # Arithmetic. Numbers mixed in become Constant leaves; sub, div and neg are composites.
    def __add__(self, other):
        return _binary(_ADD, self, other)

    def __radd__(self, other):
        return _binary(_ADD, other, self)

    def __mul__(self, other):
        return _binary(MUL, self, other)

    def __rmul__(self, other):
        return _binary(MUL, other, self)

    def __pow__(self, other):
        return _binary(POW, self, other)

    def __rpow__(self, other):
        return _binary(POW, other, self)

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

    def max(self, other) -> Value:
        """max(self, other); on a tie each side gets half the gradient, as in PyTorch."""
        return apply(MAX, self, as_value(other))

    def min(self, other) -> Value:
        """min(self, other); on a tie each side gets half the gradient, as in PyTorch."""
        return apply(MIN, self, as_value(other))

    def clamp(self, lo=None, hi=None) -> Value:
        """Limit to [lo, hi] (None: unbounded); the gradient passes inside, boundaries included."""
        lo = -fm.inf if lo is None else lo
        hi = fm.inf if hi is None else hi
        return apply(CLAMP, self, as_value(lo), as_value(hi))

    def logaddexp(self, other) -> Value:
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


def as_value(x) -> Value:
    """`x` if it is a Value, else a Constant holding it (TypeError for non-numbers)."""
    return x if isinstance(x, Value) else Constant(x)


def _data(x) -> float:
    return x.data if isinstance(x, Value) else x


def _binary(op: Op, a, b):
    if type(a) is not Value:
        if not isinstance(a, Value):
            if not _is_real(a):
                return NotImplemented
            a = Constant(a)
    if type(b) is not Value:
        if not isinstance(b, Value):
            if not _is_real(b):
                return NotImplemented
            b = Constant(b)
    return apply(op, a, b)


def apply(op: Op, *args: Value) -> Value:
    """Run primitive `op` on Values: compute the forward rule, record the node."""
    data = op.fwd(fm, *[a.data for a in args])
    if _state.plain:
        return Value(data, args, op.symbol)
    if not _state.grad_enabled:
        out = Value(data)
    else:
        out = Value(data, args, op.symbol)
    if _state.anomaly and not fm.isfinite(data) and all(fm.isfinite(a.data) for a in args):
        raise AnomalyError(
            f"op '{op.symbol}' gave {data} from finite inputs {_describe(args)} (forward pass)"
        )
    return out


def _describe(nodes) -> str:
    return "(" + ", ".join(f"{n.label or type(n).__name__}={n.data!r}" for n in nodes) + ")"


def local_vjp(node: Value, g, m=None) -> list:
    """The gradient `g` of `node` pushed through its op's rule: one entry per child
    (None for Constants). Runs on floats, or on Values when `g` is a Value or `m` says so."""
    prev = node._prev
    if not prev:
        return []
    op = BY_SYMBOL.get(node._op)
    if op is None:
        raise ValueError(
            f"{node!r} (label {node.label!r}) has children but its _op {node._op!r} is not a "
            f"primitive in tapegrad.ops, so it has no derivative rule"
        )
    if m is None:
        m = valuemath if isinstance(g, Value) else fm
    if m is fm:
        out, args = node.data, [c.data for c in prev]
    else:
        out, args = node, prev
    return [
        None if type(child) is Constant else rule(m, g, out, *args)
        for child, rule in zip(prev, op.vjps, strict=True)
    ]


def backprop(root: Value, seed=1.0, create_graph: bool = False) -> dict:
    """d(root)/d(node) for every node that root depends on, returned as a dict.

    Nothing is written to `.grad`; `Value.backward()` and `tapegrad.grad` both build on this.
    With `create_graph` the rules run on Values, so the gradients are differentiable.
    """
    m = valuemath if create_graph else fm
    anomaly = _state.anomaly
    grads = {root: seed}
    for node in reversed(topological_order(root)):
        if not node._prev:
            continue
        g = grads.get(node)
        if g is None:
            continue
        for child, contribution in zip(node._prev, local_vjp(node, g, m), strict=True):
            if contribution is None:
                continue
            if anomaly:
                _check_gradient(node, child, g, contribution)
            total = grads.get(child)
            grads[child] = contribution if total is None else total + contribution
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
    """Set some of this thread's engine switches for a `with` block (or a decorated call)."""

    def changes(self) -> dict:
        raise NotImplementedError

    def __enter__(self):
        st = _state
        changes = self.changes()
        st.saved.append({k: getattr(st, k) for k in changes})
        for k, v in changes.items():
            setattr(st, k, v)
        st.plain = st.grad_enabled and not st.anomaly
        return self

    def __exit__(self, *exc) -> bool:
        st = _state
        for k, v in st.saved.pop().items():
            setattr(st, k, v)
        st.plain = st.grad_enabled and not st.anomaly
        return False


class no_grad(_Switch):
    """Ops inside record no graph: results are plain leaves. A context manager and decorator,
    per thread, like `torch.no_grad()`."""

    def changes(self) -> dict:
        return {"grad_enabled": False}


class enable_grad(_Switch):
    """Record graphs again inside a `no_grad` block."""

    def changes(self) -> dict:
        return {"grad_enabled": True}


def is_grad_enabled() -> bool:
    return _state.grad_enabled


class detect_anomaly(_Switch):
    """Raise AnomalyError at the first op whose output, or whose gradient, is inf or nan while
    its inputs were finite, naming the op and the labels involved. Slower: for debugging."""

    def changes(self) -> dict:
        return {"anomaly": True}


class scope(_Switch):
    """Tag every Value created inside with a path (nested scopes join with '.'): modules use it
    so pictures can collapse a network into its layers and neurons."""

    def __init__(self, name: str) -> None:
        self.name = str(name)

    def changes(self) -> dict:
        outer = _state.scope
        return {"scope": f"{outer}.{self.name}" if outer else self.name}


def current_scope() -> str | None:
    return _state.scope


from . import valuemath  # noqa: E402  (valuemath builds on Value and apply, defined above)
