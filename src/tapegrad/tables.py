"""Training on a table, as one call: `fit_table` reads a CSV file (a DataFrame, arrays), infers
the label, splits the rows stratified by class, fits the preprocessing, trains an MLP and
evaluates it. A `TableModel` is the network with its preprocessing and loss. The defaults
(`TableSettings`) trained small tables best in `benchmarks/table_defaults.py`. `read_table`,
`Table` and `Preprocessor` live in `tapegrad.preprocessing` and are importable from here too.

Example:
  >>> result = fit_table("iris.csv", "species", epochs=20, progress=False)  # doctest: +SKIP
  >>> result.metrics["test"]["accuracy"]  # doctest: +SKIP
  0.966...
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__, checkpoint, limits, optim
from . import train as training
from ._files import RunFolder, write_text
from .data import MAX_CLASSES, DataError, split_indices
from .losses import TABLE as LOSSES
from .losses import default_loss, lookup
from .losses import l2 as l2_penalty
from .nn import MLP
from .preprocessing import (
    FORMAT,
    MAX_CATEGORIES,
    MAX_COLUMNS,
    VERSION,
    Preprocessor,
    Table,
    builtin_table,
    read_table,
)
from .valuemath import data_of

if TYPE_CHECKING:
    import numpy.typing as npt

    from .optim import Optimizer
    from .train import History, TrainingDiverged

__all__ = [
    "DEFAULT_EPOCHS",
    "DEFAULT_L2",
    "DEFAULT_LR",
    "DEFAULT_PATIENCE",
    "DEFAULT_VALIDATION",
    "MAX_CATEGORIES",
    "MAX_CLASSES",
    "MAX_COLUMNS",
    "Preprocessor",
    "Table",
    "TableFit",
    "TableModel",
    "TableSettings",
    "builtin_table",
    "fit_table",
    "plain",
    "r_squared",
    "read_table",
]

DEFAULT_EPOCHS = 100
DEFAULT_LR = {"sgd": 1.0, "adam": 0.01}
DEFAULT_VALIDATION = 0.2
"""The training rows held out to stop on (a tenth stopped noisily: 36 rows of diabetes)."""
DEFAULT_PATIENCE = 20
DEFAULT_L2 = 1e-3
"""Weight decay, the middle of those tried in benchmarks/table_defaults.py: digits lost 1.7 points
to scikit-learn at 1e-4 and 1.9 at 1e-2 (0.6 at 1e-3); diabetes' R² 0.10 at 1e-4 (0.07)."""
MIN_VALIDATION_ROWS = 10
"""A validation split is taken only when it gets this many rows (at 10 %: 100 training rows)."""


# --- a model with its preprocessing ----------------------------------------------------------


def plain(nin: int, n_outputs: int, loss: str) -> Preprocessor:
    """The preprocessing of a model saved without one: `nin` numeric columns as they are, by
    position, and the label as the loss codes it (classes "0", "1", ...; numbers for mse)."""
    spec = lookup(loss)
    classifier = spec.kind != "regression"
    k = 2 if spec.kind == "binary" else n_outputs
    return Preprocessor.from_dict(
        {
            "format": FORMAT,
            "version": VERSION,
            "task": "classification" if classifier else "regression",
            "label": "label",
            "label_position": nin,
            "width": nin + 1,
            "header": False,
            "standardize": False,
            "classes": [str(i) for i in range(k)] if classifier else None,
            "numeric_classes": classifier,
            "target": [0.0, 1.0],
            "features": [
                {"name": f"x{i}", "position": i, "mean": 0.0, "scale": 1.0} for i in range(nin)
            ],
        }
    )


