"""Scheduling: what each node that gets a row reads, its level (the longest path to it from
the leaves, within its buffer), and the groups of nodes that run as one instruction.

Nodes at the same level do not read each other, so a group is one NumPy call: a dense layer,
the n-ary sums of one length at a level, or the nodes of one op at a level. Groups run by buffer
(once-per-call first), then level, then in that kind order."""

from __future__ import annotations

from typing import NamedTuple

from .fuse import Fusion
from .graph import OP, Graph

GroupKey = tuple[bool, int, int, str, *tuple[object, ...]]
"""What a group's members share: (per-sample, level, kind's run order, kind, then what must
match within the kind: a layer's inputs and whether it has biases, an op and its arity)."""


class Group(NamedTuple):
    """Nodes that run as one instruction."""

    per_sample: bool  # in the per-sample buffer (depends on an input), else once per call
    kind: str  # "dense" (a layer), "sum" (n-ary sums) or "op" (nodes of one op)
    members: list[int]


def dependencies(graph: Graph, fusion: Fusion) -> dict[int, list[int]]:
    """For each op node that gets a row (not absorbed), the nodes its instruction reads: a
    neuron its inputs, a sum its terms, any other op its children."""
    deps: dict[int, list[int]] = {}
    for i in range(len(graph.nodes)):
        if graph.kind[i] == OP and not fusion.absorbed[i]:
            if i in fusion.dense:
                deps[i] = fusion.dense[i].inputs
            elif i in fusion.terms:
                deps[i] = fusion.terms[i]
            else:
                deps[i] = list(graph.children[i])
    return deps


def levels(graph: Graph, deps: dict[int, list[int]]) -> list[int]:
    """Each node's level: 0 for leaves, else 1 + the highest level it reads in its own buffer
    (a once-per-call value is ready before any per-sample instruction runs)."""
    batch = graph.batch
    level = [0] * len(graph.nodes)
    for i, ds in deps.items():  # topological order: what i reads has its level already
        level[i] = 1 + max((level[d] for d in ds if batch[d] == batch[i]), default=0)
    return level


def group(
    graph: Graph, fusion: Fusion, deps: dict[int, list[int]], level: list[int]
) -> list[Group]:
    """The nodes of `deps` in groups, in run order: dense layers by their inputs, sums by
    (level, number of terms), other ops by (level, op)."""
    batch = graph.batch
    groups: dict[GroupKey, list[int]] = {}
    for i in deps:
        key: GroupKey
        if i in fusion.dense:
            neuron = fusion.dense[i]
            key = (batch[i], level[i], 0, "dense", tuple(neuron.inputs), neuron.bias is not None)
        elif i in fusion.terms:  # by length too: each group's sums add term k at step k
            key = (batch[i], level[i], 1, "sum", len(fusion.terms[i]))
        else:
            key = (batch[i], level[i], 2, graph.op_of(i).name, len(graph.children[i]))
        groups.setdefault(key, []).append(i)
    ordered = sorted(groups.items(), key=lambda kv: kv[0][:3] + (str(kv[0][3:]),))
    kinds = ("dense", "sum", "op")
    return [Group(key[0], kinds[key[2]], members) for key, members in ordered]
