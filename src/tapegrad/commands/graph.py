"""`tapegrad graph EXPR --set x=2 ... -o out.svg`: build an expression, backpropagate, and
draw its graph (SVG, PNG, PDF or DOT by the file's suffix) or print it as a text tree."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

from .common import OK, fail
from .common import add_expression_arguments as add_arguments


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `graph` command's parser to `sub`, with `run` as its handler."""
    p = sub.add_parser(
        "graph",
        help="draw the computation graph of an expression",
        description=(
            "Build EXPR from the values given with --set, run backward() from its result and "
            "draw the graph with every node's data and grad. Without -o the graph is printed "
            "as text."
        ),
        epilog='example: tapegrad graph "tanh(x1*w1 + x2*w2 + b)" --set x1=2 x2=0 w1=-3 '
        "w2=1 b=6.8813735870195432 -o neuron.svg",
    )
    add_expression_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the picture here: .svg (always), .png/.pdf (with Graphviz), .gv/.dot "
        "(default: print the graph as text)",
    )
    p.add_argument("--text", action="store_true", help="print the graph as an indented tree")
    p.add_argument("--no-backward", action="store_true", help="draw data only, no gradients")
    p.set_defaults(run=run)


def add_expression_arguments(p: argparse.ArgumentParser) -> None:
    """The options `graph` shares with `explain`: EXPR, --set, --rankdir and --precision."""
    add_arguments(p, "--set", help="the value of each variable (EXPR may come before or after)")
    p.add_argument(
        "--rankdir", choices=("LR", "TB", "RL", "BT"), default="LR", help="the graph's direction"
    )
    p.add_argument("--precision", type=int, default=4, help="digits after the point")


@contextlib.contextmanager
def renderer_notes(command: str) -> Iterator[None]:
    """Say each fallback to the builtin renderer inside the block as one line of its own,
    `tapegrad COMMAND: note: ...` on stderr, not as a warning with a source line."""
    from tapegrad.viz import RendererWarning

    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", RendererWarning)
        yield
    for note in notes:
        if issubclass(note.category, RendererWarning):
            print(f"tapegrad {command}: note: {note.message}", file=sys.stderr)
        else:  # any other warning goes on as it came
            warnings.warn_explicit(note.message, note.category, note.filename, note.lineno)


def run(args: argparse.Namespace) -> int:
    """Build the expression, backpropagate, and write the picture or print the text tree."""
    from tapegrad.commands.grad import build
    from tapegrad.textgraph import print_graph

    if args.precision < 0:
        return fail("graph", f"--precision must be 0 or more digits, got {args.precision}")
    built = build("graph", args.expr, args.assignments, "--set")
    if isinstance(built, int):
        return built
    _, out, inputs = built
    if not out.label:
        out.label = "out"
    show_grad = not args.no_backward
    if show_grad:
        out.backward()
    if args.output:
        from tapegrad.svgrender import LayoutTooLarge
        from tapegrad.viz import GraphTooLarge, RendererUnavailable, draw_dot

        try:
            with renderer_notes("graph"):
                picture = draw_dot(
                    out, rankdir=args.rankdir, precision=args.precision, show_grad=show_grad
                )
                path = picture.save(args.output)
        except (GraphTooLarge, LayoutTooLarge, RendererUnavailable, ValueError, OSError) as err:
            return fail("graph", str(err))
        how = f" ({picture.rendered_by} renderer)" if picture.rendered_by else ""
        print(f"wrote {path}{how}")
    if args.text or not args.output:
        print_graph(out, precision=args.precision, show_grad=show_grad)
    sys.stdout.flush()
    return OK
