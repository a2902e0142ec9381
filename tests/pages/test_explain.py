"""`tapegrad.explain`: what the page records (checked against closed forms and the engine's own
backward()), what it leaves alone, its limits, its HTML and the `tapegrad explain` command."""

import json
import math
import re

import pytest
from lecture_graphs import ClosureValue, cube, doubled, neuron, twice
from references import require

import tapegrad
from tapegrad import Constant, Value, ops, scope, textmath
from tapegrad import floatmath as fm
from tapegrad.cli import main
from tapegrad.engine import apply
from tapegrad.expr import parse
from tapegrad.graph import topological_order, zero_grad
from tapegrad.pages.explain import ExplainError, Explanation, explain, formula
from tapegrad.pages.page import json_for_script

# The lecture's neuron by hand: o = tanh(0.8814) = 1/sqrt(2), do/dn = 1 - o**2 = 0.5, so
# do/dx1 = w1 * 0.5, do/dw1 = x1 * 0.5, do/dx2 = w2 * 0.5, do/dw2 = x2 * 0.5, do/db = 0.5.
NEURON_GRADS = {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5, "n": 0.5, "o": 1.0}


def grads_by_label(page: Explanation) -> dict[str, float]:
    return {node.label: g for node, g in page.grads.items() if node.label}


def engine_grads(root: Value) -> dict:
    """The engine's own backward() from a clean start, as the reference."""
    zero_grad(root)
    root.backward()
    return {node: node.grad for node in topological_order(root)}


def all_lines(page: Explanation) -> list[str]:
    return [line for step in page.steps for line in step.lines]


def test_the_lecture_neuron_forward_and_backward():
    v = neuron()
    page = explain(v["o"])
    grads = grads_by_label(page)
    for name, expected in NEURON_GRADS.items():
        assert grads[name] == pytest.approx(expected, abs=1e-12), name
    phases = [s.phase for s in page.steps]
    assert phases == ["start"] + ["forward"] * 5 + ["seed"] + ["backward"] * 5 + ["done"]
    lines = all_lines(page)
    # The issue's own examples, numbers from the lecture.
    assert "n = x1w1x2w2 + b = -6.0000 + 6.8814 = 0.8814" in lines
    # The rules' own words (ops.MUL: g * b; ops.TANH: g * (1 - out * out)), "*" shown as "·".
    assert "x1.grad += x1w1.grad · w1.data = 0.5000 × (-3.0000) = -1.5000" in lines
    assert "o = tanh(n) = tanh(0.8814) = 0.7071" in lines
    assert (
        "n.grad += o.grad · (1 - o.data · o.data) = 1.0000 × (1 - 0.7071 × 0.7071) = 0.5000"
        in lines
    )
    # Each forward step shows the node's value; each backward step the grads it changed.
    forward = {cell[0]: cell[2] for s in page.steps if s.phase == "forward" for cell in s.cells}
    assert forward[page.element(v["o"])] == f"data {1 / math.sqrt(2):.4f}"
    final = {}
    for s in page.steps:
        final.update({el: text for el, kind, text in s.cells if kind == "grad"})
    assert final[page.element(v["x1"])] == "grad -1.5000"
    assert final[page.element(v["w2"])] == "grad 0.0000"


def test_a_plus_a_shows_both_contributions():
    a, b = doubled()
    page = explain(b)
    assert page.grads[a] == 2.0  # d(a + a)/da
    step = next(s for s in page.steps if s.phase == "backward")
    assert step.lines == [
        "a.grad += b.grad = 1.0000 = 1.0000   (a.grad: 0.0000 + 1.0000 = 1.0000)",
        "a.grad += b.grad = 1.0000 = 1.0000   (a.grad: 1.0000 + 1.0000 = 2.0000)",
    ]
    assert step.cells == [(page.element(a), "grad", "grad 2.0000")]


