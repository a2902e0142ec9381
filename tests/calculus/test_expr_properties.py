"""The expression parser on random input: any text parses or is an ExprError, and random
trees over the grammar parse into exactly the Value graph Python's operators build. Property
tests: they need Hypothesis, and skip without it (see tests/references.py)."""

from references import require

from tapegrad import Constant, Value
from tapegrad import valuemath as vm
from tapegrad.expr import ExprError, parse

hypothesis = require("hypothesis")
st = require("hypothesis.strategies")
given = hypothesis.given

EXPR_ALPHABET = "xyw0123456789.e+-*/()[], _'=:<>%~@jlambdaexptanhmaxsqrt"


@given(st.one_of(st.text(max_size=40), st.text(alphabet=EXPR_ALPHABET, max_size=40)))
def test_any_text_parses_or_raises_expr_error(text):
    try:
        expr = parse(text)
    except ExprError as err:
        assert err.start <= len(err.text)
        return
    try:
        expr.evaluate(dict.fromkeys(expr.variables, 0.5))
    except ExprError:  # pragma: no cover - evaluation of a parsed text has no other errors
        raise AssertionError(text) from None


# Random trees over the grammar, printed fully parenthesised: parsing must rebuild exactly the
# Value graph Python's own operators build from the same tree.
_leaf = st.one_of(
    st.sampled_from(["x", "y"]),
    st.floats(min_value=0.25, max_value=4.0).map(lambda v: round(v, 3)),
)


def _extend(children):
    binary = st.tuples(st.sampled_from(["+", "-", "*", "/", "**"]), children, children)
    unary = st.tuples(st.sampled_from(["exp", "tanh", "sigmoid", "sin", "neg"]), children)
    pair = st.tuples(st.sampled_from(["max", "min", "logaddexp"]), children, children)
    return st.one_of(binary, unary, pair)


trees = st.recursive(_leaf, _extend, max_leaves=12)


def _text(tree):
    if not isinstance(tree, tuple):
        return str(tree)
    op, *args = tree
    if op == "neg":
        return f"(-{_text(args[0])})"
    if len(args) == 2 and op in "+-*/**":
        return f"({_text(args[0])} {op} {_text(args[1])})"
    return f"{op}({', '.join(_text(a) for a in args)})"


REF_FUNCS = {"exp": vm.exp, "tanh": vm.tanh, "sigmoid": vm.sigmoid, "sin": vm.sin}
REF_FUNCS |= {"max": vm.maximum, "min": vm.minimum, "logaddexp": vm.logaddexp}
REF_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}


def _build(tree, env):
    """The tree built directly with Python's operators, numbers as Constant leaves."""
    if isinstance(tree, str):
        return env[tree]
    if not isinstance(tree, tuple):
        return Constant(tree)
    op, *args = tree
    vals = [_build(a, env) for a in args]
    if op == "neg":
        return -vals[0]
    if op in REF_OPS:
        return REF_OPS[op](*vals)
    return REF_FUNCS[op](*vals)


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


@given(trees, st.floats(-3, 3), st.floats(-3, 3))
def test_parse_rebuilds_what_python_operators_build(tree, x, y):
    text = _text(tree)
    got = parse(text).evaluate({"x": x, "y": y})
    env = {"x": Value(x), "y": Value(y)}
    assert _same(got.data, _build(tree, env).data), text
