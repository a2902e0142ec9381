"""`tapegrad grad EXPR --at x=1.5 y=2`: an expression's value and every partial derivative,
each beside its central-difference estimate, so autograd can be checked by eye."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..check import ATOL, RTOL
from .common import NO, OK, add_expression_arguments, fail, positive_float

if TYPE_CHECKING:
    from ..engine import Value
    from ..expr import Expression


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `grad` command's parser to `sub`, with `run` as its handler."""
    p = sub.add_parser(
        "grad",
        help="print an expression's partial derivatives beside numerical estimates",
        description=(
            "Evaluate EXPR at the given point, backpropagate, and print each partial "
            "derivative next to its central-difference estimate. Exits with status 1 when "
            f"they disagree (beyond atol={ATOL}, rtol={RTOL}) or anything is nan or infinite."
        ),
        epilog='example: tapegrad grad "x**y + sin(x)" --at x=1.5 y=2',
    )
    add_expression_arguments(
        p, "--at", help="the point: a value for each variable (EXPR may come before or after)"
    )
    p.add_argument(
        "--eps",
        type=positive_float,
        default=1e-6,
        help="central-difference step, relative: x moves by eps * max(1, |x|) (default: 1e-6)",
    )
    p.add_argument(
        "--allow-nonfinite",
        action="store_true",
        help="count the same inf (or nan) on both sides as agreement, and a non-finite value "
        "as fine (default: any nan or inf fails)",
    )
    p.set_defaults(run=run)


def parse_assignments(items: list[str], option: str) -> dict[str, float]:
    """NAME=VALUE strings as a dict; ValueError naming the item that is wrong."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"{option} {item!r}: expected NAME=VALUE, as in x=1.5")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{option} {item!r}: {text!r} is not a number") from None
        if name in values:
            raise ValueError(f"{option}: {name} is given twice")
        values[name] = value
    return values


def build(
    command: str, text: str, items: list[str], option: str
) -> tuple[Expression, Value, dict[str, Value]] | int:
    """Parse `text`, check the assignments against its variables and evaluate it: (expression,
    result, {name: input Value}), or the exit status after printing the error."""
    from tapegrad.engine import Value
    from tapegrad.expr import ExprError, parse

    try:
        expression = parse(text)
        values = parse_assignments(items, option)
    except (ExprError, ValueError) as err:
        return fail(command, str(err))
    missing = [v for v in expression.variables if v not in values]
    if missing:
        hint = " ".join(f"{v}=..." for v in missing)
        try:
            expression.evaluate(values)  # raises, marking where the first one is used
        except ExprError as err:
            return fail(command, f"{err}\n  give it a value: {option} {hint}")
    unused = [v for v in values if v not in expression.variables]
    if unused:
        return fail(
            command,
            f"{option} {', '.join(unused)}: no such variable in the expression (it uses "
            f"{', '.join(expression.variables) or 'no variables'})",
        )
    inputs = {name: Value(values[name], label=name) for name in expression.variables}
    return expression, expression.evaluate(inputs), inputs


def relative_differences(f: Callable[..., Value], xs: list[float], eps: float) -> list[float]:
    """Each partial by a central difference stepping eps * max(1, |x|), not lost next to a big x."""
    from tapegrad.check import numerical_gradient

    steps = [eps * max(1.0, abs(x)) if math.isfinite(x) else eps for x in xs]
    return [numerical_gradient(f, *xs, h=h)[i] for i, h in enumerate(steps)]


def run(args: argparse.Namespace) -> int:
    """Print the value and each partial beside its central difference; NO if any disagree."""
    from tapegrad.check import agree

    built = build("grad", args.expr, args.assignments, "--at")
    if isinstance(built, int):
        return built
    expression, out, inputs = built
    names = expression.variables
    out.backward()
    point = ", ".join(f"{n}={inputs[n].data:g}" for n in names)
    print(f"{expression.text.strip()}" + (f"  at {point}" if point else ""))
    print(f"value = {out.data:.12g}")
    allow = args.allow_nonfinite
    value_ok = allow or math.isfinite(out.data)
    if not names:
        print("no variables: nothing to differentiate")
        return OK if value_ok else _nonfinite(["the value"])

    def f(*xs: float) -> Value:
        return expression.evaluate(dict(zip(names, xs, strict=True)))

    numeric = relative_differences(f, [inputs[n].data for n in names], args.eps)
    width = max(len(n) for n in names) + 4
    print(f"{'':<{width}} {'autograd':>20} {'central difference':>20} {'|difference|':>13}")
    bad: list[str] = []
    nonfinite = [] if value_ok else ["the value"]
    for name, estimate in zip(names, numeric, strict=True):
        auto = float(inputs[name].grad)
        finite = math.isfinite(auto) and math.isfinite(estimate)
        ok = agree(auto, estimate, allow_nonfinite=allow)
        status = "ok" if ok else "DIFFERS" if finite else "NOT-FINITE"
        if not ok:
            (bad if finite else nonfinite).append(name)
        print(
            f"{'d/d' + name:<{width}} {auto:>20.12g} {estimate:>20.12g} "
            f"{abs(auto - estimate):>13.3g}  {status}"
        )
    if bad:
        print(
            f"autograd and central differences disagree for {', '.join(bad)} (the function may "
            f"not be smooth here, or a derivative rule is wrong: see tapegrad.gradcheck)"
        )
    if nonfinite:
        _nonfinite(nonfinite)
    return NO if bad or nonfinite else OK


def _nonfinite(what: list[str]) -> int:
    print(
        f"not finite (nan or inf) for {', '.join(what)}: a nan or an infinity checks nothing, "
        "so it fails; pass --allow-nonfinite to accept the same inf, or nan, on both sides"
    )
    return NO