@dataclass
class TableModel:
    """A trained network with the preprocessing and the loss it was trained with, so that every
    use of it maps a table's cells to inputs, and outputs to the label's values, the same way.

    Example:
      >>> tm = TableModel.load("tapegrad-out/train/model.json")  # doctest: +SKIP
      >>> tm.predict(read_table("iris.csv"))[:2]  # doctest: +SKIP
      ['setosa', 'setosa']
    """

    model: MLP
    preprocessor: Preprocessor
    loss: str
    compile: bool = True  # run the forward pass on a recorded tape (same numbers, faster)

    @classmethod
    def load(cls, path: str | os.PathLike, compile: bool = True) -> TableModel:
        """Read a checkpoint (one saved without preprocessing takes its inputs as they are)."""
        model = checkpoint.load(path)
        loss, prep = checkpoint.load_training(path)
        k = model.nouts[-1]
        loss = loss or default_loss("binary" if k == 1 else "classes")
        if prep is None:
            prep = plain(model.nin, k, loss)
        elif prep.n_inputs != model.nin:
            raise DataError(
                f"{path}: the stored preprocessing makes {prep.n_inputs} inputs but the model "
                f"takes {model.nin}"
            )
        return cls(model, prep, loss, compile)

    def save(self, path: str | os.PathLike, optimizer: Optimizer | None = None) -> None:
        """Write the model, its loss and its preprocessing to one checkpoint, atomically."""
        checkpoint.save(
            self.model, path, optimizer=optimizer, loss=self.loss, preprocessor=self.preprocessor
        )

    def outputs(self, table: Table) -> np.ndarray:
        """The network's raw outputs: (n,) for one output, (n, k) for k."""
        X = self.preprocessor.transform(table)
        return training.outputs(self.model, X, compile=self.compile)

    def predict(self, table: Table) -> list[str] | np.ndarray:
        """The label's own values for every row: class names, or a regression's numbers."""
        return self.preprocessor.decode_labels(lookup(self.loss).predict(self.outputs(table)))

    def probabilities(self, outputs: np.ndarray) -> np.ndarray | None:
        """Per-class probabilities from raw outputs (softmax_ce, bce); None for hinge and mse."""
        if self.loss == "softmax_ce":
            z = outputs.reshape(len(outputs), -1)
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
        if self.loss == "bce":
            p = 0.5 * (1.0 + np.tanh(0.5 * outputs.reshape(-1)))  # the logistic, overflow-free
            return np.column_stack([1.0 - p, p])
        return None

    def predict_proba(self, table: Table) -> np.ndarray:
        """Per-class probabilities, a column per class (a ValueError for hinge and mse)."""
        p = self.probabilities(self.outputs(table))
        if p is None:
            raise ValueError(f"a model trained with {self.loss} gives no probabilities")
        return p

    def evaluate(self, table: Table) -> dict:
        """{"loss", "accuracy" or "r2" (the other None), "rows"} on a table with the label."""
        X, y = self.preprocessor.transform(table), self.preprocessor.encode_labels(table)
        return self._evaluate(X, y)

    def _evaluate(self, X: np.ndarray, y: np.ndarray) -> dict:
        """`evaluate` on a table's inputs and coded labels (as `transform` and `encode_labels`
        give them): `fit_table` measures its splits so, without copying the table."""
        m = training.evaluate(self.model, X, y, loss=self.loss, compile=self.compile)
        r2 = None
        if not self.preprocessor.is_classifier:
            predicted = lookup(self.loss).predict(training.outputs(self.model, X, self.compile))
            r2 = r_squared(
                self.preprocessor.decode_labels(y), self.preprocessor.decode_labels(predicted)
            )
        return {"loss": m["loss"], "accuracy": m["accuracy"], "r2": r2, "rows": len(X)}


