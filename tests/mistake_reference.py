"""A plain-Python reference for the mistake tests: a tiny Value-like class with the lecture's
rules for + * tanh exp pow, and its backward walk written out the lecture's way, runnable with
each mistake (`=` for `+=`, no zeroing, a breadth-first or recursive order, a wrong rule).
The graphs the tests share are built by functions over either class, every node labelled, so
the reference's numbers are compared with tapegrad's by label."""

from __future__ import annotations

import math
from collections import deque


class Ref:
    """The lecture's Value, with each node's rule as a function g -> [(child, share)]."""

    def __init__(self, data, children=(), op="", label="", const=False):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(children)
        self._op = op
        self.label = label
        self.const = const
        self.rule = lambda g: []

    @staticmethod
    def _wrap(x):
        return x if isinstance(x, Ref) else Ref(x, const=True)

    def __add__(self, other):
        other = self._wrap(other)
        out = Ref(self.data + other.data, (self, other), "+")
        out.rule = lambda g: [(self, g), (other, g)]
        return out

    __radd__ = __add__

    def __mul__(self, other):
        other = self._wrap(other)
        out = Ref(self.data * other.data, (self, other), "*")
        out.rule = lambda g: [(self, other.data * g), (other, self.data * g)]
        return out

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-self._wrap(other))

    def __pow__(self, n):
        out = Ref(self.data**n, (self, self._wrap(n)), "**")
        out.rule = lambda g: [(self, n * self.data ** (n - 1) * g)]
        return out

    def tanh(self, wrong=False):
        t = math.tanh(self.data)
        out = Ref(t, (self,), "tanh")
        out.rule = lambda g: [(self, ((1 - self.data**2) if wrong else (1 - t**2)) * g)]
        return out

    def exp(self):
        out = Ref(math.exp(self.data), (self,), "exp")
        out.rule = lambda g: [(self, out.data * g)]
        return out


def build_topo(root):
    """The lecture's topological sort."""
    topo, visited = [], set()

    def build(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)

    build(root)
    return topo


def bfs(root):
    seen, queue, out = {root}, deque([root]), []
    while queue:
        node = queue.popleft()
        out.append(node)
        for child in node._prev:
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return out


def recursion(root):
    """The order plain recursion runs the rules in: `v._backward(); for c in set(v._prev):
    c.backward()` (children in order, each once per parent)."""
    out = [root]
    for child in dict.fromkeys(root._prev):
        out += recursion(child)
    return out


def backward(root, order="topo", assign=False, zero=True):
    """Run the lecture's backward from `root`: every node's rule in `order`, each share added
    (or assigned) to its child's grad. Returns each labelled node's grads after every rule
    that ran (the seed first) as a list of {label: grad}."""
    nodes = build_topo(root)
    if zero:
        for v in nodes:
            v.grad = 0.0
    root.grad = 1.0
    walk = {"topo": list(reversed(nodes)), "bfs": bfs(root), "recursion": recursion(root)}[order]
    states = [{v.label: v.grad for v in nodes if not v.const}]
    for v in walk:
        if not v._prev:
            continue
        for child, share in v.rule(v.grad):
            if child.const:
                continue
            if assign:
                child.grad = share
            else:
                child.grad += share
        states.append({v.label: v.grad for v in nodes if not v.const})
    return states


def first_to_differ(root, right: dict, wrong: dict, tol=1e-9):
    """The label of the first node, from the output down (reversed build_topo), whose final
    grads differ; None if none does."""
    for v in reversed(build_topo(root)):
        if v.const:
            continue
        a, b = right[v.label], wrong[v.label]
        if not math.isclose(a, b, rel_tol=tol, abs_tol=1e-12):
            return v.label
    return None


def label(v, name):
    v.label = name
    return v


# --- the graphs: each a function of the class (tapegrad's Value or Ref) -----------------


def doubled(V):
    """The lecture's bug: b = a + a."""
    a = V(3.0, label="a")
    return label(a + a, "b")


def diamond(V):
    """The lecture's second bug graph: f = (a*b) * (a+b)."""
    a, b = V(-2.0, label="a"), V(3.0, label="b")
    d = label(a * b, "d")
    e = label(a + b, "e")
    return label(d * e, "f")


def neuron(V, x=2.0, w=-3.0, bias=6.8813735870195432, wrong=False):
    """o = tanh(x*w + b): a tree, every value used once (`wrong`: Ref's tanh with the rule
    1 - x**2)."""
    xv, wv, bv = V(x, label="x"), V(w, label="w"), V(bias, label="b")
    xw = label(xv * wv, "xw")
    n = label(xw + bv, "n")
    return label(n.tanh(wrong=True) if wrong else n.tanh(), "o")


def two_paths(V):
    """out = y + 3*y**2 with y = tanh(x): y reaches the output by two paths of different
    lengths, so a breadth-first walk runs y's rule before z has added its share."""
    x = V(0.5, label="x")
    y = label(x.tanh(), "y")
    sq = label(y**2, "sq")
    z = label(sq * 3.0, "z")
    return label(y + z, "out")


def exp_sub(V):
    """out = exp(u) - v*u with u = x*2: exp, a subtraction, and a value used twice."""
    x, v = V(0.7, label="x"), V(1.5, label="v")
    u = label(x * 2.0, "u")
    ex = label(u.exp(), "ex")
    vu = label(v * u, "vu")
    neg = label(-vu, "neg")
    return label(ex + neg, "out")
