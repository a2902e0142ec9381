"""Walking a graph (graph.py, and engine.topological_order): zero_grad over one or several
roots, topological order of another engine's nodes."""

from __future__ import annotations

from lecture_graphs import mixed

from tapegrad import Value, topological_order, zero_grad


def test_zero_grad_resets_the_wholemixed():
    out, leaves = mixed()
    out.backward()
    want = [leaf.grad for leaf in leaves]
    zero_grad(out)
    assert all(node.grad == 0.0 for node in topological_order(out))
    out.backward()
    assert [leaf.grad for leaf in leaves] == want


def test_zero_grad_takes_several_roots():
    out1, (a, _, _) = mixed()
    out2 = a * 3.0
    out1.backward()
    out2.backward()
    zero_grad([out1, out2])
    assert all(n.grad == 0.0 for n in topological_order(out1) + topological_order(out2))


def test_topological_order_walks_another_engines_nodes_by_their_prev():
    """tapegrad reads its own nodes' slots for speed; a micrograd-style node has `_prev` only,
    and pictures and node counts of such graphs still need the order."""

    class Node:
        def __init__(self, *children):
            self._prev = set(children)  # micrograd keeps a set

    a, b = Node(), Node()
    c = Node(a, b)
    d = Node(c, a)
    order = topological_order(d)
    assert order[-1] is d and set(order) == {a, b, c, d}
    assert order.index(c) > max(order.index(a), order.index(b))


def test_reachable_lists_every_roots_graph_once_in_one_walk(monkeypatch):
    """Several roots sharing nodes (and one given twice): each node once, children before
    parents, in the order of walking each root in turn; one walk of the graph, not one per
    root (a tape of a model with ten outputs walked it ten times)."""
    import tapegrad.graph as tg

    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    shared = a * b
    first, second = shared + c, (shared * a).tanh()
    roots = [first, second, first, c]
    expected: list = []
    for root in roots:  # the definition: each root's own order, new nodes only
        expected += [n for n in topological_order(root) if n not in expected]
    walks: list = []

    def counted(root):
        walks.append(root)
        return topological_order(root)

    monkeypatch.setattr(tg, "topological_order", counted)
    assert tg.reachable(roots) == expected
    assert len(walks) == 1
    assert tg.reachable([]) == []