def r_squared(y: npt.ArrayLike, predicted: npt.ArrayLike) -> float | None:
    """scikit-learn's r2_score, 1 - RSS / TSS; None when every target is the same."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0.0:
        return None
    return 1.0 - float(np.sum((y - predicted) ** 2)) / total


# --- the workflow: one call from a table to a trained, evaluated model -----------------------


@dataclass
class TableSettings:
    """How `fit_table` reads, splits and trains: each field is one of its keywords, and one of
    `tapegrad train`'s options (see its --help). `task`, `drop`, `drop_missing`, `categorical`
    and `standardize` are `Preprocessor`'s and `read_table`'s; `l2`, `steps`, `epochs`, ...
    `tapegrad.train.fit`'s; `loss` defaults to softmax_ce for classes, mse for numbers; `lr` to
    `DEFAULT_LR`; "linear" `schedule` falls to lr/10 over the run, as in micrograd's demo.
    `hidden` and `act` default to (16, 16) and "tanh", or when resuming to the model's own (a
    different one is a ValueError: a saved model's shape cannot change).
    `validation_fraction` of the training rows (stratified, seeded; none when that is under
    MIN_VALIDATION_ROWS rows) are held out and measured every epoch: training stops once their
    loss has not improved for `patience` epochs (None or 0: never) and keeps the best epoch's
    weights. `epochs` (or `steps`) is then the most the run takes."""

    task: str = "auto"
    drop: Sequence[int | str] = ()
    drop_missing: bool = False
    categorical: Sequence[int | str] = ()
    standardize: bool = True
    hidden: Sequence[int] | None = None
    act: str | None = None
    loss: str | None = None
    optim: str = "adam"
    lr: float | None = None
    schedule: str = "linear"
    l2: float = DEFAULT_L2
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 32
    test_fraction: float = 0.2
    validation_fraction: float = DEFAULT_VALIDATION
    patience: int | None = DEFAULT_PATIENCE
    seed: int = 1337
    compile: bool = True
    progress: bool | str = True
    snapshots: int = 0

    def __post_init__(self) -> None:
        if self.optim not in DEFAULT_LR:
            raise ValueError(f"optim must be 'adam' or 'sgd', got {self.optim!r}")
        if self.schedule not in ("linear", "constant"):
            raise ValueError(f"schedule must be 'linear' or 'constant', got {self.schedule!r}")
        f = self.validation_fraction
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 <= f < 1:
            raise ValueError(f"validation_fraction must be a number in [0, 1), got {f!r}")
        p = self.patience
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or p < 0):
            raise ValueError(f"patience must be a whole number >= 0 or None, got {p!r}")

    @property
    def rate(self) -> float:
        """The learning rate the run starts at."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optim]

    def length(self, n_train: int) -> tuple[int | None, int | None, int]:
        """(steps, epochs, total optimizer steps) of a run on `n_train` rows."""
        if self.steps is not None:
            return self.steps, None, self.steps
        epochs = self.epochs or DEFAULT_EPOCHS
        return None, epochs, epochs * math.ceil(n_train / min(self.batch_size, n_train))


@dataclass
class TableFit:
    """What `fit_table` did: the model, history, each split's rows and `metrics` (the training
    rows' with the L2 term), every row's inputs X and coded targets y, the settings as used,
    and the TrainingDiverged that stopped the run early, if one did."""

    table_model: TableModel
    history: History
    metrics: dict[str, dict]
    table: Table
    train: np.ndarray
    test: np.ndarray
    X: np.ndarray
    y: np.ndarray
    optimizer: Optimizer
    settings: dict
    diverged: TrainingDiverged | None = None
    folder: str | None = None
    files: list[str] = field(default_factory=list)
    validation: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))

    @property
    def model(self) -> MLP:
        """The trained network."""
        return self.table_model.model

    @property
    def preprocessor(self) -> Preprocessor:
        """How the table's cells became the network's inputs and targets."""
        return self.table_model.preprocessor

    @property
    def loss(self) -> str:
        """The loss it was trained with (how its outputs are read)."""
        return self.table_model.loss

    def __repr__(self) -> str:
        test = self.metrics.get("test", {})
        score = "" if test.get("accuracy") is None else f", test accuracy {test['accuracy']:.3f}"
        return f"TableFit({self.model!r}, {self.loss}, {len(self.history)} entries{score})"

    def summary(self) -> list[str]:
        """The run in a few lines: the model and its run, then each split's metrics."""
        h = self.history
        lines = [f"{self.model!r}: loss {self.loss}, {len(h)} {h.unit}s, {h.seconds:.3g} s"]
        splits = (("train", self.train), ("valid", self.validation), ("test", self.test))
        for name, rows in splits:
            if name not in self.metrics:
                continue
            m = self.metrics[name]
            l2 = "l2_term" in m and self.settings["l2"]
            extra = f", L2 term {m['l2_term']:.4f}" if l2 else ""
            if m["accuracy"] is not None:
                extra += f", accuracy {m['accuracy']:.1%}"
            if m["r2"] is not None:
                extra += f", R² {m['r2']:.4f}"
            lines.append(f"{name:<5} ({len(rows)} rows): loss {m['loss']:.4f}{extra}")
        if h.stopped:
            lines.append(h.stopped)
        return lines + _overfitting(self.metrics, self.settings, len(self.validation))

    def save(
        self,
        folder: str | os.PathLike | RunFolder,
        *,
        model_path: str | os.PathLike | None = None,
        extras: Callable[[TableFit, str], list[str]] | None = None,
        command: str | None = None,
        force: bool = False,
    ) -> list[str]:
        """Write the run into its own `folder`: the model (at `model_path` or model.json),
        history.json, what `extras(self, folder)` writes, run.json; their paths. The folder is
        taken as a `RunFolder` (refused when another run uses it, or when it is not empty
        unless `force`, which replaces the run in it) and its files appear together."""
        if isinstance(folder, RunFolder):
            return self._save(folder, model_path, extras, command)
        with RunFolder(folder, force=force, what="folder") as run:
            return self._save(run, model_path, extras, command)

    def _save(self, run: RunFolder, model_path, extras, command) -> list[str]:
        staged = []  # paths in the staging folder, each named by its final path in run.json
        path = run.file("model.json")
        if model_path and not _same_folder(os.path.dirname(os.fspath(model_path)), run.path):
            path = os.fspath(model_path)  # elsewhere: tapegrad.save, as the user named it
        elif model_path:
            path = run.file(os.path.basename(os.fspath(model_path)))
        self.table_model.save(path, optimizer=self.optimizer)
        staged.append(path)
        path = run.file("history.json")
        doc = {"data": self.settings["data"], "loss": self.loss, **self.history.to_dict()}
        write_text(path, json.dumps(doc, indent=1) + "\n")
        staged.append(path)
        if extras is not None:
            staged += extras(self, run.staging)
        staged.append(run.file("run.json"))
        files = [run.final(f) for f in staged]
        write_text(staged[-1], json.dumps(self._run_doc(command, files), indent=1) + "\n")
        run.commit()
        self.folder, self.files = run.path, files
        return files

    def _run_doc(self, command: str | None, files: list[str]) -> dict:
        """run.json: the exact command, every setting as used, the data, the outcome, the files."""
        return {
            "command": command,
            "tapegrad": __version__,
            "settings": self.settings,
            "data": {
                "rows": len(self.table),
                "train_rows": len(self.train),
                "validation_rows": len(self.validation),
                "test_rows": len(self.test),
                "dropped_rows": self.table.dropped,
                "inferred": self.preprocessor.describe(),
            },
            "outcome": {
                "status": "diverged" if self.diverged else "done",
                "message": str(self.diverged) if self.diverged else None,
                "entries": len(self.history),
                "seconds": self.history.seconds,
                **self.metrics,
            },
            "files": list(files),
        }