def test_a_shared_node_adds_what_each_parent_sends():
    x = Value(3.0, label="x")
    y = x * x + x  # dy/dx = 2x + 1 = 7
    y.label = "y"
    page = explain(y)
    assert page.grads[x] == pytest.approx(7.0)
    sums = [line.split("(x.grad: ")[1] for line in all_lines(page) if "(x.grad: " in line]
    assert sums == [
        "0.0000 + 1.0000 = 1.0000)",
        "1.0000 + 3.0000 = 4.0000)",
        "4.0000 + 3.0000 = 7.0000)",
    ]


EVERY_OP = (
    "exp(x) * log(y) + tanh(x * y) - sigmoid(x) / sqrt(y) + relu(x - 1) + abs(x - y) "
    "+ sin(x) * cos(y) + max(x, y) * min(x, 2 * y) + clamp(x, 0, 1) + logaddexp(x, y) + y ** x"
)


def test_every_op_replays_the_engines_gradients():
    expression = parse(EVERY_OP)
    inputs = {"x": Value(0.7, label="x"), "y": Value(1.3, label="y")}
    x, y = inputs["x"], inputs["y"]
    variadic = [tapegrad.dot([x, y], [y, x], 0.5), tapegrad.logsumexp([x, y, 2.0 * x])]
    out = tapegrad.sum([expression.evaluate(inputs), *variadic, x])
    used = {n._op for n in topological_order(out) if n._prev}
    assert {op.symbol for op in ops.OPS.values()} <= used  # the graph exercises every op
    page = explain(out)
    reference = engine_grads(out)
    for node, g in page.grads.items():
        assert g == pytest.approx(reference[node], rel=1e-12, abs=1e-15)
    assert inputs["x"].grad == pytest.approx(page.grads[inputs["x"]])


def test_a_log_sum_exp_reads_as_one_call_and_its_gradients_as_softmax():
    """A vector op's forward rule repeats each argument (max, masks, log1p): the page names
    the op over its arguments instead, and writes each gradient as the rule does."""
    z = [Value(v, label=f"z{i}") for i, v in enumerate([1.0, 2.0, 0.5])]
    out = tapegrad.logsumexp(z)
    out.label = "lse"
    page = explain(out)
    forward = next(s for s in page.steps if s.phase == "forward")
    total = math.log(sum(math.exp(v.data) for v in z))
    assert forward.title == "Forward: lse = logsumexp(z0, z1, z2)"
    assert forward.lines == [
        f"lse = logsumexp(z0, z1, z2) = logsumexp(1.0000, 2.0000, 0.5000) = {total:.4f}"
    ]
    backward = "\n".join(next(s for s in page.steps if s.phase == "backward").lines)
    assert (
        f"z0.grad += lse.grad · exp(z0.data - lse.data) = 1.0000 × exp(1.0000 - {total:.4f})"
        in (backward)
    )


# The floatmath namespace: a rule's text in numbers, read as Python over it, is the rule's
# number (the text is Python syntax over the namespace's names; see textmath).
FLOAT_NAMES = {name: getattr(fm, name) for name in dir(fm) if not name.startswith("_")}


def _as_python(numbers: str) -> str:
    return numbers.replace("×", "*").replace("≥", ">=").replace("≤", "<=")


def _evaluate(numbers: str) -> float:
    return eval(_as_python(numbers), {"__builtins__": {}}, FLOAT_NAMES)  # noqa: S307 - test text


def test_the_rule_texts_say_what_the_rules_compute():
    # Shown at full precision, each rule's numbers, read back as Python over floatmath, give
    # the contribution the engine computed (and each forward, the value): the words are the
    # op table's rules. Every line is checked: masks (where) and sign() are Python too.
    x, y = Value(0.7, label="x"), Value(1.3, label="y")
    checked = set()
    for out in (
        parse(EVERY_OP).evaluate({"x": x, "y": y}),
        parse("x ** y").evaluate({"x": x, "y": y}),
        tapegrad.dot([x, y], [y, x], 0.5) * tapegrad.sum([x, y, x]),  # the variadic ops
    ):
        page = explain(out, fmt=".17g")
        for step in page.steps:
            if step.phase not in ("forward", "backward"):
                continue
            for line in step.lines:
                if step.phase == "backward" and " += " not in line:
                    continue  # "#13's inputs are constants: no gradient to pass on"
                parts = line.split("   (")[0].split(" = ")
                assert len(parts) == (4 if step.phase == "forward" else 3), line
                shown = _evaluate(parts[-2])
                assert shown == pytest.approx(float(parts[-1]), rel=1e-9, abs=1e-12), line
                if step.phase == "backward":
                    checked.add(line.split(" += ")[1].split(" = ")[0])
    assert len(checked) >= 30


