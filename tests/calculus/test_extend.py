"""Extending tapegrad the lecture's way: closure ops (`out._backward = fn`), ops of your own in
the table (`register_op`), and Values that take attributes. References: PyTorch float64,
closed forms, central differences."""

from __future__ import annotations

import math
import re
import threading

import numpy as np
import pytest
from lecture_graphs import cube, doubled

import tapegrad
from tapegrad import Constant, Value, grad, gradcheck, ops, value_and_grad
from tapegrad import valuemath as vm
from tapegrad.check import GradcheckError
from tapegrad.expr import FUNCTIONS, parse
from tapegrad.extend import COMMON, register_op, unregister_op
from tapegrad.graph import topological_order

# --------------------------------------------------------------------------- closure ops


class LectureValue(Value):
    """The lecture's class grown from tapegrad's: its __init__ sets a do-nothing _backward,
    and it adds ops as closures."""

    def __init__(self, data, _children=(), _op="", label=""):
        super().__init__(data, _children, _op, label)
        self._backward = lambda: None

    def exp(self):
        out = LectureValue(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def cube(self):
        out = LectureValue(self.data**3, (self,), "cube")

        def _backward():
            self.grad += 3 * self.data**2 * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other):
        out = LectureValue(self.data / other.data, (self, other), "/")

        def _backward():
            self.grad += out.grad / other.data
            other.grad += -self.data / other.data**2 * out.grad

        out._backward = _backward
        return out


def test_the_issue_snippet_gives_12():
    x = Value(2.0, label="x")
    out = cube(x)  # the issue's lines, in lecture_graphs.py
    out.backward()
    assert x.grad == 12.0


def test_a_second_backward_adds_exactly_one_more_gradient():
    # micrograd's issue #53: its interior grads compound on a second call. Here every grad,
    # interior ones included, is exactly twice the first call's.
    x = Value(2.0, label="x")
    y = cube(x) * x  # x**4: d/dx = 4 x**3 = 32
    z = y.tanh()
    z.backward()
    first = {n: n.grad for n in topological_order(z)}
    z.backward()
    for node, g in first.items():
        assert node.grad == 2 * g
    assert first[x] == pytest.approx(32 * (1 - math.tanh(16.0) ** 2))


def test_closures_mixed_with_table_ops_match_torch(torch):
    a, b = LectureValue(0.7, label="a"), LectureValue(-1.3, label="b")
    c = (a.cube() + b).exp()  # closures, with a table + between them
    d = c / (b * b + 1.0).tanh()  # a table * and tanh feeding a closure /
    e = d * a + d.cube()
    e.backward()
    ta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    tc = (ta**3 + tb).exp()
    td = tc / (tb * tb + 1.0).tanh()
    te = td * ta + td**3
    te.backward()
    assert e.data == pytest.approx(te.item(), rel=1e-12)
    assert a.grad == pytest.approx(ta.grad.item(), rel=1e-12)
    assert b.grad == pytest.approx(tb.grad.item(), rel=1e-12)


def test_a_closure_with_a_repeated_child_accumulates():
    a = Value(3.0, label="a")
    b = Value(a.data + a.data, (a, a), "twice")

    def _backward():
        a.grad += b.grad
        a.grad += b.grad

    b._backward = _backward
    (b * b).backward()  # d(4a**2)/da = 8a
    assert a.grad == 24.0


def test_the_learners_own_add_shows_its_bug():
    # A closure wins over the table even for a table symbol: the learner's + forgets `other`.
    class Buggy(LectureValue):
        def __add__(self, other):
            out = Buggy(self.data + other.data, (self, other), "+")

            def _backward():
                self.grad += out.grad  # the bug: other.grad is never updated

            out._backward = _backward
            return out

    a, b = Buggy(1.0), Buggy(2.0)
    (a + b).backward()
    assert (a.grad, b.grad) == (1.0, 0.0)
    a2, b2 = Value(1.0), Value(2.0)
    (a2 + b2).backward()  # the table's + is untouched
    assert (a2.grad, b2.grad) == (1.0, 1.0)


