"""`explain(root)`: a page that steps through the forward and backward pass of a graph. Every
number is recorded here from the engine itself: a node's `.data`, and per edge what its op's
rule (`local_vjp`) or its own `_backward` closure gives; the page's script computes nothing."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

from .. import mistakes, textmath
from ..closures import run_closure
from ..collapse import Collapse, Group, group_nodes
from ..engine import Constant, Value, local_vjp
from ..graph import topological_order
from ..markup import html_text, xml_text
from ..ops import BY_SYMBOL
from .page import HtmlPage, asset, data_and_script, new_id

MAX_NODES = 1000
"""The most boxes a page steps through by default: past it the page grows slow to open."""

LIST_LIMIT = 12
"""The most lines a step lists one by one (a layer's outputs, a leaf's gradients)."""


# How an op reads on the page: its own rules run on `textmath` (values that are text), once
# with names ("x1.data", "o.grad") and once with the numbers, so a new op needs no edit here.
_SPOKEN = {" >= ": " ≥ ", " <= ": " ≤ "}  # and " * " as "·" in words, "×" in numbers


def formula(
    node: Value,
    args: Sequence[str | textmath.Text] | None = None,
    out: str | textmath.Text = "out",
    g: str | textmath.Text = "g",
) -> textmath.Formula | None:
    """`node`'s op as its rules write it (`textmath.formula`): the forward and one gradient per
    input, over `args` (default: the rule's own names; x0, x1, ... for a variadic op), `out`
    and `g`. None if the table has no op for `node._op`, or its rules do not run on text."""
    op = BY_SYMBOL.get(node._op)
    if op is None:
        return None
    k = len(node._prev)
    if args is None and op.arity is None:
        args = [f"x{i}" for i in range(k)]
    try:
        text = textmath.formula(op, args, out, g)
    except Exception:  # a user's rule that text cannot run (Python `if` on a value, ...)
        return None  # the page then says d(out)/d(input) · out.grad, with no numbers
    if op.vector:  # its forward rule repeats every argument several times: name the op instead
        shown = [a if isinstance(a, textmath.Text) else textmath.symbol(a) for a in args or ()]
        text = text._replace(forward=f"{op.name}({', '.join(a.text for a in shown)})")
    return text if len(text.grads) == k else None


def _spoken(text: str, times: str) -> str:
    """A rule's text as the page shows it: `*` as `times`, `>=` as `≥`, `<=` as `≤`."""
    text = text.replace(" * ", f" {times} ")
    for python, shown in _SPOKEN.items():
        text = text.replace(python, shown)
    return text


_PLAIN = re.compile(r"[\w#.']+|-?\d[\d.e+-]*")


class ExplainError(ValueError):
    """The graph cannot be made into a page as asked; the message says what to do instead."""


@dataclass
class Step:
    """One moment of the replay: what the panel says and what the picture changes."""

    phase: str  # "start", "forward", "seed", "backward" or "done"
    title: str
    lines: list[str] = field(default_factory=list)
    focus: list[str] = field(default_factory=list)  # the picture elements it is about
    touched: list[str] = field(default_factory=list)  # the elements it reads or writes
    cells: list[tuple[str, str, str]] = field(default_factory=list)  # (element, cell, text)


@dataclass(eq=False)
class Explanation(HtmlPage):
    """The page `explain()` made: `_repr_html_` for Jupyter, `save(path)` for a file. `grads`
    holds d(root)/d(node) as one fresh `backward()` gives them; `start` is the step it opens at
    (a `#step=` in a saved page's URL wins)."""

    root: Value
    title: str
    steps: list[Step]
    grads: dict
    _elements: dict  # node -> the picture element that shows it
    _svg: str
    renderer: str
    _initial: list[tuple[str, str, str]]  # (element, cell, text) before the first step
    _born: dict[str, int]  # element -> the step it appears at (-1: not yet computed)
    start: int = 0

    def __repr__(self) -> str:
        return (
            f"<tapegrad explanation {self.title!r}: {len(self.steps)} steps, "
            f"{self.renderer} renderer; .save('page.html') writes it>"
        )

    def element(self, node: Value) -> str:
        """The name of the picture element (a node's box, or its module's box) showing `node`."""
        try:
            return self._elements[node]
        except KeyError:
            raise ValueError(f"{node!r} is not in the graph this page explains") from None

    def data(self, standalone: bool) -> dict:
        """What the page's script replays, as JSON-able data."""
        els = list(self._born)
        at = {name: i for i, name in enumerate(els)}
        cells = [[at[el], kind, text] for el, kind, text in self._initial]
        cell_at = {(el, kind): i for i, (el, kind, _) in enumerate(self._initial)}
        steps = [
            {
                "p": s.phase,
                "t": s.title,
                "l": s.lines,
                "f": [at[e] for e in s.focus],
                "u": [at[e] for e in s.touched],
                "s": [[cell_at[(el, kind)], text] for el, kind, text in s.cells],
            }
            for s in self.steps
        ]
        return {
            "standalone": standalone,
            "start": self.start,
            "els": els,
            "born": [self._born[e] for e in els],
            "cells": cells,
            "steps": steps,
        }

    def fragment(self, standalone: bool) -> str:
        uid = new_id("tgx")
        return _PAGE.format(
            uid=uid,
            css=asset("explain.css"),
            title=html_text(self.title),
            last=len(self.steps) - 1,
            svg=_scope_ids(self._svg, uid),
            scripts=data_and_script(uid, self.data(standalone), "explain.js"),
        )


_BAR = """<span class="tg-bar">
<button type="button" data-act="reset" title="first step (Home)">reset</button>
<button type="button" data-act="back" title="step back (&#x2190;)">&#x25C0;</button>
<button type="button" data-act="play" title="play / pause (space)">play</button>
<button type="button" data-act="next" title="step forward (&#x2192;)">&#x25B6;</button>
<input type="range" class="tg-range" min="0" max="{last}" value="0" aria-label="step">
<label>step <input type="number" class="tg-jump" min="0" max="{last}" value="0"></label>
<span class="tg-count"></span>
<button type="button" data-act="zoom" title="fit to the width, or full size">fit</button>
</span>"""
"""The step controls both pages share: reset, back, play, next, the slider, a step box, fit."""

_PAGE = (
    """<div id="{uid}" class="tg-explain" tabindex="0">
<style>{css}</style>
<div class="tg-head"><span class="tg-name">{title}</span>
"""
    + _BAR
    + """</div>
<div class="tg-panel"><div class="tg-title"></div><ul class="tg-lines"></ul></div>
<div class="tg-pic">{svg}</div>
{scripts}
</div>"""
)


@overload
def explain(
    root: Value,
    *,
    mistake: None = None,
    collapse: Collapse | None = None,
    rankdir: str = "LR",
    precision: int = 4,
    fmt: str | None = None,
    max_nodes: int | None = MAX_NODES,
    title: str | None = None,
) -> Explanation: ...


@overload
def explain(
    root: Value,
    *,
    mistake: str,
    collapse: Collapse | None = None,
    rankdir: str = "LR",
    precision: int = 4,
    fmt: str | None = None,
    max_nodes: int | None = MAX_NODES,
    title: str | None = None,
    **options: Any,
) -> MistakePage: ...


def explain(
    root: Value,
    *,
    mistake: str | None = None,
    collapse: Collapse | None = None,
    rankdir: str = "LR",
    precision: int = 4,
    fmt: str | None = None,
    max_nodes: int | None = MAX_NODES,
    title: str | None = None,
    **options: Any,
) -> Explanation | MistakePage:
    """A page that steps through how the engine computes `root` and backpropagates from it:
    forward node by node, each value with the op and numbers that made it; then backward, each
    local chain rule with its numbers, every `+=` into a child on its own. It replays one fresh
    `backward()` from `root` and leaves every `.grad` as it was, before or after `backward()`.

    mistake: one of `tapegrad.mistakes.MISTAKES` ("assign", "no-zero", "order", "wrong-rule"):
    the page steps through the right backward walk and the mistaken one side by side instead
    (`mistakes.run`, which `options` go to: walk=, passes=, like=, forward=), marking the first
    node where their numbers differ and saying why.
    collapse: "layer" or "neuron" (as in `draw_dot`) draws each module as one box and steps
    through it at once. max_nodes: past this many boxes, ExplainError says what to do (None:
    no limit). rankdir, precision, fmt: as in `draw_dot`. title: the page's heading.
    """
    from ..viz import check_options

    number = check_options("explain", root, rankdir, precision, fmt, max_nodes)
    order = topological_order(root)
    if mistake is not None or options:
        if mistake is None:
            raise TypeError(
                f"explain() takes {', '.join(sorted(options))} only with mistake=..., the "
                f"options of a mistake's walk"
            )
        if collapse is not None:
            raise ExplainError("a mistake page shows every node: it cannot be collapsed")
        if max_nodes is not None and len(order) > max_nodes:
            raise ExplainError(_too_many(len(order), max_nodes, order))
        return _mistake_page(root, order, mistake, options, number, rankdir, title)
    if collapse is None and max_nodes is not None and len(order) > max_nodes:
        raise ExplainError(_too_many(len(order), max_nodes, order))
    recorder = _Recorder(root, order, collapse, number)
    steps = recorder.record()
    svg, renderer = recorder.picture(rankdir, max_nodes)
    name = title if title is not None else f"explain {recorder.names.get(root, 'root')}"
    return Explanation(
        root,
        name,
        steps,
        recorder.grads,
        recorder.elements,
        svg,
        renderer,
        recorder.initial,
        recorder.born,
    )


def _too_many(n: int, max_nodes: int, order: list) -> str:
    scoped = any(getattr(node, "_scope", None) for node in order)
    way = (
        "Pass collapse='layer' or collapse='neuron' to step through it a module at a time"
        if scoped
        else "Explain a smaller graph (build it under tapegrad.scope(...) to collapse it "
        "with collapse='layer')"
    )
    return (
        f"the graph has {n} values, more than max_nodes={max_nodes}: a page that size is slow "
        f"to open and to step through. {way}, or pass max_nodes=None to make the full page "
        f"anyway"
    )


class _Recorder:
    """Runs the engine's rules over one graph and writes down every step of the replay."""

    def __init__(self, root: Value, order: list, collapse, number: str) -> None:
        self.root = root
        self.order = order
        self.number = number
        self.index = {node: i for i, node in enumerate(order)}
        self.names = _names(order)
        self.collapse = collapse
        self.of, self.groups = group_nodes(order, collapse) if collapse is not None else ({}, [])
        self.box = {g.name: f"g{i}" for i, g in enumerate(self.groups)}
        self.elements = {node: self._element(node) for node in order}
        self.grads: dict = {}
        self.grad_texts: dict = {}  # node -> its grad cell's text for the layout (mistake pages)
        self.initial: list[tuple[str, str, str]] = []
        self.born: dict[str, int] = {}
        # node -> how many edges bring it gradient
        self.incoming = Counter(child for node in order for child in node._prev)

    def fmt(self, x) -> str:
        return format(float(x), self.number)

    def _element(self, node) -> str:
        group = self.of.get(node)
        return self.box[group.name] if group is not None else f"n{self.index[node]}"

    def name(self, node) -> str:
        return self.names.get(node) or self.fmt(node.data)

    def ref(self, node) -> str:
        """The node's name as a formula refers to it: in parentheses unless a plain name."""
        name = self.name(node)
        return name if _PLAIN.fullmatch(name) else f"({name})"

    # --- the replay ------------------------------------------------------------------------

    def record(self) -> list[Step]:
        """Every step: the start, forward through each computed unit, the seed, backward."""
        units = [u for u in self._units() if any(n._prev for n in _members(u))]
        steps = [self._start()]
        for unit in units:
            if isinstance(unit, Value):
                steps.append(self._forward_node(unit, len(steps)))
            else:
                steps.append(self._forward_group(unit, len(steps)))
        steps.append(self._seed())
        for unit in reversed(units):
            if isinstance(unit, Value):
                steps.append(self._backward_node(unit))
            else:
                steps.append(self._backward_group(unit))
        steps.append(self._done())
        return steps

    def _units(self) -> list:
        """The nodes and groups in an order they can be computed in, one after another."""
        if not self.groups:
            return list(self.order)
        unit_of = {node: self.of.get(node, node) for node in self.order}
        key = {}  # a unit's place: where its last member is in the topological order
        for node in self.order:
            key[id(unit_of[node])] = self.index[node]
        units = {id(unit_of[node]): unit_of[node] for node in self.order}
        feeds: dict[int, set[int]] = {u: set() for u in units}
        needs = dict.fromkeys(units, 0)
        for node in self.order:
            mine = id(unit_of[node])
            for child in node._prev:
                theirs = id(unit_of[child])
                if theirs != mine and mine not in feeds[theirs]:
                    feeds[theirs].add(mine)
                    needs[mine] += 1
        ready = [(key[u], u) for u, n in needs.items() if n == 0]
        heapq.heapify(ready)
        out = []
        while ready:
            _, u = heapq.heappop(ready)
            out.append(units[u])
            for v in feeds[u]:
                needs[v] -= 1
                if needs[v] == 0:
                    heapq.heappush(ready, (key[v], v))
        if len(out) < len(units):
            stuck = sorted(
                u.name for u in units.values() if needs[id(u)] and not isinstance(u, Value)
            )
            raise ExplainError(
                f"collapse={self.collapse!r} makes groups that feed each other in a cycle "
                f"({', '.join(stuck[:4])}), so they cannot be stepped through one at a time: "
                f"collapse with 'layer' or 'neuron', or a function that groups less finely"
            )
        return out

    def _start(self) -> Step:
        step = Step("start", "Start: the leaves hold their data, every grad is 0")
        zero = self.fmt(0.0)
        for node in self.order:
            el = self.elements[node]
            if node in self.of:
                continue
            leaf = not node._prev
            self.initial.append((el, "data", f"data {self.fmt(node.data)}" if leaf else "data ?"))
            self.initial.append((el, "grad", f"grad {zero}"))
            self.born[el] = 0 if leaf else -1
            if not leaf:
                self.born[f"{el}_op"] = -1
            elif type(node) is not Constant:
                step.lines.append(f"{self.name(node)} = {self.fmt(node.data)}")
        for group in self.groups:
            el = self.box[group.name]
            if group.params:
                self.initial.append((el, "norm", f"grad norm {zero}"))
            self.born[el] = 0 if not group.ops else -1
        step.lines = _cap(step.lines, "leaves")
        return step

    def _forward_node(self, node: Value, at: int) -> Step:
        el = self.elements[node]
        self.born[el] = self.born[f"{el}_op"] = at
        words, numbers = self._forward_text(node)
        name = self.name(node)
        line = f"{name} = {words} = {numbers} = {self.fmt(node.data)}"
        return Step(
            "forward",
            f"Forward: {name} = {words}",
            [line],
            [el, f"{el}_op"],
            self._elements_of(node._prev),
            [(el, "data", f"data {self.fmt(node.data)}")],
        )

    def _forward_group(self, group, at: int) -> Step:
        el = self.box[group.name]
        self.born[el] = at
        members = set(group.members)
        inputs = [c for m in group.members for c in m._prev if c not in members]
        outputs = self._outputs(group)
        lines = [f"{self.name(n)} = {self.fmt(n.data)}" for n in outputs]
        return Step(
            "forward",
            f"Forward: {group.name} computes {group.ops} values "
            f"({len(outputs)} output{'s' if len(outputs) != 1 else ''})",
            _cap(lines, "outputs"),
            [el],
            self._elements_of(inputs),
        )

    def _seed(self) -> Step:
        name = self.ref(self.root)
        self.grads = {self.root: 1.0}
        step = Step(
            "seed",
            f"Backward: start at {name} with {name}.grad = 1",
            [f"{name}.grad = 1 (d{name}/d{name} = 1): backward() starts here"],
            [self.elements[self.root]],
        )
        self._show_grads(step, [self.root])
        return step

    def _backward_node(self, node: Value) -> Step:
        el = self.elements[node]
        name = self.name(node)
        step = Step("backward", f"Backward: {name}'s local chain rule", focus=[el, f"{el}_op"])
        g = self.grads.get(node)
        if g is None:
            step.lines.append(f"no gradient reaches {name}: nothing to pass on")
            return step
        receivers = []
        for child, c, words, numbers in self._contributions(node, g):
            before = self.grads.get(child)
            after = c if before is None else before + c  # as backward() adds them
            self.grads[child] = after
            receivers.append(child)
            cname = self.ref(child)
            line = f"{cname}.grad += {words}"
            if numbers is not None:
                line += f" = {numbers}"
            line += f" = {self.fmt(c)}"
            if self.incoming.get(child, 0) > 1:
                base = self.fmt(0.0 if before is None else before)
                line += f"   ({cname}.grad: {base} + {self.fmt(c)} = {self.fmt(after)})"
            step.lines.append(line)
        if not receivers:
            step.lines.append(f"{name}'s inputs are constants: no gradient to pass on")
        step.touched = self._elements_of(receivers)
        self._show_grads(step, receivers)
        return step

    def _backward_group(self, group) -> Step:
        el = self.box[group.name]
        members = set(group.members)
        leaving: dict = {}  # outside node -> how many contributions it got from this group
        rules = 0
        for node in sorted(group.members, key=self.index.__getitem__, reverse=True):
            g = self.grads.get(node)
            if not node._prev or g is None:
                continue
            rules += 1
            for child, c, _, _ in self._contributions(node, g, texts=False):
                before = self.grads.get(child)
                self.grads[child] = c if before is None else before + c
                if child not in members:
                    leaving[child] = leaving.get(child, 0) + 1
        lines = [
            f"{self.ref(n)}.grad = {self.fmt(self.grads[n])}   ({k} contribution"
            f"{'s' if k != 1 else ''} from {group.name})"
            for n, k in leaving.items()
        ]
        step = Step(
            "backward",
            f"Backward: {group.name} applies the local rules of its {rules} ops",
            _cap(lines, "inputs"),
            [el],
            self._elements_of(leaving),
        )
        self._show_grads(step, [*group.members, *leaving])
        if group.params:
            step.lines.append(f"{group.name}: grad norm of its parameters = {self._norm(group)}")
        return step

    def _done(self) -> Step:
        name = self.ref(self.root)
        lines = [
            f"{self.ref(n)}.grad = {self.fmt(self.grads.get(n, 0.0))}"
            for n in self.order
            if not n._prev and type(n) is not Constant and n not in self.of
        ]
        return Step(
            "done",
            f"Done: every grad holds d{name}/d(node)",
            _cap(lines, "leaves"),
            [],
            [self.elements[n] for n in self.order if not n._prev and type(n) is not Constant],
        )

    # --- the engine's rules, per edge -----------------------------------------------------

    def _contributions(self, node: Value, g: float, texts: bool = True) -> list[tuple]:
        """(child, gradient it receives, rule in words, rule in numbers) for each edge of
        `node`; Constants receive nothing. `texts=False` (a collapsed group, which shows only
        the sums) leaves the rule's words out: writing them is most of a big page's time."""
        if node._fn is not None:  # the lecture's closure wins over the table, as in backward()
            return self._closure_contributions(node, node._fn, g)
        try:
            shares = local_vjp(node, g)
        except ValueError as err:  # an _op the table does not have, and no closure
            raise ExplainError(
                f"{self.name(node)} (op {node._op!r}) has no rule in tapegrad.ops and no "
                f"_backward closure: {err}"
            ) from err
        prev = node._prev
        said = self._texts(node, g, ".data") if texts else None
        out: list[tuple[Value, float, str, str | None]] = []
        for i, (child, c) in enumerate(zip(prev, shares, strict=True)):
            if c is None:  # a Constant
                continue
            if said is None:
                words = f"∂{self.ref(node)}/∂{self.ref(child)} · {self.ref(node)}.grad"
                out.append((child, float(c), words, None))
            else:
                out.append((child, float(c), said[0].grads[i], said[1].grads[i]))
        return out

    def _closure_contributions(self, node: Value, closure, g: float) -> list[tuple]:
        """Run the node's own `_backward` with `node.grad = g` and each child's grad at 0, read
        what each child received, and put every grad back as it was."""
        try:
            given = run_closure(node, closure, g)  # as backward() runs it
        except Exception as err:
            raise ExplainError(
                f"{self.name(node)} (op {node._op!r}) has its own closure and its _backward() "
                f"failed: {type(err).__name__}: {err}"
            ) from err
        got = [(child, float(c)) for child, c in given.items() if type(child) is not Constant]
        name = self.ref(node)
        return [(child, c, f"{name}._backward() (its own closure)", None) for child, c in got]

    # --- texts ---------------------------------------------------------------------------

    def _forward_text(self, node: Value) -> tuple[str, str]:
        texts = self._texts(node, None, "")
        if texts is not None:
            return texts[0].forward, texts[1].forward
        words = ", ".join(self._word(c, "").text for c in node._prev)
        numbers = ", ".join(self.fmt(c.data) for c in node._prev)
        op = node._op or "op"
        return f"{op}({words})", f"{op}({numbers})"

    def _texts(
        self, node: Value, g, suffix: str
    ) -> tuple[textmath.Formula, textmath.Formula] | None:
        """`node`'s rules as the page shows them, in words (inputs named with `suffix`) and in
        numbers; None if its op has no rules that run on text."""
        name = self.ref(node)
        words = formula(
            node,
            [self._word(c, suffix) for c in node._prev],
            textmath.Text(f"{name}.data"),
            textmath.Text(f"{name}.grad"),
        )
        if words is None:
            return None
        numbers = formula(
            node,
            [self._number(c.data) for c in node._prev],
            self._number(node.data),
            "g" if g is None else self._number(g),  # no g in a forward step
        )
        if numbers is None:
            return None
        said = [
            textmath.Formula(_spoken(f.forward, times), tuple(_spoken(t, times) for t in f.grads))
            for f, times in ((words, "·"), (numbers, "×"))
        ]
        return said[0], said[1]

    def _word(self, child: Value, suffix: str) -> textmath.Text:
        """How a formula names an input: a Constant by its value, anything else by name."""
        if type(child) is Constant:
            return self._number(child.data)
        return textmath.Text(self.ref(child) + suffix)  # ref: a plain name or parenthesised

    def _number(self, x) -> textmath.Text:
        return textmath.symbol(self.fmt(x))

    def _outputs(self, group) -> list:
        members = set(group.members)
        read = {c for n in self.order if n not in members for c in n._prev if c in members}
        return [n for n in group.members if n in read or n is self.root]

    def _elements_of(self, nodes) -> list[str]:
        return list(dict.fromkeys(self.elements[n] for n in nodes))

    def _norm(self, group) -> str:
        params = [n for n in group.members if not n._prev and type(n) is not Constant]
        return self.fmt(math.sqrt(sum(float(self.grads.get(n, 0.0)) ** 2 for n in params)))

    def _show_grads(self, step: Step, nodes) -> None:
        """Add to `step` the new texts of the grad cells (and group norms) `nodes` changed."""
        seen = set()
        for node in nodes:
            group = self.of.get(node)
            el = self.elements[node]
            if el in seen:
                continue
            if group is None:
                seen.add(el)
                step.cells.append((el, "grad", f"grad {self.fmt(self.grads.get(node, 0.0))}"))
            elif group.params and not node._prev and type(node) is not Constant:
                seen.add(el)
                step.cells.append((el, "norm", f"grad norm {self._norm(group)}"))

    # --- the picture ---------------------------------------------------------------------

    def picture(self, rankdir: str, max_nodes: int | None) -> tuple[str, str]:
        """draw_dot's picture of the graph with the page's names and final numbers (so every
        box is sized for them), as SVG, and the renderer that drew it."""
        from ..viz import GraphPicture, _emit, _printable, draw_dot

        scene = draw_dot(
            self.root, rankdir=rankdir, fmt=self.number, max_nodes=None, collapse=self.collapse
        ).scene
        if scene is None:  # draw_dot always lays out a scene for its picture
            raise RuntimeError("draw_dot gave a picture with no scene")
        boxes = sum(n.shape != "ellipse" for n in scene.nodes)
        if max_nodes is not None and boxes > max_nodes:
            raise ExplainError(
                f"collapsed by {self.collapse!r} the graph still has {boxes} boxes, more than "
                f"max_nodes={max_nodes}: try collapse='layer', or pass max_nodes=None to make "
                f"the full page anyway"
            )
        by_element = {el: node for node, el in self.elements.items() if node not in self.of}
        groups = {self.box[g.name]: g for g in self.groups}
        nodes = []
        for n in scene.nodes:
            if n.name in by_element:
                node = by_element[n.name]
                grad = self.grads.get(node, 0.0)
                label = _printable(self.names.get(node, ""))  # as draw_dot shows labels
                text = self.grad_texts.get(node) or f"grad {self.fmt(grad)}"
                fields = (label, f"data {self.fmt(node.data)}", text)
                n = replace(n, fields=fields)
            elif n.name in groups and groups[n.name].params:
                norm = f"grad norm {self._norm(groups[n.name])}"
                n = replace(n, fields=(*n.fields[:-1], norm))
            nodes.append(n)
        missing = set(self.born) - {n.name for n in nodes}
        if missing:  # draw_dot names its boxes as this module expects; a change must show
            raise RuntimeError(f"draw_dot's picture has no element {sorted(missing)[:3]}")
        scene = replace(scene, nodes=nodes)
        picture = GraphPicture(format="svg", graph_attr={"rankdir": rankdir}, scene=scene)
        _emit(picture, scene)
        svg = _clean_svg(picture.svg(), self._titles())
        return svg, picture.rendered_by or picture.backend  # the one that drew it

    def _titles(self) -> dict[str, str]:
        """The tooltip of each picture element: the page's name for what it shows."""
        titles = {}
        for node, el in self.elements.items():
            if node not in self.of:
                titles[el] = self.name(node)
                titles[f"{el}_op"] = f"{node._op} making {self.name(node)}"
        titles.update({self.box[g.name]: g.name for g in self.groups})
        return titles


def _members(unit: Value | Group) -> list[Value]:
    return [unit] if isinstance(unit, Value) else unit.members


def _names(order: list) -> dict:
    """A name for every non-Constant node: its label when no other node has it, else
    label#1, label#2, ... (#1, #2, ... for unlabelled nodes) in topological order."""
    uses = Counter(node.label for node in order if type(node) is not Constant and node.label)
    names: dict[Value, str] = {}
    counts: dict[str, int] = {}
    for node in order:
        if type(node) is Constant:
            continue
        label = node.label
        if label and uses[label] == 1:
            names[node] = label
        else:
            counts[label] = k = counts.get(label, 0) + 1
            names[node] = f"{label}#{k}"
    return names


def _cap(lines: list[str], what: str) -> list[str]:
    if len(lines) <= LIST_LIMIT:
        return lines
    return [*lines[: LIST_LIMIT - 1], f"... and {len(lines) - LIST_LIMIT + 1} more {what}"]


_NODE_GROUP = re.compile(r'<g id="[^"]*" class="node">\s*<title>([^<]*)</title>')
_OTHER_GROUP = re.compile(r'<g id="[^"]*" class="(edge|graph)"([^>]*)>\s*(?:<title>[^<]*</title>)?')
_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)
_FONT = ' font-family="Times,serif" font-size="14.00"'
_PLAIN_STROKE = ' fill="none" stroke="black"'  # the page's style sheet makes it the default
_GEOMETRY = re.compile(r'\s(?:points|d|x|y|cx|cy|rx|ry|x1|y1|x2|y2|transform)="[^"]*"')
_NUMBER = re.compile(r"\d+\.\d\d+")