def test_explain_leaves_every_grad_as_it_was():
    v = neuron()
    page_before = explain(v["o"])
    assert all(node.grad == 0.0 for node in v.values())
    v["o"].backward()
    v["o"].backward()  # accumulated twice: every grad doubled
    held = {name: node.grad for name, node in v.items()}
    assert held["x1"] == pytest.approx(2 * NEURON_GRADS["x1"])
    page_after = explain(v["o"])
    assert {name: node.grad for name, node in v.items()} == held
    # The page replays one fresh backward() either way.
    assert grads_by_label(page_after) == grads_by_label(page_before)


def test_a_closure_op_is_recorded_by_running_its_own_backward():
    x = Value(2.0, label="x")
    y = cube(x)
    y.label = "y"
    z = y.tanh()
    z.label = "z"
    x.grad, y.grad = 5.0, 7.0  # whatever the user has there stays
    page = explain(z)
    t = math.tanh(8.0)
    assert page.grads[y] == pytest.approx(1 - t * t)
    assert page.grads[x] == pytest.approx(3 * 2.0**2 * (1 - t * t))  # d(x**3)/dx = 3x**2
    assert (x.grad, y.grad, z.grad) == (5.0, 7.0, 0.0)
    lines = all_lines(page)
    assert any(line.startswith("x.grad += y._backward()") for line in lines)
    assert "y = cube(x) = cube(2.0000) = 8.0000" in lines


def test_a_closure_with_a_repeated_child_gives_its_total():
    a = Value(3.0, label="a")
    b = twice(a)
    b.label = "b"
    page = explain(b)
    assert page.grads[a] == 2.0
    assert a.grad == 0.0


def test_a_closure_that_fails_is_named():
    x = Value(1.0, label="x")
    out = ClosureValue(2.0, (x,), "broken")
    out.label = "out"

    def _backward():
        raise RuntimeError("oops")

    out._backward = _backward
    with pytest.raises(ExplainError, match=r"out \(op 'broken'\).*RuntimeError: oops"):
        explain(out)


def test_an_op_with_no_rule_and_no_closure_is_named():
    x = Value(1.0, label="x")
    out = Value(2.0, (x,), "mystery")
    with pytest.raises(ExplainError, match=r"'mystery'.*no rule in tapegrad.ops"):
        explain(out)


def test_constants_get_no_gradient_line():
    x = Value(2.0, label="x")
    y = 3 * x
    y.label = "y"
    page = explain(y)
    backward = [s for s in page.steps if s.phase == "backward"]
    assert backward[0].lines == ["x.grad += y.grad · 3.0000 = 1.0000 × 3.0000 = 3.0000"]
    assert not any(type(n) is Constant for n in page.grads if page.grads[n])


def test_unlabelled_and_shared_labels_get_distinct_names():
    w = [Value(1.0, label="w"), Value(2.0, label="w")]
    out = w[0] * w[1] + 1.0
    page = explain(out)
    text = "\n".join(all_lines(page))
    assert "w#1" in text and "w#2" in text and "#1" in text


def mlp_loss(sizes=(4, 4, 1), seed=3, fused=True):
    from tapegrad.nn import MLP

    model = MLP(2, list(sizes), seed=seed, fused=fused)
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    loss = (model(x) - 1.0) ** 2
    loss.label = "loss"
    return model, x, loss


def test_a_collapsed_layer_writes_no_rule_it_does_not_show(monkeypatch):
    # a collapsed layer's backward step shows only the sums that leave it, so the rules of the
    # nodes inside are not written out (doing so made a 10-class table's report take 45 s)
    import tapegrad.pages.explain as ex

    _, _, loss = mlp_loss()
    written = []
    real = ex.formula
    monkeypatch.setattr(
        ex, "formula", lambda node, *a, **k: written.append(node) or real(node, *a, **k)
    )
    explain(loss)
    every_node = len(written)
    written.clear()
    explain(loss, collapse="layer")
    assert len(written) <= every_node / 2, (len(written), every_node)


