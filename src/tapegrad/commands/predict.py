"""`tapegrad predict`: run a saved model over a data set or a CSV file and write its predictions.

A CSV may hold just the model's input columns, or those plus a label column (picked with
--label); with labels, the loss and accuracy are printed too.
"""

from __future__ import annotations

import argparse
import csv
import os

from .common import OK, add_data_options, add_loss_option, fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "predict",
        help="write a saved model's predictions for a data set or a CSV file",
        description="Load a model saved by `tapegrad train` or `tapegrad demo` and write one "
        "prediction per row of the data to a CSV file.",
    )
    p.add_argument("--model", required=True, metavar="PATH", help="a model.json to load")
    add_data_options(p)
    p.add_argument(
        "-o",
        "--output",
        default="predictions.csv",
        metavar="PATH",
        help="where to write the predictions (default: predictions.csv)",
    )
    add_loss_option(
        p,
        help="how to read the outputs (default: the loss the model was trained with, saved in "
        "model.json; else one output is class 1 where > 0, several the argmax class); mse "
        "writes the raw output",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="evaluate all rows on a replayed tape (default); --no-compile: on the eager graph",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import tapegrad
    from tapegrad import checkpoint, data
    from tapegrad.losses import TABLE, default_loss
    from tapegrad.train import evaluate, outputs, predict

    try:
        model = tapegrad.load(args.model)
    except checkpoint.CheckpointError as err:
        return fail("predict", str(err))
    try:
        X, y, names = _load(args, model.nin, data)
    except (data.DataError, OSError, ImportError) as err:
        return fail("predict", str(err))
    if X.shape[1] != model.nin:
        return fail(
            "predict",
            f"{args.model} takes {model.nin} inputs but {args.data} has {X.shape[1]} features",
        )
    k = model.nouts[-1]
    loss = args.loss or checkpoint.trained_loss(args.model)
    loss = loss or default_loss("binary" if k == 1 else "classes")
    try:
        pred = predict(model, X, loss=loss, compile=args.compile)
        raw = outputs(model, X, compile=args.compile)
        metrics = evaluate(model, X, y, loss=loss, compile=args.compile) if y is not None else None
    except ValueError as err:
        return fail("predict", str(err))

    if TABLE[loss].kind == "binary" and y is not None and -1 in y and set(y.tolist()) <= {-1, 1}:
        pred = 2 * pred - 1  # answer in the labels' own coding
    raw = raw.reshape(len(X), -1)
    score_names = ["output"] if raw.shape[1] == 1 else [f"output{j}" for j in range(raw.shape[1])]
    header = [*names, *(["label"] if y is not None else []), "prediction", *score_names]
    parent = os.path.dirname(args.output)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(args.output, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(len(X)):
            label = [_number(y[i])] if y is not None else []
            row = [repr(float(v)) for v in X[i]] + label + [_number(pred[i])]
            writer.writerow(row + [repr(float(v)) for v in raw[i]])
    print(f"wrote {len(X)} predictions to {args.output}")
    if metrics is not None:
        acc = "" if metrics["accuracy"] is None else f", accuracy {metrics['accuracy']:.1%}"
        print(f"{args.data}: loss {metrics['loss']:.4f}{acc} ({loss})")
    return OK


def _number(v) -> str:
    v = v.item() if hasattr(v, "item") else v
    return str(v) if isinstance(v, int) else repr(float(v))


def _load(args, nin: int, data):
    """Features, labels (or None) and feature names; a CSV with exactly `nin` columns has no
    label column, otherwise --label picks it."""
    if args.data in data.DATASETS:
        ds = data.load_dataset(args.data, seed=args.seed)
        return ds.X, ds.y, ds.feature_names
    X, _, names = data.load_csv(args.data, label=None)
    if X.shape[1] == nin:
        return X, None, names
    return data.load_csv(args.data, label=args.label)
