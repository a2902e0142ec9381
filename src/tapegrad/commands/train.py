"""`tapegrad train`: fit an MLP to a named data set or a CSV file, report train/test metrics,
and save the model, its history and its pictures.

The option types here (`positive_int`, `fraction`, ...) are shared by the other training
commands; each raises argparse.ArgumentTypeError saying what is allowed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DATA_NAMES = ("moons", "circles", "blobs", "spiral", "digits")
LOSS_NAMES = ("hinge", "mse", "bce", "softmax_ce")  # tapegrad.losses.LOSSES, kept import-free
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")  # tapegrad.nn.ACTIVATIONS


# --- option types ----------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return n


def _float_option(text: str, ok, wanted: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (ok(x) and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return x


def positive_float(text: str) -> float:
    return _float_option(text, lambda x: x > 0, "a number > 0")


def nonnegative_float(text: str) -> float:
    return _float_option(text, lambda x: x >= 0, "a number >= 0")


def fraction(text: str) -> float:
    return _float_option(text, lambda x: 0 <= x < 1, "a fraction in [0, 1), such as 0.2")


def seed(text: str) -> int:
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


def fail(command: str, message: str) -> int:
    print(f"tapegrad {command}: error: {message}", file=sys.stderr)
    return 1


# --- the command -----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train an MLP on a data set or a CSV file",
        description="Train an MLP on a built-in data set or a CSV file of numbers, print the "
        "final train and test metrics, and save the model (JSON), its history and pictures.",
    )
    add_data_options(p)
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=[16, 16],
        metavar="SIZES",
        help="hidden layer sizes, comma-separated (default: 16,16; 'none' for no hidden layer)",
    )
    p.add_argument("--act", choices=ACTIVATIONS, default="relu", help="hidden activation")
    p.add_argument(
        "--loss",
        choices=LOSS_NAMES,
        default=None,
        help="default: hinge for two classes, softmax_ce for more, mse for numeric targets",
    )
    p.add_argument("--optim", choices=("sgd", "adam"), default="sgd", help="default: sgd")
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate (default: sgd 1.0, adam 0.01)",
    )
    p.add_argument(
        "--schedule",
        choices=("linear", "constant"),
        default="linear",
        help="linear: decay to lr/10 over the run, as micrograd's demo (default)",
    )
    p.add_argument("--l2", type=nonnegative_float, default=1e-4, help="L2 penalty (default 1e-4)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, default=None, help="default: 100")
    length.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument(
        "--batch-size", type=positive_int, default=None, help="default: the full data set"
    )
    p.add_argument(
        "--test-fraction",
        type=fraction,
        default=0.2,
        help="rows held out for testing (default 0.2)",
    )
    p.add_argument(
        "--out", default="tapegrad-out", metavar="DIR", help="pictures and history.json go here"
    )
    p.add_argument(
        "--save", default=None, metavar="PATH", help="model file (default DIR/model.json)"
    )
    p.add_argument("--resume", default=None, metavar="PATH", help="continue from a saved model")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replay a recorded tape over each batch with NumPy (default); --no-compile "
        "trains on the eager Value graph",
    )
    p.set_defaults(run=run)


def default_loss(y: np.ndarray, n_classes: int | None) -> str:
    """hinge for two classes (0/1 or -1/+1), softmax_ce for more, mse for other numbers."""
    if n_classes is None:
        binary = y.dtype.kind in "iu" and set(y.tolist()) <= {-1, 1}
        return "hinge" if binary else "mse"
    return "hinge" if n_classes <= 2 else "softmax_ce"


def _n_outputs(loss: str, n_classes: int | None) -> int:
    return max(n_classes or 0, 2) if loss == "softmax_ce" else 1


class _Offset:
    """A schedule started `offset` steps late: a resumed optimizer keeps its step count, and
    this run's schedule should still start at its beginning."""

    def __init__(self, schedule, offset: int) -> None:
        self.schedule, self.offset = schedule, offset

    def __call__(self, k: int) -> float:
        return self.schedule(k - self.offset)

    def __repr__(self) -> str:
        return f"{self.schedule!r} from step {self.offset}"


