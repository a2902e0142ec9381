"""A safe parser for the command line's expressions, such as "tanh(x1*w1 + x2*w2 + b)".

The text is parsed by Python's `ast` and checked against a whitelist: numbers, variable
names, `+ - * / **`, unary minus and plus, parentheses and calls to tapegrad's op functions
by name. Everything else is rejected before anything runs, with the offending part marked.
The accepted tree is compiled to a postfix program over Values, so nothing is ever `eval`ed
and every number stays a float (a literal exponent like `2 ** 10**10` gives inf at once).
"""

from __future__ import annotations

import ast
import io
import operator
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from . import ops
from . import valuemath as vm
from .engine import Constant, Value

MAX_LENGTH = 10_000
"""The longest expression accepted, in characters."""

MAX_OPERATORS = 1_000
"""The most operator tokens (`+ - * / **`, signs, commas, opening parentheses) allowed."""

MAX_NESTING = 100
"""The deepest parentheses may nest (a function call's count too)."""

COMPOSITES: dict[str, tuple[Callable, int, int]] = {"softplus": (vm.softplus, 1, 1)}
"""The functions with no op of their own (composed from ops): name -> (function, fewest
arguments, most arguments)."""

OPTIONAL: dict[str, int] = {"clamp": 1}
"""How many trailing arguments an op's function may be called without: `clamp(x, lo)` leaves
`hi` unbounded (`valuemath.clamp` makes a missing bound infinite)."""


class _Functions(Mapping):
    """name -> (function, fewest arguments, most arguments): every op in `ops.OPS` with a
    method name, under that name, calling its `valuemath` function (or the Value method if it
    has none); then `COMPOSITES`. Read from the table at each use, so an op added with
    `tapegrad.register_op` is a function of the language at once, and gone when removed."""

    def table(self) -> dict[str, tuple[Callable, int, int]]:
        table = {}
        for op in list(ops.OPS.values()):
            if op.method is None or op.arity is None:  # operators (+ * **), variadic ops
                continue
            fn = getattr(vm, op.function, None) if op.function else getattr(Value, op.method, None)
            if fn is not None:  # None only while register_op installs or removes it
                table[op.method] = (fn, op.arity - OPTIONAL.get(op.method, 0), op.arity)
        for name, entry in COMPOSITES.items():
            table.setdefault(name, entry)
        return table

    def __getitem__(self, name: str) -> tuple[Callable, int, int]:
        return self.table()[name]

    def __iter__(self):
        return iter(self.table())

    def __len__(self) -> int:
        return len(self.table())

    def __repr__(self) -> str:
        return f"FUNCTIONS({self.table()!r})"


FUNCTIONS = _Functions()
"""The expression language's functions, live from the op table (see `_Functions`)."""

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_OPERATOR_TEXT = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
}
_FORBIDDEN = {
    ast.Attribute: "attribute access is",
    ast.Subscript: "subscripts are",
    ast.Slice: "slices are",
    ast.Lambda: "lambdas are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "generator expressions are",
    ast.List: "lists are",
    ast.Tuple: "tuples are",
    ast.Set: "sets are",
    ast.Dict: "dicts are",
    ast.Compare: "comparisons are",
    ast.BoolOp: "'and' / 'or' are",
    ast.IfExp: "conditional expressions are",
    ast.NamedExpr: "assignments (:=) are",
    ast.JoinedStr: "strings are",
    ast.Starred: "* unpacking is",
    ast.Await: "await is",
}


def allowed(functions: Mapping | None = None) -> str:
    """What an expression may contain, in words."""
    names = sorted(FUNCTIONS if functions is None else functions)
    return (
        "numbers, variables, + - * / **, unary - and +, parentheses and the functions "
        + ", ".join(names)
    )


