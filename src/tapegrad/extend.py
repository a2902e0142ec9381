"""`register_op`: an op of your own added to the table from user code (in the spirit of HIPS
autograd's `defvjp` and JAX's `custom_vjp`), with a Value method of its own (`x.cube()`) where the
built-ins have theirs in `engine.py`.

A registered op is one `ops.Op` record, exactly as the built-in ones are, so it runs eagerly in
`backward()`, on Values in `backward(create_graph=True)` and `grad(grad(f))`, under `gradcheck`
(which names it when its rule is wrong) and `detect_anomaly`, and in the compiled tape. Nothing
about it is re-derived anywhere. Registering is all or nothing: everything is checked first
(names free and none the namespaces use, one rule per argument, rules callable with the right
arguments and running on floats and on Values), then the op is installed in every place at once.
Its rules are stored wrapped (`_checked`), so what they return is checked as they run: a user's
op pays one more Python call per rule, the built-ins nothing.

Rules may use only the arithmetic operators `+ - *` and what every math namespace offers
(`COMMON`: floatmath for eager, valuemath for higher order, numpymath for the tape):

    >>> import tapegrad
    >>> cube = tapegrad.register_op(
    ...     "cube", lambda m, x: x * x * x, [lambda m, g, out, x: g * (3.0 * x * x)]
    ... )
    >>> x = tapegrad.Value(2.0)
    >>> y = x.cube()
    >>> y.backward()
    >>> x.grad
    12.0
    >>> tapegrad.grad(tapegrad.grad(lambda x: x.cube()))(2.0)  # 6 x
    12.0
    >>> tapegrad.unregister_op("cube")
"""

from __future__ import annotations

import builtins
import functools
import inspect
import keyword
from collections.abc import Callable, Sequence
from typing import Any

from . import floatmath as fm
from . import ops
from . import valuemath as vm
from .coerce import as_float, is_real
from .engine import Value, apply, as_value, no_grad

COMMON = (
    "abs cos div eq exp ge gt log lt maximum minimum pow relu sigmoid sign sin sqrt tanh where"
    " stack each largest total"  # a vector of arguments (see floatmath)
).split()
"""The functions every math namespace offers: all a rule may call on `m` (a test checks)."""

_DEFAULT = ops._NAME  # "the op's name", as Op's own default
_TRIAL = (0.5, 0.25, 0.75, 1.5)  # where a new op's rules are tried once, on floats and Values
_USER: dict[str, ops.Op] = {}  # the ops registered from user code, by name
_MATH = frozenset(n for n in vars(fm) if not n.startswith("_"))  # what `m` offers, tape's too
_ASKED_OF_VALUES = ("parameters",)  # asked by duck typing (`optim`, `losses.l2`: a model?)


def register_op(
    name: str,
    fwd: Callable,
    vjps: Sequence[Callable],
    *,
    symbol: str | None = None,
    method: str | None = _DEFAULT,
    function: str | None = _DEFAULT,
    expression: bool = False,
) -> ops.Op:
    """Add a primitive to the op table, so every mode of tapegrad differentiates it.

    Args:
      name: the op's name in `tapegrad.ops.OPS` (a Python identifier, not taken).
      fwd: the forward rule, `fwd(m, *args)`: the output from the inputs.
      vjps: one vector-Jacobian rule per argument, `vjps[i](m, g, out, *args)`: the gradient
        flowing into argument i from the output's gradient `g` (and the output `out`).
      symbol: what `Value._op` shows for its nodes (default: `name`); must be unique.
      method: the Value method applying it (`x.cube()`; default `name`, None for none). One-
        and two-argument ops only.
      function: its name in `tapegrad.valuemath` (default `name`, None for none).
      expression: check that it is offered in the command line's expression language
        (`tapegrad grad "cube(x)"`), which reads every op with a method from the table, under
        `method`: True needs a method and a function name.

    Rules get the math namespace `m` first and may use only `+ - *` and the functions in
    `COMMON` (`m.exp`, `m.div`, `m.where`, ...), never Python `if` on values.

    Refused: a method or function name that is taken, starts with `_`, or that the namespaces
    use (a Python builtin such as `isinstance` or `len`, which valuemath's own code calls; a
    name every `m` offers, such as `log1p`; the method `parameters`).
    Checked at every call on floats and on Values (on the tape: its first result): what the
    rules return. A float (on Values, a Value or a float; on the tape, a real array) passes,
    another real number (an int) becomes a float, anything else (complex, an array where a
    float belongs, a str, None) is a `RuleResultError` naming the op and the rule.

    Returns:
      The new `ops.Op`. Raises ValueError or TypeError, changing nothing, if any part is wrong.
    """
    symbol = name if symbol is None else symbol
    method = name if method is _DEFAULT else method
    function = name if function is _DEFAULT else function
    vjps = _check(name, fwd, vjps, symbol, method, function, expression)
    rules = [_checked(name, "the forward rule fwd", fwd)]
    rules += [
        _checked(name, f"the VJP rule for input {i}, vjps[{i}],", r) for i, r in enumerate(vjps)
    ]
    op = ops.Op(name, symbol, rules[0], tuple(rules[1:]), method=method, function=function)
    _try_rules(op)
    _install(op)
    return op


