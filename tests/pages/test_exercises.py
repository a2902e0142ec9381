"""The exercise checker (`tapegrad.exercises`) on learners' classes: right answers pass with
one "ok" line, untouched exercises say "not done yet" without raising, and each typical wrong
answer raises ExerciseFailed naming the node, the derivative and the numbers, with its hint.
The classes are the notebook's own cells (`exercise_solutions.learner`), so these are the
answers a learner would write."""

from __future__ import annotations

import math
import re

import pytest
from exercise_solutions import SOLUTIONS, WRONG, cells_by_tag, learner

import tapegrad
from tapegrad import exercises, mistakes
from tapegrad.exercises import ExerciseFailed

OPS = ("add", "mul", "tanh", "exp", "pow", "div")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """A failing check writes its mistake page into the working folder: a fresh one here."""
    monkeypatch.chdir(tmp_path)


def hint_line(message: str) -> str:
    [line] = [line for line in message.splitlines() if line.startswith("hint: ")]
    return line


def check(name: str, ns: dict) -> None:
    if name == "neuron":
        exercises.check_neuron(ns["Neuron"], ns["Value"])
    elif name == "topo":
        exercises.check_topo(ns["build_topo"])
    else:
        getattr(exercises, f"check_{name}")(ns["Value"])


def answer(tag: str, backward: str) -> dict[str, str]:
    """The solutions with one op's `_backward` body replaced (the notebook's forward kept)."""
    from exercise_solutions import DIV, EXP, MUL, POW, TANH, op_cell

    parts = {"mul": MUL, "tanh": TANH, "exp": EXP, "pow": POW, "div": DIV}[tag]
    method, forward, children, symbol = parts
    return {**SOLUTIONS, f"exercise-{tag}": op_cell(method, forward, backward, children, symbol)}


@pytest.mark.parametrize("name", [*OPS, "neuron", "topo"])
def test_a_right_answer_passes_with_one_ok_line(name, capsys):
    assert check(name, learner()) is None
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and out.count("\n") == 1, out


def test_the_lectures_own_class_passes_too(capsys):
    """The lecture keeps children in a set (`self._prev = set(_children)`): `a + a` then has
    one child, and the checks still compare every number."""
    source = cells_by_tag()["value-class"]
    lecture = source.replace("self._prev = tuple(_children)", "self._prev = set(_children)")
    assert lecture != source
    ns = learner(SOLUTIONS, value_class=lecture)
    assert isinstance(ns["Value"](1.0)._prev, set)
    for name in (*OPS, "neuron"):
        check(name, ns)
    assert capsys.readouterr().out.count("ok: ") == len(OPS) + 1


@pytest.mark.parametrize("name", [*OPS, "neuron", "topo"])
def test_untouched_says_not_done_yet_and_raises_nothing(name, capsys):
    ns = learner({})  # every exercise cell as the notebook ships it
    assert check(name, ns) is None
    out = capsys.readouterr().out
    number = [*OPS, "neuron", "topo"].index(name) + 1
    assert out.startswith("not done yet: write ") and f"(exercise {number})" in out, out
    assert out.count("\n") == 1


def test_a_later_check_names_the_earlier_exercise_it_needs(capsys):
    """tanh's graph also uses `*`: with `*` untouched, check_tanh says to write `*` first."""
    ns = learner({k: v for k, v in SOLUTIONS.items() if k != "exercise-mul"})
    exercises.check_tanh(ns["Value"])
    assert "write the `_backward` of * (exercise 2) first" in capsys.readouterr().out


def test_a_method_returning_none_or_a_closure_never_set_is_not_done(capsys):
    ns = learner()
    ns["Value"].__add__ = lambda self, other: None
    exercises.check_add(ns["Value"])
    assert "returned None" in capsys.readouterr().out
    ns = learner(answer("mul", "pass"))  # a _backward body with nothing in it...
    Value = ns["Value"]

    def mul(self, other):  # ...and one never given to out at all
        return Value(self.data * other.data, (self, other), "*")

    Value.__mul__ = mul
    exercises.check_mul(Value)
    out = capsys.readouterr().out
    assert out.startswith("not done yet") and "out._backward = _backward" in out, out


