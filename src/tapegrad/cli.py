"""The `tapegrad` command: one subcommand per module in `tapegrad.commands`, whose
`register(subparsers)` adds its parser with `run` as the handler (heavy imports happen inside
`run`, so `--help` stays instant). Exit statuses: see `tapegrad.commands.common`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .commands.common import INTERRUPTED, OK, Parser

COMMANDS = ("demo", "train", "predict", "graph", "grad", "explain")


def build_parser() -> argparse.ArgumentParser:
    """The `tapegrad` parser, with one subparser per command in COMMANDS."""
    parser = Parser(
        prog="tapegrad",
        description="A scalar autograd engine: train, draw and check small networks.",
    )
    parser.add_argument("--version", action="version", version=f"tapegrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tapegrad.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `tapegrad ARGV...`; returns the exit status (argparse exits 2 on a usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the parser they were given to: the command's, after its name
        before = args.command is None or extra[0] in argv[: argv.index(args.command)]
        where = parser if before else sub_parser(parser, args.command)
        where.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:  # bare `tapegrad`: the usage, and 2, as argparse tools do
        parser.error(f"a command is required: {', '.join(COMMANDS)} (tapegrad --help)")
    finish = getattr(args, "finish", None)
    if finish is not None:
        finish(args, sub_parser(parser, args.command))
    args.argv = argv  # the exact command, for run.json
    try:
        return int(args.run(args) or OK)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


def sub_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (to report its usage errors)."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


if __name__ == "__main__":
    sys.exit(main())
