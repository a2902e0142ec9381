"""`explain(root, mistake=...)`: the page that steps through the right backward walk and a
mistaken one side by side. The numbers are read from the page's own data (the JSON its script
replays) and checked against the plain-Python reference walk of `mistake_reference.py`; the
marked node against the reference's first node to differ."""

from __future__ import annotations

import json
import math
import re

import mistake_reference as ref
import pytest

from tapegrad import Value, explain
from tapegrad.mistakes import plant
from tapegrad.pages.explain import ExplainError, Explanation, MistakePage

DIGITS = 10


def page_data(page) -> dict:
    html = page.html()
    m = re.search(r'<script type="application/json" id="[^"]*-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def columns(data: dict, side: str) -> list[dict]:
    return [
        {name: float(x) for name, x in zip(data["names"], row, strict=True)} for row in data[side]
    ]


def assert_walk(got: list[dict], want: list[dict], rel: float) -> None:
    """The page's column, step by step, against the reference's states (a walk that ended
    earlier than the other keeps showing its final numbers)."""
    assert len(got) >= len(want)
    for k, g in enumerate(got):
        w = want[min(k, len(want) - 1)]
        assert g.keys() == w.keys()
        for name in w:
            assert math.isclose(g[name], w[name], rel_tol=rel, abs_tol=1e-9), (k, name)


def check_page(page, root_ref, right, wrong, rel=1e-9):
    data = page_data(page)
    assert_walk(columns(data, "right"), right, rel)
    assert_walk(columns(data, "wrong"), wrong, rel)
    assert len(data["steps"]) == max(len(right), len(wrong)) == len(data["right"])
    first = ref.first_to_differ(root_ref, right[-1], wrong[-1], tol=1e-6)
    if first is None:
        assert data["first"] == -1 and page.marked is None
        return data
    assert data["names"][data["first"]] == first == page.marked
    k = data["firstStep"]  # the first step whose two columns differ for the marked node
    r, w = columns(data, "right"), columns(data, "wrong")
    assert not math.isclose(r[k][first], w[k][first], rel_tol=1e-9)
    assert all(math.isclose(r[s][first], w[s][first], rel_tol=1e-9) for s in range(k))
    assert any(line.startswith("the first to differ: ") for line in data["steps"][k]["l"])
    assert first in page.run.why and page.run.why in page.html()
    return data


def second_pass(graph):
    root = graph(ref.Ref)
    ref.backward(root)
    return ref.backward(root, zero=False)


def saturated(V):
    return ref.neuron(V, x=10.0, w=3.0, bias=0.0)


CASES = [  # (mistake, graph, options, the reference's mistaken walk, changes the answer)
    ("assign", ref.doubled, {}, lambda g: ref.backward(g(ref.Ref), assign=True), True),
    ("assign", ref.diamond, {}, lambda g: ref.backward(g(ref.Ref), assign=True), True),
    ("assign", ref.neuron, {}, lambda g: ref.backward(g(ref.Ref), assign=True), False),
    ("no-zero", ref.exp_sub, {}, second_pass, True),
    ("no-zero", saturated, {}, second_pass, False),
    ("order", ref.two_paths, {"walk": "bfs"}, lambda g: ref.backward(g(ref.Ref), "bfs"), True),
    ("order", ref.neuron, {"walk": "bfs"}, lambda g: ref.backward(g(ref.Ref), "bfs"), False),
    (
        "order",
        ref.exp_sub,
        {"walk": "recursion"},
        lambda g: ref.backward(g(ref.Ref), "recursion"),
        True,
    ),
    (
        "order",
        ref.diamond,
        {"walk": "recursion"},
        lambda g: ref.backward(g(ref.Ref), "recursion"),
        False,
    ),
]


@pytest.mark.parametrize(("mistake", "graph", "options", "wrong", "changes"), CASES)
def test_the_pages_numbers_are_the_reference_walks(mistake, graph, options, wrong, changes):
    root_ref = graph(ref.Ref)
    right = ref.backward(root_ref)
    root = graph(Value)
    page = explain(root, mistake=mistake, precision=DIGITS, **options)
    assert isinstance(page, MistakePage)
    data = check_page(page, root_ref, right, wrong(graph))
    assert (data["first"] >= 0) is changes
    assert all(n.grad == 0.0 for n in page.run.nodes)  # the page touched no .grad


def test_wrong_rule_page_against_the_right_rule():
    root_ref = ref.neuron(ref.Ref)
    right = ref.backward(root_ref)
    wrong = ref.backward(ref.neuron(ref.Ref, wrong=True))
    root = ref.neuron(Value)
    plant(root, "tanh-x")
    page = explain(root, mistake="wrong-rule", precision=DIGITS)
    check_page(page, root_ref, right, wrong, rel=1e-6)  # the right rule is measured
    assert page.marked == "n"


def test_wrong_rule_page_where_the_rule_agrees_here():
    root_ref = ref.neuron(ref.Ref, x=0.0, w=1.0, bias=0.0)
    right = ref.backward(root_ref)
    root = ref.neuron(Value, x=0.0, w=1.0, bias=0.0)
    plant(root, "tanh-x")
    page = explain(root, mistake="wrong-rule", precision=DIGITS)
    check_page(page, root_ref, right, right, rel=1e-6)


def test_each_step_names_the_rule_each_walk_runs():
    page = explain(ref.two_paths(Value), mistake="order", walk="bfs")
    data = page_data(page)
    names = data["names"]
    for k, step in enumerate(data["steps"][1:], start=1):
        r, w = step["r"], step["w"]
        assert step["l"][0].startswith(f"right: {names[r]}'s rule")
        assert step["l"][1].startswith(f"mistake: {names[w]}'s rule")
        assert page.run.right.steps[k] is page.run.nodes[r]
        assert page.run.wrong.steps[k] is page.run.nodes[w]
    assert data["mistake"] == "order"
    assert "breadth-first" in page.html()


def test_a_plain_explain_is_unchanged_and_options_need_a_mistake():
    assert isinstance(explain(ref.diamond(Value)), Explanation)
    with pytest.raises(TypeError, match="walk only with mistake="):
        explain(ref.diamond(Value), walk="bfs")
    with pytest.raises(ExplainError, match="no mistake named 'oops'"):
        explain(ref.diamond(Value), mistake="oops")
    with pytest.raises(ExplainError, match="cannot be collapsed"):
        explain(ref.diamond(Value), mistake="assign", collapse="layer")
    with pytest.raises(ExplainError, match="max_nodes=2"):
        explain(ref.diamond(Value), mistake="assign", max_nodes=2)


def test_user_text_on_the_page_stays_text():
    a = Value(1.0, label="</script><b>x</b>")
    b = a + a
    b.label = "<i>b</i>"
    html = explain(b, mistake="assign").html()
    assert "<b>x</b>" not in html and "<i>b</i>" not in html
    assert "&lt;i&gt;b&lt;/i&gt;" in html
