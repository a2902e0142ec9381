"""`tapegrad explain EXPR --set x=2 ... -o page.html`: write a page that steps through the
forward and backward pass of an expression's graph (one self-contained HTML file). With
`--mistake NAME` the page steps through the right backward walk and a mistaken one side by
side (`tapegrad.mistakes`); `--mistake wrong-rule` takes the wrong rule from a small set of
classic ones (`--wrong-rule tanh-x`, ...: `mistakes.WRONG_RULES`), put into the graph as the
lecture's `_backward` closures."""

from __future__ import annotations

import argparse
import os

from tapegrad.mistakes import MISTAKES, WALKS, WRONG_RULES

from .common import OK, check_folder_for, fail
from .graph import add_expression_arguments, renderer_notes


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `explain` command's parser to `sub`, with `run` as its handler."""
    p = sub.add_parser(
        "explain",
        help="write a page that steps through an expression's forward and backward pass",
        description=(
            "Build EXPR from the values given with --set and write one HTML file (no network "
            "needed, opens from disk) that replays the engine's forward pass node by node, then "
            "backward() rule by rule, with every number on the picture of the graph."
        ),
        epilog='example: tapegrad explain "tanh(x1*w1 + x2*w2 + b)" --set x1=2 x2=0 w1=-3 '
        "w2=1 b=6.8813735870195432 -o neuron.html",
    )
    add_expression_arguments(p)
    p.add_argument(
        "--mistake",
        choices=tuple(MISTAKES),
        help="step through this classic backprop mistake beside the right walk (default: none, "
        "the right walk alone): " + "; ".join(f"{name}: {what}" for name, what in MISTAKES.items()),
    )
    p.add_argument(
        "--walk",
        choices=WALKS,
        help="with --mistake order: the walk (default bfs). An expression uses no value twice but "
        "its variables, so the order changes nothing there: build the graph in Python and call "
        "tapegrad.explain(root, mistake='order') to see it go wrong",
    )
    p.add_argument(
        "--wrong-rule",
        choices=tuple(WRONG_RULES),
        help="with --mistake wrong-rule: the wrong derivative to put in the graph (default: none, "
        "the graph's own rules): "
        + "; ".join(f"{name}: {what}" for name, (_, what) in WRONG_RULES.items()),
    )
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the page to write")
    p.add_argument("--force", action="store_true", help="replace the page if it exists")
    p.set_defaults(run=run)


def _check_output(path: str, force: bool) -> str | None:
    """Why the page cannot be written at `path`, found before any work is done."""
    if os.path.isdir(path):
        return (
            f"-o {path!r} is a folder; name a file in it, such as {os.path.join(path, 'page.html')}"
        )
    if os.path.lexists(path) and not force:
        return f"-o {path!r} exists; pass --force to replace it"
    return check_folder_for(os.path.dirname(path) or ".", "-o's folder")  # made if missing


def _check_mistake(args: argparse.Namespace) -> str | None:
    """Why the mistake options do not go together, found before any work is done."""
    if args.walk is not None and args.mistake != "order":
        return "--walk goes with --mistake order (the order of a non-topological walk)"
    if args.wrong_rule is not None and args.mistake != "wrong-rule":
        return "--wrong-rule goes with --mistake wrong-rule"
    if args.mistake == "wrong-rule" and args.wrong_rule is None:
        names = ", ".join(WRONG_RULES)
        return (
            f"--mistake wrong-rule needs --wrong-rule NAME, the wrong derivative to put in the "
            f"expression's graph: one of {names} (see tapegrad explain --help)"
        )
    return None


def run(args: argparse.Namespace) -> int:
    """Build the expression and write the page that steps through it."""
    from tapegrad.commands.grad import build
    from tapegrad.mistakes import plant
    from tapegrad.pages.explain import ExplainError, explain
    from tapegrad.svgrender import LayoutTooLarge

    problem = _check_mistake(args) or _check_output(args.output, args.force)
    if problem:
        return fail("explain", problem)
    built = build("explain", args.expr, args.assignments, "--set")
    if isinstance(built, int):
        return built
    expression, out, _ = built
    if not out.label:
        out.label = "out"
    options = {"walk": args.walk} if args.walk else {}
    title = expression.text.strip()
    if args.mistake:
        title = f"{title}: mistake {args.mistake}"
    try:
        if args.wrong_rule:
            plant(out, args.wrong_rule)
        with renderer_notes("explain"):
            page = explain(
                out,
                mistake=args.mistake,
                rankdir=args.rankdir,
                precision=args.precision,
                title=title,
                **options,
            )
        path = page.save(args.output)
    except (ExplainError, LayoutTooLarge, ValueError) as err:
        return fail("explain", str(err))
    except OSError as err:  # its own words, and the page's name rather than a temp file's
        return fail("explain", f"cannot write -o {args.output!r}: {err.strerror or err}")
    print(f"wrote {path} ({len(page.steps)} steps, {page.renderer} renderer{_verdict(page)})")
    return OK


def _verdict(page) -> str:
    """What a mistake page found, for the line `run` prints: where the walks part company."""
    run = getattr(page, "run", None)
    if run is None:
        return ""
    if run.first_difference is None:
        return "; the mistake changes no gradient on this graph"
    return f"; the walks first differ at {page.marked}, step {run.first_step}"