def test_collapsed_by_layer_steps_a_layer_at_a_time():
    model, x, loss = mlp_loss()
    page = explain(loss, collapse="layer")
    titles = [s.title for s in page.steps]
    for i in range(3):
        assert sum(f"layers.{i} " in t for t in titles) == 2  # one forward, one backward step
    assert page.element(model.layers[1].neurons[0].w[0]) == page.element(
        model.layers[1].neurons[2].b
    )
    reference = engine_grads(loss)
    for xi in x:
        assert page.grads[xi] == pytest.approx(reference[xi], rel=1e-12)
    # The box of each layer ends with its parameters' gradient norm.
    final = {}
    for s in page.steps:
        final.update({el: text for el, kind, text in s.cells if kind == "norm"})
    for layer in model.layers:
        norm = math.sqrt(sum(reference[p] ** 2 for p in layer.parameters()))
        assert final[page.element(layer.neurons[0].b)] == f"grad norm {norm:.4f}"


def test_collapsed_by_neuron_and_a_cycle_of_groups_refused():
    _, _, loss = mlp_loss()
    page = explain(loss, collapse="neuron")
    assert sum(s.phase == "forward" for s in page.steps) == 4 + 4 + 1 + 2
    a = Value(1.0, label="a")
    with scope("p"):
        b = a * 2
    c = b + 1
    with scope("p"):
        d = c * 3  # p -> c -> p: the group p cannot be computed in one go
    with pytest.raises(ExplainError, match="cycle"):
        explain(d, collapse=lambda path: path)


def test_a_graph_past_the_size_limit_says_what_to_do():
    _, _, loss = mlp_loss((16, 16, 1), fused=False)  # the explicit graph: about 1000 values
    with pytest.raises(ExplainError, match=r"values, more than max_nodes=500.*collapse='layer'"):
        explain(loss, max_nodes=500)
    assert len(explain(loss, collapse="layer").steps) < 20
    chain = Value(0.5, label="x")
    for _ in range(60):
        chain = chain.tanh()
    with pytest.raises(ExplainError, match=r"61 values, more than max_nodes=50.*smaller graph"):
        explain(chain, max_nodes=50)
    assert len(explain(chain, max_nodes=None).steps) == 60 + 60 + 3
    with pytest.raises(ExplainError, match=r"collapsed by 'neuron' the graph still has"):
        explain(loss, collapse="neuron", max_nodes=10)


def test_the_demo_graph_page_stays_small():
    # MLP(2, [16, 16, 1]) on one sample with a squared-error loss, built explicitly
    # (fused=False): about a thousand values.
    _, _, loss = mlp_loss((16, 16, 1), fused=False)
    n = len(topological_order(loss))
    assert 950 <= n <= 1000
    html = explain(loss).html()
    assert len(html.encode()) < 1_500_000


def test_bad_arguments():
    with pytest.raises(TypeError, match="needs a tapegrad Value"):
        explain(1.0)
    x = Value(1.0)
    with pytest.raises(ValueError, match="rankdir"):
        explain(x, rankdir="XY")
    with pytest.raises(ValueError, match="max_nodes"):
        explain(x, max_nodes=0)
    with pytest.raises(ValueError, match="precision"):
        explain(x, precision=-1)
    with pytest.raises(ValueError, match="not in the graph"):
        explain(x).element(Value(2.0))


