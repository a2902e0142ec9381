"""Value: a scalar that remembers how it was computed, so it can backpropagate through it.

Read this file top to bottom, beside `ops.py` (each op's forward rule next to its derivative):

1. `Value` and its operators. Each one calls `apply`, which runs the op's forward rule from
   `ops.py` on the numbers and records a new node that points to its children.
2. `backward()`: the chain rule, run from the output down to the leaves (`topological_order`
   and `backprop` at the bottom).

The lecture's API is kept: `Value(data, _children=(), _op='', label='')`, `.data`, `.grad`,
`.label`, `._op`, `._prev`, `._backward()` and `.backward()`. Unlike micrograd, a node holds no
closure: its `_op` names a rule in `ops.py` and its only references are to its children, so a
graph has no reference cycles and is freed the moment its output is dropped. (The lecture's own
closure ops, `out._backward = fn`, still work: `closures.py` says how.) `modes.py` holds the
switches a first reading can skip (no_grad, detect_anomaly, scope).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import floatmath as fm
from . import ops
from .borrow import borrowing
from .closures import (
    CLOSURES,
    SUBCLASSES,
    closure_op,
    no_rule,
    set_backward,
    subclass_of,
)
from .coerce import as_float, is_real
from .modes import (  # noqa: F401  (the switches are re-exported from here)
    AnomalyError,
    check_gradient,
    check_output,
    check_traced,
    current_scope,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
    state,
    tracers,
)
from .ops import ADD, BY_SYMBOL, DIV, MUL, POW, TANH, Op

Number = Any  # a real number: int, float, bool, Fraction, NumPy's scalars (coerce.is_real)
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
    _fn: Callable[[], None] | None = None  # None: the op table's rule serves this node
    __array_ufunc__ = None  # so `np.float64(2) * x` defers to Value and gives a Value

    def __init__(self, data: Number, _children=(), _op: str = "", label: str = "") -> None:
        self.data: float = data if type(data) is float else as_float(data)
        self.grad: Any = 0.0  # a float; a Value after backward(create_graph=True)
        self._a: Any = None
        self._b: Any = None
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

    # --- the lecture's ops: a number mixed in (`x + 1`, `2 * x`) becomes a Constant leaf ---

    def __add__(self, other: Value | Number) -> Value:
        if type(other) is not Value:
            other = _operand(other)
            if other is NotImplemented:
                return other
        return apply(ADD, self, other)

    def __radd__(self, other: Number) -> Value:
        other = _operand(other)
        return other if other is NotImplemented else apply(ADD, other, self)

    def __mul__(self, other: Value | Number) -> Value:
        if type(other) is not Value:
            other = _operand(other)
            if other is NotImplemented:
                return other
        return apply(MUL, self, other)

    def __rmul__(self, other: Number) -> Value:
        other = _operand(other)
        return other if other is NotImplemented else apply(MUL, other, self)

    def __truediv__(self, other: Value | Number) -> Value:  # IEEE's a / b: 1/0 = inf, 0/0 = nan
        other = other if type(other) is Value else _operand(other)
        return other if other is NotImplemented else apply(DIV, self, other)

    def __rtruediv__(self, other: Number) -> Value:
        other = _operand(other)
        return other if other is NotImplemented else apply(DIV, other, self)

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value) or is_real(other):
            return apply(POW, self, as_value(other))
        return NotImplemented

    def __rpow__(self, other: Number) -> Value:
        return apply(POW, as_value(other), self) if is_real(other) else NotImplemented

    def tanh(self) -> Value:
        return apply(TANH, self)

    def exp(self) -> Value:
        return apply(ops.EXP, self)

    # --- composites, no rule of their own: x * -1.0 and a + (-b) are exact in IEEE (-x, a - b)

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self + (-other)
        return self + -as_float(other) if is_real(other) else NotImplemented

    def __rsub__(self, other: Number) -> Value:
        return other + (-self) if is_real(other) else NotImplemented

    # --- the rest of the table's ops, each with its rules in `ops.py` ---

    def log(self) -> Value:
        return apply(ops.LOG, self)

    def sigmoid(self) -> Value:
        return apply(ops.SIGMOID, self)

    def relu(self) -> Value:
        return apply(ops.RELU, self)

    def sqrt(self) -> Value:
        return apply(ops.SQRT, self)

    def sin(self) -> Value:
        return apply(ops.SIN, self)

    def cos(self) -> Value:
        return apply(ops.COS, self)

    def abs(self) -> Value:
        return apply(ops.ABS, self)

    __abs__ = abs

    def max(self, other: Value | Number) -> Value:
        return apply(ops.MAX, self, as_value(other))

    def min(self, other: Value | Number) -> Value:
        return apply(ops.MIN, self, as_value(other))

    def logaddexp(self, other: Value | Number) -> Value:
        return apply(ops.LOGADDEXP, self, as_value(other))

    def softplus(self) -> Value:
        """log(1 + exp(self)), stable for any input."""
        return apply(ops.LOGADDEXP, self, as_value(0.0))

    def clamp(self, lo: Value | Number | None = None, hi: Value | Number | None = None) -> Value:
        """Limit to [lo, hi] (None: unbounded); the gradient passes inside, bounds included."""
        lo, hi = (-fm.inf if lo is None else lo), (fm.inf if hi is None else hi)
        return apply(ops.CLAMP, self, as_value(lo), as_value(hi))

    # --- comparisons and conversions look at `.data` and record nothing ---
    # `==` stays identity, so Values live in sets and dicts as the lecture's `trace` needs.
    # While `tapegrad.compile` records, comparing a Value that depends on an input would
    # freeze the example's answer into the tape, so the recording's guard is asked first.

    def __lt__(self, other: Value | Number) -> bool:
        if tracers:
            check_traced("<", self, other)
        return self.data < (other.data if isinstance(other, Value) else other)

    def __le__(self, other: Value | Number) -> bool:
        if tracers:
            check_traced("<=", self, other)
        return self.data <= (other.data if isinstance(other, Value) else other)

    def __gt__(self, other: Value | Number) -> bool:
        if tracers:
            check_traced(">", self, other)
        return self.data > (other.data if isinstance(other, Value) else other)

    def __ge__(self, other: Value | Number) -> bool:
        if tracers:
            check_traced(">=", self, other)
        return self.data >= (other.data if isinstance(other, Value) else other)

    def __float__(self) -> float:
        if tracers:
            check_traced("float()", self)
        return self.data

    def __bool__(self) -> bool:
        """True, as for any object in micrograd: `if x:` does not look at `x.data`."""
        if tracers:
            check_traced("bool()", self)
        return True

    # --- backpropagation ---

    def backward(self, create_graph: bool = False) -> None:
        """Backpropagate from this Value: add d(self)/d(node) into every node's `.grad`.

        `self.grad` is seeded with 1. Gradients accumulate, as in PyTorch: a second call on the
        same graph adds the same gradients again (every `.grad` doubles; micrograd compounds
        stale interior grads instead, see the README), so zero them between steps
        (`Module.zero_grad()` or `tapegrad.graph.zero_grad(root)`).
        With `create_graph=True` the gradients are themselves Values, so they can be
        differentiated again.
        """
        backprop(self, 1.0, create_graph)

    def _get_backward(self) -> Callable[[], None]:
        """This node's step of the chain rule, applied once when called: it adds its share of
        `self.grad` into each child's `.grad`. Its own closure if it was given one (the
        lecture's `out._backward = fn`), else the op table's rule. `backward()` does this for
        every node in order; the lecture does it by hand."""
        if self._fn is not None:
            return self._fn

        def _backward() -> None:
            for child, share in zip(self._prev, local_vjp(self, self.grad), strict=True):
                if share is not None:
                    child.grad += share

        return _backward

    _backward = property(_get_backward, set_backward)


class Constant(Value):
    """A number mixed into an expression (the 2 in `2 * x`): a leaf that gets no gradient."""

    __slots__ = ()


def as_value(x: Value | Number) -> Value:
    """`x` if it is a Value, else a Constant holding it (TypeError for non-numbers)."""
    return x if isinstance(x, Value) else Constant(x)


def _operand(x: Any) -> Any:
    """A Value for the other side of an arithmetic operator, or NotImplemented."""
    return x if isinstance(x, Value) else Constant(x) if is_real(x) else NotImplemented


_new = object.__new__


def apply(op: Op, *args: Value) -> Value:
    """Run primitive `op` on Values: compute its forward rule on their data, record the node."""
    n = len(args)
    a: Any
    b: Any
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
    cls: type[Value] = subclass_of(args) or Value if SUBCLASSES else Value  # closures.py
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


# --- backpropagation: the chain rule over the whole graph ----------------------------------


def topological_order(root: Value) -> list[Value]:
    """Every node reachable from `root`, children before parents, `root` last.

    The same order micrograd's recursive `build_topo` gives (depth first, children in order),
    built with an explicit stack, so a chain a million nodes deep needs no recursion limit.
    """
    order: list[Value] = []
    seen = {root}
    placed_all = seen.issuperset  # every child seen: in a DAG, seen children are placed
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                seen.add(child)
                try:  # its `_prev`, read from the slots (inline: a call per node costs)
                    a, b = child._a, child._b
                    prev = () if a is None else a if b is MANY else (a,) if b is None else (a, b)
                except AttributeError:  # a node of another engine (micrograd's): `_prev` only
                    prev = child._prev
                if placed_all(prev):  # a leaf, or a node over placed ones: place it now
                    order.append(child)
                    continue
                stack.append((child, iter(prev)))
                break
        else:  # every child is placed: the node can be
            stack.pop()
            order.append(node)
    return order


VALUE_MATH: list[ModuleType] = []
"""The math namespace over Values (`valuemath.py`), which rules run on to give gradients as
Values. It is written over Value, so it enters itself here when imported (`import tapegrad`
imports it)."""


def backprop(root: Value, seed: Any = 1.0, create_graph: bool = False) -> None:
    """Add d(root)/d(node) into every node's `.grad` but Constants' (`Value.backward()`)."""
    order = topological_order(root)
    with borrowing(order):  # another thread's walk sharing a node finishes first (borrow.py)
        saved = walk(order, seed, create_graph)
        for node, old in zip(order, saved, strict=True):
            g = node.grad  # None: no gradient reached it (on the general walk)
            node.grad = old if g is None or type(node) is Constant else old + g


def walk(order: list[Value], seed: Any = 1.0, create_graph: bool = False) -> list:
    """The chain rule on borrowed grads over `order = topological_order(root)` (inside
    `borrowing(order)`): each node's `.grad` ends holding d(root)/d(node) alone. Gives what
    their `.grad` held, for the caller to add back (`backward()`) or put back (`tapegrad.grad`).

    Setting every `.grad` aside first means a second `backward()` adds exactly one more
    gradient (micrograd's issue #53: its interior grads compound), and a failure part-way
    (a node with no rule, Ctrl-C) leaves every `.grad` as it was.
    """
    saved = [node.grad for node in order]
    general = create_graph or state.mode.anomaly
    # Where each sum starts: -0.0, as -0.0 + c is c bit for bit (0.0 + -0.0 is not); None on
    # the general walk, where a first share is taken as it is and None means "no gradient".
    start = None if general else -0.0
    for node in order:
        node.grad = start
    order[-1].grad = seed  # d(root)/d(root) = 1
    try:
        if general:
            _chain_rule_general(order, VALUE_MATH[0] if create_graph else fm)
        else:
            _chain_rule(order)
    except BaseException:
        for node, old in zip(order, saved, strict=True):
            node.grad = old
        raise
    return saved


def _chain_rule(order: list[Value]) -> None:
    """The chain rule on floats, node by node from the root down.

    When a node's turn comes its `.grad` is complete: d(root)/d(node), as every node that uses
    it comes later in `order` and has already added its share. The node then hands each child
    its share, `node.grad * d(node)/d(child)`, the local derivative being its op's rule in
    `ops.py`. For `out = a * b` the rules give `g * b` to a and `g * a` to b: the lecture's
    `self.grad += other.data * out.grad`. A child used twice (`a + a`) adds both shares.
    """
    # The one- and two-child cases (most of any graph) are written out rather than looping over
    # `node._prev`, which would build a tuple per node.
    for node in reversed(order):
        a = node._a
        if a is None:  # a leaf: nothing below it to pass a gradient to
            continue
        op = (not CLOSURES and BY_SYMBOL.get(node._op)) or op_of(node)  # op_of's fast case
        g, out, b = node.grad, node.data, node._b  # g = d(root)/d(node), complete by now
        if b is None:  # one child (tanh, exp, relu, ...): d(out)/d(a) by the op's rule
            if type(a) is not Constant:
                a.grad += op.vjps[0](fm, g, out, a.data)
        elif b is not MANY:  # two children (+, *, ...): each gets its own share
            x, y = a.data, b.data
            if type(a) is not Constant:
                a.grad += op.vjps[0](fm, g, out, x, y)
            if type(b) is not Constant:
                b.grad += op.vjps[1](fm, g, out, x, y)
        elif op.partials:  # a neuron's affine: g times each local derivative, in one pass
            for child, p in zip(a, op.partials(fm, out, *[x.data for x in a]), strict=True):
                child.grad += g * p  # a Constant's too: cheaper than asking, and undone
        else:
            args = [x.data for x in a]
            for child, c in zip(a, shares_of(op, fm, g, out, args, a), strict=True):
                child.grad += c


def _chain_rule_general(order: list[Value], m: ModuleType) -> None:
    """The same chain rule, for gradients as Values (`m` is the Value namespace, so every
    share is a node that can be differentiated again) or checked under `detect_anomaly()`."""
    anomaly = state.mode.anomaly
    for node in reversed(order):
        prev, g = node._prev, node.grad
        if not prev or g is None:  # a leaf, or a node the root does not depend on
            continue
        out, args = (node, prev) if m is not fm else (node.data, [c.data for c in prev])
        for child, c in zip(prev, shares_of(op_of(node), m, g, out, args, prev), strict=True):
            if type(child) is Constant:
                continue
            if anomaly:
                check_gradient(node, child, g, c)
            total = child.grad  # None until its first share, which is taken as it is
            child.grad = c if total is None else total + c


def local_vjp(node: Value, g: Any, m: ModuleType | None = None) -> list:
    """The gradient `g` of `node` pushed through its op's rule: one share per child (None for
    Constants). On floats, or on Values when `g` is a Value or `m` says so."""
    if m is None:
        m = VALUE_MATH[0] if isinstance(g, Value) else fm
    prev = node._prev
    out, args = (node.data, [c.data for c in prev]) if m is fm else (node, prev)
    shares = shares_of(op_of(node), m, g, out, args, prev) if prev else ()
    return [None if type(c) is Constant else s for c, s in zip(prev, shares, strict=True)]


def shares_of(op: Op, m: ModuleType, g: Any, out: Any, args: Any, prev: tuple) -> list:
    """Each child's share of `g` through the op's rules. A variadic op's one rule gives every
    share, Constants' too; per-argument rules are not run for a Constant (its share is 0)."""
    if op.vjp is not None:
        return op.vjp(m, g, out, *args)
    return [
        0.0 if type(c) is Constant else r(m, g, out, *args)
        for c, r in zip(prev, op.vjps, strict=True)
    ]


def op_of(node: Value) -> Op:
    """The op whose rules serve `node`: its own closure if it was given one, else the table's
    entry for its `_op` (read at every use, so a patched table takes effect)."""
    if CLOSURES and node._fn is not None:  # the lecture's closure wins over the table
        return closure_op(node)
    try:
        return BY_SYMBOL[node._op]
    except KeyError:
        raise no_rule(node) from None
