"""What every `tapegrad` command shares: the exit statuses, how an error is reported, the
option types (each raising argparse.ArgumentTypeError saying what is allowed), where files go.

Exit statuses, as `diff` and `grep` use them: 0 (OK) done (for a check: yes); 1 (NO) the answer
is no (`tapegrad grad` found a derivative that disagrees with its central difference); 2 (ERROR)
it could not be done (bad usage, expression or file); 130 interrupted. A bug exits with 1.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._files import RunFolder, check_writable_folder
from ..losses import TABLE
from ..markup import terminal_text
from ..nn import ACTIVATIONS as _ACTIVATIONS

OK, NO, ERROR, INTERRUPTED = 0, 1, 2, 130

# tapegrad.data.DATASETS (a test checks), here so that --help imports no NumPy
DATA_NAMES = ("moons", "circles", "blobs", "spiral", "digits", "iris", "wine", "breast_cancer")
LOSS_NAMES = tuple(TABLE)
ACTIVATIONS = tuple(_ACTIVATIONS)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it states it or the option is a flag."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
            or action.nargs == 0
        ):
            return text
        if isinstance(default, list):
            default = ",".join(map(str, default)) or "none"
        return f"{text} (default: {str(default).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """argparse with the help formatter above; the subcommands' parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def fail(command: str, message: str) -> int:
    """Print `tapegrad COMMAND: error: MESSAGE` to stderr (argparse's form) and return ERROR."""
    print(f"tapegrad {command}: error: {terminal_text(message, keep=chr(10))}", file=sys.stderr)
    return ERROR


def say(text: str = "") -> None:
    """print() for a command's output lines, with names from the user's data made safe
    for the terminal (`markup.terminal_text`)."""
    print(terminal_text(text))


# --- option types ----------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return n