def test_backward_by_hand_node_by_node_works_for_every_node():
    x = Value(2.0, label="x")
    y = cube(x)
    z = (y * 0.5).tanh()
    z.backward()
    want = {n: n.grad for n in topological_order(z)}
    for n in want:
        n.grad = 0.0
    z.grad = 1.0
    for node in reversed(topological_order(z)):
        node._backward()
    assert {n: n.grad for n in want} == want


def test_a_closure_must_be_callable():
    node = Value(1.0, (Value(2.0),), "f")
    with pytest.raises(TypeError, match="_backward must be a function"):
        node._backward = 3.0


def test_an_unknown_op_says_what_to_do():
    node = Value(1.0, (Value(2.0),), "mystery")
    with pytest.raises(ValueError, match=r"'mystery'.*_backward closure.*register_op"):
        node.backward()


def closure_refusal(op: str = "cube", suggested: str = "cube") -> str:
    return rf"'y' \(its _op '{op}'\).*own _backward closure.*tapegrad\.register_op\('{suggested}'"


def test_create_graph_and_grad_of_grad_refuse_a_closure_naming_it():
    x = Value(2.0, label="x")
    y = cube(x)
    y.label = "y"
    with pytest.raises(ValueError, match=r"create_graph=True.*" + closure_refusal()):
        y.backward(create_graph=True)

    def f(x):
        y = cube(x)
        y.label = "y"
        return y

    assert grad(f)(2.0) == 12.0  # first order: a float backward, served
    with pytest.raises(ValueError, match=r"grad\(grad\(f\)\).*" + closure_refusal()):
        grad(grad(f))(2.0)


def test_compile_refuses_a_closure_naming_it():
    def f(x):
        y = cube(x)
        y.label = "y"
        return y

    with pytest.raises(ValueError, match=r"tapegrad\.compile.*" + closure_refusal()):
        tapegrad.compile(f, 1.0)


def test_compile_refuses_a_closure_even_under_a_table_symbol():
    def f(x):
        out = Value(x.data + 1.0, (x,), "relu", label="y")
        out._backward = lambda: None
        return out

    with pytest.raises(ValueError, match=closure_refusal("relu", "my_relu")):
        tapegrad.compile(f, 1.0)


def test_detect_anomaly_names_the_closure():
    x = Value(0.0, label="x")
    y = Value(0.0, (x,), "root", label="y")

    def _backward():
        x.grad += 0.5 / math.sqrt(x.data) * out_grad() if x.data else math.inf * y.grad

    def out_grad():
        return y.grad

    y._backward = _backward
    with tapegrad.detect_anomaly(), pytest.raises(tapegrad.AnomalyError) as caught:
        y.backward()
    message = str(caught.value)
    assert "op 'root'" in message and "own _backward closure" in message and "y=" in message


def test_gradcheck_checks_a_closure_op_as_a_whole_and_points_to_the_table():
    assert gradcheck(lambda x: cube(x) * x, 0.8)

    def wrong(x):
        out = Value(x.data**3, (x,), "cube", label="y")

        def _backward():
            x.grad += 2 * x.data**2 * out.grad  # should be 3

        out._backward = _backward
        return out

    with pytest.raises(GradcheckError, match=r"'y' \(its _op 'cube'\).*register_op"):
        gradcheck(wrong, 0.8)


def test_pictures_show_a_closure_node_like_any_other():
    x = Value(2.0, label="x")
    y = cube(x)
    y.label = "y"
    z = y.tanh()
    z.backward()
    picture = tapegrad.draw_dot(z)
    fields = [" | ".join(n.fields) for n in picture.scene.nodes]
    assert "cube" in fields and any(f.startswith("x | data 2.0000 | grad") for f in fields)
    text = tapegrad.format_graph(z)
    assert "cube" in text and "y" in text
    page = tapegrad.explain(z)
    assert page.grads[x] == pytest.approx(12.0 * (1 - math.tanh(8.0) ** 2))


