"""`tapegrad.mistakes`: each classic backprop mistake run for real beside the right walk. Every
number is checked against the plain-Python reference walk of `mistake_reference.py` (the
lecture's rules, run with the mistake), and the marked node against the first to differ."""

from __future__ import annotations

import math

import mistake_reference as ref
import pytest

import tapegrad
from tapegrad import Value, mistakes
from tapegrad.mistakes import MISTAKES, MistakeError, plant, run


def states(r: mistakes.MistakeRun, walk: mistakes.Walk) -> list[dict]:
    return [dict(zip(r.names, grads, strict=True)) for grads in walk.grads]


def assert_states(got: list[dict], want: list[dict], rel: float = 1e-9) -> None:
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.keys() == w.keys(), k
        for name in w:
            assert math.isclose(g[name], w[name], rel_tol=rel, abs_tol=1e-9), (k, name, g, w)


def check(r, root_ref, right, wrong, rel=1e-9):
    """The run's two walks step by step and its marked node, against the reference's."""
    assert_states(states(r, r.right), right, rel)
    assert_states(states(r, r.wrong), wrong, rel)
    first = ref.first_to_differ(root_ref, right[-1], wrong[-1], tol=1e-6)
    assert (r.first_difference.label if r.first_difference is not None else None) == first
    if first is None:
        assert r.first_step is None
    else:  # the first step at which the marked node's two numbers differ
        k = r.first_step
        differs = [
            not math.isclose(
                right[min(s, len(right) - 1)][first], wrong[min(s, len(wrong) - 1)][first]
            )
            for s in range(max(len(right), len(wrong)))
        ]
        assert k == differs.index(True)
        assert r.first_difference.label in r.why
    return r


def test_every_mistake_is_described():
    assert set(MISTAKES) == {"assign", "no-zero", "order", "wrong-rule"}
    assert all(isinstance(v, str) and v for v in MISTAKES.values())
    assert tapegrad.mistakes is mistakes


# --- assign ------------------------------------------------------------------------------


@pytest.mark.parametrize("graph", [ref.doubled, ref.diamond])
def test_assign_changes_a_value_used_twice(graph):
    root_ref = graph(ref.Ref)
    right = ref.backward(root_ref)
    wrong = ref.backward(graph(ref.Ref), assign=True)
    r = check(run(graph(Value), "assign"), root_ref, right, wrong)
    assert r.first_difference is not None
    assert "`=`" in r.why and "`+=`" in r.why


def test_assign_a_plus_a_gives_one_as_in_the_lecture():
    r = run(ref.doubled(Value), "assign")
    a = r.first_difference
    assert a.label == "a" and r.grads(a) == (2.0, 1.0)
    assert r.first_step == 1  # b's rule, the first after the seed


def test_assign_changes_nothing_on_a_tree():
    root_ref = ref.neuron(ref.Ref)
    right = ref.backward(root_ref)
    wrong = ref.backward(ref.neuron(ref.Ref), assign=True)
    r = check(run(ref.neuron(Value), "assign"), root_ref, right, wrong)
    assert r.first_difference is None and "same" in r.why


# --- no-zero -----------------------------------------------------------------------------


def second_pass(graph):
    root = graph(ref.Ref)
    ref.backward(root)
    return ref.backward(root, zero=False)


@pytest.mark.parametrize("graph", [ref.diamond, ref.exp_sub, ref.two_paths])
def test_no_zero_compounds_as_micrograd(graph):
    root_ref = graph(ref.Ref)
    right = ref.backward(root_ref)
    r = check(run(graph(Value), "no-zero"), root_ref, right, second_pass(graph))
    assert r.first_step == 0  # the stale grads are there before the pass starts
    assert "zero_grad" in r.why


def test_no_zero_compounds_past_the_first_layer():
    # micrograd's interior grads compound: exp_sub's x gets more than twice its gradient
    r = run(ref.exp_sub(Value), "no-zero")
    x = next(n for n in r.nodes if n.label == "x")
    right, wrong = r.grads(x)
    assert abs(wrong) > 2 * abs(right)


def test_no_zero_like_tapegrad_doubles_every_grad():
    root = ref.diamond(Value)
    r = run(root, "no-zero", like="tapegrad", passes=3)
    for node in r.nodes:
        right, wrong = r.grads(node)
        assert wrong == pytest.approx(3 * right)
    # and that is what tapegrad's own backward() does, three times over
    for _ in range(3):
        root.backward()
    assert [n.grad for n in r.nodes] == pytest.approx(r.wrong.final)


def test_no_zero_changes_nothing_where_no_gradient_flows():
    # a saturated tanh passes back 0: the first pass leaves only the output's grad, reset to 1
    def saturated(V):
        return ref.neuron(V, x=10.0, w=3.0, bias=0.0)

    root_ref = saturated(ref.Ref)
    right = ref.backward(root_ref)
    r = check(run(saturated(Value), "no-zero"), root_ref, right, second_pass(saturated))
    assert r.first_difference is None


# --- order -------------------------------------------------------------------------------


@pytest.mark.parametrize("walk", ["bfs", "recursion"])
def test_order_changes_a_value_reached_by_two_paths(walk):
    root_ref = ref.two_paths(ref.Ref)
    right = ref.backward(root_ref)
    wrong = ref.backward(ref.two_paths(ref.Ref), order=walk)
    r = check(run(ref.two_paths(Value), "order", walk=walk), root_ref, right, wrong)
    assert r.first_difference.label == "x"
    assert "rule of y" in r.why


