"""`register_op`: an op of your own added to the table from user code (in the spirit of HIPS
autograd's `defvjp` and JAX's `custom_vjp`), with a Value method of its own (`x.cube()`) where the
built-ins have theirs in `engine.py`.

A registered op is one `ops.Op` record, exactly as the built-in ones are, so it runs eagerly in
`backward()`, on Values in `backward(create_graph=True)` and `grad(grad(f))`, under `gradcheck`
(which names it when its rule is wrong) and `detect_anomaly`, and in the compiled tape. Nothing
about it is re-derived anywhere. Registering is all or nothing: everything is checked first
(names free, one rule per argument, rules callable with the right arguments and running on
floats and on Values), then the op is installed in every place at once.

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

import inspect
import keyword
from collections.abc import Callable, Sequence

from . import floatmath as fm
from . import ops
from . import valuemath as vm
from .coerce import is_real
from .engine import Value, apply, as_value, no_grad

COMMON = (
    "abs cos div eq exp ge gt log lt maximum minimum pow relu sigmoid sign sin sqrt tanh where"
).split()
"""The functions every math namespace offers: all a rule may call on `m` (a test checks)."""

_DEFAULT = ops._NAME  # "the op's name", as Op's own default
_TRIAL = (0.5, 0.25, 0.75, 1.5)  # where a new op's rules are tried once, on floats and Values
_USER: dict[str, ops.Op] = {}  # the ops registered from user code, by name


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

    Returns:
      The new `ops.Op`. Raises ValueError or TypeError, changing nothing, if any part is wrong.
    """
    symbol = name if symbol is None else symbol
    method = name if method is _DEFAULT else method
    function = name if function is _DEFAULT else function
    vjps = _check(name, fwd, vjps, symbol, method, function, expression)
    op = ops.Op(name, symbol, fwd, vjps, method=method, function=function)
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
        if taken(value) or value.startswith("_"):
            raise ValueError(f"{where}: {field} name {value!r} is taken: pick another")
    if method is not None and arity > 2:
        raise ValueError(
            f"{where}: Value methods are made for one- and two-argument ops; this one takes "
            f"{arity}: pass method=None and call tapegrad.valuemath.{function or name}(...)"
        )
    if expression and (method is None or function is None):
        raise ValueError(f"{where}: expression=True needs a method and a function name")


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


def _try_rules(op: ops.Op) -> None:
    """Run the rules once on floats and once on Values, so a rule that calls something a
    namespace lacks (or returns no number) is refused now rather than in the middle of
    training."""
    args = list(_TRIAL[: op.arity])
    out = _run(op, "fwd", op.fwd, fm, *args)
    if not is_real(out):
        raise TypeError(
            f"register_op({op.name!r}, ...): fwd returned {type(out).__name__}, not a number, "
            f"at {tuple(args)}"
        )
    with no_grad():  # on Values too: backward(create_graph=True) runs the rules on them
        values = [Value(a) for a in args]
        for m, xs, g, o in ((fm, args, 1.0, out), (vm, values, Value(1.0), Value(out))):
            for i, rule in enumerate(op.vjps):
                _run(op, f"vjps[{i}]", rule, m, g, o, *xs)


def _run(op: ops.Op, what: str, rule, m, *args):
    try:
        return rule(m, *args)
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