def _optimizer(args, model, total_steps: int):
    """The optimizer this run asks for; with --resume, its saved state (moments, step count)
    is restored when the checkpoint holds one of the same kind."""
    from tapegrad import checkpoint, optim

    lr = args.lr if args.lr is not None else (1.0 if args.optim == "sgd" else 0.01)
    schedule = optim.linear(lr, lr * 0.1, total_steps) if args.schedule == "linear" else lr
    make = optim.SGD if args.optim == "sgd" else optim.Adam
    opt = make(model.parameters(), lr=schedule)
    if args.resume:
        try:
            checkpoint.load_optimizer(args.resume, opt)
        except checkpoint.CheckpointError:
            return opt  # saved without optimizer state, or another optimizer: start afresh
        if callable(schedule) and opt.step_count:
            opt.lr = _Offset(schedule, opt.step_count)
    return opt


def run(args: argparse.Namespace) -> int:
    import tapegrad
    from tapegrad import checkpoint, data, plots
    from tapegrad.nn import MLP
    from tapegrad.train import evaluate, fit

    try:
        ds = data.load_dataset(args.data, seed=args.seed, label=args.label)
    except (data.DataError, OSError, ImportError) as err:
        return fail("train", str(err))
    if ds.y is None:
        return fail("train", f"{args.data} has no label column")
    loss = args.loss or default_loss(ds.y, ds.n_classes)
    try:
        Xtr, Xte, ytr, yte = data.train_test_split(ds.X, ds.y, args.test_fraction, seed=args.seed)
    except ValueError as err:
        return fail("train", str(err))

    nout = _n_outputs(loss, ds.n_classes)
    if args.resume:
        try:
            model = tapegrad.load(args.resume)
        except (checkpoint.CheckpointError, OSError) as err:
            return fail("train", f"cannot resume: {err}")
        if model.nin != ds.X.shape[1]:
            return fail(
                "train",
                f"{args.resume} takes {model.nin} inputs but {args.data} has "
                f"{ds.X.shape[1]} features",
            )
    else:
        model = MLP(ds.X.shape[1], [*args.hidden, nout], act=args.act, seed=args.seed)

    n_train = len(Xtr)
    per_epoch = 1 if args.batch_size is None else math.ceil(n_train / args.batch_size)
    steps = args.steps if args.epochs is None else None
    if steps is None and args.epochs is None:
        steps = 100
    total = steps if steps else args.epochs * per_epoch
    optimizer = _optimizer(args, model, total)
    validation = (Xte, yte) if len(Xte) else None
    try:
        history = fit(
            model,
            Xtr,
            ytr,
            loss=loss,
            optimizer=optimizer,
            steps=steps,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            l2=args.l2,
            progress=not args.no_progress,
            validation=validation,
            eval_every=max(1, math.ceil((steps or args.epochs) / 20)),  # <= ~20 test passes
            compile=args.compile,
        )
    except ValueError as err:
        return fail("train", str(err))

    print(f"{model!r} on {args.data}: loss {loss}, {len(history)} {history.unit}s")
    print(_metrics("train", evaluate(model, Xtr, ytr, loss=loss, compile=args.compile), len(Xtr)))
    if validation is not None:
        test = evaluate(model, Xte, yte, loss=loss, compile=args.compile)
        print(_metrics("test", test, len(Xte)))

    os.makedirs(args.out, exist_ok=True)
    save = args.save or os.path.join(args.out, "model.json")
    tapegrad.save(model, save, optimizer=optimizer, loss=loss)
    written = [save]
    path = os.path.join(args.out, "history.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"data": args.data, "loss": loss, **history.to_dict()}, fh, indent=1)
    written.append(path)
    written.append(os.path.join(args.out, "loss.png"))
    plots.loss_curves(history, written[-1])
    if ds.X.shape[1] == 2:
        written.append(os.path.join(args.out, "decision_boundary.png"))
        plots.decision_boundary(model, ds.X, ds.y, written[-1])
    print("wrote " + ", ".join(written))
    return 0


def _metrics(name: str, m: dict, n: int) -> str:
    acc = "" if m["accuracy"] is None else f", accuracy {m['accuracy']:.1%}"
    return f"{name:<5} ({n} rows): loss {m['loss']:.4f}{acc}"