# --------------------------------------------------------------------------- attributes


def test_values_take_attributes_as_micrograds_do():
    p = Value(1.0)
    p.m, p.v = 0.0, 0.0  # an optimizer's state on a parameter (EurekaLabsAI micrograd's AdamW)
    p._vis_color = "lightblue"
    p.m = 0.9 * p.m + 0.1 * 2.0
    assert (p.m, p.v, p._vis_color) == (pytest.approx(0.2), 0.0, "lightblue")
    c = Constant(2.0)
    c.note = "a constant"
    assert c.note == "a constant"
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = p.missing


def test_attributes_do_not_change_the_graph():
    a, b = doubled()
    a.colour = "red"
    b.backward()
    assert a.grad == 2.0 and b._prev == (a, a)


# --------------------------------------------------------------------------- ops of your own


@pytest.fixture
def registered():
    """Ops registered by a test, removed after it whatever happens."""
    names: list[str] = []

    def add(*args, **kwargs) -> ops.Op:
        op = register_op(*args, **kwargs)
        names.append(op.name)
        return op

    yield add
    for name in names:
        if name in ops.OPS:
            unregister_op(name)


def cube_rules(factor: float = 3.0):
    return (lambda m, x: x * x * x), [lambda m, g, out, x: g * (factor * x * x)]


def test_a_registered_op_gives_12_everywhere(registered):
    fwd, vjps = cube_rules()
    op = registered("cube", fwd, vjps, expression=True)
    assert ops.OPS["cube"] is op and ops.BY_SYMBOL["cube"] is op
    x = Value(2.0, label="x")
    y = x.cube()
    assert y._op == "cube" and y.data == 8.0
    y.backward()
    assert x.grad == 12.0
    assert grad(lambda x: x.cube())(2.0) == 12.0
    assert grad(grad(lambda x: x.cube()))(2.0) == 12.0  # 6 x at x = 2
    assert grad(grad(grad(lambda x: vm.cube(x))))(2.0) == 6.0
    assert value_and_grad(lambda x: vm.cube(x))(2.0) == (8.0, 12.0)
    assert parse("cube(x) * 2").evaluate({"x": 2.0}).data == 16.0
    assert gradcheck(lambda x: x.cube().tanh(), 0.4)
    assert gradcheck(grad(lambda x: x.cube().tanh()), 0.4)


def test_a_registered_op_compiles_equal_to_eager_over_a_batch(registered):
    registered("cube", *cube_rules())
    w = Value(0.6, label="w")

    def f(x):
        return (x * w).cube() + vm.cube(w)

    tape = tapegrad.compile(f, 1.0)
    X = np.random.default_rng(3).uniform(-2.0, 2.0, 25)
    out = tape.backward(X, reduction="sum")
    compiled_grad = w.grad
    w.grad = 0.0
    eager = [f(Value(float(x))) for x in X]
    sum(eager).backward()
    np.testing.assert_allclose(out, [e.data for e in eager], rtol=1e-12)
    assert compiled_grad == pytest.approx(w.grad, rel=1e-12)
    assert w.grad == pytest.approx(float(np.sum(3 * X**3 * 0.6**2) + 25 * 3 * 0.6**2), rel=1e-12)


def test_a_wrong_user_rule_is_caught_and_named_by_gradcheck(registered):
    registered("cube", *cube_rules(factor=2.0))  # d/dx x**3 written as 2 x**2
    with pytest.raises(GradcheckError, match=r"'cube' argument 0 at \[0\.7\]") as caught:
        gradcheck(lambda x: x.cube() + x, 0.7)
    assert "<- disagrees" in str(caught.value)