def __getattr__(name: str) -> str:
    if name == "ALLOWED":  # the words of `allowed()`, as the op table has them now
        return allowed()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ExprError(ValueError):
    """An expression that cannot be parsed or evaluated; `str()` marks the offending part."""

    def __init__(self, message: str, text: str, start: int, end: int | None = None) -> None:
        self.message, self.text = message, text
        self.start = max(0, min(start, len(text)))
        self.end = max(self.start + 1, end if end is not None else self.start + 1)
        super().__init__(self._render())

    def _render(self) -> str:
        shown, start, end = self.text, self.start, self.end
        if len(shown) > 120:  # show a window around the offending part
            lo = max(0, start - 50)
            shown = ("..." if lo else "") + shown[lo : lo + 110] + "..."
            start, end = start - lo + (3 if lo else 0), end - lo + (3 if lo else 0)
        caret = " " * start + "^" * max(1, min(end, len(shown)) - start)
        return f"{self.message}\n  {shown}\n  {caret}"


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its variables (in order of first use) and a postfix
    program that builds it from Values."""

    text: str
    variables: tuple[str, ...]
    _program: tuple
    _first_use: dict

    def evaluate(self, values: Mapping[str, float | Value]) -> Value:
        """Build the expression from `values` (numbers become Values labelled with their
        variable's name; Values are used as they are) and return the result."""
        for name in self.variables:
            if name not in values:
                start, end = self._first_use[name]
                raise ExprError(f"variable {name!r} has no value", self.text, start, end)
        leaves = {
            name: v if isinstance(v, Value) else Value(v, label=name)
            for name, v in values.items()
            if name in self._first_use
        }
        stack: list = []
        for kind, arg in self._program:
            if kind == "num":
                stack.append(Constant(arg))
            elif kind == "var":
                stack.append(leaves[arg])
            elif kind == "neg":
                stack.append(-stack.pop())
            else:  # a binary operator or a function of `kind` arguments
                args = stack[len(stack) - kind :]
                del stack[len(stack) - kind :]
                stack.append(arg(*args))
        (result,) = stack
        return result

    def __call__(self, **values: float | Value) -> Value:
        return self.evaluate(values)


def parse(text: str) -> Expression:
    """Parse `text` into an Expression, or raise ExprError pointing at what is not allowed."""
    if not isinstance(text, str):
        raise TypeError(f"an expression must be a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(
            f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}",
            text[:MAX_LENGTH],
            MAX_LENGTH - 1,
        )
    # One line, same offsets: newlines and tabs become spaces; leading blanks are skipped.
    flat = text.translate({ord("\n"): " ", ord("\r"): " ", ord("\t"): " "})
    indent = len(flat) - len(flat.lstrip(" "))
    if not flat.strip():
        raise ExprError("the expression is empty", flat, 0)
    _check_size(flat)
    try:
        tree = ast.parse(flat[indent:], mode="eval")
    except SyntaxError as err:
        start = indent + max((err.offset or 1) - 1, 0)
        raise ExprError(f"syntax error: {err.msg or 'invalid syntax'}", flat, start) from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise ExprError(f"cannot parse the expression: {err}", flat, 0) from None
    return _compile(tree.body, flat, indent)


def _check_size(text: str) -> None:
    """Refuse expressions past the project's own limits before Python's parser sees them, so
    what is accepted does not depend on the Python version's parser depth."""
    operators = depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.OP:
                continue
            if token.string == "(":
                depth += 1
                if depth > MAX_NESTING:
                    raise ExprError(
                        f"cannot parse the expression: nested parentheses deeper than "
                        f"{MAX_NESTING} (the limit)",
                        text,
                        token.start[1],
                    )
            elif token.string == ")":
                depth -= 1
            else:
                operators += 1
            if operators > MAX_OPERATORS:
                raise ExprError(
                    f"cannot parse the expression: more than {MAX_OPERATORS} operators and "
                    f"parentheses (the limit)",
                    text,
                    token.start[1],
                )
    except (tokenize.TokenError, SyntaxError):
        return  # unbalanced or malformed: Python's parser gives the precise syntax error


def _compile(body: ast.expr, text: str, indent: int) -> Expression:
    """Check every node against the whitelist and emit a postfix program (iteratively, so a
    long chain like 1+1+...+1 needs no recursion)."""
    return _Compiler(text, indent).run(body)


