"""`tapegrad train`: fit an MLP to a named data set or a CSV file, report train/test metrics,
and save the model, its history and its pictures."""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import TYPE_CHECKING

from .common import (
    ACTIVATIONS,
    OK,
    add_data_options,
    add_loss_option,
    fail,
    fraction,
    hidden_sizes,
    nonnegative_float,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:
    import numpy as np

    from ..data import Dataset
    from ..nn import MLP
    from ..train import History


# --- the command -----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train an MLP on a data set or a CSV file",
        description="Train an MLP on a built-in data set or a CSV file of numbers, print the "
        "final train and test metrics, and save the model (JSON), its history and pictures.",
    )
    add_data_options(p)
    _add_model_options(p)
    _add_schedule_options(p)
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


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=[16, 16],
        metavar="SIZES",
        help="hidden layer sizes, comma-separated (default: 16,16; 'none' for no hidden layer)",
    )
    p.add_argument("--act", choices=ACTIVATIONS, default="relu", help="hidden activation")
    add_loss_option(
        p, help="default: hinge for two classes, softmax_ce for more, mse for numeric targets"
    )


def _add_schedule_options(p: argparse.ArgumentParser) -> None:
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


def default_loss(y: np.ndarray, n_classes: int | None) -> str:
    """hinge for two classes (0/1 or -1/+1), softmax_ce for more, mse for other numbers (the
    loss table's default for each kind)."""
    from tapegrad.losses import default_loss as for_kind

    if n_classes is None:
        binary = y.dtype.kind in "iu" and set(y.tolist()) <= {-1, 1}
        return for_kind("binary" if binary else "regression")
    return for_kind("binary" if n_classes <= 2 else "classes")


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


def _model(args, ds: Dataset, loss: str) -> MLP | str:
    """A fresh MLP for this data and loss, or the one --resume names; a string says why not."""
    import tapegrad
    from tapegrad import checkpoint
    from tapegrad.losses import TABLE
    from tapegrad.nn import MLP

    if not args.resume:
        nout = TABLE[loss].n_outputs(ds.n_classes)
        return MLP(ds.X.shape[1], [*args.hidden, nout], act=args.act, seed=args.seed)
    try:
        model = tapegrad.load(args.resume)
    except (checkpoint.CheckpointError, OSError) as err:
        return f"cannot resume: {err}"
    if model.nin != ds.X.shape[1]:
        return (
            f"{args.resume} takes {model.nin} inputs but {args.data} has {ds.X.shape[1]} features"
        )
    return model


def _fit(args, model: MLP, loss: str, train: tuple, validation: tuple | None):
    """Train as the options say: (history, optimizer)."""
    from tapegrad.train import fit

    Xtr, ytr = train
    per_epoch = 1 if args.batch_size is None else math.ceil(len(Xtr) / args.batch_size)
    steps = args.steps if args.epochs is None else None
    if steps is None and args.epochs is None:
        steps = 100
    optimizer = _optimizer(args, model, steps if steps else args.epochs * per_epoch)
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
    return history, optimizer


def run(args: argparse.Namespace) -> int:
    from tapegrad import data
    from tapegrad.train import evaluate

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
    model = _model(args, ds, loss)
    if isinstance(model, str):
        return fail("train", model)
    validation = (Xte, yte) if len(Xte) else None
    try:
        history, optimizer = _fit(args, model, loss, (Xtr, ytr), validation)
    except ValueError as err:
        return fail("train", str(err))

    print(f"{model!r} on {args.data}: loss {loss}, {len(history)} {history.unit}s")
    print(_metrics("train", evaluate(model, Xtr, ytr, loss=loss, compile=args.compile), len(Xtr)))
    if validation is not None:
        test = evaluate(model, Xte, yte, loss=loss, compile=args.compile)
        print(_metrics("test", test, len(Xte)))
    written = _write(args, ds, model, optimizer, loss, history)
    print("wrote " + ", ".join(written))
    return OK


def _write(args, ds: Dataset, model: MLP, optimizer, loss: str, history: History) -> list[str]:
    """Save the model, history.json and the pictures; the paths written."""
    import tapegrad
    from tapegrad import plots

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
    return written


def _metrics(name: str, m: dict, n: int) -> str:
    acc = "" if m["accuracy"] is None else f", accuracy {m['accuracy']:.1%}"
    return f"{name:<5} ({n} rows): loss {m['loss']:.4f}{acc}"