def test_detect_anomaly_names_a_registered_op(registered):
    registered("rsqrt", lambda m, x: m.div(1.0, m.sqrt(x)),
               [lambda m, g, out, x: g * (-0.5) * m.div(out, x)])  # fmt: skip
    x = Value(4.0, label="x")
    assert x.rsqrt().data == 0.5
    with tapegrad.detect_anomaly(), pytest.raises(tapegrad.AnomalyError, match="op 'rsqrt'"):
        Value(0.0).rsqrt()


def test_a_two_argument_op_takes_numbers_and_values(registered):
    registered(
        "hypot",
        lambda m, a, b: m.sqrt(a * a + b * b),
        [lambda m, g, out, a, b: g * m.div(a, out), lambda m, g, out, a, b: g * m.div(b, out)],
        symbol="hyp",
    )
    a, b = Value(3.0), Value(4.0)
    c = a.hypot(b)
    c.backward()
    assert (c.data, c._op, a.grad, b.grad) == (5.0, "hyp", 0.6, 0.8)
    assert Value(3.0).hypot(4.0).data == 5.0
    assert gradcheck(lambda a, b: vm.hypot(a, b), 0.3, -1.2)
    assert gradcheck(grad(lambda a, b: a.hypot(b), argnums=1), 0.3, -1.2)


def test_a_registered_op_is_in_the_expression_language_at_once(registered, capsys):
    """The expression language reads its functions from the op table: nothing to push there."""
    assert "cube" not in FUNCTIONS
    registered("cube", *cube_rules())
    assert FUNCTIONS["cube"] == (vm.cube, 1, 1)
    assert parse("cube(x) + 1").evaluate({"x": 2.0}).data == 9.0
    from tapegrad.cli import main

    assert main(["grad", "cube(x)", "--at", "x=2"]) == 0  # tapegrad grad "cube(x)" --at x=2
    out = capsys.readouterr().out
    assert "value = 8" in out and re.search(r"d/dx\s+12\s", out)
    unregister_op("cube")
    assert "cube" not in FUNCTIONS
    with pytest.raises(ValueError, match="unknown function 'cube'"):
        parse("cube(x)")
    registered("cube", *cube_rules(), expression=True)  # still accepted: it checks the names
    assert FUNCTIONS["cube"][1:] == (1, 1)


def test_unregister_removes_every_trace():
    before = (dict(ops.OPS), dict(ops.BY_SYMBOL), set(vars(Value)), set(vars(vm)), dict(FUNCTIONS))
    register_op("cube", *cube_rules(), expression=True)
    unregister_op("cube")
    after = (dict(ops.OPS), dict(ops.BY_SYMBOL), set(vars(Value)), set(vars(vm)), dict(FUNCTIONS))
    assert after == before
    with pytest.raises(ValueError, match="'exp': it is a built-in op"):
        unregister_op("exp")


def _same_tables():
    return (dict(ops.OPS), dict(ops.BY_SYMBOL), set(vars(Value)), set(vars(vm)), dict(FUNCTIONS))


BAD = [
    ("exp", {}, ValueError, "an op named 'exp' is already in the table"),
    ("my op", {}, ValueError, "must be a Python identifier"),
    ("cube", {"symbol": "**"}, ValueError, "symbol '\\*\\*' is already op 'pow'"),
    ("cube", {"method": "tanh"}, ValueError, "method name 'tanh' is taken"),
    ("cube", {"method": "data"}, ValueError, "method name 'data' is taken"),
    ("cube", {"function": "exp"}, ValueError, "function name 'exp' is taken"),
    ("cube", {"vjps": lambda m, g, out, x: g}, TypeError, r"one rule per argument.*\[rule\]"),
    ("cube", {"vjps": []}, TypeError, "one rule per argument"),
    ("cube", {"vjps": [3.0]}, TypeError, r"vjps\[0\] must be callable"),
    ("cube", {"fwd": "x**3"}, TypeError, "fwd must be callable"),
    ("cube", {"fwd": lambda m, a, b: a * b}, TypeError, r"fwd must take \(m, x0\)"),
    ("cube", {"vjps": [lambda g, x: g]}, TypeError, r"vjps\[0\] must take \(m, g, out, x0\)"),
    ("cube", {"fwd": lambda m, x: m.atan(x)}, ValueError, r"fwd failed.*atan.*m\.exp"),
    (
        "cube",
        {"vjps": [lambda m, g, out, x: g * m.log1p(x)]},
        ValueError,
        r"vjps\[0\] failed when tried on tapegrad\.valuemath.*log1p",
    ),  # fmt: skip
    ("cube", {"fwd": lambda m, x: "x"}, TypeError, "fwd returned str"),
    ("cube", {"expression": True, "method": None}, ValueError, "expression=True needs"),
    ("exp2", {"expression": True, "method": "clamp2", "function": "clamp2"}, None, None),
]


