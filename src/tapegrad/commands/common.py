"""What every `tapegrad` command shares: the exit statuses, how an error is reported, and the
option types (each raises argparse.ArgumentTypeError saying what is allowed).

Exit statuses, as `diff` and `grep` use them:

- 0 (OK): the command did what was asked (and, for a check, the answer is yes);
- 1 (NO): the command ran and the answer is no: `tapegrad grad` found a derivative that
  disagrees with its central difference;
- 2 (ERROR): the command could not do what was asked: a usage error (argparse exits with 2
  too), an expression that does not parse, a data file, CSV or checkpoint that cannot be read
  or does not fit the model, labels the loss cannot take, a picture that cannot be written;
- 130: interrupted (Ctrl-C).

A bug shows Python's traceback and exits with 1, as any Python program does.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable

from ..losses import TABLE
from ..nn import ACTIVATIONS as _ACTIVATIONS

OK, NO, ERROR, INTERRUPTED = 0, 1, 2, 130

DATA_NAMES = (
    "moons",
    "circles",
    "blobs",
    "spiral",
    "digits",
    "iris",
    "wine",
    "breast_cancer",
)  # tapegrad.data.DATASETS (a test checks)
LOSS_NAMES = tuple(TABLE)
ACTIVATIONS = tuple(_ACTIVATIONS)


def fail(command: str, message: str) -> int:
    """Print `tapegrad COMMAND: error: MESSAGE` to stderr (argparse's form) and return ERROR."""
    print(f"tapegrad {command}: error: {message}", file=sys.stderr)
    return ERROR


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


def add_data_options(p: argparse.ArgumentParser) -> None:
    """--data, --label and --seed, as `train` and `predict` take them."""
    p.add_argument(
        "--data",
        type=data_source,
        default="moons",
        metavar="NAME|PATH.csv",
        help=f"{', '.join(DATA_NAMES)} or a CSV file (default: moons)",
    )
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