class _Compiler:
    """One pass over an expression's syntax tree: each allowed node appends its postfix
    instruction to `program` after its operands; any other node is an ExprError."""

    def __init__(self, text: str, indent: int) -> None:
        self.text, self.indent = text, indent
        self.functions = FUNCTIONS.table()  # one reading of the op table for the whole parse
        self.line = text[indent:].encode("utf-8")
        self.program: list = []
        self.variables: list[str] = []
        self.first_use: dict[str, tuple[int, int]] = {}
        # (node, expanded?): a node is emitted after its operands, which are pushed above it.
        self.stack: list[tuple[ast.expr, bool]] = []

    def run(self, body: ast.expr) -> Expression:
        visit: dict[type, Callable[[Any, bool], None]] = {
            ast.Constant: self.constant,
            ast.Name: self.name,
            ast.UnaryOp: self.unary,
            ast.BinOp: self.binary,
            ast.Call: self.call,
        }
        self.stack.append((body, False))
        while self.stack:
            node, expanded = self.stack.pop()
            method = visit.get(type(node))
            if method is None:
                what = _FORBIDDEN.get(type(node), f"{type(node).__name__} expressions are")
                raise self.reject(node, what)
            method(node, expanded)
        return Expression(self.text, tuple(self.variables), tuple(self.program), self.first_use)

    def span(self, node: ast.expr) -> tuple[int, int]:
        # ast offsets count UTF-8 bytes; the caret counts characters.
        def chars(b: int) -> int:
            return len(self.line[:b].decode("utf-8", errors="ignore"))

        start = chars(node.col_offset)
        end = chars(node.end_col_offset) if node.end_col_offset is not None else start + 1
        return self.indent + start, self.indent + end

    def reject(self, node: ast.expr, what: str) -> ExprError:
        start, end = self.span(node)
        return ExprError(
            f"{what} not allowed: use only {allowed(self.functions)}", self.text, start, end
        )

    def constant(self, node: ast.Constant, expanded: bool) -> None:
        self.program.append(("num", _number(node, self.text, self.span, self.reject)))

    def name(self, node: ast.Name, expanded: bool) -> None:
        _check_spelling(node, self.text, self.span)
        if node.id in self.functions:
            start, end = self.span(node)
            raise ExprError(
                f"{node.id} is a function: call it, as in {node.id}(x)", self.text, start, end
            )
        if node.id not in self.first_use:
            self.first_use[node.id] = self.span(node)
            self.variables.append(node.id)
        self.program.append(("var", node.id))

    def unary(self, node: ast.UnaryOp, expanded: bool) -> None:
        if type(node.op) not in (ast.USub, ast.UAdd):
            raise self.reject(node, f"the operator '{_OPERATOR_TEXT.get(type(node.op), '?')}' is")
        negate = isinstance(node.op, ast.USub)
        if expanded:
            if negate:
                self.program.append(("neg", None))
        elif negate and _is_number(node.operand):
            self.program.append(("num", -_number(node.operand, self.text, self.span, self.reject)))
        else:
            self.stack += [(node, True), (node.operand, False)]

    def binary(self, node: ast.BinOp, expanded: bool) -> None:
        fn = _BINARY.get(type(node.op))
        if fn is None:
            raise self.reject(node, f"the operator '{_OPERATOR_TEXT.get(type(node.op), '?')}' is")
        if expanded:
            self.program.append((2, fn))
        else:
            self.stack += [(node, True), (node.right, False), (node.left, False)]

    def call(self, node: ast.Call, expanded: bool) -> None:
        fn = _check_call(node, self.text, self.span, self.reject, self.functions)
        if expanded:
            self.program.append((len(node.args), fn))
        else:
            self.stack.append((node, True))
            self.stack += [(arg, False) for arg in reversed(node.args)]


def _check_spelling(node: ast.Name, text: str, span) -> None:
    """Refuse a name Python's parser normalised (NFKC): fullwidth `ｘ` would silently be the
    same variable as `x`, and `ﬁ` the same as `fi`."""
    start, end = span(node)
    written = text[start:end]
    if written != node.id:
        raise ExprError(
            f"the name {written!r} is read by Python as {node.id!r} (Unicode NFKC "
            f"normalisation), so it would be the same name as {node.id!r}: write {node.id!r}",
            text,
            start,
            end,
        )


def _is_number(node: ast.expr) -> TypeGuard[ast.Constant]:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _number(node: ast.Constant, text: str, span, reject) -> float:
    value = node.value
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:  # a huge hexadecimal literal: as a float, infinite
            return float("inf")
    if isinstance(value, (str, bytes)):
        raise reject(node, "strings are")
    if isinstance(value, complex):
        raise reject(node, "complex numbers are")
    raise reject(node, f"{value!r} is")


def _check_call(node: ast.Call, text: str, span, reject, functions: Mapping) -> Callable:
    if not isinstance(node.func, ast.Name):
        raise reject(node.func, "calling anything but an op function by name is")
    _check_spelling(node.func, text, span)
    entry = functions.get(node.func.id)
    if entry is None:
        start, end = span(node.func)
        raise ExprError(
            f"unknown function {node.func.id!r}: the functions are " + ", ".join(sorted(functions)),
            text,
            start,
            end,
        )
    if node.keywords:
        raise reject(node.keywords[0], "keyword arguments are")
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise reject(arg, "* unpacking is")
    fn, least, most = entry
    if not least <= len(node.args) <= most:
        start, end = span(node)
        wanted = str(least) if least == most else f"{least} to {most}"
        raise ExprError(
            f"{node.func.id} takes {wanted} argument(s), got {len(node.args)}", text, start, end
        )
    return fn
