"""`tapegrad demo`: micrograd's demo, exactly, and its pictures: 100 "moons" points (noise 0.1,
seed 1337), labels mapped to -1/+1, `MLP(2, [16, 16, 1])` seeded 1337, the SVM hinge loss plus
1e-4 L2, and SGD whose rate falls linearly from 1.0 to 0.1 over 100 full-batch steps."""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING

from . import common

if TYPE_CHECKING:
    import numpy as np

    from .._files import RunFolder
    from ..engine import Value
    from ..nn import MLP
    from ..optim import SGD

SEED = 1337


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="train micrograd's demo MLP on the moons data and draw it",
        description="micrograd's demo: an MLP(2, [16, 16, 1]) learns the moons data with a "
        "hinge loss and SGD; writes decision_boundary.png, loss.png, model.json, "
        "neuron.svg, report.html, history.json and run.json to a new run folder.",
    )
    common.add_out_option(p, "demo")
    p.add_argument(
        "--steps", type=common.positive_int, default=100, help="training steps (default: 100)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--eager",
        action="store_true",
        help="train on the eager Value graph, as micrograd does, instead of the compiled tape "
        "(same numbers, a few hundred times slower)",
    )
    common.add_live_options(p)
    p.set_defaults(run=run)


def lecture_neuron() -> Value:
    """The lecture's neuron o = tanh(x1*w1 + x2*w2 + b), labelled and backpropagated."""
    from tapegrad import Value

    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    s = x1w1 + x2w2
    s.label = "x1*w1 + x2*w2"
    n = s + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return o


def demo_setup(steps: int = 100) -> tuple[np.ndarray, np.ndarray, MLP, SGD]:
    """micrograd's demo pieces: (X, y in {0, 1}, model, SGD with lr(k) = 1 - 0.9 * k / steps)."""
    from tapegrad.data import moons
    from tapegrad.nn import MLP
    from tapegrad.optim import SGD, linear

    X, y = moons(100, noise=0.1, seed=SEED)
    model = MLP(2, [16, 16, 1], seed=SEED)
    optimizer = SGD(model.parameters(), lr=linear(1.0, 0.1, steps))
    return X, y, model, optimizer


def run(args: argparse.Namespace) -> int:
    problem = common.check_folder_for(
        args.out if args.out is not None else common.OUT_ROOT, "--out"
    )
    if problem:
        return common.fail("demo", problem)
    return common.in_run_folder(args, "demo", _demo)


def _paced(args: argparse.Namespace) -> bool:
    """Whether --live slowed the run down to be watched (its automatic pace or --live-pace)."""
    return bool(getattr(args, "live", False)) and args.live_pace != 0


def _demo(args: argparse.Namespace, folder: RunFolder) -> int:
    from tapegrad.pages.report import MOMENTS
    from tapegrad.train import fit

    X, y, model, optimizer = demo_setup(args.steps)
    engine = "eager Value graph" if args.eager else "compiled tape"
    print(f"micrograd's demo: {model!r}, {len(model.parameters())} parameters, 100 moons, {engine}")
    with common.live_page(args, f"tapegrad demo: {model!r} on moons") as control:
        start = time.perf_counter()
        history = fit(
            model,
            X,
            y,
            loss="hinge",
            optimizer=optimizer,
            steps=args.steps,
            l2=1e-4,
            seed=SEED,
            progress=not args.no_progress,
            compile=not args.eager,
            divergence_guard=False,  # micrograd's demo, exactly
            snapshots=MOMENTS,  # for report.html
            control=control,  # --live: the page's hands on the run (None: none)
        )
        seconds = time.perf_counter() - start
    if history.stopped:
        print(history.stopped)
    print(
        f"step {len(history)}: loss {history.loss[-1]:.6f} (data {history.data_loss[-1]:.6f}"
        f" + L2 {history.l2_term[-1]:.6f}), accuracy {history.accuracy[-1]:.1%} "
        f"({seconds:.3g} s of training{', paced for the live page' if _paced(args) else ''})"
    )
    try:
        out = folder.staging  # every file is written here, then put in the folder at once
        written = _write(out, model, X, y, history)
        written.append(_write_report(args, out, model, X, y, history))
        written += _write_records(args, folder, history, written)
        folder.commit()
    except ValueError as err:  # the folder changed under the run (a RunFolderError)
        return common.fail("demo", str(err))
    except OSError as err:
        return common.fail("demo", common.cannot_write(err))
    print(common.where_it_went(folder.path, [folder.final(f) for f in written]))
    return common.OK