@pytest.mark.parametrize(("name", "change", "error", "words"), BAD)
def test_an_op_cannot_be_half_added(name, change, error, words):
    fwd, vjps = cube_rules()
    kwargs = {"fwd": fwd, "vjps": vjps, **change}
    before = _same_tables()
    if error is None:  # the control: the same call with good arguments goes in whole
        register_op(name, kwargs.pop("fwd"), kwargs.pop("vjps"), **kwargs)
        assert _same_tables() != before
        unregister_op(name)
    else:
        with pytest.raises(error, match=words):
            register_op(name, kwargs.pop("fwd"), kwargs.pop("vjps"), **kwargs)
    assert _same_tables() == before


def test_three_argument_ops_have_no_method():
    fwd = lambda m, a, b, c: a * b + c  # noqa: E731
    vjps = [
        lambda m, g, o, a, b, c: g * b,
        lambda m, g, o, a, b, c: g * a,
        lambda m, g, o, a, b, c: g,
    ]
    with pytest.raises(ValueError, match="method=None"):
        register_op("fma", fwd, vjps)
    register_op("fma", fwd, vjps, method=None)
    try:
        x = Value(2.0)
        y = vm.fma(x, 3.0, x)
        y.backward()
        assert (y.data, x.grad) == (8.0, 4.0)
    finally:
        unregister_op("fma")


def test_common_is_what_every_namespace_offers():
    from tapegrad import floatmath, numpymath

    def public(module) -> set[str]:
        return {n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))}

    offered = public(floatmath) & public(numpymath) & public(vm)
    assert set(COMMON) == offered - {"clamp", "logaddexp", "softplus", "isfinite", "Constant"}
    assert re.fullmatch(r"[a-z ]+", " ".join(COMMON))


# --------------------------------------------------------------------------- the guards


def _namespaces_work() -> None:
    """What a name installed over one the namespace uses breaks (issue 19)."""
    x = Value(2.0)
    assert tapegrad.sum([x, 1.0, x]).data == 5.0
    assert tapegrad.dot([x, 3.0], [1.0, x], 0.5).data == 8.5
    assert vm.maximum(x, 1.0).data == 2.0 and vm.exp(0.0) == 1.0


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("op_isinstance", {"function": "isinstance"}, "'isinstance' is refused: it is a Python"),
        ("op_len", {"function": "len"}, "'len' is refused: it is a Python builtin"),
        ("op_list", {"function": "list"}, "'list' is refused: it is a Python builtin"),
        ("op_any", {"function": "any"}, "'any' is refused: it is a Python builtin"),
        ("op_float", {"function": "float"}, "'float' is refused: it is a Python builtin"),
        ("len", {}, "function name 'len' is refused"),  # the default: the op's own name
        ("op_dunder", {"function": "__len__"}, "'__len__' is refused: names starting with '_'"),
        ("op_dunder", {"method": "__len__"}, "'__len__' is refused: names starting with '_'"),
        ("op_log1p", {"function": "log1p"}, "'log1p' is refused: every math namespace offers"),
        ("op_params", {"method": "parameters"}, "'parameters' is refused"),
    ],
)  # fmt: skip
def test_names_the_namespaces_use_are_refused(name, change, words):
    fwd, vjps = cube_rules()
    before = _same_tables()
    try:
        with pytest.raises(ValueError, match=words):
            register_op(name, fwd, vjps, **change)
        assert _same_tables() == before
        _namespaces_work()
    finally:  # where the name went in (as it did before the guard), take it out again
        if name in ops.OPS:
            unregister_op(name)


