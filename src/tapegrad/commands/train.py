"""`tapegrad train`: fit an MLP to a table (a CSV file as it comes, or a built-in data set)
with one call of `tapegrad.tables.fit_table`, whose settings these options are, and write the
run, with its pictures and report, into its own folder."""

from __future__ import annotations

import argparse
import os
import shlex
from contextlib import nullcontext
from dataclasses import fields
from typing import TYPE_CHECKING

from . import common

if TYPE_CHECKING:
    from .._files import RunFolder
    from ..tables import TableFit

# tapegrad.tables.DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_VALIDATION, DEFAULT_PATIENCE and
# DEFAULT_L2, for --help (which imports no NumPy)
DEFAULT_EPOCHS = 100
DEFAULT_LR = {"sgd": 1.0, "adam": 0.01}
DEFAULT_VALIDATION = 0.2
DEFAULT_PATIENCE = 20
DEFAULT_L2 = 1e-3
MAX_PICTURE_PARAMETERS = 50_000  # past this, the decision boundary is skipped (say so)


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
    common.add_data_options(p)
    _add_table_options(p)
    _add_model_options(p)
    _add_schedule_options(p)
    p.add_argument(
        "--test-fraction",
        type=common.fraction,
        default=0.2,
        help="rows held out for testing, stratified by class",
    )
    _add_stopping_options(p)
    common.add_out_option(p, "train")
    p.add_argument(
        "--save", default=None, metavar="PATH", help="the model file (default: DIR/model.json)"
    )
    p.add_argument(
        "--resume",
        metavar="PATH",
        help="continue from a saved model (a model.json, or a run folder holding one); its "
        "preprocessing is kept (default: a new model)",
    )
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar or progress lines",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replay a recorded tape over each batch with NumPy (default); --no-compile "
        "trains on the eager Value graph",
    )
    common.add_live_options(p)
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
        action="extend",
        nargs="+",
        default=[],
        metavar="COL",
        help="leave columns out, by name or index: --drop id year, or --drop id --drop year "
        "(default: none)",
    )
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop rows with a missing cell (default: a number takes the training rows' median, "
        "with a missing-indicator input for each column that had gaps; text gets a (missing) "
        "category; a row without its label is always dropped)",
    )
    p.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        help="feed numeric columns as they are (default: standardised with the training "
        "rows' mean and standard deviation)",
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hidden",
        type=common.hidden_sizes,
        default=None,
        metavar="SIZES",
        help="hidden layer sizes, comma-separated ('none' for no hidden layer) (default: "
        "16,16; with --resume, the model's own: another is refused)",
    )
    p.add_argument(
        "--act",
        choices=common.ACTIVATIONS,
        default=None,
        help="hidden activation (default: tanh; with --resume, the model's own: another is "
        "refused)",
    )
    common.add_loss_option(
        p, help="default: softmax_ce for classes (two included), mse for numbers"
    )


def _add_schedule_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--optim", choices=("sgd", "adam"), default="adam", help="the optimizer")
    p.add_argument(
        "--lr", type=common.positive_float, help="learning rate (default: adam 0.01, sgd 1.0)"
    )
    p.add_argument(
        "--schedule",
        choices=("linear", "constant"),
        default="linear",
        help="linear: the rate falls to lr/10 over the run, as in micrograd's demo",
    )
    p.add_argument(
        "--l2",
        type=common.nonnegative_float,
        default=DEFAULT_L2,
        help=f"L2 penalty: adds L2 * sum(w * w) to the mean loss (default: {DEFAULT_L2:g})",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=common.positive_int, help="batches to train on (default: epochs)"
    )
    length.add_argument(
        "--epochs", type=common.positive_int, help=f"passes (default: {DEFAULT_EPOCHS})"
    )
    p.add_argument(
        "--batch-size",
        type=common.positive_int,
        default=32,
        help="rows per batch (as many as the training rows or more: the full batch)",
    )


def _patience(text: str) -> int | None:
    """--patience: a whole number >= 0, or 'none' (0 and none: no early stopping)."""
    if text.strip().lower() == "none":
        return None
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 or 'none', got {text!r}")
    return n or None


