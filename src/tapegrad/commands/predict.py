"""`tapegrad predict`: a saved model's predictions for a CSV file or a built-in data set, in
the label's own values, through the preprocessing stored with it (`tables.TableModel`). The
output is the input's columns with the label column filled in (and --proba's columns); with
the label present, the loss and accuracy (or R²) are printed too (on the rows whose label is
not missing).

Missing cells are imputed as training learnt (`tapegrad.preprocessing`), so every row gets a
prediction; with --drop-missing the rows with a missing cell are left out of the output instead,
and their count is printed. Cells of a text column holding a category training never saw are
encoded as none of the known ones, and counted in one warning line on stderr.

The CSV is formula-safe, as OWASP's CSV-injection advice has it: a cell (header, class name or
text) that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in front, so
a spreadsheet shows it as text instead of running it; a plain number (`-1.5`, `+2e-3`) cannot
be a formula and stays a number. `--raw-csv` writes every cell as it is."""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys

from ..markup import terminal_text
from .common import OK, add_data_options, add_loss_option, check_file_for, fail, say

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula (OWASP's list)."""
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "predict",
        help="write a saved model's predictions for a CSV file or a data set",
        description="Load a model saved by `tapegrad train` or `tapegrad demo` and write one "
        "prediction per row of the data to a CSV file, in the label's own values.",
        epilog="example: tapegrad predict --model tapegrad-out/train/model.json --data "
        "iris.csv -o predictions.csv",
    )
    p.add_argument("--model", required=True, metavar="PATH", help="a model.json to load")
    add_data_options(p, required=True, label=False)
    p.add_argument(
        "-o",
        "--output",
        default="predictions.csv",
        metavar="PATH",
        help="where to write the predictions",
    )
    p.add_argument("--force", action="store_true", help="replace the output file if it exists")
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="leave the rows with a missing feature cell out of the output (their count is "
        "printed; the label column may be empty); "
        "by default they are imputed as in training and every row gets a prediction",
    )
    p.add_argument(
        "--raw-csv",
        action="store_true",
        help="write every cell as it is; by default a cell (header, class name, text) that "
        "begins with = + - @, a tab or a carriage return gets a ' in front, so a spreadsheet "
        "cannot run it as a formula (plain numbers such as -1.5 stay numbers)",
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="add one column per class: its probability (softmax_ce, bce), or the raw score "
        "(hinge)",
    )
    add_loss_option(
        p,
        help="how to read the outputs (default: the loss the model was trained with, saved in "
        "model.json)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="evaluate all rows on a replayed tape (default); --no-compile: on the eager graph",
    )
    p.set_defaults(run=run)


def _check_output(args) -> str | None:
    """Why the predictions cannot go to -o, found before any work is done."""
    data = args.data if os.path.isfile(args.data) else ""
    problem = check_file_for(args.output, "-o", (args.model, data), "predictions.csv")
    if problem:
        return problem
    if os.path.exists(args.output) and not args.force:
        return f"-o {args.output!r} exists; pass --force to replace it"
    return None


def _has_label(prep, table) -> bool:
    if prep.label_name is None:
        return False
    if table.header and prep.header:
        return prep.label_name in table.columns
    return len(table.columns) == prep.width