def fit_table(
    source: str | os.PathLike | Table | npt.ArrayLike,
    target: int | str | npt.ArrayLike | None = None,
    *,
    resume: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
    **settings: Any,
) -> TableFit:
    """Train an MLP on a table in one call, as `tapegrad train` does, and evaluate it.

    Args:
      source: a CSV file's path, a `Table`, a pandas DataFrame, or an array X of numbers.
      target: the label column (name or index; default the last) for a file, Table or
        DataFrame; for an array X, its labels y (numbers or class names).
      resume: continue from a saved model (a model.json, or a folder holding one): its
        preprocessing, weights and, when saved, optimizer state.
      out: a folder to save the run into (`TableFit.save`), taken before training starts;
        None writes nothing.
      force: `out` may hold an earlier run, whose files this run's replace.
      log: called with each line worth showing (what was inferred, then the metrics).
      **settings: any field of `TableSettings` (hidden, act, loss, optim, lr, epochs, ...).

    Returns:
      A TableFit: the model, preprocessor, history, metrics and, with `out`, the files.

    Raises:
      DataError or ValueError (nothing is trained; a LimitError for a size over
      `tapegrad.limits`), CheckpointError (`resume`), RunFolderError (`out`), OSError.
    """
    if out is None:
        return _fit_table(source, target, resume, log, TableSettings(**settings))
    opts = TableSettings(**settings)
    with RunFolder(out, force=force, what="out") as run:
        result = _fit_table(source, target, resume, log, opts)
        result.save(run)
        return result