def unregister_op(name: str) -> None:
    """Remove an op added by `register_op` from every place it was installed."""
    op = _USER.pop(name, None)
    if op is None:
        why = "a built-in op" if name in ops.OPS else "not a registered op"
        raise ValueError(f"cannot unregister {name!r}: it is {why}")
    ops.unregister(name)
    vm.uninstall(op)
    if op.method:
        delattr(Value, op.method)


def _check(name, fwd, vjps, symbol, method, function, expression) -> tuple:
    """Every argument of register_op checked; the VJP rules as a tuple."""
    where = f"register_op({name!r}, ...)"
    _check_table_names(where, name, symbol)
    if callable(vjps) or isinstance(vjps, str) or not isinstance(vjps, Sequence) or not vjps:
        raise TypeError(
            f"{where}: vjps must be a list with one rule per argument (for one argument: "
            f"[rule]), got {type(vjps).__name__}"
        )
    vjps = tuple(vjps)
    arity = len(vjps)
    _check_rule(where, "fwd", fwd, ["m", *_names(arity)])
    for i, rule in enumerate(vjps):
        _check_rule(where, f"vjps[{i}]", rule, ["m", "g", "out", *_names(arity)])
    _check_user_names(where, name, arity, method, function, expression)
    return vjps


def _check_table_names(where: str, name, symbol) -> None:
    """The op's name and symbol: well formed and free in the table."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"register_op: the name must be a Python identifier, got {name!r}")
    if name in ops.OPS:
        raise ValueError(f"{where}: an op named {name!r} is already in the table")
    if not isinstance(symbol, str) or not symbol:
        raise ValueError(f"{where}: symbol must be a non-empty str, got {symbol!r}")
    if symbol in ops.BY_SYMBOL:
        taken = ops.BY_SYMBOL[symbol].name
        raise ValueError(f"{where}: symbol {symbol!r} is already op {taken!r}'s: pick another")


def _check_user_names(where: str, name, arity: int, method, function, expression) -> None:
    """Where users reach the op (method, valuemath function): free. The expression language
    reads its functions from the op table, so its names are the methods' names."""
    for field, value, taken in (
        ("method", method, lambda n: hasattr(Value, n)),
        ("function", function, lambda n: hasattr(vm, n)),
    ):
        if value is None:
            continue
        if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
            raise ValueError(f"{where}: {field} must be an identifier or None, got {value!r}")
        if taken(value):
            raise ValueError(f"{where}: {field} name {value!r} is taken: pick another")
        why = _reserved(field, value)
        if why:
            raise ValueError(f"{where}: {field} name {value!r} is refused: {why}: pick another")
    if method is not None and arity > 2:
        raise ValueError(
            f"{where}: Value methods are made for one- and two-argument ops; this one takes "
            f"{arity}: pass method=None and call tapegrad.valuemath.{function or name}(...)"
        )
    if expression and (method is None or function is None):
        raise ValueError(f"{where}: expression=True needs a method and a function name")


def _reserved(field: str, value: str) -> str:
    """Why `value` may not be installed as a Value method (`field` "method") or a valuemath
    function ("function"), or "" if it may. The one check of installed names: the table's
    own ops are entered by `ops.register` and `valuemath.install` without it."""
    if value.startswith("_"):
        return "names starting with '_' are Python's (dunders such as __len__) or private"
    if field == "method":
        if value in _ASKED_OF_VALUES:
            return "tapegrad asks objects for it to tell a model from a list of Values"
        return ""
    if hasattr(builtins, value):  # installed in valuemath, it would shadow the builtin there
        return (
            "it is a Python builtin that tapegrad.valuemath's own code calls, so installing "
            "an op over it breaks tapegrad.sum, tapegrad.dot and every op function"
        )
    if value in _MATH:
        return f"every math namespace offers m.{value}, which rules rely on meaning one thing"
    return ""


def _names(arity: int) -> list[str]:
    return [f"x{i}" for i in range(arity)]


