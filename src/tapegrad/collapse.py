"""Grouping a graph's nodes by the module that made them (the scope path each Value keeps,
`tapegrad.scope`), and summing up each group, for pictures of whole networks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .engine import Constant, Value

LEVELS = ("layer", "neuron")

Collapse = str | Callable[[str], str | None]
"""How to collapse modules: "layer", "neuron", or a scope path -> group name (None: ungrouped)."""


def grouper(level: Collapse) -> Callable[[str], str | None]:
    """The function from a scope path to its group name: "layer" keeps "layers.1.neurons.3" up
    to its first numbered part ("layers.1"), "neuron" up to its second; a callable as is."""
    if callable(level):
        return level
    if level not in LEVELS:
        raise ValueError(
            f"collapse must be one of {', '.join(repr(x) for x in LEVELS)} or a function from a "
            f"scope path to a group name, got {level!r}"
        )
    depth = 1 if level == "layer" else 2

    def group(path: str) -> str:
        parts = path.split(".")
        numbered = 0
        for i, part in enumerate(parts):
            if part.isdigit():
                numbered += 1
                if numbered == depth:
                    return ".".join(parts[: i + 1])
        return parts[0] if level == "layer" else path

    return group


@dataclass
class Group:
    """One collapsed module: its members and what the picture says about it."""

    name: str
    members: list[Value]
    ops: int = 0  # members made by an op
    params: int = 0  # leaves that are not Constants: the weights and biases
    grad_norm: float = 0.0  # sqrt(sum of grad**2) over the params
    inputs: int = 0  # distinct outside nodes its members read
    outputs: int = 0  # distinct members read outside it (or the root itself)


def group_nodes(order: list[Value], level: Collapse) -> tuple[dict[Value, Group], list[Group]]:
    """(node -> Group for the grouped nodes of `order`, the groups sorted by name with numbers
    in numeric order: layers.2 before layers.10)."""
    name_of = grouper(level)
    by_name: dict[str, Group] = {}
    of: dict[Value, Group] = {}
    for node in order:
        path = getattr(node, "_scope", None)
        if not path:
            continue
        name = name_of(path)
        if name is None:
            continue
        group = by_name.setdefault(name, Group(str(name), []))
        group.members.append(node)
        of[node] = group
    groups = sorted(by_name.values(), key=lambda g: _natural(g.name))
    _summarise(order, of, groups)
    return of, groups


def _natural(name: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in name.split("."))


def _summarise(order: list[Value], of: dict[Value, Group], groups: list[Group]) -> None:
    inputs: dict[str, set[Value]] = {g.name: set() for g in groups}
    outputs: dict[str, set[Value]] = {g.name: set() for g in groups}
    squares: dict[str, float] = {g.name: 0.0 for g in groups}
    for node in order:
        mine = of.get(node)
        if mine is not None:
            if node._prev:
                mine.ops += 1
            elif type(node) is not Constant:
                mine.params += 1
                grad = float(node.grad)
                squares[mine.name] += grad * grad
        for child in node._prev:
            theirs = of.get(child)
            if theirs is mine:
                continue
            if mine is not None:
                inputs[mine.name].add(child)
            if theirs is not None:
                outputs[theirs.name].add(child)
    if order and order[-1] in of:
        outputs[of[order[-1]].name].add(order[-1])
    for g in groups:
        g.inputs, g.outputs = len(inputs[g.name]), len(outputs[g.name])
        g.grad_norm = math.sqrt(squares[g.name])
