"""`tapegrad train`: fit an MLP to a table (a CSV file as it comes, or a built-in data set),
report train/test metrics, and write the model, its history, its pictures and the run's
settings into the run's own folder.

Every table takes one path: `tapegrad.tables` reads the cells, a `Preprocessor` fitted on the
training rows turns them into numbers (classes from the label's values, standardised numeric
features, one-hot text), and the checkpoint keeps it, so `predict` maps the cells the same way.
The defaults are the ones that trained ordinary small tables (iris, wine, breast cancer,
digits) best in `benchmarks/table_defaults.py`: Adam at 0.01 falling linearly to 0.001,
MLP(16, 16) tanh, softmax cross-entropy for classes (two included), batches of 32, 100 epochs,
L2 1e-4, standardised features, and a stratified 80/20 split.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .common import (
    ACTIVATIONS,
    DATA_NAMES,
    OK,
    OUT_ROOT,
    add_data_options,
    add_loss_option,
    add_out_option,
    check_file_for,
    check_folder_for,
    fail,
    fraction,
    hidden_sizes,
    new_run_folder,
    nonnegative_float,
    positive_float,
    positive_int,
    where_it_went,
)

if TYPE_CHECKING:
    import numpy as np

    from ..tables import Table, TableModel
    from ..train import History

DEFAULT_EPOCHS = 100
DEFAULT_LR = {"sgd": 1.0, "adam": 0.01}
MAX_PICTURE_PARAMETERS = 50_000  # past this, the decision boundary is skipped (say so)


# --- the command -----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train an MLP on a CSV file or a built-in data set",
        description="Train an MLP on a CSV file as it comes (class names as text, text "
        "features one-hot, numbers standardised) or a built-in data set, print the train and "
        "test metrics, and write the model, history.json, pictures and run.json into the "
        "run's own folder.",
        epilog="example: tapegrad train --data iris.csv --label species",
    )
    add_data_options(p)
    _add_table_options(p)
    _add_model_options(p)
    _add_schedule_options(p)
    p.add_argument(
        "--test-fraction",
        type=fraction,
        default=0.2,
        help="rows held out for testing, stratified by class",
    )
    add_out_option(p, "train")
    p.add_argument(
        "--save", default=None, metavar="PATH", help="the model file (default: DIR/model.json)"
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="PATH",
        help="continue from a saved model (a model.json, or a run folder holding one); its "
        "preprocessing is kept (default: a new model)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replay a recorded tape over each batch with NumPy (default); --no-compile "
        "trains on the eager Value graph",
    )
    p.set_defaults(run=run)


def _add_table_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="auto: text labels, or whole numbers with few values, are classes; other numbers "
        "a regression",
    )
    p.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="COL",
        help="leave a column out (by name or index; repeat for more) (default: none)",
    )
    p.add_argument("--drop-missing", action="store_true", help="drop rows with a missing cell")
    p.add_argument(
        "--no-standardize",
        action="store_true",
        help="feed numeric columns as they are (default: standardised with the training "
        "rows' mean and standard deviation)",
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=[16, 16],
        metavar="SIZES",
        help="hidden layer sizes, comma-separated ('none' for no hidden layer)",
    )
    p.add_argument("--act", choices=ACTIVATIONS, default="tanh", help="hidden activation")
    add_loss_option(p, help="default: softmax_ce for classes (two included), mse for numbers")


def _add_schedule_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--optim", choices=("sgd", "adam"), default="adam", help="the optimizer")
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate (default: adam 0.01, sgd 1.0)",
    )
    p.add_argument(
        "--schedule",
        choices=("linear", "constant"),
        default="linear",
        help="linear: the rate falls to lr/10 over the run, as in micrograd's demo",
    )
    p.add_argument("--l2", type=nonnegative_float, default=1e-4, help="L2 penalty")
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=positive_int, default=None, help="batches to train on (default: epochs)"
    )
    length.add_argument(
        "--epochs", type=positive_int, default=None, help=f"passes (default: {DEFAULT_EPOCHS})"
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        help="rows per batch (as many as the training rows or more: the full batch)",
    )


# --- reading and preparing -------------------------------------------------------------------


@dataclass
class _Data:
    """The table, its preprocessing, the split, and the arrays the network trains on."""

    table: Table
    prep: object
    train: np.ndarray
    test: np.ndarray
    X: np.ndarray
    y: np.ndarray


def _read(args) -> Table:
    from tapegrad import tables

    if args.data in DATA_NAMES:
        table = tables.builtin_table(args.data, seed=args.seed)
        return table.without(args.drop) if args.drop else table
    return tables.read_table(args.data, drop=args.drop, drop_missing=args.drop_missing)


def _task(args) -> str:
    """--task, or what --loss implies (mse: a regression; the others: classes)."""
    from tapegrad.losses import TABLE

    if args.task != "auto" or args.loss is None:
        return args.task
    return "regression" if TABLE[args.loss].kind == "regression" else "classification"


def _prepare(args, table: Table, resumed: TableModel | None) -> _Data:
    """Split the rows (stratified by class) and fit the preprocessing on the training rows
    (or take the resumed model's). DataError or ValueError say what is wrong."""
    from tapegrad import data
    from tapegrad.tables import Preprocessor

    if resumed is not None:
        prep = resumed.preprocessor
    else:  # learn what the label is from every row first: the split needs the classes
        prep = Preprocessor(
            label=args.label, task=_task(args), standardize=not args.no_standardize
        ).fit(table)
    y_all = prep.encode_labels(table)
    strata = y_all if prep.is_classifier else None
    train, test = data.split_indices(len(table), args.test_fraction, args.seed, stratify=strata)
    if resumed is None:
        prep = Preprocessor(
            label=args.label, task=_task(args), standardize=not args.no_standardize
        ).fit(table, rows=train)
        y_all = prep.encode_labels(table)
    return _Data(table, prep, train, test, prep.transform(table), y_all)


def _loss(args, d: _Data, resumed: TableModel | None) -> str:
    """The loss: --loss, the resumed model's, or the default for the task; ValueError when it
    cannot train this label."""
    from tapegrad.losses import TABLE, default_loss

    loss = args.loss or (resumed.loss if resumed else None)
    if loss is None:
        loss = default_loss("classes" if d.prep.is_classifier else "regression")
    kind = TABLE[loss].kind
    if d.prep.is_classifier and kind == "regression":
        raise ValueError(
            f"{loss} trains a regression, but column {d.prep.label_name!r} holds classes; use "
            "--loss softmax_ce (or --task regression for numbers)"
        )
    if not d.prep.is_classifier and kind != "regression":
        raise ValueError(
            f"{loss} trains classes, but column {d.prep.label_name!r} is a regression target; "
            "use --loss mse (or --task classification)"
        )
    if kind == "binary" and d.prep.n_classes != 2:
        raise ValueError(
            f"{loss} needs two classes, column {d.prep.label_name!r} has {d.prep.n_classes}; "
            "use --loss softmax_ce"
        )
    return loss


def _resumed(args) -> TableModel | str | None:
    """The model --resume names (a file or a run folder holding model.json), or why not."""
    from tapegrad import checkpoint
    from tapegrad.data import DataError
    from tapegrad.tables import TableModel

    if not args.resume:
        return None
    path = args.resume
    if os.path.isdir(path):
        path = os.path.join(path, "model.json")
    try:
        return TableModel.load(path, compile=args.compile)
    except (checkpoint.CheckpointError, DataError, OSError) as err:
        return f"cannot resume: {err}"


def _model(args, d: _Data, loss: str, resumed: TableModel | None):
    from tapegrad.losses import TABLE
    from tapegrad.nn import MLP

    if resumed is not None:
        return resumed.model
    nout = TABLE[loss].n_outputs(d.prep.n_classes)
    return MLP(d.prep.n_inputs, [*args.hidden, nout], act=args.act, seed=args.seed)


# --- training --------------------------------------------------------------------------------


class _Offset:
    """A schedule started `offset` steps late: a resumed optimizer keeps its step count, and
    this run's schedule should still start at its beginning."""

    def __init__(self, schedule, offset: int) -> None:
        self.schedule, self.offset = schedule, offset

    def __call__(self, k: int) -> float:
        return self.schedule(k - self.offset)

    def __repr__(self) -> str:
        return f"{self.schedule!r} from step {self.offset}"


def _length(args, n_train: int) -> tuple[int | None, int | None, int]:
    """(steps, epochs, total optimizer steps) this run takes."""
    if args.steps is not None:
        return args.steps, None, args.steps
    epochs = args.epochs or DEFAULT_EPOCHS
    return None, epochs, epochs * math.ceil(n_train / min(args.batch_size, n_train))


def _optimizer(args, model, total_steps: int):
    """The optimizer this run asks for; with --resume, its saved state (moments, step count)
    is restored when the checkpoint holds one of the same kind."""
    from tapegrad import checkpoint, optim

    lr = _lr(args)
    schedule = optim.linear(lr, lr * 0.1, total_steps) if args.schedule == "linear" else lr
    make = optim.SGD if args.optim == "sgd" else optim.Adam
    opt = make(model.parameters(), lr=schedule)
    if args.resume:
        path = args.resume
        if os.path.isdir(path):
            path = os.path.join(path, "model.json")
        try:
            checkpoint.load_optimizer(path, opt)
        except checkpoint.CheckpointError:
            return opt  # saved without optimizer state, or another optimizer: start afresh
        if callable(schedule) and opt.step_count:
            opt.lr = _Offset(schedule, opt.step_count)
    return opt


def _lr(args) -> float:
    return args.lr if args.lr is not None else DEFAULT_LR[args.optim]


def _fit(args, model, loss: str, d: _Data, optimizer, length):
    """Train as the options say: the History (TrainingDiverged propagates)."""
    from tapegrad.pages.report import MOMENTS
    from tapegrad.train import fit

    steps, epochs, _ = length
    validation = (d.X[d.test], d.y[d.test]) if len(d.test) else None
    return fit(
        model,
        d.X[d.train],
        d.y[d.train],
        loss=loss,
        optimizer=optimizer,
        steps=steps,
        epochs=epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        l2=args.l2,
        progress=not args.no_progress,
        validation=validation,
        eval_every=max(1, math.ceil((steps or epochs) / 20)),  # <= ~20 test passes
        compile=args.compile,
        snapshots=MOMENTS,  # for report.html
    )


# --- output paths, checked before training ---------------------------------------------------


def _check_outputs(args) -> str | None:
    """Why this run's files could not be written, found before any training is done."""
    out = args.out if args.out is not None else OUT_ROOT
    problem = check_folder_for(out, "--out")
    if problem:
        return problem
    if args.save:
        inputs = (args.data,) if os.path.isfile(args.data) else ()
        return check_file_for(args.save, "--save", inputs, "model.json")
    return None


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from tapegrad import data
    from tapegrad.tables import TableModel
    from tapegrad.train import TrainingDiverged, prepare_targets

    resumed = _resumed(args)
    if isinstance(resumed, str):
        return fail("train", resumed)
    try:
        table = _read(args)
        d = _prepare(args, table, resumed)
        loss = _loss(args, d, resumed)
        prepare_targets(d.y, loss)  # labels the loss cannot take fail here, not mid-run
    except (data.DataError, ValueError, OSError, ImportError) as err:
        return fail("train", str(err))
    model = _model(args, d, loss, resumed)
    if model.nin != d.X.shape[1]:
        return fail(
            "train",
            f"{args.resume} takes {model.nin} inputs but {args.data} gives {d.X.shape[1]}",
        )
    problem = _check_outputs(args)
    if problem:
        return fail("train", problem)

    length = _length(args, len(d.train))
    optimizer = _optimizer(args, model, length[2])
    dropped = f" (after dropping {table.dropped} with a missing cell)" if table.dropped else ""
    print(f"{args.data}: {len(table)} rows{dropped}; {d.prep.describe()}")
    diverged = None
    try:
        history = _fit(args, model, loss, d, optimizer, length)
    except TrainingDiverged as err:
        diverged, history = err, err.history
    except ValueError as err:
        return fail("train", str(err))

    tm = TableModel(model, d.prep, loss, compile=args.compile)
    results = _report(args, tm, d, history, loss)
    try:
        folder = new_run_folder(args.out, "train")
        written = _write(args, folder, tm, optimizer, history, d, results, diverged)
    except OSError as err:
        return fail("train", f"cannot write the run's files: {err.strerror or err}")
    status = OK
    if diverged is not None:
        status = fail(
            "train",
            f"{diverged} (--lr {diverged.lr / 10:.3g}"
            + (", --optim adam" if args.optim == "sgd" else "")
            + "); the model saved holds those weights",
        )
    print(where_it_went(folder, written))
    return status


def _report(args, tm: TableModel, d: _Data, history: History, loss: str) -> dict:
    """Print the summary (the data loss and the L2 term apart) and return it for run.json."""
    from tapegrad.losses import l2

    unit = history.unit
    print(f"{tm.model!r}: loss {loss}, {len(history)} {unit}s, {history.seconds:.3g} s")
    penalty = float(l2(tm.model, args.l2).data) if args.l2 else 0.0
    results = {}
    for name, rows in (("train", d.train), ("test", d.test)):
        if not len(rows):
            continue
        m = tm.evaluate(d.table.take(rows))
        extra = f", L2 term {penalty:.4f}" if name == "train" and args.l2 else ""
        if m["accuracy"] is not None:
            extra += f", accuracy {m['accuracy']:.1%}"
        if m["r2"] is not None:
            extra += f", R² {m['r2']:.4f}"
        print(f"{name:<5} ({len(rows)} rows): loss {m['loss']:.4f}{extra}")
        results[name] = {**m, **({"l2_term": penalty} if name == "train" else {})}
    return results


def _write(args, folder, tm, optimizer, history, d: _Data, results, diverged) -> list[str]:
    """The model, history.json, the pictures, report.html and run.json, each written
    atomically; the paths."""
    from tapegrad import plots
    from tapegrad._files import write_text
    from tapegrad.pages.report import report

    save = args.save or os.path.join(folder, "model.json")
    tm.save(save, optimizer=optimizer)
    written = [save]
    path = os.path.join(folder, "history.json")
    doc = {"data": args.data, "loss": tm.loss, **history.to_dict()}
    write_text(path, json.dumps(doc, indent=1) + "\n")
    written.append(path)
    if len(history):
        path = os.path.join(folder, "loss.png")
        plots.loss_curves(history, path)
        written.append(path)
    path = _decision_boundary(tm, d, folder)
    if path:
        written.append(path)
    path = os.path.join(folder, "report.html")
    settings, title = _settings(args, tm, d), f"{tm.model!r} on {args.data}"
    report(
        history,
        tm.model,
        d.X[d.train],
        d.y[d.train],
        path,
        loss=tm.loss,
        l2=args.l2,
        settings=settings,
        title=title,
    )
    written.append(path)
    path = os.path.join(folder, "run.json")
    written.append(path)
    doc = _run_doc(args, tm, d, history, results, diverged, written)
    write_text(path, json.dumps(doc, indent=1) + "\n")
    return written


def _decision_boundary(tm: TableModel, d: _Data, folder: str) -> str | None:
    """decision_boundary.png for a classifier of two numeric features (drawn in the
    standardised units the network sees), unless the model is too big to draw quickly."""
    from tapegrad import plots

    if not tm.is_classifier or d.X.shape[1] != 2:
        return None
    n = len(tm.model.parameters())
    if n > MAX_PICTURE_PARAMETERS:
        print(
            f"decision_boundary.png skipped: the model has {n:,} parameters (the picture is "
            f"drawn up to {MAX_PICTURE_PARAMETERS:,})"
        )
        return None
    path = os.path.join(folder, "decision_boundary.png")
    plots.decision_boundary(tm.model, d.X, d.y, path)
    return path


def _run_doc(args, tm, d: _Data, history, results, diverged, written) -> dict:
    """run.json: the exact command, every setting as used, the data, the outcome, the files."""
    from tapegrad import __version__

    argv = getattr(args, "argv", None)
    return {
        "command": shlex.join(["tapegrad", *argv]) if argv is not None else None,
        "tapegrad": __version__,
        "settings": _settings(args, tm, d),
        "data": {
            "rows": len(d.table),
            "train_rows": len(d.train),
            "test_rows": len(d.test),
            "dropped_rows": d.table.dropped,
            "inferred": d.prep.describe(),
        },
        "outcome": {
            "status": "diverged" if diverged else "done",
            "message": str(diverged) if diverged else None,
            "entries": len(history),
            "seconds": history.seconds,
            **results,
        },
        "files": list(written),
    }


def _settings(args, tm, d: _Data) -> dict:
    """Every setting as used (run.json's and report.html's)."""
    steps, epochs, total = _length(args, len(d.train))
    return {
        "data": args.data,
        "label": d.prep.label_name,
        "task": "classification" if d.prep.is_classifier else "regression",
        "drop": list(args.drop),
        "drop_missing": args.drop_missing,
        "standardize": not args.no_standardize,
        "hidden": list(tm.model.nouts[:-1]),
        "act": tm.model.act,
        "loss": tm.loss,
        "optim": args.optim,
        "lr": _lr(args),
        "schedule": args.schedule,
        "l2": args.l2,
        "steps": steps,
        "epochs": epochs,
        "optimizer_steps": total,
        "batch_size": args.batch_size,
        "test_fraction": args.test_fraction,
        "seed": args.seed,
        "compile": args.compile,
        "resume": args.resume,
    }