def _fit_table(source, target, resume, log, opts: TableSettings) -> TableFit:
    """`fit_table` without `out`."""
    resumed, resume_path = _resumed(resume, opts.compile)
    table, label, name = _as_table(source, target, opts)
    prep, train, test = _learn(table, label, opts, resumed)
    train, held = _held_out(prep, table, train, opts)
    if resumed is None and len(held):  # standardised by the rows trained on, not the held-out
        prep.refit(table, train)
    loss = _loss(opts.loss or (resumed.loss if resumed else None), prep)
    shape = _shape(prep, loss, opts, resumed, resume)  # every size checked before X is made
    splits = [prep.transform(table, rows=rows) for rows in (train, held, test)]  # not all at once
    y = prep.encode_labels(table)
    training.prepare_targets(y, loss)  # labels the loss cannot take fail here, not mid-run
    model = resumed.model if resumed else _network(prep, shape, opts)
    if model.nin != splits[0].shape[1]:
        raise DataError(f"{resume} takes {model.nin} inputs but {name} gives {splits[0].shape[1]}")
    steps, epochs, total = opts.length(len(train))
    optimizer = _optimizer(opts, model, total, resume_path)
    if log:
        dropped = f" (after dropping {table.dropped} {table.dropped_why})" if table.dropped else ""
        log(f"{name}: {len(table)} rows{dropped}; {prep.describe()}")
    parts = ((splits[0], y[train]), (splits[1], y[held]), (splits[2], y[test]))
    history, diverged = _train(model, loss, optimizer, parts, opts, steps, epochs)
    tm = TableModel(model, prep, loss, compile=opts.compile)
    settings = _settings(opts, name, tm, (steps, epochs, total), resume)
    metrics = _metrics(tm, parts, opts.l2)
    del splits, parts  # a big table's inputs are held once: each split's, then every row's
    X = prep.transform(table)
    result = TableFit(tm, history, metrics, table, train, test, X, y, optimizer, settings,
                      diverged, validation=held)  # fmt: skip
    if log:
        for line in result.summary():
            log(line)
    return result


def _same_folder(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a or ".", b)
    except OSError:
        return False


def _resumed(resume, compile: bool) -> tuple[TableModel | None, str | None]:
    """The model `resume` names (a file, or a folder holding model.json), and its path."""
    if resume is None:
        return None, None
    path = os.fspath(resume)
    if os.path.isdir(path):
        path = os.path.join(path, "model.json")
    try:
        return TableModel.load(path, compile=compile), path
    except (checkpoint.CheckpointError, DataError, OSError) as err:
        raise checkpoint.CheckpointError(f"cannot resume: {err}") from err


def _as_table(source, target, opts: TableSettings) -> tuple[Table, int | str, str]:
    """(the source as a Table, its label column, its name for messages and run.json)."""
    label, name = -1 if target is None else target, None
    if isinstance(source, str | os.PathLike):  # the dropped columns are never stored
        table, name = read_table(source, drop=opts.drop), os.fspath(source)
    elif isinstance(source, Table):
        table = source
    elif callable(getattr(source, "to_csv", None)):  # a pandas DataFrame
        table = Table.from_frame(source)
    else:
        if target is None:
            raise ValueError("an array X needs its labels: fit_table(X, y)")
        table, label = Table.from_arrays(source, target), "target"
    if opts.drop and name is None:
        table = table.without(opts.drop)
    if opts.drop_missing:
        table = table.without_missing()
    table = table.without_missing([label])  # a row without its label cannot train
    return table, label, name or table.name


def _learn(table: Table, label, opts: TableSettings, resumed: TableModel | None):
    """(the preprocessing, the training rows, the test rows): the resumed model's, or new."""
    if resumed is not None:
        prep = resumed.preprocessor
        strata = prep.encode_labels(table) if prep.is_classifier else None
        train, test = split_indices(len(table), opts.test_fraction, opts.seed, strata)
        return prep, train, test
    task = opts.task
    if task == "auto" and opts.loss is not None:  # what the loss implies
        task = "regression" if LOSSES[opts.loss].kind == "regression" else "classification"
    prep = Preprocessor(
        label=label, task=task, categorical=opts.categorical, standardize=opts.standardize
    )
    train, test = prep.fit_split(table, opts.test_fraction, opts.seed)
    return prep, train, test


def _loss(loss: str | None, prep: Preprocessor) -> str:
    """The loss asked for, or the task's default; a ValueError when it cannot train the label."""
    if loss is None:
        loss = default_loss("classes" if prep.is_classifier else "regression")
    kind, column = lookup(loss).kind, prep.label_name
    if prep.is_classifier and kind == "regression":
        raise ValueError(
            f"{loss} trains a regression, but column {column!r} holds classes; use "
            "loss='softmax_ce' (--loss softmax_ce), or task='regression' (--task regression) "
            "for numbers"
        )
    if not prep.is_classifier and kind != "regression":
        raise ValueError(
            f"{loss} trains classes, but column {column!r} is a regression target; use "
            "loss='mse' (--loss mse), or task='classification' (--task classification)"
        )
    if kind == "binary" and prep.n_classes != 2:
        raise ValueError(
            f"{loss} needs two classes, column {column!r} has {prep.n_classes}; use "
            "loss='softmax_ce' (--loss softmax_ce)"
        )
    return loss


