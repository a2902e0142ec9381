"""`tapegrad explain EXPR --set x=2 ... -o page.html`: write a page that steps through the
forward and backward pass of an expression's graph (one self-contained HTML file)."""

from __future__ import annotations

import argparse
import os

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


def run(args: argparse.Namespace) -> int:
    """Build the expression and write the page that steps through it."""
    from tapegrad.commands.grad import build
    from tapegrad.pages.explain import ExplainError, explain
    from tapegrad.svgrender import LayoutTooLarge

    problem = _check_output(args.output, args.force)
    if problem:
        return fail("explain", problem)
    built = build("explain", args.expr, args.assignments, "--set")
    if isinstance(built, int):
        return built
    expression, out, _ = built
    if not out.label:
        out.label = "out"
    try:
        with renderer_notes("explain"):
            page = explain(
                out, rankdir=args.rankdir, precision=args.precision, title=expression.text.strip()
            )
        path = page.save(args.output)
    except (ExplainError, LayoutTooLarge, ValueError) as err:
        return fail("explain", str(err))
    except OSError as err:  # its own words, and the page's name rather than a temp file's
        return fail("explain", f"cannot write -o {args.output!r}: {err.strerror or err}")
    print(f"wrote {path} ({len(page.steps)} steps, {page.renderer} renderer)")
    return OK
