"""The lecture's closure ops: `out._backward = fn` on a Value, served by `backward()`.

The lecture adds an op by computing its forward value and giving the result a `_backward`
closure that adds into its children's `.grad`. tapegrad keeps that working as the lecture
writes it, in eager `backward()` only: a node's own closure is stored as its `_fn` and
always wins over the op table, even when its `_op` names a primitive (so a learner's own `+`
with a bug shows the bug). A Value subclass (the lecture's class grown from tapegrad's) gets
its own class back from the table's ops, so its methods keep working down the graph.

`backward()` asks the node's op for its rules (`engine.op_of`); for a closure node that is
`closure_op`, whose rules run the closure. A closure reads `out.grad` and writes `child.grad`,
so `run_closure` runs it with the node's `.grad` set to its gradient in the walk and its
children's to 0: what they hold after is what it gave them; every `.grad` it may touch is then
put back as it was.

Whatever needs a derivative as a rule (`create_graph=True`, `grad(grad(f))`,
`tapegrad.compile`) refuses such a node with `needs_rule`, naming it and the way out:
register the op in the table (`tapegrad.register_op`).
"""

from __future__ import annotations

from collections.abc import Callable

from . import floatmath as fm
from .borrow import borrowing
from .coerce import as_float, is_real
from .ops import BY_SYMBOL, OPS, Op


def set_backward(node, fn: Callable[[], None]) -> None:
    """`node._backward = fn`: store the lecture's closure as this node's own rule."""
    if not callable(fn):
        raise TypeError(
            f"_backward must be a function of no arguments (the lecture's closure), got "
            f"{type(fn).__name__}: {fn!r:.60}"
        )
    node._fn = fn
    if not CLOSURES:
        CLOSURES.append(True)  # from now on, backward() looks for closures


CLOSURES: list = []
"""Not empty once any node was given a closure: until then `backward()` does not look."""

SUBCLASSES: list[type] = []
"""Value subclasses defined outside the engine (the lecture's class grown from tapegrad's);
while there are none, `apply` does not look for them."""


def subclass_of(args) -> type | None:
    """The first argument's own Value subclass, if any: an op's result is of that class (the
    lecture's class grown from tapegrad's keeps its methods through `+` and `*`)."""
    for arg in args:
        cls = type(arg)
        if cls in SUBCLASSES:
            return cls
    return None


def closure_op(node) -> Op:
    """An op record for `node` whose rules are its own closure (`closure_rules`): what
    `backward()` walks in place of the table's entry."""
    return Op(node._op or "closure", node._op, _no_forward, closure_rules(node))


def _no_forward(m, *args):
    raise TypeError("a closure op has no forward rule: its value was computed by hand")


def closure_rules(node) -> tuple[Callable, ...]:
    """One vector-Jacobian "rule" per child of `node` that runs its own closure (once per
    gradient) and returns what the closure added to that child's `.grad` (the total for a
    repeated child's first edge, 0 for its others). Floats only: on Values it refuses."""
    prev = node._prev
    given: list[dict] = []  # what the closure gave each child, once it has run

    def rule_for(i: int) -> Callable:
        def rule(m, g, out, *args):
            if m is not fm:
                raise needs_rule(node, "backward(create_graph=True) and grad(grad(f))")
            if not given:
                given.append(run_closure(node, node._fn, g))
            return given[0].pop(prev[i], 0.0)

        return rule

    return tuple(rule_for(i) for i in range(len(prev)))


def run_closure(node, closure: Callable[[], None], g: float) -> dict:
    """What `closure` (`node`'s own `_backward`) adds to each child's `.grad` when `node.grad`
    is `g`; every `.grad` it may touch is restored after."""
    children = list(dict.fromkeys(node._prev))
    with borrowing([node, *children]):  # a walk of its own when not called from backward()
        return _run_closure(node, closure, g, children)


def _run_closure(node, closure: Callable[[], None], g: float, children: list) -> dict:
    saved = [(n, n.grad) for n in (node, *children)]
    try:
        node.grad = g
        for child in children:
            child.grad = 0.0
        closure()
        return {child: _share(node, i, child.grad) for i, child in enumerate(children)}
    finally:
        for n, grad in saved:
            n.grad = grad


def _share(node, i: int, grad) -> float:
    """What a closure left in child `i`'s `.grad`: a float (any real number becomes one), or
    a TypeError naming the node, as a registered op's rule results are checked."""
    if type(grad) is float:
        return grad
    if is_real(grad):
        return as_float(grad)
    raise TypeError(
        f"the _backward closure of {describe(node)} left {type(grad).__name__} ({grad!r:.60}) "
        f"in its child {i}'s .grad; it must add a float"
    )


def no_rule(node) -> ValueError:
    """The error for a node with children whose `_op` names no primitive and that has no
    closure: nothing says how to differentiate it."""
    return ValueError(
        f"{node!r} (label {node.label!r}) has children but its _op {node._op!r} is not a "
        f"primitive in tapegrad.ops, so it has no derivative rule: give it a _backward "
        f"closure, or register the op (tapegrad.register_op)"
    )


def describe(node) -> str:
    """How a message names a node: its label (or repr) and its op."""
    name = repr(node.label) if node.label else repr(node)
    return f"{name} (its _op {node._op!r})"


def needs_rule(node, what: str) -> ValueError:
    """The error for a closure node where a rule is needed: names it and the way out."""
    name = node._op
    if not name.isidentifier() or name in OPS or name in BY_SYMBOL:  # taken: suggest another
        name = f"my_{BY_SYMBOL[name].name}" if name in BY_SYMBOL else "my_op"
    return ValueError(
        f"{what} cannot differentiate {describe(node)}: its derivative is its own _backward "
        f"closure, which backward() runs on floats only. To use it here, register the op in "
        f"the op table with a forward rule and one rule per argument: "
        f"tapegrad.register_op({name!r}, fwd, vjps) (see CONTRIBUTING, 'Add your own op')"
    )