def _write_records(args, folder: RunFolder, history, written: list[str]) -> list[str]:
    """history.json and run.json (the exact command and the demo's fixed settings)."""
    import json
    import shlex

    from tapegrad import __version__
    from tapegrad._files import write_text

    history_path = folder.file("history.json")
    write_text(history_path, json.dumps({"data": "moons", "loss": "hinge", **history.to_dict()}))
    run_path = folder.file("run.json")
    argv = getattr(args, "argv", None)
    doc = {
        "command": shlex.join(["tapegrad", *argv]) if argv is not None else None,
        "tapegrad": __version__,
        "settings": _settings(args),
        "outcome": {"loss": history.loss[-1], "accuracy": history.accuracy[-1]},
        "files": [folder.final(f) for f in [*written, history_path, run_path]],
    }
    write_text(run_path, json.dumps(doc, indent=1) + "\n")
    return [history_path, run_path]


def _settings(args) -> dict:
    """The demo's settings, as run.json and report.html show them."""
    return {
        "data": "moons(100, noise=0.1, seed=1337)",
        "model": "MLP(2, [16, 16, 1], act='relu', seed=1337)",
        "loss": "hinge",
        "l2": 1e-4,
        "optim": "sgd",
        "lr": "linear 1.0 -> 0.1",
        "steps": args.steps,
        "compile": not args.eager,
    }


def _write_report(args, out: str, model: MLP, X: np.ndarray, y: np.ndarray, history) -> str:
    """report.html, its samples the origin and one point of each moon."""
    from tapegrad.pages.report import report

    samples = {"origin": [0.0, 0.0]}
    for label in (0, 1):
        i = int((y == label).argmax())
        samples[f"X[{i}] (class {label})"] = X[i].tolist()
    path = os.path.join(out, "report.html")
    title = "micrograd's demo: MLP(2, [16, 16, 1]) on moons"
    report(history, model, X, y, path, loss="hinge", l2=1e-4, settings=_settings(args),
           samples=samples, title=title)  # fmt: skip
    return path


def _write(out: str, model: MLP, X: np.ndarray, y: np.ndarray, history) -> list[str]:
    """The pictures, the model (with its preprocessing) and the lecture's neuron; the paths."""
    from tapegrad import plots
    from tapegrad._files import replacing
    from tapegrad.tables import Preprocessor, Table, TableModel

    written = []
    path = os.path.join(out, "decision_boundary.png")
    plots.decision_boundary(model, X, y, path, title="MLP(2, [16, 16, 1]) on moons")
    written.append(path)
    path = os.path.join(out, "loss.png")
    plots.loss_curves(history, path)
    written.append(path)
    path = os.path.join(out, "model.json")
    prep = Preprocessor(standardize=False).fit(Table.from_arrays(X, y, ["x0", "x1"], "label"))
    TableModel(model, prep, "hinge").save(path)
    written.append(path)
    path = os.path.join(out, "neuron.svg")
    try:
        from tapegrad.viz import draw_dot
    except ModuleNotFoundError as err:
        if err.name != "tapegrad.viz":
            raise
        print("neuron.svg skipped: tapegrad.viz (the graph pictures) is not installed")
    else:
        with replacing(path) as tmp:
            draw_dot(lecture_neuron()).save(tmp)
        written.append(path)
    return written