def _shape(prep: Preprocessor, loss: str, opts: TableSettings, resumed, resume) -> list[int]:
    """The network's layer sizes, checked against `tapegrad.limits` from the numbers alone
    (what `load` and `predict` will take back): the resumed model's, or hidden + outputs."""
    limits.check("{} feature columns", len(prep.features), limits.MAX_COLUMNS)
    limits.check("{} network inputs", prep.n_inputs, limits.MAX_INPUTS)
    if resumed is not None:
        kept = resumed.model
        for name, asked, own in (
            ("hidden", opts.hidden, kept.nouts[:-1]),
            ("act", opts.act, kept.act),
        ):
            if asked is not None and (list(asked) if name == "hidden" else asked) != own:
                raise ValueError(
                    f"{resume} has {name} {own!r} but {name} {asked!r} was asked (--{name}); a "
                    f"resumed model keeps its own: leave --{name} out, or train a new model"
                )
        return list(kept.nouts)
    nout = lookup(loss).n_outputs(prep.n_classes)
    sizes = [*(opts.hidden if opts.hidden is not None else (16, 16)), nout]
    limits.check_network(prep.n_inputs, sizes)
    return sizes


def _network(prep: Preprocessor, sizes: list[int], opts: TableSettings) -> MLP:
    act = opts.act if opts.act is not None else "tanh"
    return scaled_init(MLP(prep.n_inputs, sizes, act=act, seed=opts.seed))


def scaled_init(model: MLP) -> MLP:
    """Scale each layer's initial weights to Glorot and Bengio's uniform range,
    +-sqrt(6 / (fan_in + fan_out)) (scikit-learn's MLP starts so too), from micrograd's +-1
    (the same draws, so a seed gives the same network): at +-1 a table's 30 or 64 standardised
    columns saturate tanh before the first step, and the network starts far from a smooth
    function. Returns the model."""
    for layer in model.layers:
        bound = math.sqrt(6.0 / (layer.nin + layer.nout))
        for neuron in layer.neurons:
            for w in neuron.w:
                w.data *= bound
    return model


class _Offset:
    """A schedule started `offset` steps late: a resumed optimizer keeps its step count."""

    def __init__(self, schedule: Callable[[int], float], offset: int) -> None:
        self.schedule, self.offset = schedule, offset

    def __call__(self, k: int) -> float:
        return self.schedule(k - self.offset)

    def __repr__(self) -> str:
        return f"{self.schedule!r} from step {self.offset}"


def _optimizer(opts: TableSettings, model: MLP, total: int, resume_path: str | None):
    """The optimizer asked for, with the saved state of one of its kind when resuming."""
    lr = opts.rate
    schedule = optim.linear(lr, lr * 0.1, total) if opts.schedule == "linear" else lr
    make = optim.SGD if opts.optim == "sgd" else optim.Adam
    opt = make(model.parameters(), lr=schedule)
    if resume_path is not None:
        try:
            checkpoint.load_optimizer(resume_path, opt)
        except checkpoint.CheckpointError:
            return opt  # saved without optimizer state, or another optimizer: start afresh
        if callable(schedule) and opt.step_count:
            opt.lr = _Offset(schedule, opt.step_count)
    return opt


def _train(model, loss, optimizer, splits, opts: TableSettings, steps, epochs):
    """Fit on the training split (X, y), stopping early on the validation split, measured each
    entry; without one, measuring the test split ~20 times: (History, TrainingDiverged or None)."""
    entries = steps or epochs or 0  # one per step or epoch: `length` gives one of the two
    (X, y), held, test = splits
    if len(held[0]):
        history, diverged = _fit(model, loss, optimizer, (X, y), held, opts, steps, epochs, 1)
        history.val_split = "validation"
        return history, diverged
    every = max(1, math.ceil(entries / 20))
    history, diverged = _fit(model, loss, optimizer, (X, y), test, opts, steps, epochs, every)
    history.val_split = "test" if len(test[0]) else None
    return history, diverged