def _tenths(m: re.Match) -> str:
    # A tenth of a point is finer than any screen shows: a tenth less text per coordinate.
    return f"{float(m.group(0)):.1f}"


def _clean_svg(svg: str, titles: dict[str, str]) -> str:
    """The SVG made small to sit inline in HTML: no prolog, comments or ids but the nodes' (their
    element names, with `titles` as tooltips); attributes every shape repeats left to CSS."""
    svg = _COMMENT.sub("", svg[svg.index("<svg") :])
    svg = _OTHER_GROUP.sub(lambda m: f'<g class="{m.group(1)}"{m.group(2)}>', svg)
    if _FONT in svg:  # Graphviz repeats the font on every text
        svg = svg.replace(_FONT, "").replace("<svg ", f"<svg{_FONT} ", 1)
    svg = svg.replace(_PLAIN_STROKE, "")
    svg = _GEOMETRY.sub(lambda m: _NUMBER.sub(_tenths, m.group(0)), svg)

    def node(m: re.Match) -> str:
        name = m.group(1)
        return f'<g id="@@-{name}" class="node"><title>{xml_text(titles.get(name, name))}</title>'

    return _NODE_GROUP.sub(node, svg)


_ID = re.compile(r'\bid="@@-')


def _scope_ids(svg: str, uid: str) -> str:
    """Every id in `svg` prefixed with the page's, so two pages in one notebook never clash."""
    return _ID.sub(lambda m: f'id="{uid}-', svg)