@pytest.mark.parametrize("wrong", sorted(w for w in WRONG if WRONG[w].tag != "exercise-topo"))
def test_each_typical_wrong_op_rule_fails_with_its_hint(wrong):
    w = WRONG[wrong]
    ns = learner({**SOLUTIONS, w.tag: w.source})
    with pytest.raises(ExerciseFailed) as failed:
        check(w.check.removeprefix("check-"), ns)
    assert w.hint in hint_line(str(failed.value))
    assert isinstance(failed.value, AssertionError)


def test_assign_for_add_names_a_and_the_lectures_numbers():
    """The lecture's bug: `a + a` with `=` gives a.grad == 1 where the answer is 2."""
    w = WRONG["assign-for-add"]
    with pytest.raises(ExerciseFailed) as failed:
        exercises.check_add(learner({**SOLUTIONS, w.tag: w.source})["Value"])
    e = failed.value
    assert (e.kind, e.node) == ("assign", "b")
    assert "b = a + a" in str(e) and "a.grad is 1, tapegrad says 2" in str(e)


def test_tanh_of_the_input_gives_both_local_derivatives():
    """1 - x**2 against 1 - tanh(x)**2 at x = 0.5, each scaled by b's gradient (0.5, from
    c = b * a): the numbers in the message are those, computed here with math."""
    w = WRONG["tanh-of-input"]
    with pytest.raises(ExerciseFailed) as failed:
        exercises.check_tanh(learner({**SOLUTIONS, w.tag: w.source})["Value"])
    text = str(failed.value)
    want, got = 0.5 * (1 - math.tanh(0.5) ** 2), 0.5 * (1 - 0.5**2)
    assert f"= {want:.6g}, your closure gives {got:.6g}" in text
    assert "b = tanh(a)" in text and "db/da" in text and failed.value.kind == "rule"


@pytest.mark.parametrize(
    ("tag", "backward", "kind", "words"),
    [
        ("exp", "self.grad += self.data * out.grad", "rule", "reuse the output"),
        (
            "pow",
            "self.grad += other * self.data ** other * out.grad",
            "rule",
            "lower the power by one",
        ),
        (
            "mul",
            "self.grad = other.data * out.grad\nother.grad = self.data * out.grad",
            "assign",
            "+=",
        ),  # fmt: skip
        (
            "div",
            "self.grad += out.grad / other.data\nother.grad += self.data * out.grad",
            "rule",
            "minus sign",
        ),  # fmt: skip
    ],
)
def test_more_wrong_rules_are_named(tag, backward, kind, words):
    with pytest.raises(ExerciseFailed) as failed:
        check(tag, learner(answer(tag, backward)))
    assert failed.value.kind == kind and words in str(failed.value), str(failed.value)


def test_a_closure_that_raises_is_a_failure_that_names_its_node():
    ns = learner(answer("exp", "self.grad += out.data * out.gradient"))
    with pytest.raises(ExerciseFailed, match=r"_backward of b = exp\(a\) raised AttributeError"):
        exercises.check_exp(ns["Value"])


def test_a_wrong_forward_is_named_before_any_gradient():
    ns = learner()
    Value = ns["Value"]
    right = Value.exp
    Value.exp = lambda self: right(self * 2)  # exp(2x): a forward mistake
    with pytest.raises(ExerciseFailed, match="forward") as failed:
        exercises.check_exp(Value)
    assert failed.value.kind == "forward"


# --- the neuron ----------------------------------------------------------------------------

NEURON = SOLUTIONS["exercise-neuron"]