def test_ordinary_new_names_still_work(registered):
    registered("op_len", *cube_rules(), method="cubed", function="cubed_len")
    assert vm.cubed_len(2.0) == 8.0 and Value(2.0).cubed().data == 8.0
    registered("maximum3", lambda m, a, b, c: m.maximum(m.maximum(a, b), c),
               [lambda m, g, o, a, b, c: g, lambda m, g, o, a, b, c: g,
                lambda m, g, o, a, b, c: g], method=None)  # fmt: skip
    assert vm.maximum3(1.0, 3.0, 2.0) == 3.0
    _namespaces_work()


def _negative_is_odd(odd):
    """A forward rule that gives `odd(x)` for x < 0 (where register_op's trial never looks)."""
    return lambda m, x: odd(x) if x < 0.0 else 2.0 * x


ODD_FORWARDS = [
    ("complex", lambda x: x * (1 + 2j)),
    ("ndarray", lambda x: np.array([x])),
    ("str", lambda x: "x"),
    ("NoneType", lambda x: None),
    ("Value", lambda x: Value(x)),
]


@pytest.mark.parametrize(("kind", "odd"), ODD_FORWARDS)
def test_a_forward_rule_returning_no_float_is_named_on_use(registered, kind, odd):
    registered("twice", _negative_is_odd(odd), [lambda m, g, out, x: g * 2.0])
    assert Value(1.5).twice().data == 3.0
    message = rf"op 'twice': the forward rule fwd returned {kind} .*on floats .*\[-1\.0\]"
    with pytest.raises(TypeError, match=message):
        Value(-1.0).twice()
    with pytest.raises(TypeError, match=message):
        vm.twice(-1.0)  # on plain floats too


@pytest.mark.parametrize(("kind", "odd"), ODD_FORWARDS)
def test_a_forward_rule_returning_no_float_is_refused_when_registered(kind, odd):
    before = _same_tables()
    with pytest.raises(TypeError, match=rf"op 'twice': the forward rule fwd returned {kind}"):
        register_op("twice", lambda m, x: odd(x), [lambda m, g, out, x: g * 2.0])
    assert _same_tables() == before


def test_a_forward_rule_returning_an_int_or_numpy_float_gives_a_float(registered):
    # As Value(3) holds 3.0: any real number a rule returns becomes the node's float data.
    registered("steps", lambda m, x: m.where(m.gt(x, 0.0), 1, 0), [lambda m, g, out, x: 0])
    registered("npdouble", lambda m, x: np.float64(2.0) * x, [lambda m, g, out, x: g * 2.0])
    x = Value(0.5)
    y = x.steps() + x.npdouble()
    assert (y._prev[0].data, type(y._prev[0].data)) == (1.0, float)
    assert type(y._prev[1].data) is float and y.data == 2.0
    y.backward()
    assert (x.grad, type(x.grad)) == (2.0, float)


def test_a_vjp_rule_returning_an_array_is_named_and_leaves_grads_alone(registered):
    # Before the guard, `.grad` became an array.
    registered("scaled", lambda m, a, b: a * b,
               [lambda m, g, out, a, b: g * b,
                lambda m, g, out, a, b: np.array([g * a]) if a < 0.0 else g * a])  # fmt: skip
    a, b = Value(-2.0), Value(3.0)
    a.grad, b.grad = 0.25, 0.5
    with pytest.raises(
        TypeError,
        match=r"op 'scaled': the VJP rule for input 1, vjps\[1\], returned ndarray .*on floats "
        r"\(eager\) at g=1.0, out=-6.0, inputs \[-2.0, 3.0\]; it must return a float",
    ):
        a.scaled(b).backward()
    assert (a.grad, b.grad) == (0.25, 0.5)  # the failed walk put every grad back