# --- a mistake's page: the right walk and the mistaken one, side by side ---------------------

_COLUMNS = {  # (the right walk's column, the mistaken walk's), as the page heads them
    "assign": ("right: +=", "mistake: ="),
    "no-zero": ("right: zeroed first", "mistake: not zeroed"),
    "order": ("right: topological order", "mistake: {walk}"),
    "wrong-rule": ("right: measured rule", "mistake: your rule"),
}
_WALK_NAMES = {"bfs": "breadth-first", "recursion": "plain recursion"}


@dataclass
class MistakeStep:
    """One step of a mistake page: what the panel says, which boxes each walk works on."""

    title: str
    lines: list[str]
    right: int  # the index in `run.nodes` of the node whose rule the right walk runs (-1: none)
    wrong: int  # the same for the mistaken walk


@dataclass(eq=False)
class MistakePage(HtmlPage):
    """The page `explain(root, mistake=...)` made: the right and the mistaken backward walk
    side by side, every number from `run` (a `mistakes.MistakeRun`). `_repr_html_` for
    Jupyter, `save(path)` for a file; `start` is the step it opens at."""

    run: mistakes.MistakeRun
    title: str
    steps: list[MistakeStep]
    columns: tuple[str, str]
    names: list[str]  # each of run.nodes' name on the page
    cells: tuple[list[list[str]], list[list[str]]]  # each walk's numbers, per step, per node
    _elements: list[str]  # each of run.nodes' picture element
    _svg: str
    renderer: str
    start: int = 0

    def __repr__(self) -> str:
        return (
            f"<tapegrad mistake page {self.title!r} ({self.run.mistake}): {len(self.steps)} "
            f"steps; .save('page.html') writes it>"
        )

    @property
    def marked(self) -> str | None:
        """The name of the node the page marks, the first whose numbers differ (None: none)."""
        node = self.run.first_difference
        return None if node is None else self.names[self.run.index(node)]

    def data(self, standalone: bool) -> dict:
        """What the page's script replays, as JSON-able data."""
        first = self.run.first_difference
        return {
            "standalone": standalone,
            "start": self.start,
            "mistake": self.run.mistake,
            "names": self.names,
            "els": self._elements,
            "right": self.cells[0],
            "wrong": self.cells[1],
            "first": -1 if first is None else self.run.index(first),
            "firstStep": -1 if self.run.first_step is None else self.run.first_step,
            "steps": [{"t": s.title, "l": s.lines, "r": s.right, "w": s.wrong} for s in self.steps],
        }

    def fragment(self, standalone: bool) -> str:
        uid = new_id("tgx")
        rows = "".join(
            f'<tr data-node="{i}"><th>{html_text(name)}</th><td class="tg-r"></td>'
            f'<td class="tg-w"></td></tr>'
            for i, name in enumerate(self.names)
        )
        return _MISTAKE_PAGE.format(
            uid=uid,
            css=asset("explain.css"),
            title=html_text(self.title),
            last=len(self.steps) - 1,
            what=html_text(mistakes.MISTAKES[self.run.mistake]),
            mistake=html_text(self.run.mistake),
            why=html_text(self.run.why),
            right=html_text(self.columns[0]),
            wrong=html_text(self.columns[1]),
            rows=rows,
            svg=_scope_ids(self._svg, uid),
            scripts=data_and_script(uid, self.data(standalone), "explain.js"),
        )