def _fit(model, loss, optimizer, train, val, opts: TableSettings, steps, epochs, every):
    """`training.fit` on (X, y) validating on `val` (early stopping only on a validation split,
    never the test rows): (History, TrainingDiverged or None)."""
    X, y = train
    patience = opts.patience if every == 1 and opts.validation_fraction else None
    try:
        history = training.fit(
            model, X, y, loss=loss, optimizer=optimizer, steps=steps,
            epochs=epochs, batch_size=opts.batch_size, seed=opts.seed, l2=opts.l2,
            progress=opts.progress, validation=val if len(val[0]) else None,
            eval_every=every, compile=opts.compile, snapshots=opts.snapshots,
            patience=patience,
        )  # fmt: skip
    except training.TrainingDiverged as err:
        return err.history, err
    return history, None


def _metrics(tm: TableModel, splits, l2: float) -> dict[str, dict]:
    """`TableModel.evaluate` on each split (X, y) that has rows (from its inputs and coded
    labels, not a copy of the table's rows); the training rows' with the L2 term."""
    penalty = float(data_of(l2_penalty(tm.model, l2))) if l2 else 0.0
    out = {}
    for name, (X, y) in zip(("train", "valid", "test"), splits, strict=True):
        if len(X):
            m = tm._evaluate(X, y)
            out[name] = {**m, **({"l2_term": penalty} if name == "train" else {})}
    return out


def _settings(opts: TableSettings, name: str, tm: TableModel, length, resume) -> dict:
    """Every setting as used (run.json's and a report's)."""
    steps, epochs, total = length
    return {
        "data": name,
        "label": tm.preprocessor.label_name,
        "task": "classification" if tm.preprocessor.is_classifier else "regression",
        "drop": list(opts.drop),
        "drop_missing": opts.drop_missing,
        "standardize": opts.standardize,
        "hidden": list(tm.model.nouts[:-1]),
        "act": tm.model.act,
        "loss": tm.loss,
        "optim": opts.optim,
        "lr": opts.rate,
        "schedule": opts.schedule,
        "l2": opts.l2,
        "steps": steps,
        "epochs": epochs,
        "optimizer_steps": total,
        "batch_size": opts.batch_size,
        "test_fraction": opts.test_fraction,
        "validation_fraction": opts.validation_fraction,
        "patience": opts.patience or None,
        "seed": opts.seed,
        "compile": opts.compile,
        "resume": None if resume is None else os.fspath(resume),
    }


def _held_out(prep: Preprocessor, table: Table, train: np.ndarray, opts: TableSettings):
    """(training rows, validation rows): `validation_fraction` of the training rows, stratified
    by class and seeded, or none when that would be under MIN_VALIDATION_ROWS rows."""
    n_val = math.ceil(opts.validation_fraction * len(train))
    if n_val < MIN_VALIDATION_ROWS or len(train) - n_val < MIN_VALIDATION_ROWS:
        return train, train[:0]
    strata = prep.encode_labels(table)[train] if prep.is_classifier else None
    keep, held = split_indices(len(train), opts.validation_fraction, opts.seed + 1, strata)
    return train[keep], train[held]


def _overfitting(metrics: dict[str, dict], settings: dict, validation_rows: int) -> list[str]:
    """One line when the training rows score far above the held-out ones (R² by more than
    0.2, accuracy by more than 0.1), with the option most likely to help: early stopping when
    the run went without it, else a larger L2 penalty; none when they score alike."""
    held = metrics.get("test") or metrics.get("valid")
    train = metrics.get("train")
    if not held or not train:
        return []
    for key, name, gap, shown in (
        ("r2", "R²", 0.2, "{:.3f}"),
        ("accuracy", "accuracy", 0.1, "{:.1%}"),
    ):
        a, b = train.get(key), held.get(key)
        if a is not None and b is not None and a - b > gap:
            which = "test" if "test" in metrics else "validation"
            return [
                f"overfitting: train {name} {shown.format(a)} but {which} {shown.format(b)}; "
                + _remedy(settings, validation_rows)
            ]
    return []


def _remedy(settings: dict, validation_rows: int) -> str:
    """What to try against overfitting, given how the run was made."""
    if validation_rows and not settings.get("patience"):
        return f"early stopping may help (--patience {DEFAULT_PATIENCE})"
    if not validation_rows and not settings.get("validation_fraction"):
        return (
            f"early stopping may help (--validation-fraction {DEFAULT_VALIDATION:g}, held out "
            "of the training rows)"
        )
    more = f"{max(1e-2, settings.get('l2', 0.0) * 10):g}"
    return f"a larger L2 penalty may help (--l2 {more})"