def _add_stopping_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--validation-fraction",
        type=common.fraction,
        default=DEFAULT_VALIDATION,
        metavar="F",
        help="training rows held out to validate on each epoch (the numbers are standardised "
        "without them), stratified by class; none when that is under 10 rows; 0: no "
        f"validation split (default: {DEFAULT_VALIDATION:g})",
    )
    p.add_argument(
        "--patience",
        type=_patience,
        default=DEFAULT_PATIENCE,
        metavar="N",
        help="stop once the validation loss has not improved for N epochs and keep the best "
        "epoch's weights; --epochs is then the most; 0 or none: train every epoch "
        f"(default: {DEFAULT_PATIENCE})",
    )


def _check_outputs(args) -> str | None:
    """Why this run's files could not be written, found before any training is done."""
    out = args.out if args.out is not None else common.OUT_ROOT
    problem = common.check_folder_for(out, "--out")
    if problem:
        return problem
    if args.save:
        inputs = (args.data,) if os.path.isfile(args.data) else ()
        return common.check_file_for(args.save, "--save", inputs, "model.json")
    return None


def run(args: argparse.Namespace) -> int:
    problem = _check_outputs(args)
    if problem:
        return common.fail("train", problem)
    return common.in_run_folder(args, "train", _train)


def _train(args: argparse.Namespace, folder: RunFolder) -> int:
    from tapegrad import tables
    from tapegrad import train as training
    from tapegrad.pages.report import MOMENTS

    try:
        source = args.data
        if args.data in common.DATA_NAMES:
            source = tables.builtin_table(args.data, seed=args.seed)
        # every option named as a fit_table setting is one (--no-progress sets progress)
        names = [f.name for f in fields(tables.TableSettings) if hasattr(args, f.name)]
        settings = {name: getattr(args, name) for name in names}
        with common.live_page(args, f"tapegrad train: {args.data}") as control:
            with training.controlled(control) if control is not None else nullcontext():
                result = tables.fit_table(
                    source,
                    args.label,
                    resume=args.resume,
                    log=common.say,
                    snapshots=MOMENTS,
                    **settings,
                )
    except (ValueError, OSError, ImportError) as err:  # a DataError is a ValueError
        return common.fail("train", str(err))
    try:
        argv = getattr(args, "argv", None)
        command = shlex.join(["tapegrad", *argv]) if argv is not None else None
        written = result.save(folder, model_path=args.save, extras=_pictures, command=command)
    except ValueError as err:  # the folder changed under the run (a RunFolderError)
        return common.fail("train", str(err))
    except OSError as err:
        return common.fail("train", common.cannot_write(err))
    status = common.OK
    if result.diverged is not None:
        status = common.fail(
            "train",
            f"{result.diverged} (--lr {result.diverged.lr / 10:.3g}"
            + (", --optim adam" if args.optim == "sgd" else "")
            + "); the model saved holds those weights",
        )
    common.say(common.where_it_went(folder.path, written))
    return status


def _pictures(result: TableFit, folder: str) -> list[str]:
    """loss.png, decision_boundary.png and report.html: the run's pictures and its report."""
    from tapegrad import plots
    from tapegrad.pages.report import report

    written = []
    if len(result.history):
        path = os.path.join(folder, "loss.png")
        plots.loss_curves(result.history, path)
        written.append(path)
    picture = _decision_boundary(result, folder)
    if picture:
        written.append(picture)
    path = os.path.join(folder, "report.html")
    title = f"{result.model!r} on {result.settings['data']}"
    settings, prep = result.settings, result.preprocessor
    # a regression's label in its own units (the network sees it standardised)
    units = None if prep.is_classifier else (prep.target_mean, prep.target_scale)
    outputs = prep.classes if prep.is_classifier else [prep.label_name or "label"]
    report(result.history, result.model, result.X, result.y, path, loss=result.loss,
           l2=settings["l2"], settings=settings, title=title, rows=result.train,
           input_names=prep.output_names, output_names=outputs, target_scale=units)  # fmt: skip
    written.append(path)
    return written


def _decision_boundary(result: TableFit, folder: str) -> str | None:
    """decision_boundary.png for a classifier of two numeric features (drawn in the
    standardised units the network sees), unless the model is too big to draw quickly."""
    from tapegrad import plots

    if not result.preprocessor.is_classifier or result.X.shape[1] != 2:
        return None
    n = len(result.model.parameters())
    if n > MAX_PICTURE_PARAMETERS:
        common.say(
            f"decision_boundary.png skipped: the model has {n:,} parameters (the picture is "
            f"drawn up to {MAX_PICTURE_PARAMETERS:,})"
        )
        return None
    path = os.path.join(folder, "decision_boundary.png")
    plots.decision_boundary(result.model, result.X, result.y, path)
    return path