_MISTAKE_PAGE = (
    """<div id="{uid}" class="tg-explain tg-mistake" tabindex="0">
<style>{css}</style>
<div class="tg-head"><span class="tg-name">{title}</span>
"""
    + _BAR
    + """</div>
<div class="tg-why"><div><b>mistake <code>{mistake}</code></b>: {what}</div>
<div class="tg-verdict">{why}</div></div>
<div class="tg-panel"><div class="tg-title"></div><ul class="tg-lines"></ul></div>
<div class="tg-cols">
<table class="tg-grads"><thead><tr><th>grad of</th><th class="tg-r">{right}</th>
<th class="tg-w">{wrong}</th></tr></thead><tbody>{rows}</tbody></table>
<div class="tg-pic">{svg}</div>
</div>
{scripts}
</div>"""
)


def _mistake_page(
    root: Value,
    order: list,
    mistake: str,
    options: dict,
    number: str,
    rankdir: str,
    title: str | None,
) -> MistakePage:
    """Run `mistake` beside the right walk (`mistakes.run`) and make the page stepping
    through both; every number on it is the run's."""
    try:
        run = mistakes.run(root, mistake, **options)
    except mistakes.MistakeError as err:
        raise ExplainError(str(err)) from err
    recorder = _Recorder(root, order, None, number)
    names = [recorder.name(node) for node in run.nodes]
    fmt = recorder.fmt
    length = run.length
    cells = (
        [[fmt(x) for x in run.right.at(k)] for k in range(length)],
        [[fmt(x) for x in run.wrong.at(k)] for k in range(length)],
    )
    for i, node in enumerate(run.nodes):  # the widest text each grad cell will show
        texts = (_cell(cells[0][k][i], cells[1][k][i]) for k in range(length))
        recorder.grad_texts[node] = max(texts, key=len)
    svg, renderer = recorder.picture(rankdir, None)
    right, wrong = _COLUMNS[mistake]
    walk = _WALK_NAMES.get(run.options.get("walk", "bfs"), "")
    columns = (right, wrong.format(walk=walk))
    steps = [_mistake_step(run, names, cells, k, fmt) for k in range(length)]
    name = title if title is not None else f"{mistake}: {names[0]}"
    return MistakePage(
        run,
        name,
        steps,
        columns,
        names,
        cells,
        [recorder.elements[node] for node in run.nodes],
        svg,
        renderer,
    )


