"""The checks behind the exercise notebook (notebooks/04_exercises.ipynb).

A learner writes the `_backward` closures of `+ * tanh exp ** /` in a small Value class of
their own, then a neuron, then the topological sort; after each, a check cell calls one of the
`check_*` functions here. A check builds a few small graphs with the learner's class (always a
diamond: a node that feeds two ops, or one op twice, as `a + a`), walks them with the
learner's closures, and compares every forward value and every `.grad` with tapegrad's engine
on the same graph: the reference is tapegrad's own op table, so no derivative is written here.

Right: one short "ok" line. Untouched (a `NotImplementedError`, a method that returns None, a
`_backward` still the leaf's no-op): one "not done yet" line, no traceback. Wrong: an
`ExerciseFailed` (an AssertionError) naming the node, the derivative that disagrees with both
numbers, and a one-line hint. To find the node, each closure is also run alone (`probe`):
with its output's gradient as it is in the walk, once on zeroed children and once on children
already holding a gradient, beside tapegrad's own `_backward` of the same node.

A failure also writes the page of its mistake (`tapegrad.explain(root, mistake=...)`) on
tapegrad's copy of the learner's graph, to `mistake-EXERCISE.html` in the working folder, and
its last line links to it: `=` for `+=` is "assign", a wrong local derivative "wrong-rule"
(the learner's closure replayed on tapegrad's node), a wrong order "order".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import mistakes, nn, ops, textmath
from .engine import Value as Ref
from .graph import topological_order
from .pages.explain import explain

__all__ = [
    "ExerciseFailed",
    "check_add",
    "check_div",
    "check_exp",
    "check_mul",
    "check_neuron",
    "check_pow",
    "check_tanh",
    "check_topo",
]


class ExerciseFailed(AssertionError):
    """A check found a wrong answer. `kind` says which family of mistake ("assign", "chain",
    "sign", "rule", "forward", "order"), `node` the name of the node where it shows."""

    def __init__(
        self, message: str, kind: str = "", node: str = "", mistake: Mistake | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.node = node
        self.mistake = mistake

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in place of a traceback: the message alone (the learner's code
        is not in the stack, so the stack would only show the checker's insides)."""
        return [
            f"ExerciseFailed: {line}" if i == 0 else line
            for i, line in enumerate(str(self).splitlines())
        ]


@dataclass(frozen=True)
class Mistake:
    """The failure as one of `tapegrad.mistakes`, on tapegrad's copy of the learner's graph:
    `mistakes.run(root, name, **options)` walks it rightly and as the learner did (for
    "wrong-rule", the learner's closure is replayed on tapegrad's node: `replay`)."""

    root: Ref
    name: str
    options: dict[str, Any] = field(default_factory=dict)


class NotDone(Exception):
    """The exercise is untouched: its message says what to write first."""


# --- the graphs each check builds --------------------------------------------------------

Step = tuple[str, str, tuple[Any, ...]]  # (name, op, arguments: names of nodes, or numbers)