@pytest.mark.parametrize(
    ("call", "hint"),
    [
        ("sum((wi * xi for wi, xi in zip(self.w, x)), self.b)", "squash"),
        ("sum((wi * xi for wi, xi in zip(self.w, x)), Value(0.0)).tanh()", "add the bias"),
        ("(self.w[0] * x[0] + self.b).tanh()", "sum wi * xi"),
    ],
)
def test_a_wrong_neuron_forward_gets_its_hint(call, hint):
    source = NEURON.replace(
        "act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)\n        return act.tanh()",
        f"return {call}",
    )
    assert source != NEURON
    ns = learner({**SOLUTIONS, "exercise-neuron": source})
    with pytest.raises(ExerciseFailed, match=re.escape(hint)):
        exercises.check_neuron(ns["Neuron"], ns["Value"])


def test_a_neuron_missing_its_bias_in_parameters_fails():
    source = NEURON.replace("return self.w + [self.b]", "return self.w")
    ns = learner({**SOLUTIONS, "exercise-neuron": source})
    with pytest.raises(ExerciseFailed, match="the 3 weights and the bias"):
        exercises.check_neuron(ns["Neuron"], ns["Value"])


def test_a_neuron_over_a_wrong_op_names_the_node_in_the_learners_graph():
    """The neuron's numbers are right but `*` (unchecked) drops out.grad: the check walks the
    learner's own graph beside tapegrad's copy of it and names the first node that differs."""
    w = WRONG["mul-without-out-grad"]
    ns = learner({**SOLUTIONS, w.tag: w.source})
    with pytest.raises(ExerciseFailed) as failed:
        exercises.check_neuron(ns["Neuron"], ns["Value"])
    assert failed.value.kind == "chain" and " * " in str(failed.value).splitlines()[0]


# --- the topological sort ------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["topo-without-visited", "topo-parents-first"])
def test_a_wrong_order_fails_with_its_hint_and_the_walks_numbers(wrong):
    w = WRONG[wrong]
    with pytest.raises(ExerciseFailed) as failed:
        exercises.check_topo(learner({**SOLUTIONS, w.tag: w.source})["build_topo"])
    text = str(failed.value)
    assert failed.value.kind == "order" and w.hint in hint_line(text)
    # e = d * c with d = c + a, c = a * b at a = 2, b = -3: de/da = c + d*b... by hand:
    # de/dc = d + c = (c + a) + c = -10, de/da = de/dc * b + c = 30 - 6 = 24.
    assert "tapegrad's backward() gives 24" in text


def test_an_order_missing_the_leaves_or_holding_strangers_fails():
    def interior_only(root):
        order, stack = [], [root]
        while stack:
            v = stack.pop()
            if v._prev and v not in order:
                order.insert(0, v)
                stack.extend(v._prev)
        return order

    with pytest.raises(ExerciseFailed, match="missing from your order"):
        exercises.check_topo(interior_only)
    with pytest.raises(ExerciseFailed, match="not a node of the graph"):
        exercises.check_topo(lambda root: [root.data])


def test_failures_render_without_a_traceback_in_ipython():
    """IPython shows `_render_traceback_()` in place of the stack: the message alone."""
    w = WRONG["div-sign"]
    with pytest.raises(ExerciseFailed) as failed:
        exercises.check_div(learner({**SOLUTIONS, w.tag: w.source})["Value"])
    lines = failed.value._render_traceback_()
    assert lines[0].startswith("ExerciseFailed: exercise 6 (/)")
    assert lines[1:] == str(failed.value).splitlines()[1:]
    assert not any("File " in line for line in lines)


# --- the failure as one of tapegrad.mistakes, on tapegrad's copy of the learner's graph -----


def failure(wrong: str) -> ExerciseFailed:
    w = WRONG[wrong]
    with pytest.raises(ExerciseFailed) as failed:
        check(w.check.removeprefix("check-"), learner({**SOLUTIONS, w.tag: w.source}))
    return failed.value