def test_the_page_is_one_offline_file(tmp_path):
    v = neuron()
    v["x1"].label = "</script><script>alert(1)</script>"
    page = tapegrad.explain(v["o"], title="the lecture's <neuron>")
    html = page.html()
    assert html.startswith("<!DOCTYPE html>") and "the lecture&#x27;s &lt;neuron&gt;" in html
    assert "<script>alert(1)" not in html
    # No resource from anywhere else: every URL is an XML namespace name.
    for url in re.findall(r"https?://[^\s\"']+", html):
        assert url.startswith(("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"))
    assert not re.search(r"""\s(src|href)=""", html)
    data = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)
    doc = json.loads(data.group(1))
    assert doc["standalone"] is True and len(doc["steps"]) == len(page.steps)
    path = page.save(tmp_path / "new" / "neuron.html")
    assert path == str(tmp_path / "new" / "neuron.html")
    assert "x1w1x2w2 + b" in (tmp_path / "new" / "neuron.html").read_text(encoding="utf-8")
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["neuron.html"]  # no temp left


def test_notebook_fragments_have_their_own_ids():
    page = explain(neuron()["o"])
    one, two = page._repr_html_(), page._repr_html_()
    ids = [re.search(r'<div id="([^"]+)" class="tg-explain"', f).group(1) for f in (one, two)]
    assert ids[0] != ids[1]
    assert not one.startswith("<!DOCTYPE") and '"standalone":false' in one
    assert set(re.findall(r'\sid="([^"]+)"', one)) == {
        i for i in re.findall(r'\sid="([^"]+)"', one) if i.startswith(ids[0])
    }


def test_json_in_a_script_cannot_close_it():
    text = json_for_script({"label": "</script><!-- & -->"})
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == {"label": "</script><!-- & -->"}