@dataclass(frozen=True)
class Graph:
    """A small graph as a recipe, built the same way with any Value class: leaves by name and
    data, then steps `name = op(args)` (an argument is a node's name or a plain number)."""

    leaves: tuple[tuple[str, float], ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Exercise:
    """One op exercise: the op's symbol (its `_op`), its number in the notebook, the graphs
    it is checked on, and a tip for a wrong local derivative."""

    op: str
    number: int
    graphs: tuple[Graph, ...]
    tip: str


def _g(leaves: dict[str, float], *steps: Step) -> Graph:
    return Graph(tuple(leaves.items()), steps)


# Each graph has a node used twice (`a + a`, or a leaf feeding two ops) and the op's node
# gets a gradient other than 1 somewhere (so a missing out.grad factor shows).
EXERCISES: dict[str, Exercise] = {
    "add": Exercise("+", 1, (
        _g({"a": 3.0}, ("b", "+", ("a", "a"))),
        _g({"a": 2.0, "b": -3.0},
           ("c", "+", ("a", "b")), ("d", "+", ("c", "c")), ("e", "+", ("d", "a"))),
    ), "a + b passes out.grad on unchanged to both inputs"),
    "mul": Exercise("*", 2, (
        _g({"a": 3.0}, ("b", "*", ("a", "a"))),
        _g({"a": 2.0, "b": -3.0}, ("c", "*", ("a", "b")), ("d", "*", ("c", "a"))),
    ), "each input of a * b gets out.grad times the OTHER input's data"),
    "tanh": Exercise("tanh", 3, (
        _g({"a": 0.5}, ("b", "tanh", ("a",)), ("c", "*", ("b", "a"))),
    ), "tanh's derivative is written with its output, t = out.data, not x"),
    "exp": Exercise("exp", 4, (
        _g({"a": 0.3}, ("b", "exp", ("a",)), ("c", "*", ("b", "a"))),
    ), "exp is its own derivative: reuse the output, out.data"),
    "pow": Exercise("**", 5, (
        _g({"a": 1.5}, ("b", "**", ("a", 3.0)), ("c", "*", ("b", "a"))),
    ), "for x**k, bring the exponent k down and lower the power by one"),
    "div": Exercise("/", 6, (
        _g({"a": 3.0, "b": -2.0}, ("c", "/", ("a", "b")), ("d", "*", ("c", "b"))),
    ), "a / b shrinks as b grows, so b's share carries a minus sign"),
}  # fmt: skip

FORMS = {"+": "{} + {}", "*": "{} * {}", "/": "{} / {}", "**": "{} ** {}"}


def _apply(op: str, args: list[Any]) -> Any:
    """`op` on `args` with whatever class they are: the learner's, or tapegrad's."""
    if op == "+":
        return args[0] + args[1]
    if op == "*":
        return args[0] * args[1]
    if op == "/":
        return args[0] / args[1]
    if op == "**":
        return args[0] ** args[1]
    return getattr(args[0], op)()


def _text(name: str, op: str, args: Sequence[Any]) -> str:
    """How a message writes a step: `c = a * b`, `b = tanh(a)`, `b = a ** 3`."""
    shown = [a if isinstance(a, str) else f"{a:g}" for a in args]
    return f"{name} = " + (FORMS[op].format(*shown) if op in FORMS else f"{op}({shown[0]})")


# --- pairs: each learner node beside tapegrad's node for it -------------------------------


@dataclass
class Pair:
    """A node of the learner's graph beside tapegrad's node for it, with its children (only
    those that are nodes: a plain number such as pow's exponent is not one)."""

    name: str
    mine: Any
    ref: Ref
    text: str
    op: str = ""
    kids: list[Pair] = field(default_factory=list)


def _build(graph: Graph, Value: Any, exercise: str) -> list[Pair]:
    """Build `graph` with the learner's `Value` and with tapegrad's, side by side."""
    pairs: dict[str, Pair] = {}
    for name, data in graph.leaves:
        mine = _made(f"Value({data}, label={name!r})", exercise, Value, data, label=name)
        pairs[name] = Pair(name, mine, Ref(data, label=name), f"{name} = {data:g}")
    for name, op, args in graph.steps:
        mine_args = [pairs[a].mine if isinstance(a, str) else a for a in args]
        ref_args = [pairs[a].ref if isinstance(a, str) else a for a in args]
        text = _text(name, op, args)
        mine = _made(text, _owner(op, exercise), _apply, op, mine_args)
        if not isinstance(mine, Value):
            raise ExerciseFailed(
                f"{text} gave {type(mine).__name__} ({mine!r:.40}), not a Value: build `out` "
                f"as a Value of its inputs and return it",
                "forward",
                name,
            )
        mine.label = name
        ref = _apply(op, ref_args)
        ref.label = name
        kids = [pairs[a] for a in dict.fromkeys(a for a in args if isinstance(a, str))]
        pairs[name] = Pair(name, mine, ref, text, op, kids)
    return list(pairs.values())


def _owner(op: str, default: str) -> str:
    """The exercise where `op` is written (a check may use the ops of earlier exercises)."""
    return next((k for k, e in EXERCISES.items() if e.op == op), default)


def _made(text: str, exercise: str, make: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`make(*args, **kwargs)` (the learner's code for `text`), or NotDone when that code is
    not written yet (it raises NotImplementedError, or returns None)."""
    try:
        out = make(*args, **kwargs)
    except NotImplementedError:
        raise NotDone(f"write {_what(exercise)} first") from None
    if out is None:
        give = "`out`" if exercise in EXERCISES else "`topo`" if exercise == "topo" else "it"
        raise NotDone(f"write {_what(exercise)} first ({text} returned None: return {give})")
    return out


def _title(exercise: str) -> str:
    """How a failure names its exercise: `exercise 3 (tanh)`."""
    if exercise in EXERCISES:
        return f"exercise {EXERCISES[exercise].number} ({EXERCISES[exercise].op})"
    return {"neuron": "exercise 7 (Neuron)", "topo": "exercise 8 (build_topo)"}[exercise]


def _what(exercise: str) -> str:
    if exercise in EXERCISES:
        e = EXERCISES[exercise]
        return f"the `_backward` of {e.op} (exercise {e.number})"
    return {"neuron": "the Neuron (exercise 7)", "topo": "build_topo (exercise 8)"}[exercise]


# --- walking the learner's graph ---------------------------------------------------------


def _walk(pairs: list[Pair], root: Pair, exercise: str) -> None:
    """The learner's closures over their graph, in tapegrad's order: root.grad = 1, then each
    node's `_backward()` from the root down (tapegrad's `backward()` does the same)."""
    for p in pairs:
        p.mine.grad = 0.0
    root.mine.grad = 1.0
    for p in reversed(_ordered(pairs, root)):
        if p.kids:
            _call(p, exercise)


def _ordered(pairs: list[Pair], root: Pair) -> list[Pair]:
    """The pairs in tapegrad's topological order of its own graph."""
    by_ref = {id(p.ref): p for p in pairs}
    return [by_ref[id(n)] for n in topological_order(root.ref) if id(n) in by_ref]


def _call(p: Pair, exercise: str) -> None:
    """Run the learner's `_backward` of `p`, turning "not written yet" into NotDone."""
    _step(p.mine, p.text, _owner(p.op, exercise), p.name)


def _step(node: Any, text: str, exercise: str, name: str = "") -> None:
    """`node._backward()` of the learner's node `text`; NotDone when it is not written yet
    (raises NotImplementedError, or is still the no-op a leaf gets), ExerciseFailed when it
    raises anything else."""
    _not_a_leaf(node, text, exercise)
    try:
        node._backward()
    except NotImplementedError:
        raise NotDone(f"write {_what(exercise)} first") from None
    except Exception as e:
        raise ExerciseFailed(
            f"the _backward of {text} raised {type(e).__name__}: {e}", "rule", name
        ) from e


def _not_a_leaf(node: Any, text: str, exercise: str) -> None:
    """NotDone if `node._backward` is still the no-op every leaf gets from `__init__` (the
    lecture's `lambda: None`)."""
    fn, leaf = node._backward, type(node)(0.0)._backward
    code = getattr(leaf, "__code__", None)
    if code is not None and code.co_name == "<lambda>" and getattr(fn, "__code__", 0) is code:
        raise NotDone(
            f"write {_what(exercise)} first ({text}: its _backward is still the leaf's no-op; "
            f"set out._backward = _backward)"
        )


def _ready(pairs: list[Pair], exercise: str) -> None:
    """NotDone if this exercise's own op is untouched: asked before the walk, which may meet
    an earlier exercise's op first."""
    for p in pairs:
        if p.kids and _owner(p.op, exercise) == exercise:
            _not_a_leaf(p.mine, p.text, exercise)
            try:
                probe(p.mine, [k.mine for k in p.kids], 1.0)
            except NotImplementedError:
                raise NotDone(f"write {_what(exercise)} first") from None
            except Exception:  # the walk runs it again and reports it, naming the node
                pass


SENTINEL = 10.0  # what a child's .grad holds on the second run of a probe


def probe(node: Any, kids: Sequence[Any], g: float) -> tuple[list[float], list[float]]:
    """What `node._backward()` adds to each child's `.grad` when `node.grad` is `g`: once on
    zeroed children, once on children already holding SENTINEL (a closure that assigns with
    `=` instead of adding with `+=` gives the same total both times). Every `.grad` touched
    is put back."""
    saved = [(n, n.grad) for n in (node, *kids)]
    try:
        shares = []
        for start in (0.0, SENTINEL):
            node.grad = g
            for k in kids:
                k.grad = start
            node._backward()
            shares.append([k.grad - start for k in kids])
        return shares[0], shares[1]
    finally:
        for n, grad in saved:
            n.grad = grad


def close(x: float, y: float) -> bool:
    """Equal up to rounding (the learner's arithmetic may round differently from tapegrad's);
    anything but a real number (a Value where a float belongs, None) is not close."""
    try:
        return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) or math.isnan(x) and math.isnan(y)
    except TypeError:
        return False


# --- comparing, and saying what is wrong --------------------------------------------------


def _compare(pairs: list[Pair], exercise: str) -> None:
    """Forward values, then every node's local rule (root down), then every `.grad`."""
    root = pairs[-1]
    for p in pairs:
        if not close(p.mine.data, p.ref.data):
            raise ExerciseFailed(
                f"forward: {p.text} gives {p.mine.data!r}, expected {p.ref.data!r}\n"
                f"hint: compute out.data from the inputs' .data as the op says",
                "forward",
                p.name,
            )
    _ready(pairs, exercise)
    _walk(pairs, root, exercise)
    root.ref.backward()
    for p in reversed(_ordered(pairs, root)):
        if p.kids:
            _check_rule(p, pairs, exercise)
    for p in reversed(_ordered(pairs, root)):
        if not close(p.mine.grad, p.ref.grad):
            raise ExerciseFailed(
                f"{p.name}.grad after the walk: expected {p.ref.grad:.6g}, got "
                f"{p.mine.grad:.6g}\n  on the graph: {_graph_text(pairs)}\n"
                f"hint: each _backward should change only its own inputs' .grad",
                "rule",
                p.name,
            )


def _check_rule(p: Pair, pairs: list[Pair], exercise: str) -> None:
    """Run `p`'s closure alone beside tapegrad's rule for it; raise on the first difference."""
    g = p.ref.grad
    kids = [k.mine for k in p.kids]
    try:
        first, second = probe(p.mine, kids, g)
    except NotImplementedError:
        raise NotDone(f"write {_what(_owner(p.op, exercise))} first") from None
    expected, _ = probe(p.ref, [k.ref for k in p.kids], g)
    for k, want, got, again in zip(p.kids, expected, first, second, strict=True):
        kind = _kind(want, got, again, g)
        if kind:
            raise _failure(p, k, want, got, g, kind, pairs, exercise)


def _kind(want: float, got: float, again: float, g: float) -> str:
    """Which mistake a wrong share looks like ("" if it is right)."""
    if not close(got, again):
        return "assign"
    if close(got, want):
        return ""
    if want != 0 and not close(g, 1.0) and close(got * g, want):
        return "chain"
    if want != 0 and close(got, -want):
        return "sign"
    return "rule"


HINTS = {
    "assign": "add into .grad with `+=`, not `=`: a node used twice ({kid} here) must collect "
    "the gradient from every use",
    "chain": "multiply by out.grad: the chain rule scales the local derivative by the "
    "gradient arriving from above",
    "sign": "the sign is flipped; {tip}",
    "rule": "{tip}",
}


def _failure(p: Pair, k: Pair, want: float, got: float, g: float, kind: str,
             pairs: list[Pair], exercise: str) -> ExerciseFailed:  # fmt: skip
    """The error for a wrong share from `p` to its child `k`: the node, the derivative, the
    numbers, the totals they lead to, and a hint."""
    owner = _owner(p.op, exercise)
    tip = EXERCISES[owner].tip if owner in EXERCISES else "compare with tapegrad's rule above"
    local = f"d{p.name}/d{k.name}"
    lines = [
        f"the _backward of {p.text} gives {k.name} the wrong share",
        f"  with out.grad = {g:.6g}: {k.name} should get out.grad * {local} = {want:.6g}, "
        f"your closure gives {got:.6g}",
        f"  so after the walk {k.name}.grad is {k.mine.grad:.6g}, tapegrad says {k.ref.grad:.6g}",
        f"  on the graph: {_graph_text(pairs)}",
        f"  tapegrad's rule: {k.name} gets {_formula(p, k)}",
        "hint: " + HINTS[kind].format(kid=k.name, tip=tip),
    ]
    return ExerciseFailed("\n".join(lines), kind, p.name, _as_mistake(kind, p, pairs))


def _as_mistake(kind: str, p: Pair, pairs: list[Pair]) -> Mistake | None:
    """The learner's mistake at `p` as one `tapegrad.mistakes` runs, on tapegrad's copy of
    the graph: `=` for `+=` is "assign"; a wrong local derivative is "wrong-rule", every node
    of `p`'s op given the learner's closure (`replay`), which gradcheck measures against. A
    missing out.grad factor is right where gradcheck looks (out.grad = 1): None."""
    root = pairs[-1].ref
    if kind == "assign":
        return Mistake(root, "assign")
    if kind not in ("sign", "rule"):
        return None
    for q in pairs:
        if q.kids and q.op == p.op:
            q.ref._backward = replay(q)
    return Mistake(root, "wrong-rule")


def replay(p: Pair) -> Callable[[], None]:
    """The learner's `_backward` of `p` as a closure on tapegrad's node for it: what the
    learner's closure gives its children (`probe`, run on the learner's own node with
    tapegrad's node's gradient), added into tapegrad's children."""

    def _backward() -> None:
        shares, _ = probe(p.mine, [k.mine for k in p.kids], p.ref.grad)
        for k, share in zip(p.kids, shares, strict=True):
            k.ref.grad += share

    return _backward


def _formula(p: Pair, k: Pair) -> str:
    """The share tapegrad's op table gives child `k` of `p`, as the rule writes itself
    (textmath) over the children's names: `g * (1 - out * out)`, `g * b`."""
    rule = ops.BY_SYMBOL[p.ref._op]
    names = [c.label or f"{c.data:g}" for c in p.ref._prev]
    uses = [i for i, c in enumerate(p.ref._prev) if c is k.ref]
    each = f" from each of its {len(uses)} uses" if len(uses) > 1 else ""
    return (
        f"{textmath.formula(rule, names).grads[uses[0]]}{each}  (g = {p.name}.grad, "
        f"out = {p.name}.data, each other name its .data)"
    )


def _graph_text(pairs: list[Pair]) -> str:
    """The graph as its steps, `a = 3; b = a + a` (a plain number's leaf goes without saying)."""
    return "; ".join(p.text for p in pairs if p.kids or p.name != f"{p.mine.data:g}")


# --- the checks the notebook calls --------------------------------------------------------


def _report(exercise: str, run: Callable[[], str]) -> None:
    """Run a check: "ok" on one line if it passes, "not done yet" on one line if the exercise
    is untouched; a wrong answer raises ExerciseFailed."""
    __tracebackhide__ = True  # noqa: F841  (pytest and IPython leave this frame out)
    try:
        said = run()
    except NotDone as e:
        print(f"not done yet: {e}")
        return
    except ExerciseFailed as e:
        message = f"{_title(exercise)}: {e}"
        if e.mistake is not None:
            message += "\n" + _page(exercise, e.mistake)
        raise ExerciseFailed(message, e.kind, e.node, e.mistake) from None
    print(f"ok: {said}")


def _page(exercise: str, mistake: Mistake) -> str:
    """Write the mistake's page, the right walk and the learner's side by side on the
    learner's graph, to `mistake-EXERCISE.html` in the working folder (a notebook's own
    folder in Jupyter); the line that links to it."""
    path = Path(f"mistake-{exercise}.html")
    try:
        page = explain(
            mistake.root,
            mistake=mistake.name,
            title=f"{_title(exercise)}: your walk beside the right one",
            **mistake.options,
        )
        page.save(path)
    except (OSError, ValueError) as e:  # the failure above still stands: say why, go on
        return f"see: the mistake page could not be written ({type(e).__name__}: {e})"
    return f"see: {path} (the right walk and yours, step by step, on this graph)"


def _check_op(exercise: str, Value: type) -> None:
    __tracebackhide__ = True  # noqa: F841

    def run() -> str:
        e = EXERCISES[exercise]
        for graph in e.graphs:
            _compare(_build(graph, Value, exercise), exercise)
        return f"your {e.op} matches tapegrad, values and gradients, on {len(e.graphs)} graph(s)"

    _report(exercise, run)


def check_add(Value: type) -> None:
    """Check the learner's `+` (exercise 1) against tapegrad on `a + a` and a shared node."""
    _check_op("add", Value)


def check_mul(Value: type) -> None:
    """Check the learner's `*` (exercise 2) against tapegrad on `a * a` and a shared node."""
    _check_op("mul", Value)


def check_tanh(Value: type) -> None:
    """Check the learner's `tanh` (exercise 3) against tapegrad (with `*`, already done)."""
    _check_op("tanh", Value)


def check_exp(Value: type) -> None:
    """Check the learner's `exp` (exercise 4) against tapegrad (with `*`, already done)."""
    _check_op("exp", Value)


def check_pow(Value: type) -> None:
    """Check the learner's `**` by a number (exercise 5) against tapegrad."""
    _check_op("pow", Value)


def check_div(Value: type) -> None:
    """Check the learner's `/` (exercise 6) against tapegrad."""
    _check_op("div", Value)


# --- the neuron ---------------------------------------------------------------------------

NEURON_W = (0.5, -1.0, 0.25)
NEURON_B = 0.1
NEURON_X = (2.0, -1.0, 0.5)
PARAMS = ("w1", "w2", "w3", "b")


def check_neuron(Neuron: type, Value: type) -> None:
    """Check the learner's `Neuron` (exercise 7): `Neuron(3)` with fixed weights, its
    `parameters()`, `n(x)` = tanh(w . x + b) and, after a walk with the learner's closures,
    each parameter's gradient, against tapegrad's own tanh neuron with the same weights."""
    __tracebackhide__ = True  # noqa: F841
    _report("neuron", lambda: _neuron(Neuron, Value))


def _neuron(Neuron: Any, Value: Any) -> str:
    n = _made("Neuron(3)", "neuron", Neuron, 3)
    params = list(_made("n.parameters()", "neuron", n.parameters))
    if len(params) != 4 or not all(isinstance(p, Value) for p in params):
        raise ExerciseFailed(
            f"Neuron(3).parameters() gave {params!r:.80}\nhint: return the 3 weights and the "
            f"bias, 4 Values: self.w + [self.b]",
            "forward",
            "parameters",
        )
    for p, name, data in zip(params, PARAMS, (*NEURON_W, NEURON_B), strict=True):
        p.data, p.label = data, name
    out = _made(f"n({list(NEURON_X)})", "neuron", n, list(NEURON_X))
    ref = _ref_neuron("tanh", NEURON_B)
    ref_out = ref(list(NEURON_X))
    if not isinstance(out, Value) or not close(out.data, ref_out.data):
        raise ExerciseFailed(_neuron_forward(out), "forward", "out")
    _walk_all(out)
    ref_out.backward()
    for p, r, name in zip(params, ref.parameters(), PARAMS, strict=True):
        if not close(p.grad, r.grad):
            pairs = mirror(out)
            if pairs is not None:
                for q in reversed(pairs):
                    if q.kids:
                        _check_rule(q, pairs, "neuron")
            raise ExerciseFailed(
                f"after the walk {name}.grad is {p.grad:.6g}, tapegrad says {r.grad:.6g}\n"
                f"hint: every op the neuron uses must pass its own check first",
                "rule",
                name,
            )
    return "your neuron's output and its 4 parameters' gradients match tapegrad's"


def _ref_neuron(act: str, bias: float) -> nn.Neuron:
    """tapegrad's neuron with the check's weights and bias."""
    ref = nn.Neuron(3, act, fused=False)
    for p, data in zip(ref.parameters(), (*NEURON_W, bias), strict=True):
        p.data = data
    return ref


def _neuron_forward(out: Any) -> str:
    """Why the neuron's output is wrong, as far as tapegrad's neurons can tell."""
    x = list(NEURON_X)
    want = _ref_neuron("tanh", NEURON_B)(x).data
    if not hasattr(out, "data"):
        return f"n(x) gave {out!r:.60}, not a Value\nhint: return the Value tanh(w . x + b)"
    got = out.data
    if close(got, _ref_neuron("linear", NEURON_B)(x).data):
        hint = "squash w . x + b with tanh"
    elif close(got, _ref_neuron("tanh", 0.0)(x).data):
        hint = "add the bias b before tanh"
    else:
        hint = "sum wi * xi over the inputs, add b, then tanh"
    return (
        f"with w = {list(NEURON_W)}, b = {NEURON_B} and x = {x}, n(x) = {got:.6g}, "
        f"expected tanh(w . x + b) = {want:.6g}\nhint: {hint}"
    )


def _walk_all(root: Any) -> None:
    """The learner's closures over their own graph below `root`, in topological order."""
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        if node._prev:
            _step(node, f"a node made by {node._op!r}", _owner(node._op, "neuron"))


def mirror(root: Any) -> list[Pair] | None:
    """tapegrad's copy of the learner's graph below `root`, node for node (its grads from
    tapegrad's `backward()`), or None if a node's `_op` is not one tapegrad knows or its
    children's order is lost (a set) where the op needs it."""
    pairs: dict[int, Pair] = {}
    for node in topological_order(root):
        kids = [pairs[id(k)] for k in node._prev]
        name = node.label or (f"{node.data:g}" if not kids else f"n{len(pairs)}")
        if not kids:
            pairs[id(node)] = Pair(
                name, node, Ref(node.data, label=name), f"{name} = {node.data:g}"
            )
            continue
        rule = ops.BY_SYMBOL.get(node._op)
        if (
            rule is None
            or rule.arity != len(kids)
            or (not isinstance(node._prev, Sequence) and rule not in (ops.ADD, ops.MUL))
        ):
            return None
        ref = (
            _apply(node._op, [k.ref for k in kids])
            if rule.arity == 2
            else _apply(rule.name, [kids[0].ref])
        )
        ref.label = name
        text = _text(name, node._op, [k.name for k in kids])
        distinct = list({id(k): k for k in kids}.values())
        pairs[id(node)] = Pair(name, node, ref, text, node._op, distinct)
    out = list(pairs.values())
    out[-1].ref.backward()
    return out


# --- the topological sort -----------------------------------------------------------------

TOPO_GRAPHS = (
    _g(
        {"a": 2.0, "b": -3.0},
        ("c", "*", ("a", "b")),
        ("d", "+", ("c", "a")),
        ("e", "*", ("d", "c")),
    ),
    _g(
        {"a": -2.0, "b": 3.0},
        ("d", "*", ("a", "b")),
        ("e", "+", ("a", "b")),
        ("f", "*", ("d", "e")),
    ),
)


def check_topo(build_topo: Callable[[Any], Any]) -> None:
    """Check the learner's `build_topo(root)` (exercise 8) on tapegrad graphs with shared
    nodes: every node once, each after all its children, and `_backward()` walked in the
    reverse of that order gives the gradients tapegrad's `backward()` gives."""
    __tracebackhide__ = True  # noqa: F841
    _report("topo", lambda: _topo(build_topo))


def _topo(build_topo: Callable[[Any], Any]) -> str:
    for graph in TOPO_GRAPHS:
        pairs = _build(graph, Ref, "topo")
        root = pairs[-1]
        order = _made("build_topo(root)", "topo", build_topo, root.mine)
        if not isinstance(order, Sequence):
            raise ExerciseFailed(
                f"build_topo(root) gave {type(order).__name__}, not a list\nhint: return topo",
                "order",
            )
        problem = _topo_problem(pairs, order)
        if problem and not problem[3]:  # not the graph's nodes: nothing to walk
            raise ExerciseFailed(f"{problem[0]}\nhint: {problem[1]}", "order", problem[2])
        for node in order:
            node.grad = 0.0
        root.mine.grad = 1.0
        for node in reversed(order):
            node._backward()
        root.ref.backward()
        wrong = [p for p in pairs if not close(p.mine.grad, p.ref.grad)]
        if problem or wrong:
            numbers = "".join(
                f"\n  walking your order backwards gives {p.name}.grad = {p.mine.grad:.6g}, "
                f"tapegrad's backward() gives {p.ref.grad:.6g}"
                for p in wrong[:2]
            )
            what, hint, node = problem[:3] if problem else ("your order", ORDER_HINT, root.name)
            raise ExerciseFailed(
                f"{what}, on the graph: {_graph_text(pairs)}{numbers}\nhint: {hint}",
                "order",
                node,
                _order_mistake(root.ref, twice="times in your order" in what),
            )
    return f"your order walks {len(TOPO_GRAPHS)} graphs with shared nodes to tapegrad's gradients"


def _order_mistake(root: Ref, twice: bool) -> Mistake | None:
    """A walk out of topological order that `tapegrad.mistakes` runs and that changes the
    answer on this graph: plain recursion (a rule run once per path) when the learner's
    order repeats a node, else breadth-first, else the other one."""
    walks = ("recursion", "bfs") if twice else ("bfs", "recursion")
    for walk in walks:
        if mistakes.run(root, "order", walk=walk).first_difference is not None:
            return Mistake(root, "order", {"walk": walk})
    return None


ORDER_HINT = "append a node to topo only after all of its children"


def _topo_problem(pairs: list[Pair], order: Sequence[Any]) -> tuple[str, str, str, bool] | None:
    """What is wrong with `order`: a message, a hint, the node, and whether the order holds
    only the graph's nodes (so it can be walked); None if nothing is."""
    by_id = {id(p.mine): p for p in pairs}
    counts: dict[int, int] = {}
    for node in order:
        if id(node) not in by_id:
            return (f"your order holds {node!r:.40}, not a node of the graph",
                    "append the nodes themselves (v), nothing else", "", False)  # fmt: skip
        counts[id(node)] = counts.get(id(node), 0) + 1
    for p in pairs:
        if counts.get(id(p.mine), 0) == 0:
            return (f"{p.text} is missing from your order",
                    "visit every child of every node, leaves included", p.name, False)  # fmt: skip
    for p in sorted(pairs, key=lambda p: not p.kids):  # a node with a _backward first
        if counts[id(p.mine)] > 1:
            return (
                f"{p.text} is {counts[id(p.mine)]} times in your order, so its _backward runs "
                f"{counts[id(p.mine)]} times",
                "keep a set of visited nodes and skip a node already in it",
                p.name,
                True,
            )
    placed: set[int] = set()
    for node in order:
        p = by_id[id(node)]
        for k in p.kids:
            if id(k.mine) not in placed:
                return (f"{p.text} comes before its input {k.name} in your order", ORDER_HINT,
                        p.name, True)  # fmt: skip
        placed.add(id(node))
    return None