def _cell(right: str, wrong: str) -> str:
    """A grad cell of the picture: both walks' numbers, one if they agree."""
    return f"grad {right}" if right == wrong else f"grad {right} | {wrong}"


def _mistake_step(
    run: mistakes.MistakeRun, names: list[str], cells, k: int, fmt: Callable[[float], str]
) -> MistakeStep:
    """Step `k` of both walks: which rule each runs and what each child gets."""
    root = names[0]
    if k == 0:
        lines = [f"right: {root}.grad = 1, every other grad 0"]
        if run.mistake == "no-zero":
            passes = run.options.get("passes", 2)
            lines.append(
                f"mistake: backward() pass {passes} without zero_grad: every grad still holds "
                f"what the pass before left ({root}.grad = {cells[1][0][0]})"
            )
        else:
            lines.append(f"mistake: {root}.grad = 1, every other grad 0")
        if run.first_step == 0:
            lines.append(f"the first to differ: {run.why}")
        return MistakeStep(f"Step 0: the seed, {root}.grad = 1", lines, -1, -1)
    says, at = [], []
    for side, walk, col in (("right", run.right, cells[0]), ("mistake", run.wrong, cells[1])):
        if k >= len(walk.steps):
            says.append(f"{side}: done")
            at.append(-1)
            continue
        node = walk.steps[k]
        assert node is not None  # only step 0, the seed, runs no rule
        i = run.index(node)
        at.append(i)
        sign = "=" if side == "mistake" and run.mistake == "assign" else "+="
        given = [f"{names[j]}.grad {sign} {fmt(c)} → {col[k][j]}" for j, c in walk.shares[k]]
        rule = f"{names[i]}'s rule (grad {col[k - 1][i]})"
        says.append(f"{side}: {rule}: " + ("; ".join(given) or "its inputs are constants"))
    does = [f"runs {names[i]}'s rule" if i >= 0 else "is done" for i in at]
    title = f"Step {k}: the right walk {does[0]}, the mistaken one {does[1]}"
    if at[0] == at[1]:
        title = f"Step {k}: both walks run {names[at[0]]}'s rule"
    if k == run.first_step:
        says.append(f"the first to differ: {run.why}")
    return MistakeStep(title, says, at[0], at[1])