def test_the_builtin_renderer_draws_the_page(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` to be found
    page = explain(neuron()["o"])
    assert page.renderer == "builtin"
    html = page.html()
    for el in ("n0", "n9", "n9_op"):
        assert re.search(rf'<g id="tgx-[0-9a-f]+-{el}" class="node">', html)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_explain_command(capsys, tmp_path):
    out = tmp_path / "neuron.html"
    code, stdout, _ = run_cli(
        capsys,
        "explain",
        "tanh(x1*w1 + x2*w2 + b)",
        "--set",
        "x1=2",
        "x2=0",
        "w1=-3",
        "w2=1",
        "b=6.8813735870195432",
        "-o",
        str(out),
    )
    assert code == 0 and f"wrote {out}" in stdout and "13 steps" in stdout
    html = out.read_text(encoding="utf-8")
    assert "x1.grad += #1.grad · w1.data = 0.5000 × (-3.0000) = -1.5000" in html  # #1 = x1*w1
    code, _, err = run_cli(capsys, "explain", "x*y", "--set", "x=1", "-o", str(out), "--force")
    assert code == 2 and "y=..." in err
    code, _, err = run_cli(
        capsys, "explain", "x", "--set", "x=1", "--precision", "-2", "-o", str(out), "--force"
    )
    assert code == 2 and "precision" in err


def test_a_missing_browser_skips_locally_and_fails_under_ci(monkeypatch, tmp_path):
    from browser import start_chromium

    require("selenium")  # without it, browser.py's message is about Selenium, not Chromium

    monkeypatch.setenv("PATH", str(tmp_path))  # neither chromium nor chromedriver
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install chromium chromium-driver"):
        start_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no chromium on PATH.*apt-get install"):
        start_chromium()


def test_every_op_in_the_table_has_its_wording():
    """Each op of tapegrad.ops reads on the page as its own rules write themselves on textmath,
    with one gradient rule per input: there is no list of wordings to forget an op in."""
    for op in ops.OPS.values():
        for k in [op.arity] if op.arity else [1, 3, 5]:
            node = apply(op, *[Value(0.5 + i) for i in range(k)])
            names = [f"x{i}" for i in range(k)]
            assert formula(node) is not None, (op.name, k)
            shown, rules = formula(node, names), textmath.formula(op, names)
            assert shown.grads == rules.grads, (op.name, k)
            # a vector op's forward repeats each argument: named as a call instead
            called = f"{op.name}({', '.join(names)})"
            assert shown.forward == (called if op.vector else rules.forward), (op.name, k)


def test_the_page_says_the_rules_of_the_table():
    # Written by reading ops.py's rules, not copied from the output.
    x, y = Value(2.0, label="x"), Value(-3.0, label="y")
    exact = {
        x * y: ("a * b", ("g * b", "g * a")),
        x.tanh(): ("tanh(x)", ("g * (1 - out * out)",)),
        x.exp(): ("exp(x)", ("g * out",)),
        x.log(): ("log(x)", ("g / x",)),
        x.cos(): ("cos(x)", ("-(g * sin(x))",)),
        x.relu(): ("relu(x)", ("(0 if 0 >= x else g)",)),
        x.sqrt(): ("sqrt(x)", ("g / (2 * out)",)),
        x + y: ("a + b", ("g", "g")),
    }
    for node, (forward, grads) in exact.items():
        assert formula(node) == (forward, grads), node._op
    assert formula(tapegrad.sum([x, y, x])) == ("x0 + x1 + x2", ("g * 1",) * 3)
    assert formula(tapegrad.dot([x], [y], 1.0)) == ("x2 + x0 * x1", ("g * x1", "g * x0", "g * 1"))
    assert formula(Value(1.0, (x,), "no such op")) is None


def test_an_op_added_with_register_op_reads_as_its_rule():
    """No edit anywhere but the registration: the page's formula is the text the rule makes."""
    op = tapegrad.register_op(
        "cube_for_explain",
        lambda m, x: x * x * x,
        [lambda m, g, out, x: g * (3.0 * m.pow(x, 2.0))],
    )
    try:
        x = Value(-2.0, label="x")
        y = x.cube_for_explain()
        y.label = "y"
        lines = all_lines(explain(y))
        rule = textmath.formula(op, ["x"], "y.data", "y.grad")
        assert rule == ("x * x * x", ("y.grad * (3 * x ** 2)",))
        assert "y = x · x · x = -2.0000 × (-2.0000) × (-2.0000) = -8.0000" in lines
        words = rule.grads[0].replace("x", "x.data").replace(" * ", " · ")
        assert words == "y.grad · (3 · x.data ** 2)"
        assert f"x.grad += {words} = 1.0000 × (3 × (-2.0000) ** 2) = 12.0000" in lines
    finally:
        tapegrad.unregister_op("cube_for_explain")


def test_a_rule_text_cannot_run_says_so_in_general_words():
    # A user's rule that branches with Python `if` runs on floats and Values but not on text:
    # the page still replays the engine's numbers, in general words.
    tapegrad.register_op(
        "step_for_explain",
        lambda m, x: m.relu(x),
        [lambda m, g, out, x: g if m.gt(x, 0.0) else 0.0 * g],
    )
    try:
        x = Value(0.5, label="x")
        y = x.step_for_explain()
        y.label = "y"
        page = explain(y)
        lines = all_lines(page)
        assert "y = step_for_explain(x) = step_for_explain(0.5000) = 0.5000" in lines
        assert "x.grad += ∂y/∂x · y.grad = 1.0000" in lines
    finally:
        tapegrad.unregister_op("step_for_explain")


def test_a_fused_neuron_reads_as_its_weighted_sum():
    n = tapegrad.nn.Neuron(2, act="linear", seed=1)
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    out = n(x)
    out.label = "o"
    for w, name in zip(n.w, ("w0", "w1"), strict=True):
        w.label = name
    n.b.label = "b"
    page = explain(out)
    texts = " ".join(line for step in page.steps for line in [step.title, *step.lines])
    assert "o = b + w0 · x0 + w1 · x1" in texts
    # affine's rule: each argument's gradient is g times its partial (x0 for w0, 1 for b).
    assert "w0.grad += o.grad · x0.data" in texts and "b.grad += o.grad · 1 = " in texts
    out.backward()
    assert [w.grad for w in n.w] == [0.5, -1.0] and n.b.grad == 1.0


def test_the_page_asks_the_engine_which_rule_serves_a_node():
    """A subclass that overrides the `_backward` method (instead of giving a node a closure)
    is served by the op table in backward(); the page must replay that, not the method."""

    class Odd(Value):
        def _backward(self):  # never run by backward(): its nodes have no closure of their own
            raise AssertionError("the page ran a method backward() does not run")

    x = Odd(2.0, label="x")
    y = x * x
    y.label = "y"
    page = explain(y)
    y.backward()
    assert page.grads[x] == x.grad == 4.0