def _check_rule(where: str, what: str, rule, params: list[str]) -> None:
    if not callable(rule):
        raise TypeError(f"{where}: {what} must be callable, got {type(rule).__name__}")
    try:
        inspect.signature(rule).bind(*params)
    except ValueError:  # a builtin without a signature: its trial run will tell
        return
    except TypeError:
        raise TypeError(
            f"{where}: {what} must take ({', '.join(params)}): it is {rule!r:.80}"
        ) from None


class RuleResultError(TypeError):
    """A registered op's rule returned what no mode can use (a complex number, an array where
    a float belongs, a string, None)."""


def _checked(name: str, what: str, rule: Callable) -> Callable:
    """`rule` with its result checked at every call on floats and on Values, where a float
    (on Values, a Value too) is all that fits: other real numbers (an int, a NumPy float)
    become floats, as `Value(3)` does, and anything else is a `RuleResultError` naming the op
    and the rule. On another namespace (the tape's NumPy, textmath) only its first result is
    checked. The built-in ops are not wrapped: their rules pay nothing."""
    seen: set[int] = set()  # the other namespaces whose first result passed, by id

    @functools.wraps(rule)
    def run(m, *args):
        out = rule(m, *args)
        if type(out) is float:  # eager's every result, and most on Values: nothing to do
            return out
        return _result(name, what, m, out, args, seen)

    return run


def _result(name: str, what: str, m, out, args: tuple, seen: set[int]) -> Any:
    """A rule's result that is not a float: converted, let through, or refused."""
    if m is vm and isinstance(out, Value):
        return out
    if m is fm or m is vm:
        if is_real(out):
            return as_float(out)
        wanted = "a float" if m is fm else "a Value or a float"
    elif id(m) in seen:
        return out
    else:
        kind = getattr(getattr(out, "dtype", None), "kind", "f")  # NumPy's kind of number
        if not (out is None or isinstance(out, complex | str | bytes) or kind in "cOSUV"):
            seen.add(id(m))
            return out
        wanted = "an array of real numbers or a float"
    mode = (
        "floats (eager)"
        if m is fm
        else "Values (higher order)"
        if m is vm
        else getattr(m, "__name__", "the compiled tape's arrays")
    )
    shown = [a.data if isinstance(a, Value) else a for a in args]
    at = f"g={shown[0]}, out={shown[1]}, inputs {shown[2:]}" if "VJP" in what else f"{shown}"
    dtype = getattr(out, "dtype", None)
    kind = type(out).__name__ + (f" of {dtype}" if dtype is not None else "")
    raise RuleResultError(
        f"op {name!r}: {what} returned {kind} ({out!r:.60}) when run on {mode} at {at:.200}; "
        f"it must return {wanted}"
    )


def _try_rules(op: ops.Op) -> None:
    """Run the rules once on floats and once on Values, so a rule that calls something a
    namespace lacks (or returns what no mode can use) is refused now rather than in the middle
    of training."""
    args = list(_TRIAL[: op.arity])
    out = _run(op, "fwd", op.fwd, fm, *args)  # a float: the rules' results are checked
    with no_grad():  # on Values too: backward(create_graph=True) runs the rules on them
        values = [Value(a) for a in args]
        for m, xs, g, o in ((fm, args, 1.0, out), (vm, values, Value(1.0), Value(out))):
            for i, rule in enumerate(op.vjps):
                _run(op, f"vjps[{i}]", rule, m, g, o, *xs)


def _run(op: ops.Op, what: str, rule, m, *args):
    try:
        return rule(m, *args)
    except RuleResultError:
        raise
    except Exception as err:
        raise ValueError(
            f"register_op({op.name!r}, ...): {what} failed when tried on {m.__name__}: "
            f"{type(err).__name__}: {err}. Rules may use only + - * and m.{', m.'.join(COMMON)}"
        ) from err


def _install(op: ops.Op) -> None:
    ops.register(op)  # the path the built-ins take too
    vm.install(op)
    _USER[op.name] = op
    if op.method:  # the built-ins have theirs written in Value
        setattr(Value, op.method, _method(op))


def _method(op: ops.Op) -> Callable:
    """`x.cube()`, `x.f(y)`: a Value method applying a one- or two-argument user op to this
    Value (and the other, which may be a number)."""

    def unary(self: Value) -> Value:
        return apply(op, self)

    def binary(self: Value, other: Value | float) -> Value:
        return apply(op, self, as_value(other))

    method: Callable = unary if op.arity == 1 else binary
    method.__name__ = op.method or op.name
    method.__qualname__ = f"Value.{method.__name__}"
    method.__doc__ = f"The `{op.name}` op; its rules are `tapegrad.ops.OPS[{op.name!r}]`."
    return method