@pytest.mark.parametrize(
    ("wrong", "mistake"),
    [("assign-for-add", "assign"), ("tanh-of-input", "wrong-rule"), ("div-sign", "wrong-rule")],
)
def test_a_wrong_rule_runs_as_its_mistake_with_the_learners_numbers(wrong, mistake):
    """`mistakes.run` on the failure's graph: its mistaken walk ends with the numbers the
    learner's own walk gave (as the message says them), its right walk with tapegrad's, and
    the node it marks is the one whose gradient the message names."""
    e = failure(wrong)
    assert e.mistake is not None and e.mistake.name == mistake
    run = mistakes.run(e.mistake.root, e.mistake.name, **e.mistake.options)
    assert run.first_difference is not None
    said = re.search(r"after the walk (\w+)\.grad is (\S+), tapegrad says (\S+)\n", str(e))
    assert said, str(e)
    name, got, want = said[1], float(said[2]), float(said[3])
    right, wrong_grad = run.grads(run.nodes[run.names.index(name)])
    assert wrong_grad == pytest.approx(got, rel=1e-5)
    assert right == pytest.approx(want, rel=1e-5, abs=1e-6)  # the right walk: central differences
    assert run.names[run.nodes.index(run.first_difference)] == name


def test_a_missing_out_grad_has_no_mistake_to_show():
    """Without the out.grad factor a rule is right where gradcheck measures it (out.grad = 1),
    so no mistake of tapegrad.mistakes shows it: the failure says so by having none."""
    e = failure("mul-without-out-grad")
    assert e.kind == "chain" and e.mistake is None


@pytest.mark.parametrize(("wrong", "walk"), [("topo-without-visited", "recursion"),
                                             ("topo-parents-first", "recursion")])  # fmt: skip
def test_a_wrong_order_runs_as_a_walk_out_of_order_that_changes_the_answer(wrong, walk):
    e = failure(wrong)
    assert (e.mistake.name, e.mistake.options) == ("order", {"walk": walk})
    run = mistakes.run(e.mistake.root, "order", **e.mistake.options)
    assert run.first_difference is not None


@pytest.mark.parametrize("name", OPS)
def test_tapegrads_own_value_passes_every_op_check(name, capsys):
    """An import swap (`from tapegrad import Value`) is a right answer too: its `_backward`
    is the op table's rule, not the leaf's no-op."""
    getattr(exercises, f"check_{name}")(tapegrad.Value)
    assert capsys.readouterr().out.startswith("ok: ")


def test_the_lectures_build_topo_that_returns_nothing_is_told_to_return_topo(capsys):
    """The lecture's `build_topo` fills a list and returns None."""

    def build_topo(root):
        topo = []
        topo.append(root)

    exercises.check_topo(build_topo)
    out = capsys.readouterr().out
    assert out.startswith("not done yet") and "returned None: return `topo`" in out, out


@pytest.mark.parametrize(
    ("wrong", "page"),
    [
        ("assign-for-add", "mistake-add.html"),
        ("tanh-of-input", "mistake-tanh.html"),
        ("div-sign", "mistake-div.html"),
        ("topo-without-visited", "mistake-topo.html"),
    ],
)
def test_a_failure_links_to_its_mistake_page_on_the_learners_graph(wrong, page, tmp_path):
    """The message's last line names the page it wrote in the working folder; the page walks
    the learner's graph and shows the numbers the message gives for the learner's walk."""
    e = failure(wrong)
    last = str(e).splitlines()[-1]
    assert last.startswith(f"see: {page} "), last
    text = (tmp_path / page).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    said = re.search(r"after the walk (\w+)\.grad is (\S+), tapegrad says (\S+)\n", str(e))
    if said:  # the op checks: the learner's number and the right one, as the page writes them
        for number in said[2], said[3]:
            assert format(float(number), ".4g") in text, number


def test_no_page_where_no_mistake_shows_it(tmp_path):
    e = failure("mul-without-out-grad")
    assert "see: " not in str(e) and list(tmp_path.iterdir()) == []


def test_a_page_that_cannot_be_written_leaves_the_failure_and_says_why(tmp_path):
    (tmp_path / "mistake-add.html").mkdir()  # a folder where the file should go
    e = failure("assign-for-add")
    assert e.kind == "assign" and "b = a + a" in str(e)
    assert str(e).splitlines()[-1].startswith("see: the mistake page could not be written (")
