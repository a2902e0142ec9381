"""`textmath`: the namespace whose values are text. Each op's rules, run on it, write the rule
out: checked against strings read off `ops.py`, and by reading the text back as Python over
`floatmath`, which must give the rule's own number."""

from __future__ import annotations

from types import ModuleType

import pytest

from tapegrad import floatmath as fm
from tapegrad import ops, textmath
from tapegrad.textmath import Text, formula, symbol

FLOAT_NAMES = {
    name: value
    for name, value in vars(fm).items()
    if not name.startswith("_") and not isinstance(value, ModuleType)  # not `math` itself
}
POINT = (0.3, 0.7, 1.1, 0.45, 1.7)  # inside every op's domain, no ties


def test_it_offers_every_name_floatmath_offers():
    missing = sorted(name for name in FLOAT_NAMES if not hasattr(textmath, name))
    assert not missing, f"add {missing} to tapegrad/textmath.py: a rule may call them on m"


def test_the_builtin_rules_read_as_written_in_ops_py():
    # Written by reading ops.py's rules, not copied from the output.
    assert formula(ops.MUL) == ("a * b", ("g * b", "g * a"))
    assert formula(ops.ADD) == ("a + b", ("g", "g"))
    assert formula(ops.DIV) == ("a / b", ("g / b", "-g * (out / b)"))  # torch's form: no b * b
    assert formula(ops.TANH) == ("tanh(x)", ("g * (1 - out * out)",))
    assert formula(ops.SIGMOID) == ("sigmoid(x)", ("g * out * (1 - out)",))
    assert formula(ops.SQRT) == ("sqrt(x)", ("g / (2 * out)",))
    assert formula(ops.LOG) == ("log(x)", ("g / x",))
    assert formula(ops.COS) == ("cos(x)", ("-(g * sin(x))",))
    assert formula(ops.ABS) == ("abs(x)", ("g * sign(x)",))
    assert formula(ops.RELU) == ("relu(x)", ("(0 if 0 >= x else g)",))
    assert formula(ops.POW).grads[0] == "(0 if p == 0 else g * (p * x ** (p - 1)))"
    assert formula(ops.MAX).grads[0] == "(0 if a < b else (0.5 * g if a == b else g))"
    assert formula(ops.LOGADDEXP).grads == ("g / (1 + exp(b - a))", "g / (1 + exp(a - b))")
    assert formula(ops.CLAMP).forward == "minimum(maximum(x, lo), hi)"
    assert formula(ops.AFFINE, ["w", "x", "b"]) == ("b + w * x", ("g * x", "g * w", "g * 1"))
    assert formula(ops.SUM, ["a", "b", "c"]) == ("a + b + c", ("g * 1",) * 3)
    with pytest.raises(TypeError, match="any number of arguments: pass their names"):
        formula(ops.SUM)


def _read(text: str) -> float:
    return eval(text, {"__builtins__": {}}, FLOAT_NAMES)  # noqa: S307 - text made by the test


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_the_text_computes_what_the_rule_computes(name):
    """Every rule's text, with numbers for its names, read as Python over floatmath, gives
    the number the rule gives on floats: parentheses and order exactly as the rule's."""
    op = ops.OPS[name]
    args = list(POINT[: op.arity or 5])
    out = op.fwd(fm, *args)
    g = -1.3
    expected = op.vjp(fm, g, out, *args) if op.vjp else [r(fm, g, out, *args) for r in op.vjps]
    text = formula(op, [repr(a) for a in args], repr(out), repr(g))
    assert _read(text.forward) == pytest.approx(out, rel=1e-15)
    assert [_read(t) for t in text.grads] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda m, a, b, c: a - (b + c), "a - (b + c)"),  # float addition is not associative
        (lambda m, a, b, c: (a - b) - c, "a - b - c"),
        (lambda m, a, b, c: a + b * c, "a + b * c"),
        (lambda m, a, b, c: (a + b) * c, "(a + b) * c"),
        (lambda m, a, b, c: a * (b * c), "a * (b * c)"),
        (lambda m, a, b, c: -(a * b), "-(a * b)"),
        (lambda m, a, b, c: -a * b, "-a * b"),
        (lambda m, a, b, c: -(-a + b), "-(-a + b)"),
        (lambda m, a, b, c: a * -b, "a * (-b)"),
        (lambda m, a, b, c: m.pow(-b, 2.0), "(-b) ** 2"),
        (lambda m, a, b, c: m.pow(c, a - 1.0), "c ** (a - 1)"),
        (lambda m, a, b, c: -m.pow(b, 2.0), "-(b ** 2)"),
        (lambda m, a, b, c: m.div(a, b * c), "a / (b * c)"),
        (lambda m, a, b, c: m.div(a * b, c), "a * b / c"),
        (lambda m, a, b, c: m.exp(-m.abs(a - b)), "exp(-abs(a - b))"),
        (lambda m, a, b, c: m.where(m.ge(a, 0.0), a, 0.5 * b), "(a if a >= 0 else 0.5 * b)"),
        (lambda m, a, b, c: c * m.where(m.lt(a, b), 1.0, -1.0), "c * (1 if a < b else -1)"),
        (lambda m, a, b, c: m.eq(a + b, -c), "a + b == -c"),
        (lambda m, a, b, c: 2.0 * a + 0.25 - m.maximum(b, c), "2 * a + 0.25 - maximum(b, c)"),
    ],
)
def test_parentheses_where_python_needs_them(build, text):
    assert str(build(textmath, *map(symbol, "abc"))) == text
    values = {"a": 0.3, "b": -1.25, "c": 2.5}
    read = eval(text, {"__builtins__": {}}, {**FLOAT_NAMES, **values})  # noqa: S307
    assert read == build(fm, *values.values())


def test_numbers_and_names():
    assert [str(textmath.number(x)) for x in (1.0, -2.0, 0.5, -0.0, 0.0, 1e20, float("inf"))] == [
        "1", "-2", "0.5", "-0.0", "0", "1e+20", "inf",
    ]  # fmt: skip
    assert str(textmath.number(float("nan"))) == "nan"
    assert [symbol(s).prec for s in ("x1.data", "#1.grad", "3.0000", "1e-05")] == [
        textmath.ATOM
    ] * 4
    assert symbol("-3.0000").prec == textmath.UNARY
    assert str(-symbol("-3.0000")) == "-(-3.0000)" and str(-symbol("x")) == "-x"
    assert str(symbol("a+b") * 2.0) == "(a+b) * 2"


def test_a_rule_that_branches_in_python_is_told_how_to_write_it():
    with pytest.raises(TypeError, match=r"m\.where\(m\.gt\(a, b\)"):
        formula(ops.Op("step", "step?", lambda m, x: x if x else 0.0, (lambda m, g, out, x: g,)))
    assert repr(Text("x")) == "Text('x')"