def test_a_vjp_rule_returning_an_array_is_refused_when_registered():
    before = _same_tables()
    with pytest.raises(TypeError, match=r"VJP rule for input 0, vjps\[0\], returned ndarray"):
        register_op("twice", lambda m, x: 2.0 * x, [lambda m, g, out, x: np.array([2.0]) * g])
    assert _same_tables() == before


def test_on_values_a_rule_may_return_a_value_or_a_float_only(registered):
    def dtwice(m, g, out, x):
        if isinstance(g, Value) and x.data < 0.0:
            return complex(g.data)  # on Values, at x < 0 only
        return m.where(m.gt(x, 0.0), g * 2.0, 2.0)  # a Value or, for x <= 0, the float 2.0

    registered("twice", lambda m, x: 2.0 * x, [dtwice])
    assert grad(grad(lambda x: x.twice() * x))(1.0) == 4.0  # Values and floats: accepted
    assert grad(lambda x: x.twice())(-1.0) == 2.0
    with pytest.raises(TypeError, match=r"returned complex .*on Values \(higher order\)"):
        grad(grad(lambda x: x.twice() * x))(-1.0)


def test_on_the_tape_arrays_are_accepted_and_complex_ones_refused(registered):
    # On the tape a rule's first result is checked (each later one is NumPy's to cast).
    registered("twice", lambda m, x: 2.0 * x, [lambda m, g, out, x: g * 2.0])
    w = Value(0.5)
    tape = tapegrad.compile(lambda x: (x * w).twice(), 1.0)
    tape.backward(np.array([1.0, 2.0]), reduction="sum")
    assert w.grad == 6.0
    unregister_op("twice")

    def dtwice(m, g, out, x):
        return (g * 2.0).astype(complex) if isinstance(g, np.ndarray) else g * 2.0

    registered("twice", lambda m, x: 2.0 * x, [dtwice])
    tape = tapegrad.compile(lambda x: (x * w).twice(), 1.0)
    with pytest.raises(
        TypeError, match=r"vjps\[0\], returned ndarray of complex128 .*real numbers"
    ):
        tape.backward(np.array([1.0, 2.0]), reduction="sum")
    assert w.grad == 6.0


def test_a_closure_leaving_no_float_in_a_grad_is_named():
    x = Value(2.0)
    y = Value(4.0, (x,), "sq", label="y")

    def _backward():
        x.grad += np.array([2.0 * x.data]) * y.grad

    y._backward = _backward
    x.grad = 0.5
    with pytest.raises(TypeError, match=r"closure of 'y' \(its _op 'sq'\) left ndarray .*child 0"):
        (y * 1.0).backward()
    assert x.grad == 0.5
    y._backward = lambda: setattr(x, "grad", x.grad + np.float64(4.0) * y.grad)
    y.backward()
    assert (x.grad, type(x.grad)) == (4.5, float)


def test_a_registered_op_whose_rule_blocks_stalls_no_unrelated_backward(registered):
    entered, release = threading.Event(), threading.Event()

    def dslow(m, g, out, x):
        if getattr(x, "data", x) == -7.0:  # only where the test asks (not at the trial points)
            entered.set()
            assert release.wait(10.0)
        return g * 3.0

    registered("slow3", lambda m, x: 3.0 * x, [dslow])
    w1, w2 = Value(-7.0), Value(2.0)
    a = threading.Thread(target=lambda: w1.slow3().backward(), daemon=True)
    a.start()
    try:
        assert entered.wait(10.0)
        b = threading.Thread(target=lambda: w2.slow3().backward(), daemon=True)
        b.start()
        b.join(10.0)
        assert not b.is_alive() and w2.grad == 3.0 and w1.grad == 0.0
    finally:
        release.set()
        a.join(10.0)
    assert w1.grad == 3.0