@pytest.mark.parametrize("walk", ["bfs", "recursion"])
def test_order_changes_nothing_on_a_tree(walk):
    root_ref = ref.neuron(ref.Ref)
    right = ref.backward(root_ref)
    wrong = ref.backward(ref.neuron(ref.Ref), order=walk)
    r = check(run(ref.neuron(Value), "order", walk=walk), root_ref, right, wrong)
    assert r.first_difference is None


def test_recursion_runs_a_rule_once_per_path():
    r = run(ref.diamond(Value), "order", walk="recursion")  # leaves only below the diamond
    assert r.first_difference is None
    deep = run(ref.exp_sub(Value), "order", walk="recursion")  # u is reached by two paths
    assert sum(s is not None and s.label == "u" for s in deep.wrong.steps) == 2
    assert deep.first_difference.label == "x"


# --- wrong-rule --------------------------------------------------------------------------


def test_wrong_rule_planted_tanh_is_found_and_measured():
    root_ref = ref.neuron(ref.Ref)
    right = ref.backward(root_ref)
    wrong = ref.backward(ref.neuron(ref.Ref, wrong=True))
    root = ref.neuron(Value)
    assert [n.label for n in plant(root, "tanh-x")] == ["o"]
    r = check(run(root, "wrong-rule"), root_ref, right, wrong, rel=1e-6)
    assert r.first_difference.label == "n"
    assert "central differences" in r.why and "'tanh'" in r.why


def test_wrong_rule_in_the_lectures_own_closure():
    x, w = Value(0.5, label="x"), Value(1.5, label="w")
    z = x * w
    z.label = "z"
    t = Value(math.tanh(z.data), (z,), "tanh", label="t")

    def _backward():
        z.grad += (1 - z.data**2) * t.grad  # the learner's slip: z for t

    t._backward = _backward
    r = run(t, "wrong-rule")
    assert r.first_difference is z
    right, wrong = r.grads(z)
    assert right == pytest.approx(1 - math.tanh(0.75) ** 2, rel=1e-6)
    assert wrong == pytest.approx(1 - 0.75**2)
    assert x.grad == 0.0 and z.grad == 0.0 and t.grad == 0.0  # nothing was touched


def test_wrong_rule_in_a_registered_op():
    def fwd(m, x):
        return x * x * x

    cube = tapegrad.register_op("mistcube", fwd, [lambda m, g, out, x: g * (3.0 * x)])
    try:
        x = Value(2.0, label="x")
        y = x.mistcube()
        y.label = "y"
        out = y * 2.0
        out.label = "out"
        r = run(out, "wrong-rule")
        assert r.first_difference is x
        assert r.grads(x) == pytest.approx((24.0, 12.0), rel=1e-6)
        assert "'mistcube'" in r.why and cube.name == "mistcube"
    finally:
        tapegrad.unregister_op("mistcube")


def test_wrong_rule_where_the_rule_happens_to_agree():
    root_ref = ref.neuron(ref.Ref, x=0.0, w=1.0, bias=0.0)  # tanh at 0: 1 - x**2 = 1 - out**2
    right = ref.backward(root_ref)
    root = ref.neuron(Value, x=0.0, w=1.0, bias=0.0)
    plant(root, "tanh-x")
    r = check(run(root, "wrong-rule"), root_ref, right, right, rel=1e-6)
    assert r.first_difference is None and "agrees" in r.why


@pytest.mark.parametrize(
    ("name", "graph", "label"),
    [("exp-x", ref.exp_sub, "u"), ("sub-sign", ref.exp_sub, "vu"), ("pow-n", ref.two_paths, "y")],
)
def test_each_classic_wrong_rule_changes_the_answer(name, graph, label):
    root = graph(Value)
    plant(root, name)
    r = run(root, "wrong-rule")
    assert r.first_difference is not None and r.first_difference.label == label
    # the right walk agrees with tapegrad's own backward() on an unplanted copy
    clean = graph(Value)
    clean.backward()
    by_label = {n.label: n.grad for n in tapegrad.topological_order(clean) if n.label}
    assert dict(zip(r.names, r.right.final, strict=True)) == pytest.approx(by_label, rel=1e-6)


# --- refusals ----------------------------------------------------------------------------


def test_refusals_name_what_was_wrong():
    root = ref.diamond(Value)
    with pytest.raises(MistakeError, match="no mistake named 'oops'"):
        run(root, "oops")
    with pytest.raises(MistakeError, match="order.*walk.*not like"):
        run(root, "order", like="x")
    with pytest.raises(MistakeError, match="walk must be one of bfs, recursion"):
        run(root, "order", walk="dfs")
    with pytest.raises(MistakeError, match="passes must be"):
        run(root, "no-zero", passes=1)
    with pytest.raises(MistakeError, match="has none"):
        plant(root, "tanh-x")
    with pytest.raises(MistakeError, match="no wrong rule named"):
        plant(root, "nope")


def test_a_closure_with_no_forward_rule_asks_for_one():
    x = Value(0.5, label="x")
    y = Value(x.data**3, (x,), "mycube", label="y")

    def _backward():
        x.grad += 3 * x.data * y.grad

    y._backward = _backward
    with pytest.raises(MistakeError, match=r"forward=\{'mycube': fn\}"):
        run(y, "wrong-rule")
    r = run(y, "wrong-rule", forward={"mycube": lambda a: a**3})
    assert r.grads(x) == pytest.approx((0.75, 1.5), rel=1e-6)


def test_a_graph_too_big_to_write_down_is_refused(monkeypatch):
    monkeypatch.setattr(mistakes, "MAX_NUMBERS", 20)
    with pytest.raises(MistakeError, match="more than 20 numbers"):
        run(ref.exp_sub(Value), "assign")  # 6 values, 5 steps and the seed: 36 numbers
    assert run(ref.doubled(Value), "assign").first_difference is not None  # 2 x 2: fine