def run(args: argparse.Namespace) -> int:
    from tapegrad import tables
    from tapegrad._files import write_text
    from tapegrad.data import DATASETS
    from tapegrad.losses import lookup

    problem = _check_output(args)
    if problem:
        return fail("predict", problem)
    try:  # CheckpointError and DataError are ValueErrors
        tm = tables.TableModel.load(args.model, compile=args.compile)
        tm.loss = args.loss or tm.loss
        prep = tm.preprocessor
        if args.data in DATASETS:
            table = tables.builtin_table(args.data, seed=args.seed)
        else:
            table = tables.read_table(args.data)
        if args.drop_missing:  # the feature columns' cells: the label is not needed
            table = table.without_missing(prep.feature_columns(table))
        outputs = tm.outputs(table)
        predicted = prep.decode_labels(lookup(tm.loss).predict(outputs))
        labelled = _has_label(prep, table)
        metrics = _score(tm, table) if labelled else None
        unseen = prep.unseen(table)
    except (ValueError, OSError, ImportError) as err:
        return fail("predict", str(err))
    if table.dropped:
        say(f"{args.data}: skipped {table.dropped} rows {table.dropped_why} (--drop-missing)")
    if unseen:
        _warn_unseen(unseen)
    extra, extra_names = _extra_columns(args, tm, outputs)
    if isinstance(extra, str):
        return fail("predict", extra)
    try:
        text = _csv(table, prep, predicted, labelled, extra, extra_names, raw=args.raw_csv)
        write_text(args.output, text)
    except OSError as err:
        return fail("predict", f"cannot write {args.output!r}: {err.strerror or err}")
    if metrics is not None:
        score = ""
        if metrics["accuracy"] is not None:
            score = f", accuracy {metrics['accuracy']:.1%}"
        if metrics["r2"] is not None:
            score = f", R² {metrics['r2']:.4f}"
        on = f", on the {metrics['rows']} rows with a label" if metrics["rows"] < len(table) else ""
        say(f"{args.data}: loss {metrics['loss']:.4f}{score} ({tm.loss}{on})")
    say(f"wrote {len(table)} predictions of {prep.label_name or 'label'!r} to {args.output}")
    return OK


def _score(tm, table) -> dict | None:
    """`tm.evaluate` on the rows whose label is not missing (the others are predicted, not
    scored); None when no row has one."""
    rows = tm.preprocessor.labelled(table)
    if not len(rows):
        return None
    return tm.evaluate(table if len(rows) == len(table) else table.take(rows))


def _warn_unseen(unseen: dict[str, int]) -> None:
    """One line on stderr counting, per text column, the cells of unseen categories."""
    counts = [f"{n} cell{'s' * (n != 1)} of {name!r}" for name, n in unseen.items()]
    line = f"{', '.join(counts)} had categories not seen in training: encoded as none of the "
    line += "known"
    print(f"tapegrad predict: warning: {terminal_text(line)}", file=sys.stderr)


def formula_safe(cell: str) -> str:
    """`cell` as a spreadsheet cannot run it: with a `'` in front if it begins as a formula
    may (`FORMULA_START`), unless it is a plain number."""
    if cell.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _csv(
    table, prep, predicted, labelled: bool, extra, extra_names: list[str], raw: bool = False
) -> str:
    """The input's columns, its label column (if any) replaced by the predictions under the
    label's own name, and the extra columns, as CSV text (formula-safe unless `raw`)."""
    label = prep.label_name or "label"
    skip = table.columns.index(label) if labelled and label in table.columns else None
    if skip is None and labelled:
        skip = prep.label_position
    keep = [c for c in range(len(table.columns)) if c != skip]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    safe = (lambda cell: cell) if raw else formula_safe
    writer.writerow([safe(c) for c in (*(table.columns[c] for c in keep), label, *extra_names)])
    for r, row in enumerate(table.rows):
        value = predicted[r] if prep.is_classifier else repr(float(predicted[r]))
        cells = (*(row[c] for c in keep), value, *(repr(v) for v in extra[r]))
        writer.writerow([safe(cell) for cell in cells])
    return buffer.getvalue()


def _extra_columns(args, tm, outputs):
    """(rows of extra values, their column names) for --proba; a string says why not."""
    import numpy as np

    n = len(outputs)
    if not args.proba:
        return np.zeros((n, 0)), []
    if not tm.preprocessor.is_classifier:
        return "--proba: a regression gives numbers, not class probabilities", []
    p = tm.probabilities(outputs)
    if p is not None:
        return p.tolist(), [f"p_{c}" for c in tm.preprocessor.classes]
    raw = outputs.reshape(n, -1)
    if raw.shape[1] == 1:  # hinge: one score, > 0 for the second class
        return raw.tolist(), [f"score_{tm.preprocessor.classes[1]}"]
    return raw.tolist(), [f"score_{c}" for c in tm.preprocessor.classes]
