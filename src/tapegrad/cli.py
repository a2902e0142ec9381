"""The `tapegrad` command: one subcommand per module in `tapegrad.commands`.

Each command module offers `register(subparsers)`, which adds its parser and sets `run` as the
handler; heavy imports (NumPy, matplotlib, graphviz) happen inside `run`, so `tapegrad --help`
stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

COMMANDS = ("demo", "train", "predict", "graph", "grad", "explain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tapegrad",
        description="A scalar autograd engine: train, draw and check small networks.",
    )
    parser.add_argument("--version", action="version", version=f"tapegrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"tapegrad.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"tapegrad.commands.{name}":
                raise
            continue  # a command not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
