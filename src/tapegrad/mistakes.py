"""The lecture's classic backprop mistakes, run for real beside the right walk on one graph.

`run(root, mistake)` walks the graph of `root` twice, the right way and the mistaken way, and
writes down every node's gradient after each step of each walk, then finds the first node
(in the walk, from the output down) whose numbers part company, and says why. Both walks use
the engine's own local rules, `engine.local_vjp` for the op table and `closures.run_closure`
for a node's own `_backward`; only how the shares are combined (`=` or `+=`), the order of the
walk, or the zeroing changes. The gradients live in lists here: no node's `.grad` is touched,
and `backward()` is not run.

    assign      `child.grad = share` in place of `+=` (the lecture's bug: `a + a` gives 1)
    no-zero     backward() run again without zeroing the grads first
    order       the rules run in a non-topological order (breadth-first, plain recursion)
    wrong-rule  a closure or registered op with a wrong local derivative, found by gradcheck
                (the right walk uses the derivative central differences measure there)

`explain(root, mistake=...)` makes the page that steps through both walks side by side.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import floatmath as fm
from . import ops
from .check import agree
from .closures import run_closure
from .engine import Constant, Value, local_vjp, topological_order

MISTAKES: dict[str, str] = {
    "assign": "`child.grad = ...` in place of `+=`: a value used twice keeps only its last "
    "share (the lecture's bug: `a + a` gives a.grad == 1)",
    "no-zero": "backward() run a second time without zeroing the grads: the old gradients "
    "are added to (micrograd: they compound; tapegrad: they double)",
    "order": "the rules run in a non-topological order (breadth-first from the output, or "
    "plain recursion without the sort), so a node may pass on its grad before it is complete",
    "wrong-rule": "a closure or registered op with a wrong local derivative, found by "
    "gradcheck: the right walk uses the derivative central differences measure there",
}
"""Every mistake `run` knows, by name, with one line on what it does."""

WALKS = ("bfs", "recursion")
"""The non-topological walks of the `order` mistake."""

WRONG_RULES: dict[str, tuple[str, str]] = {
    "tanh-x": ("tanh", "tanh's derivative as 1 - x**2 (its input) in place of 1 - out**2"),
    "exp-x": ("exp", "exp's derivative as x (its input) in place of exp(x) (its output)"),
    "sub-sign": ("*", "a - b's sign dropped: b gets +out.grad in place of -out.grad"),
    "pow-n": ("**", "x**n's derivative as n * x**n in place of n * x**(n - 1)"),
}
"""Classic wrong local derivatives `plant` can give a graph's nodes, by name: (the `_op` of
the nodes it changes, what it does wrong). `a - b` is `a + b * -1` in tapegrad, so sub-sign
changes the `* -1` nodes."""

MAX_STEPS = 100_000
"""The most steps a walk may take (plain recursion runs a rule once per path: exponential)."""

MAX_NUMBERS = 4_000_000
"""The most gradients a run writes down (every node's, after every step of a walk): a run is
for graphs a page can show, and this keeps a large one from filling the memory."""

_STEP = 1e-6  # the central-difference step, as gradcheck's


class MistakeError(ValueError):
    """The mistake cannot be run on this graph as asked; the message says why and what to do."""


@dataclass
class Walk:
    """One backward walk: which node's rule runs at each step (None: step 0, the seed), what
    it gives each child, and every node's gradient after each step."""

    steps: list[Value | None]
    grads: list[list[float]]  # grads[k][i]: run.nodes[i]'s gradient after step k
    shares: list[list[tuple[int, float]]] = field(default_factory=list)  # (child index, share)

    @property
    def final(self) -> list[float]:
        """Every node's gradient when the walk is over."""
        return self.grads[-1]

    def at(self, k: int) -> list[float]:
        """The gradients after step `k` (the final ones past the walk's last step)."""
        return self.grads[min(k, len(self.grads) - 1)]


@dataclass
class MistakeRun:
    """A right and a mistaken backward walk over one graph, step by step.

    `nodes` are the graph's nodes but Constants, in the right walk's order (the output first,
    as `backward()` visits them); a walk's `grads[k][i]` is `nodes[i]`'s gradient after its
    step k. `first_difference` is the first of `nodes` whose final gradients differ (None if
    the mistake changes nothing on this graph), `first_step` the first step at which its two
    numbers differ, and `why` says in one sentence why they differ."""

    mistake: str
    root: Value
    nodes: list[Value]
    names: list[str]
    right: Walk
    wrong: Walk
    first_difference: Value | None
    first_step: int | None
    why: str
    options: dict = field(default_factory=dict)

    @property
    def length(self) -> int:
        """How many steps the longer walk has (step 0, the seed, included)."""
        return max(len(self.right.grads), len(self.wrong.grads))

    def index(self, node: Value) -> int:
        """`node`'s place in `nodes`."""
        for i, n in enumerate(self.nodes):
            if n is node:
                return i
        raise ValueError(f"{node!r} is not in the graph of this run")

    def grads(self, node: Value) -> tuple[float, float]:
        """`node`'s final gradient in the right walk and in the mistaken one."""
        i = self.index(node)
        return self.right.final[i], self.wrong.final[i]

    def __repr__(self) -> str:
        where = "no difference" if self.first_difference is None else f"differs: {self.why}"
        return f"<MistakeRun {self.mistake!r} on {len(self.nodes)} nodes: {where}>"


def differ(a: float, b: float) -> bool:
    """Whether two gradients part company (beyond rounding; nan and nan agree)."""
    if a != a or b != b:
        return not (a != a and b != b)
    return not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def run(root: Value, mistake: str, **options: Any) -> MistakeRun:
    """Run `mistake` (a name in MISTAKES) on `root`'s graph beside the right backward walk.

    Options: `walk="bfs"` or `"recursion"` for `order` (default bfs); `passes` (default 2) and
    `like="micrograd"` (the output's grad is set to 1 again, interior grads compound) or
    `"tapegrad"` (every pass adds one more gradient) for `no-zero`; `forward={op: fn}` for
    `wrong-rule`, the forward rule on floats of a closure node whose `_op` is not in the table.
    No `.grad` is changed.
    """
    if not isinstance(root, Value):
        raise TypeError(f"run needs the Value to backpropagate from, got {type(root).__name__}")
    if mistake not in MISTAKES:
        raise MistakeError(f"no mistake named {mistake!r}: choose one of {', '.join(MISTAKES)}")
    allowed = {"assign": (), "no-zero": ("passes", "like"), "order": ("walk",)}
    allowed["wrong-rule"] = ("forward",)
    extra = sorted(set(options) - set(allowed[mistake]))
    if extra:
        takes = ", ".join(allowed[mistake]) or "no options"
        raise MistakeError(f"mistake {mistake!r} takes {takes}, not {', '.join(extra)}")
    order = [n for n in reversed(topological_order(root)) if type(n) is not Constant]
    graph = _Graph(root, order)
    if mistake == "assign":
        right, wrong, why = _assign(graph)
    elif mistake == "no-zero":
        right, wrong, why = _no_zero(graph, options.get("passes", 2), options.get("like"))
    elif mistake == "order":
        right, wrong, why = _order(graph, options.get("walk", "bfs"))
    else:
        right, wrong, why = _wrong_rule(graph, options.get("forward") or {})
    first = next((i for i, n in enumerate(order) if differ(right.final[i], wrong.final[i])), None)
    step = None
    if first is not None:
        k = range(max(len(right.grads), len(wrong.grads)))
        step = next(s for s in k if differ(right.at(s)[first], wrong.at(s)[first]))
    node = None if first is None else order[first]
    return MistakeRun(
        mistake, root, order, graph.names, right, wrong, node, step, why(node), dict(options)
    )


class _Graph:
    """The nodes of one graph, their names and places, and the walks over them."""

    def __init__(self, root: Value, order: list[Value]) -> None:
        self.root = root
        self.order = order
        self.at = {node: i for i, node in enumerate(order)}
        self.names = _names(order)
        self.topological = [n for n in order if n._prev]

    def name(self, node: Value) -> str:
        return self.names[self.at[node]]

    def walk(
        self,
        steps: list[Value],
        rule: Callable[[Value, float], list[tuple[Value, float]]],
        start: list[float] | None = None,
        assign: bool = False,
        seed: float = 1.0,
    ) -> Walk:
        """Run `rule` on each node of `steps` in turn on list-held gradients (from
        `start`, zeros by default; the output's gradient is then set to `seed`), combining
        each share into its child's gradient with `+=`, or with `=` if `assign`."""
        if (len(steps) + 1) * len(self.order) > MAX_NUMBERS:
            raise MistakeError(
                f"the walk has {len(steps)} steps over {len(self.order)} values: writing down "
                f"every gradient after every step takes more than {MAX_NUMBERS:,} numbers; run "
                f"the mistake on a smaller graph (a page shows at most a few hundred values)"
            )
        grads = [0.0] * len(self.order) if start is None else list(start)
        grads[0] = seed
        walk = Walk([None], [list(grads)], [[]])
        for node in steps:
            given = []
            for child, c in rule(node, grads[self.at[node]]):
                j = self.at[child]
                grads[j] = c if assign else grads[j] + c
                given.append((j, c))
            walk.steps.append(node)
            walk.grads.append(list(grads))
            walk.shares.append(given)
        return walk

    def fmt(self, x: float) -> str:
        return format(x, ".4g")


def _names(order: list[Value]) -> list[str]:
    """A name for every node: its label if no other node has it, else label#1, #1, ..."""
    uses = Counter(n.label for n in order)
    seen: dict[str, int] = {}
    names = []
    for node in reversed(order):  # numbered from the leaves up, as explain's pages do
        label = node.label
        if label and uses[label] == 1:
            names.append(label)
        else:
            seen[label] = seen.get(label, 0) + 1
            names.append(f"{label}#{seen[label]}")
    return names[::-1]


def shares(node: Value, g: float) -> list[tuple[Value, float]]:
    """What `node`'s own rule gives its children from its gradient `g`, by the engine: one
    share per edge from the op table (`local_vjp`; `a + a` gives a two shares), or one per
    child from the node's own `_backward` closure (`run_closure`). Constants get none."""
    if node._fn is not None:
        given = run_closure(node, node._fn, g)
        return [(c, float(s)) for c, s in given.items() if type(c) is not Constant]
    got = local_vjp(node, g, fm)
    return [(c, float(s)) for c, s in zip(node._prev, got, strict=True) if s is not None]


# --- assign: `=` in place of `+=` ----------------------------------------------------------


def _assign(graph: _Graph) -> tuple[Walk, Walk, Callable]:
    right = graph.walk(graph.topological, shares)
    wrong = graph.walk(graph.topological, shares, assign=True)

    def why(node: Value | None) -> str:
        if node is None:
            return (
                "no value in this graph gets more than one share of gradient that matters, "
                "so `=` and `+=` give the same numbers"
            )
        i = graph.at[node]
        got = [(s, c) for s, c in _received(wrong, i)]
        parts = ", ".join(f"{graph.fmt(c)} from {graph.name(s)}" for s, c in got)
        return (
            f"{graph.name(node)}.grad is {graph.fmt(wrong.final[i])} with `=` but "
            f"{graph.fmt(right.final[i])} with `+=`: it gets {len(got)} shares ({parts}), and "
            f"`=` keeps only the last one where `+=` adds them all up"
        )

    return right, wrong, why


def _received(walk: Walk, i: int) -> list[tuple[Value, float]]:
    """Every share node `i` got in `walk`: (the node whose rule gave it, the share)."""
    return [
        (node, c)
        for node, given in zip(walk.steps, walk.shares, strict=True)
        for j, c in given
        if j == i and node is not None
    ]


# --- no-zero: backward() again without zeroing ---------------------------------------------


def _no_zero(graph: _Graph, passes: Any, like: Any) -> tuple[Walk, Walk, Callable]:
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 2:
        raise MistakeError(f"no-zero's passes must be a whole number 2 or more, got {passes!r}")
    like = like or "micrograd"
    if like not in ("micrograd", "tapegrad"):
        raise MistakeError(f"no-zero's like must be 'micrograd' or 'tapegrad', got {like!r}")
    right = graph.walk(graph.topological, shares)
    wrong = right
    for _ in range(passes - 1):
        stale = wrong.final
        if like == "micrograd":  # backward() sets the output's grad to 1, adds the rest
            wrong = graph.walk(graph.topological, shares, start=stale)
        else:  # tapegrad's backward() adds one fresh gradient to what every .grad held
            wrong = Walk(
                right.steps,
                [
                    [old + new for old, new in zip(stale, grads, strict=True)]
                    for grads in right.grads
                ],
                right.shares,
            )

    def why(node: Value | None) -> str:
        if node is None:
            return (
                f"every gradient the earlier pass{'es' if passes > 2 else ''} left was 0 (the "
                f"output's is set to 1 again), so not zeroing adds nothing on this graph"
            )
        i = graph.at[node]
        held = wrong.grads[0][i] - right.grads[0][i]  # what it held before the pass
        return (
            f"{graph.name(node)}.grad is {graph.fmt(wrong.final[i])} after backward() pass "
            f"{passes} without zero_grad but {graph.fmt(right.final[i])} is right: it still "
            f"held {graph.fmt(held)} from the pass before, which this pass added to"
        )

    return right, wrong, why


# --- order: a walk that is not topological ------------------------------------------------


def _order(graph: _Graph, how: Any) -> tuple[Walk, Walk, Callable]:
    if how not in WALKS:
        raise MistakeError(f"order's walk must be one of {', '.join(WALKS)}, got {how!r}")
    steps = _bfs(graph.root) if how == "bfs" else _recursion(graph.root)
    right = graph.walk(graph.topological, shares)
    wrong = graph.walk(steps, shares)
    said = "breadth-first" if how == "bfs" else "plain recursive"

    def why(node: Value | None) -> str:
        if node is None:
            return (
                f"on this graph the {said} walk runs every rule once, after its node's grad "
                f"is complete, so the order changes nothing"
            )
        i = graph.at[node]
        head = (
            f"{graph.name(node)}.grad is {graph.fmt(wrong.final[i])} but "
            f"{graph.fmt(right.final[i])} is right"
        )
        for parent in dict.fromkeys(s for s in wrong.steps if s is not None and node in s._prev):
            p = graph.at[parent]
            seen = [wrong.grads[k - 1][p] for k, s in enumerate(wrong.steps) if s is parent]
            if len(seen) != 1 or differ(seen[0], right.final[p]):
                times = "once" if len(seen) == 1 else f"{len(seen)} times"
                values = ", ".join(graph.fmt(v) for v in seen)
                return (
                    f"{head}: the {said} walk ran the rule of {graph.name(parent)} {times}, "
                    f"with {graph.name(parent)}.grad = {values}, where a topological walk runs "
                    f"it once, when its grad is complete ({graph.fmt(right.final[p])})"
                )
        return f"{head}: the {said} walk ran its parents' rules out of order"

    return right, wrong, why


def _bfs(root: Value) -> list[Value]:
    """The nodes with children in breadth-first order from `root`, each once."""
    seen, queue, steps = {root}, deque([root]), []
    while queue:
        node = queue.popleft()
        if node._prev:
            steps.append(node)
        for child in node._prev:
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return steps


def _recursion(root: Value) -> list[Value]:
    """The nodes whose rule a plain recursion (`node._backward()`, then each child's
    `backward()`, as micrograd's `_prev`, a set, gives them) runs, in its order: a node once
    per path from `root` to it."""
    stack, steps = [root], []
    while stack:
        node = stack.pop()
        if not node._prev:
            continue
        steps.append(node)
        if len(steps) > MAX_STEPS:
            raise MistakeError(
                f"plain recursion runs a rule once per path from the output, more than "
                f"{MAX_STEPS} times on this graph: try the order mistake on a smaller graph "
                f"or with walk='bfs'"
            )
        stack.extend(reversed(list(dict.fromkeys(node._prev))))  # micrograd's _prev: a set
    return steps


# --- wrong-rule: a closure or registered op whose derivative is wrong ------------------------

_BUILT_IN = {id(op) for op in vars(ops).values() if isinstance(op, ops.Op)}


def _wrong_rule(graph: _Graph, forward: dict) -> tuple[Walk, Walk, Callable]:
    if not isinstance(forward, dict):
        raise MistakeError(
            f"wrong-rule's forward must be a dict of op -> function, got {forward!r}"
        )
    measured: dict[Value, dict[Value, float]] = {}
    given: dict[Value, dict[Value, float]] = {}
    for node in graph.topological:
        op = ops.BY_SYMBOL.get(node._op)
        if node._fn is None and (op is None or id(op) in _BUILT_IN):
            continue  # the table's own rules are checked by the test suite, not here
        fwd = forward.get(node._op)
        if fwd is None and op is not None:
            fwd = _table_forward(op)
        if fwd is None:
            raise MistakeError(
                f"{graph.name(node)} (its _op {node._op!r}) has its own _backward closure but "
                f"no forward rule to measure it by: pass forward={{{node._op!r}: fn}}, fn "
                f"computing its value from its inputs' numbers"
            )
        rule: dict[Value, float] = {}
        for child, c in shares(node, 1.0):
            rule[child] = rule.get(child, 0.0) + c
        numeric = _measure(node, fwd)
        if any(not agree(rule.get(c, 0.0), d, allow_nonfinite=True) for c, d in numeric.items()):
            measured[node], given[node] = numeric, rule

    def right_rule(node: Value, g: float) -> list[tuple[Value, float]]:
        if node in measured:
            return [(child, g * d) for child, d in measured[node].items()]
        return shares(node, g)

    right = graph.walk(graph.topological, right_rule)
    wrong = graph.walk(graph.topological, shares)

    def why(node: Value | None) -> str:
        return _wrong_rule_why(graph, right, wrong, node, measured, given)

    return right, wrong, why


def _table_forward(op: ops.Op) -> Callable[..., float]:
    return lambda *args: op.fwd(fm, *args)


def _measure(node: Value, fwd: Callable[..., float]) -> dict[Value, float]:
    """d(node)/d(child) for each child but Constants, by central differences of `fwd`."""
    prev = node._prev
    args = [float(c.data) for c in prev]
    out: dict[Value, float] = {}
    for child in dict.fromkeys(prev):
        if type(child) is Constant:
            continue
        up = [a + _STEP if c is child else a for c, a in zip(prev, args, strict=True)]
        down = [a - _STEP if c is child else a for c, a in zip(prev, args, strict=True)]
        out[child] = (float(fwd(*up)) - float(fwd(*down))) / (2.0 * _STEP)
    return out


def _wrong_rule_why(graph, right, wrong, node, measured, given) -> str:
    """Why the walk with the user's rule parts company with the measured one at `node`."""
    if not measured:
        return (
            "every closure and registered op in this graph agrees with central differences: "
            "gradcheck finds no wrong rule here"
        )
    culprit = next(iter(measured))
    how = "its own _backward closure" if culprit._fn is not None else "its registered op's rule"
    if node is None:
        child, d = next(iter(measured[culprit].items()))
        return (
            f"the rule of {graph.name(culprit)} ({how}) is wrong, d/d{graph.name(child)} = "
            f"{graph.fmt(given[culprit].get(child, 0.0))} where central differences measure "
            f"{graph.fmt(d)}, but no gradient it passes changes an answer on this graph"
        )
    i = graph.at[node]
    for parent in measured:
        if node in measured[parent]:
            culprit = parent
            how = "its own _backward closure" if parent._fn is not None else "its op's rule"
            break
    return (
        f"{graph.name(node)}.grad is {graph.fmt(wrong.final[i])} but "
        f"{graph.fmt(right.final[i])} is right: the rule of {graph.name(culprit)} (op "
        f"{culprit._op!r}, {how}) gives d{graph.name(culprit)}/d{graph.name(node)} = "
        f"{graph.fmt(given[culprit].get(node, 0.0))} at {graph.name(node)} = "
        f"{graph.fmt(node.data)}, where central differences measure "
        f"{graph.fmt(measured[culprit].get(node, 0.0))}"
    )


# --- classic wrong rules, planted as the lecture's closures ---------------------------------


def plant(root: Value, name: str) -> list[Value]:
    """Give every node of `root`'s graph that `WRONG_RULES[name]` is about a `_backward`
    closure with that classic wrong derivative (the graph is changed: use it on a graph of
    your own, to show the `wrong-rule` mistake). Returns the nodes changed."""
    if name not in WRONG_RULES:
        raise MistakeError(f"no wrong rule named {name!r}: choose one of {', '.join(WRONG_RULES)}")
    symbol, what = WRONG_RULES[name]
    changed = [n for n in topological_order(root) if _fits(n, name, symbol)]
    if not changed:
        where = {"sub-sign": "a subtraction (a - b)", "pow-n": "a power with a number exponent"}
        raise MistakeError(
            f"the wrong rule {name!r} ({what}) changes {where.get(name, symbol)} nodes, but "
            f"this graph has none"
        )
    for node in changed:
        node._backward = _closure(node, name)
    return changed


def _fits(node: Value, name: str, symbol: str) -> bool:
    if node._op != symbol:
        return False
    prev = node._prev
    if name == "sub-sign":  # b * -1, as a - b is a + b * -1
        return len(prev) == 2 and type(prev[1]) is Constant and prev[1].data == -1.0
    if name == "pow-n":
        return len(prev) == 2 and type(prev[1]) is Constant
    return True


def _closure(out: Value, name: str) -> Callable[[], None]:
    """The lecture's `_backward` for `out`, with the classic wrong derivative `name`."""
    x = out._prev[0]

    def tanh_x() -> None:
        x.grad += (1.0 - x.data**2) * out.grad  # wrong: 1 - out.data**2

    def exp_x() -> None:
        x.grad += x.data * out.grad  # wrong: out.data

    def sub_sign() -> None:
        x.grad += out.grad  # wrong: -1.0 * out.grad

    def pow_n() -> None:
        n = out._prev[1].data
        x.grad += n * x.data**n * out.grad  # wrong: n * x.data**(n - 1)

    return {"tanh-x": tanh_x, "exp-x": exp_x, "sub-sign": sub_sign, "pow-n": pow_n}[name]