def _float_option(text: str, ok: Callable[[float], bool], wanted: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (ok(x) and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return x


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _float_option(text, lambda x: x > 0, "a number > 0")


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    return _float_option(text, lambda x: x >= 0, "a number >= 0")


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    return _float_option(text, lambda x: 0 <= x < 1, "a fraction in [0, 1), such as 0.2")


def seed(text: str) -> int:
    """A whole number NumPy takes as a seed: [0, 2**32)."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, 2**32), got {text!r}")
    return n


def hidden_sizes(text: str) -> list[int]:
    """'16,16' -> [16, 16]; '' or 'none' -> [] (no hidden layer: a linear model)."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated hidden layer sizes >= 1 such as 16,16 (or 'none'), "
            f"got {text!r}"
        )
    return sizes


def data_source(text: str) -> str:
    """A built-in data set's name or the path of an existing file."""
    if text in DATA_NAMES or os.path.isfile(text):
        return text
    hint = "no such file" if text.lower().endswith(".csv") else "unknown data set"
    raise argparse.ArgumentTypeError(
        f"{hint} {text!r}: use one of {', '.join(DATA_NAMES)} or the path of a CSV file"
    )


def column(text: str) -> int | str:
    """A CSV column: an index (0, 1, ..., -1 for the last) or a header name."""
    try:
        return int(text)
    except ValueError:
        return text


def add_data_options(
    p: argparse.ArgumentParser, required: bool = False, label: bool = True
) -> None:
    """--data (`required`: without a default), --label (unless `label=False`) and --seed."""
    p.add_argument(
        "--data",
        type=data_source,
        default=None if required else "moons",
        required=required,
        metavar="NAME|PATH.csv",
        help=f"{', '.join(DATA_NAMES)} or a CSV file" + ("" if required else " (default: moons)"),
    )
    if label:
        p.add_argument(
            "--label",
            type=column,
            default=-1,
            metavar="COL",
            help="CSV label column, by index or header name (default: -1, the last)",
        )
    p.add_argument(
        "--seed", type=seed, default=1337, help="seeds data, weights and batches (default 1337)"
    )


def add_loss_option(p: argparse.ArgumentParser, help: str) -> None:
    """--loss, one of the loss table's names (default None: the command picks)."""
    p.add_argument("--loss", choices=LOSS_NAMES, default=None, help=help)


# --- an expression and its NAME=VALUE list, in either order ------------------------------------


def add_expression_arguments(p: argparse.ArgumentParser, option: str, help: str) -> None:
    """EXPR and `option NAME=VALUE ...`, in any order: `graph --set a=2 b=3 "a*b"` works as
    `graph "a*b" --set a=2 b=3` does (argparse alone would take "a*b" as one more value)."""
    p.add_argument("expr", nargs="?", default=None, help="an expression such as 'x**y + sin(x)'")
    p.add_argument(
        option, nargs="+", default=[], metavar="NAME=VALUE", dest="assignments", help=help
    )
    p.set_defaults(finish=_expression_last)


def _expression_last(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    # The items of the NAME=VALUE list that have no "=" are the expression (an expression
    # never holds "="); anything else is left for the command to report.
    if args.expr is not None:
        return
    stray = [item for item in args.assignments if "=" not in item]
    if len(stray) != 1:
        parser.error("the following arguments are required: expr")
    args.expr = stray[0]
    args.assignments.remove(stray[0])


# --- where a run's files go --------------------------------------------------------------------

OUT_ROOT = "tapegrad-out"


def check_folder_for(path: str, what: str) -> str | None:
    """Why a folder cannot be made (or written) at `path`, or None."""
    try:  # one look (another run may be making the folder right now)
        is_folder = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        is_folder = None
    if is_folder:
        return check_writable_folder(path)
    if is_folder is not None:
        return f"{what} {path!r} is a file, not a folder"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{what} {path!r}: {parent!r} on its way is a file, not a folder"
    return check_writable_folder(parent)


def check_file_for(
    path: str, what: str, inputs: tuple[str, ...] = (), example: str = "out.csv"
) -> str | None:
    """Why a file cannot be written at `path` (nor over one of the `inputs` read), or None."""
    if os.path.isdir(path):
        return (
            f"{what} {path!r} is a folder; name a file in it, such as {os.path.join(path, example)}"
        )
    for source in inputs:
        if source and os.path.exists(source) and os.path.exists(path):
            if os.path.samefile(source, path):
                return f"{what} {path!r} is the file {source!r} being read; write elsewhere"
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        if os.path.exists(parent):
            return f"{what} {path!r}: {parent!r} is a file, not a folder"
        return f"{what} {path!r}: the folder {parent!r} does not exist (create it first)"
    return check_writable_folder(parent)


def run_folder(out: str | None, command: str, force: bool = False) -> RunFolder:
    """The run's folder, taken for the whole run (`tapegrad._files.RunFolder`): `out` (refused
    when in use, or not empty without `force`), or the first free tapegrad-out/COMMAND,
    COMMAND-2, ... (made here: never shared). A RunFolderError (a ValueError) says why not."""
    if out is not None:
        return RunFolder(out, force=force)
    return RunFolder.new(OUT_ROOT, command)


def cannot_write(err: OSError) -> str:
    """One line for an OSError met writing a run's files (the file named where known)."""
    where = f" ({err.filename})" if err.filename else ""
    return f"cannot write the run's files: {err.strerror or err}{where}"


def in_run_folder(
    args: argparse.Namespace, command: str, body: Callable[[argparse.Namespace, RunFolder], int]
) -> int:
    """`body(args, folder)` with the run's folder (`run_folder` for --out and --force) taken
    before it starts and held until the run's files are in place; one error line if it
    cannot be taken."""
    try:
        folder = run_folder(args.out, command, args.force)
    except (ValueError, OSError) as err:
        return fail(command, str(err) if isinstance(err, ValueError) else cannot_write(err))
    with folder:
        return body(args, folder)


def add_out_option(p: argparse.ArgumentParser, command: str) -> None:
    """--out DIR (the run's own folder) and --force."""
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"the folder for this run's files, made if missing, refused if not empty "
        f"(default: a new one each run: {OUT_ROOT}/{command}, {OUT_ROOT}/{command}-2, ...)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="--out may hold an earlier run: its files (model.json, report.html, ...) are "
        "replaced by this run's, and the ones this run does not write are deleted (never a "
        "folder another run is using)",
    )


def add_live_options(p: argparse.ArgumentParser) -> None:
    """--live (watch the run learn on a local page), --live-port and --live-pace."""
    p.add_argument(
        "--live",
        action="store_true",
        help="serve a page that shows the run as it learns, with pause, step, learning rate and "
        "stop (on 127.0.0.1, with a random token; its address is printed, and opened in a "
        "browser when there is one and this is a terminal)",
    )
    p.add_argument(
        "--live-port",
        type=port,
        default=0,
        metavar="PORT",
        help="the live page's port (default: 0, any free one)",
    )
    p.add_argument(
        "--live-pace",
        type=nonnegative_float,
        default=None,
        metavar="SECONDS",
        help="with --live, make every step take at least this long, to watch a fast run "
        "(default: the run takes at least 10 s, so the demo's tenth of a second can be "
        "watched; a slower run is not held back; 0: full speed)",
    )


def port(text: str) -> int:
    """A TCP port: 0 (any free one) to 65535."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number in [0, 65535], got {text!r}")
    return n


@contextmanager
def live_page(args: argparse.Namespace, title: str) -> Iterator[Any]:
    """With --live: a `tapegrad.live.LiveControl` for the run, its page served (the address
    printed, a browser opened where one can be) until the block ends, however it ends (the
    server then stops and leaves no thread or port behind). Without --live: None."""
    if not getattr(args, "live", False):
        yield None
        return
    import webbrowser

    from ..live import LiveControl, LiveServer, can_open_browser

    control = LiveControl(pace=args.live_pace, title=title)
    with LiveServer(control, args.live_port) as server:
        print(f"live page: {server.url} (it lives as long as the run; Ctrl-C stops)", flush=True)
        if can_open_browser():
            webbrowser.open(server.url)
        yield control


def where_it_went(folder: str, files: list[str]) -> str:
    """The last line of a run: the folder and the files in it (and any written elsewhere)."""
    inside = [os.path.relpath(f, folder) for f in files if _within(f, folder)]
    outside = [f for f in files if not _within(f, folder)]
    line = f"wrote everything to {folder}: {', '.join(inside)}"
    return line + (f" (and {', '.join(outside)})" if outside else "")


def _within(path: str, folder: str) -> bool:
    return os.path.dirname(os.path.abspath(path)) == os.path.abspath(folder)
