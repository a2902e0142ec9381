"""`report(history, model, X, y)`: one page to look back on a training run with: History's
curves, and each moment `fit(..., snapshots=n)` kept, measured here with its weights (objective,
gradient per layer, decision boundary, each sample's graph as an `explain` view)."""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from .. import losses as L
from ..engine import Value
from ..graph import topological_order
from ..markup import html_text as escape  # the one HTML escaping (see markup)
from ..plots import DecisionGrid, sample_rows
from ..train import History, accuracy, labelled, loss_and_grad
from .explain import ExplainError, Explanation, explain
from .page import HtmlPage, asset, data_and_script, new_id

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..train import _Model  # what `fit` trains: called on a row, lists its parameters

MOMENTS = 11
"""How many moments `tapegrad demo` and `tapegrad train` keep: the start and each tenth."""

MAX_SAMPLE_VALUES = 20_000
"""A sample's graph with more values than this is not drawn (its page would be slow)."""

SMALL_GRAPH = 80
"""A sample's graph with at most this many values is drawn node by node, a larger by layer."""

CHART_W, CHART_H = 460, 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 12, 24, 30  # _LEFT: an 8-character axis label
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


@dataclass
class Moment:
    """What the report measured with the weights of one moment (after `step` entries)."""

    step: int
    objective: float  # mean loss on (X, y) plus l2_term
    l2_term: float
    accuracy: float | None  # None for regression
    norms: list[float]  # per layer, of the objective's gradient
    weight_norms: list[float]
    boundary: str | None  # a PNG data URI, None unless the data are 2-D classes
    views: list[Explanation | str] = field(default_factory=list)  # per sample: a view or why not
    outputs: list = field(default_factory=list)  # the model's outputs on each row measured
    predicted: list = field(default_factory=list)  # class index per row, or the regression's
    confusion: list[list[int]] | None = None  # [true][predicted] counts (None: regression)
    said: list[str] = field(default_factory=list)  # per sample: what the model predicts there
    kept: bool = False  # the weights early stopping kept (the run's best entry)
    val_loss: float | None = None  # the History's validation numbers with these weights
    val_accuracy: float | None = None


@dataclass(eq=False)
class TrainingReport(HtmlPage):
    """The page `report()` made: `_repr_html_` for Jupyter, `save(path)` for a file."""

    title: str
    history: History
    layers: list[tuple[str, int]]  # (name, parameter count) of each layer
    samples: list[tuple[str, list[float]]]  # (name, point) of each sample
    moments: list[Moment]
    settings: dict
    rows: tuple[int, int] = (0, 0)  # (rows measured and drawn, rows given): a sample when fewer
    names: _Names | None = None  # of the inputs and outputs (default x0, x1, ...; class 0, ...)
    truth: list = field(default_factory=list)  # true class index (or number) of each row measured

    def __repr__(self) -> str:
        return (
            f"<tapegrad training report {self.title!r}: {len(self.moments)} moments, "
            f"{len(self.samples)} samples; .save('report.html') writes it>"
        )

    def data(self) -> dict:
        """What the page's script shows at each moment: texts, bar widths, marker positions."""
        top = max((n for m in self.moments for n in m.norms if math.isfinite(n)), default=0.0)
        total = max(len(self.history), max(m.step for m in self.moments))
        return {
            "moments": [
                {
                    "step": _moment_name(m, self.history),
                    "img": m.boundary,
                    "cells": _cells(m),
                    "norms": [_num(n) for n in m.norms],
                    "weights": [_num(n) for n in m.weight_norms],
                    "bars": [_share(n, top) for n in m.norms],
                    "mark": _x(m.step, total),
                    "confusion": m.confusion,
                    "pred": None if m.confusion is not None else self._in_units(m.predicted),
                }
                for m in self.moments
            ],
            "truth": None if self.names is None or self.names.classes else self._regression(),
        }

    def _regression(self) -> dict:
        """A regression's true values and the range both axes of its view span, in the label's
        own units (as the table has them), and the label's name for the axes."""
        assert self.names is not None
        unit = self.names.in_units
        values = [unit(v) for v in self.truth if math.isfinite(v)] + [
            unit(v) for m in self.moments for v in m.predicted if math.isfinite(v)
        ]
        lo, hi = _axis(*((min(values), max(values)) if values else (0.0, 1.0)))
        return {
            "values": [_round(unit(v)) for v in self.truth],
            "lo": lo,
            "hi": hi,
            "ticks": [_tick(lo), _tick(hi)],
            "name": self.names.target,
        }

    def _in_units(self, values: list) -> list:
        unit = self.names.in_units if self.names is not None else float
        return [_round(unit(v)) for v in values]

    def fragment(self, standalone: bool) -> str:
        uid = new_id("tgr")
        last = len(self.moments) - 1
        body = "\n".join(
            [
                _controls(self, last),
                '<div class="tg-row">',
                _boundary(self.moments, self.rows),
                _now(self),
                _outcome(self),
                "</div>",
                _charts(self.history, max(len(self.history), self.moments[-1].step), self.moments),
                _views(self),
                _settings_table(self.settings),
            ]
        )
        return _PAGE.format(
            uid=uid,
            css=asset("report.css"),
            title=escape(self.title),
            body=body,
            scripts=data_and_script(uid, self.data(), "report.js"),
            last=last,
        )


_PAGE = """<div id="{uid}" class="tg-report" data-moment="{last}">
<style>{css}</style>
<h2 class="tg-name">{title}</h2>
{body}
{scripts}
</div>"""


def report(
    history: History,
    model: _Model,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    path: str | os.PathLike | None = None,
    *,
    loss: str = "hinge",
    l2: float = 0.0,
    settings: Mapping | None = None,
    samples: Sequence | Mapping | None = None,
    title: str | None = None,
    resolution: int = 60,
    rows: npt.ArrayLike | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    target_scale: tuple[float, float] | None = None,
) -> TrainingReport:
    """A self-contained page of a training run: curves, and a slider over the moments `fit`
    kept (`fit(..., snapshots=n)`) showing the decision boundary, the objective's gradient
    norm per layer, and each sample's graph with its data and grad at that moment.

    Args:
      history: what `fit` returned (without snapshots: one moment, the current weights).
      model: the trained model (an MLP, or any model `fit` takes), the one `history` is of.
      X, y: rows and labels to measure on and to draw (usually the training data); more than
        `plots.MAX_POINTS` rows: a seeded sample of them, each class in proportion, so the
        page's time and size do not grow with the rows (the page says so).
      path: where to write the page (None: only return it).
      loss, l2: the objective `fit` was given, for the gradient norms.
      settings: the run's settings, shown as a table (any JSON-able mapping).
      samples: points to forward, a list or a mapping from a name to one (default: real rows,
        the first of each class and the worst predicted at the last moment).
      title, resolution: the page's heading; grid points per axis of the decision boundary.
      rows: the positions of the rows of X and y to use (default all), e.g. a run's training
        rows: only the sample drawn from them is copied.
      input_names: a name per input (a table's columns, `column=category` for one-hot ones;
        default x0, x1, ...), shown in each sample's graph and line.
      output_names: the class names (two for one output scoring the second class), or a
        regression's label name (default 0, 1, ... and "output").
      target_scale: (mean, scale) a regression's label was standardised with: shown unscaled.

    Returns:
      A TrainingReport: it displays inline in Jupyter; `.save(path)` writes the file.

    Example:
      >>> from tapegrad.nn import MLP
      >>> from tapegrad.train import fit
      >>> X, y = [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]], [1, 1, 0, 0]
      >>> model = MLP(2, [4, 1], seed=0)
      >>> history = fit(model, X, y, steps=20, snapshots=3, progress=False)
      >>> page = report(history, model, X, y, samples={"a": [0.5, 0.5]})
      >>> [m.step for m in page.moments], [name for name, _ in page.samples]
      ([0, 10, 20], ['a'])
    """
    spec = L.lookup(loss)
    X_all, y_all = np.asarray(X), np.asarray(y)
    given, picked = _sample(X_all, y_all, rows)
    X, y = (X_all, y_all) if picked is None else (X_all[picked], y_all[picked])
    rows, targets = labelled(model, X, y, spec.name)
    moments = _moments(history, model.parameters())
    k = _n_outputs(model, targets)
    names = _named(input_names, output_names, len(rows[0]), spec, k, _units(target_scale, spec))
    truth, layers = true_labels(spec, targets), layer_parameters(model)
    extent = X_all if given is None else X_all[given]  # the grid spans every row, drawn or not
    boundary = _boundary_picture(model, spec, targets, extent, (X, y), resolution)
    objective = _Objective(model, (rows, targets), spec, l2, layers, boundary, truth, names)
    measured = _measure(model, moments, objective.measure)
    _note_kept_and_validation(measured, history)
    points = _samples(samples, len(rows[0])) if samples is not None else []  # never empty
    points = points or _real_rows(rows, truth, measured[-1], picked, names)
    _measure(model, moments, partial(_views_at, model, points, history.unit, names), measured)
    heading = title if title is not None else f"training report: {model!r}"
    page = TrainingReport(
        heading, history, [(n, len(ps)) for n, ps in layers], points, measured, _checked(settings),
        (len(rows), len(X_all) if given is None else len(given)), names, truth,
    )  # fmt: skip
    if path is not None:
        page.save(path)
    return page


def _boundary_picture(model, spec, targets, extent, drawn: tuple, resolution: int):
    """The decision boundary's picture, for the weights set when called: None unless the rows
    are 2-D classes."""
    if extent.ndim != 2 or extent.shape[1] != 2 or not spec.graded(targets):
        return None
    return partial(DecisionGrid(model, extent, resolution).png, *drawn)


def _sample(X: np.ndarray, y: np.ndarray, rows) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(the rows given, None: all; the rows to measure and draw, None: all): a seeded sample
    (`plots.sample_rows`) when there are more than `plots.MAX_POINTS`."""
    if rows is None:
        return None, sample_rows(y) if len(X) == len(y) else None
    given = np.asarray(rows, dtype=np.intp).reshape(-1)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    picked = sample_rows(y[given])
    return given, given if picked is None else given[picked]


def _measure(model, moments: list, measure, into: list | None = None) -> list:
    """`measure(k)` at each moment with its weights set in the model (its own put back after);
    with `into`, `measure(k, moment)` fills each of those moments instead."""
    params = model.parameters()
    saved = [(p.data, p.grad) for p in params]
    measured = []
    try:
        for i, (k, weights) in enumerate(moments):
            for p, w in zip(params, weights, strict=True):
                p.data = w
            measured.append(measure(k) if into is None else measure(k, into[i]))
    finally:
        for p, (d, g) in zip(params, saved, strict=True):
            p.data, p.grad = d, g
    return measured


def _views_at(model, points: list, unit: str, names: _Names, k: int, moment: Moment) -> None:
    """Each sample's graph with the weights of moment `k`, and what the model predicts there."""
    moment.views, moment.said = [], []
    for name, point in points:
        view, said = _sample_view(model, name, point, f"{name} at {unit} {k}", names)
        moment.views.append(view)
        moment.said.append(said)


@dataclass
class _Names:
    """What the page calls each input and each output: columns, classes, the label."""

    inputs: list[str]
    classes: list[str] | None  # None: a regression
    target: str = "output"
    units: tuple[float, float] = (0.0, 1.0)  # a regression's (mean, scale): its label's units

    def in_units(self, v: float) -> float:
        """A regression's output or target (standardised for training) in the label's units."""
        mean, scale = self.units
        return mean + scale * float(v)

    def of(self, index) -> str:
        """A prediction or a true value as the page says it: its class name, or the number
        in the label's units."""
        if self.classes is None:
            return _num(self.in_units(index))
        return self.classes[int(index)]


def _units(target_scale, spec) -> tuple[float, float]:
    if target_scale is None:
        return (0.0, 1.0)
    if spec.kind != "regression":
        raise ValueError(f"target_scale is for a regression, not for loss {spec.name!r}")
    mean, scale = (float(v) for v in target_scale)
    if not (math.isfinite(mean) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"target_scale must be (mean, scale > 0), finite, got {target_scale!r}")
    return mean, scale


def _note_kept_and_validation(measured: list[Moment], history: History) -> None:
    """Mark the moment whose weights early stopping kept, and give each moment the validation
    numbers History has for its weights (moment 0's from its snapshot)."""
    snaps = getattr(history, "snapshots", None) or []
    for i, m in enumerate(measured):
        snap = snaps[i] if i < len(snaps) and isinstance(snaps[i], Mapping) else {}
        m.kept = bool(snap.get("kept")) if snaps else history.kept is not None
        if m.step == 0:
            m.val_loss, m.val_accuracy = snap.get("val_loss"), snap.get("val_accuracy")
        elif m.step <= len(history.val_loss):
            m.val_loss = history.val_loss[m.step - 1]
            m.val_accuracy = history.val_accuracy[m.step - 1]


def _moment_name(m: Moment, history: History) -> str:
    """What the slider says of a moment: `epoch 37 of 60`, and whether its weights are kept."""
    name = f"{history.unit} {m.step} of {len(history)}"
    return f"{name} (best, kept)" if m.kept else name


def _n_outputs(model, targets: list) -> int:
    nouts = getattr(model, "nouts", None)
    if nouts:
        return int(nouts[-1])
    return len(targets[0]) if isinstance(targets[0], list) else 1


def _named(inputs, outputs, nin: int, spec, k: int, units=(0.0, 1.0)) -> _Names:
    """The names given, checked against the model's inputs and outputs, or the defaults."""
    ins = [f"x{i}" for i in range(nin)] if inputs is None else [str(n) for n in inputs]
    if len(ins) != nin:
        raise ValueError(f"input_names has {len(ins)} names but the model takes {nin} inputs")
    outs = None if outputs is None else [str(n) for n in outputs]
    if spec.kind == "regression":
        if outs is not None and len(outs) not in (1, k):
            raise ValueError(f"output_names has {len(outs)} names but the model has {k} outputs")
        return _Names(ins, None, outs[0] if outs else "output", units)
    n = k if spec.kind == "classes" else 2
    if outs is not None and len(outs) != n:
        raise ValueError(f"output_names has {len(outs)} names but the model has {n} classes")
    return _Names(ins, outs if outs is not None else [str(i) for i in range(n)])


def true_labels(spec, targets: list) -> list:
    """Each row's true class index (coded targets read back), or its regression target."""
    if spec.kind == "regression":
        return [float(t[0] if isinstance(t, list) else t) for t in targets]
    if spec.kind == "classes":
        return [int(t) for t in targets]
    cut = 0.0 if min(float(t) for t in targets) < 0 else 0.5  # -1/+1 or 0/1
    return [int(float(t) > cut) for t in targets]


def predicted_labels(spec, outs) -> list:
    """What the model predicts from its outputs on each row: a class index, or a number."""
    out = np.asarray(outs, dtype=np.float64)
    if spec.kind == "regression":
        return (out if out.ndim == 1 else out[:, 0]).tolist()
    if spec.kind == "binary":
        return spec.predict(out.reshape(-1)).tolist()
    return spec.predict(out.reshape(len(out), -1)).tolist()


def confusion_counts(truth: list, predicted: list, n: int) -> list[list[int]]:
    """counts[t][p]: the rows of true class t the model puts in class p."""
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (np.asarray(truth, dtype=np.intp), np.asarray(predicted, dtype=np.intp)), 1)
    return counts.tolist()


def _real_rows(rows, truth: list, last: Moment, picked, names: _Names) -> list:
    """Rows of the data as samples: the first of each class (the first row for a regression),
    then the two the model predicts worst at the last moment (wrong by most, or right by
    least), named by row and true label."""
    where = np.arange(len(truth)) if picked is None else picked  # the rows' places in X
    out = np.asarray(last.outputs, dtype=np.float64).reshape(len(truth), -1)
    pred, true = np.asarray(last.predicted), np.asarray(truth)
    if names.classes is None:
        firsts = [0]
        miss = np.abs(pred - true)
    else:
        firsts = [int(np.flatnonzero(true == c)[0]) for c in sorted(set(truth))]
        if out.shape[1] == 1:  # one score: how far on the wrong side (> 0: class 1)
            miss = np.where(true == 1, -out[:, 0], out[:, 0])
        else:  # the best other class's score over the true one's (< 0 when right)
            mine = out[np.arange(len(out)), true]
            others = np.where(np.eye(out.shape[1], dtype=bool)[true], -np.inf, out)
            miss = others.max(axis=1) - mine
    miss = np.where(np.isnan(miss), np.inf, miss)  # no number at all is the worst
    miss[firsts] = -np.inf  # a class's first row is shown already
    worst = [int(i) for i in np.argsort(-miss, kind="stable")[:2] if miss[i] > -np.inf]
    points = []
    for i in firsts + worst:
        tag = "worst: " if i in worst else ""
        name = f"{tag}row {int(where[i])} (true {names.of(truth[i])})"
        points.append((name, [float(v) for v in rows[i]]))
    return points


def _moments(history: History, params: list) -> list[tuple[int, list[float]]]:
    """(step, weights) of each snapshot, or of the model as it is when there is none."""
    snaps = getattr(history, "snapshots", None) or []
    if not snaps:  # the weights the model holds: early stopping's kept entry's, or the last
        kept = getattr(history, "kept", None)
        return [(len(history) if kept is None else kept, [float(p.data) for p in params])]
    out = []
    for i, snap in enumerate(snaps):
        weights = snap.get("weights") if isinstance(snap, Mapping) else None
        step = snap.get("step") if isinstance(snap, Mapping) else None
        if not isinstance(step, int) or not isinstance(weights, list):
            raise ValueError(f"history.snapshots[{i}] must be {{'step': int, 'weights': list}}")
        if len(weights) != len(params):
            raise ValueError(
                f"history.snapshots[{i}] has {len(weights)} weights but the model has "
                f"{len(params)} parameters: make the report with the model that was trained"
            )
        out.append((step, [math.nan if w is None else float(w) for w in weights]))
    return out


def _samples(samples, nin: int) -> list[tuple[str, list[float]]]:
    """The samples as (name, point): a list is named by its points, the default is the origin."""
    if samples is None:
        return [("origin", [0.0] * nin)]
    items: list[tuple[str | None, object]]
    if isinstance(samples, Mapping):
        items = [(str(k), v) for k, v in samples.items()]
    else:
        items = [(None, v) for v in samples]
    if not items:
        raise ValueError("samples is empty: give at least one point (or None for the origin)")
    out = []
    for i, (name, point) in enumerate(items):
        values = np.asarray(point, dtype=np.float64).ravel().tolist()
        if len(values) != nin or not all(map(math.isfinite, values)):
            raise ValueError(f"sample {name or i} must be {nin} finite numbers, got {point!r}")
        out.append((name or point_text(values), values))
    return out


def layer_parameters(model) -> list[tuple[str, list]]:
    """(name, parameters) per layer: an MLP's `layers`, else all parameters as one."""
    layers = getattr(model, "layers", None)
    if isinstance(layers, list) and all(hasattr(layer, "parameters") for layer in layers):
        return [(f"layers.{i}", layer.parameters()) for i, layer in enumerate(layers)]
    return [("parameters", model.parameters())]


def _checked(settings) -> dict:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a mapping, got {type(settings).__name__}")
    try:
        json.dumps(dict(settings), allow_nan=False, default=str)
    except (TypeError, ValueError) as err:
        raise ValueError(f"settings must be JSON-able: {err}") from None
    return {str(k): v for k, v in settings.items()}


class _Objective:
    """What a moment measures with the weights set now: the objective `fit` minimised on the
    data (on a compiled tape), its gradient norms per layer, and the decision boundary."""

    def __init__(self, model, data: tuple, spec, l2: float, layers, boundary, truth, names):
        self.model, self.data, self.spec, self.loss, self.l2 = model, data, spec, spec.name, l2
        self.layers, self.boundary, self.truth, self.names = layers, boundary, truth, names
        self.step = loss_and_grad(model, spec.name, l2, compile=True)

    def measure(self, k: int) -> Moment:
        rows, targets = self.data
        objective, outs = self.step(rows, targets)
        params = self.model.parameters()
        penalty = self.l2 * math.fsum(p.data * p.data for p in params) if self.l2 else 0.0
        return Moment(
            step=k,
            objective=float(objective),
            l2_term=penalty,
            accuracy=accuracy(outs, targets, self.loss),
            norms=[_norm(p.grad for p in ps) for _, ps in self.layers],
            weight_norms=[_norm(p.data for p in ps) for _, ps in self.layers],
            boundary=None if self.boundary is None else self.boundary(),
            outputs=np.asarray(outs, dtype=np.float64).tolist(),
            predicted=(predicted := predicted_labels(self.spec, outs)),
            confusion=None
            if self.names.classes is None
            else confusion_counts(self.truth, predicted, len(self.names.classes)),
        )


def _norm(xs) -> float:
    return math.sqrt(math.fsum(float(x) ** 2 for x in xs))


def _sample_view(
    model, name: str, point: list[float], title: str, names: _Names
) -> tuple[Explanation | str, str]:
    """`explain`'s page of the model's output at `point`, at its last step (or why there is
    none), and what the model predicts there; inputs and outputs carry the page's names."""
    xs = [Value(v, label=label) for v, label in zip(point, names.inputs, strict=True)]
    out = model(xs)
    outs = [out] if isinstance(out, Value) else list(out)
    for i, o in enumerate(outs):
        o.label = _output_label(names, i, len(outs))
    root, said = _root(outs, names)
    n = len(topological_order(root))
    if n > MAX_SAMPLE_VALUES:
        return (
            f"no graph for {name}: it has {n:,} values, more than the {MAX_SAMPLE_VALUES:,} "
            f"a report draws (use tapegrad.explain on a smaller model to step through one)"
        ), said
    collapse = None if n <= SMALL_GRAPH else "layer"
    try:
        view = explain(root, collapse=collapse, title=title)
    except ExplainError as err:
        return f"no graph for {name}: {err}", said
    view.start = len(view.steps) - 1
    return view, said


def _root(outs: list[Value], names: _Names) -> tuple[Value, str]:
    """The value a sample's graph ends in, built on every output so that each layer's every
    parameter is in it (as the layer table counts them), and what the model predicts: one
    output as it is; several classes the probability (softmax) of the predicted one; several
    regression outputs their sum."""
    if len(outs) == 1:
        o = outs[0]
        said = names.of(o.data) if names.classes is None else names.classes[int(o.data > 0)]
        return o, said
    if names.classes is None:
        total = outs[0]
        for o in outs[1:]:
            total = total + o
        total.label = f"sum of the {len(outs)} outputs"
        return total, ", ".join(names.of(o.data) for o in outs)
    best = max(range(len(outs)), key=lambda i: outs[i].data)
    terms = [(o - outs[best]).exp() for o in outs]  # each <= 1: no overflow
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    p = 1.0 / total
    p.label = f"P({names.classes[best]})"
    return p, names.classes[best]


def _output_label(names: _Names, i: int, k: int) -> str:
    """An output's name: its class's score, a binary score, or the regression's label."""
    if names.classes is None:
        target = names.target + (" (standardised)" if names.units != (0.0, 1.0) else "")
        return target if k == 1 else f"{target}[{i}]"
    if k == 1:
        return f"score ({names.classes[1]} if > 0)"
    return f"score {names.classes[i]}"


# --- the page's parts --------------------------------------------------------------------------


def _num(x) -> str:
    if x is None:
        return "–"
    return f"{float(x):.4g}" if math.isfinite(float(x)) else str(float(x))


def point_text(point: list[float], names: list[str] | None = None, most: int = 8) -> str:
    """A sample's inputs as text (escaped by the caller): `name = value`, the first `most`."""
    shown = [f"{v:g}" if names is None else f"{names[i]} = {v:g}" for i, v in enumerate(point)]
    if len(point) > most:
        shown[most:] = [f"... {len(point) - most} more"]
    return "(" + ", ".join(shown) + ")"


def _share(x: float, top: float) -> float:
    return round(x / top, 4) if top > 0 and math.isfinite(x) else 0.0


def _cells(m: Moment) -> dict[str, str]:
    acc = "–" if m.accuracy is None else f"{m.accuracy:.1%}"
    return {
        "objective": _num(m.objective),
        "data": _num(max(m.objective - m.l2_term, 0.0)),  # every loss is >= 0: below is rounding
        "l2": _num(m.l2_term),
        "accuracy": acc,
        "val_loss": _num(m.val_loss),
        "val_accuracy": "–" if m.val_accuracy is None else f"{m.val_accuracy:.1%}",
    }


def _controls(page: TrainingReport, last: int) -> str:
    options = "".join(
        f'<option value="{i}">{escape(name)}</option>' for i, (name, _) in enumerate(page.samples)
    )
    return (
        '<div class="tg-bar"><label>moment <input type="range" class="tg-moment" min="0" '
        f'max="{last}" value="{last}" aria-label="moment"></label>'
        '<span class="tg-step"></span>'
        f'<label>sample <select class="tg-sample">{options}</select></label></div>'
    )


def _boundary(moments: list[Moment], rows: tuple[int, int]) -> str:
    if moments[-1].boundary is None:
        return ""
    shown, given = rows
    sample = f" (a sample of {shown:,} of {given:,} points)" if shown < given else ""
    return (
        '<figure class="tg-boundary"><img class="tg-boundary-img" alt="decision boundary" '
        f'width="288" height="264"><figcaption>decision boundary{sample}</figcaption></figure>'
    )


def _now(page: TrainingReport) -> str:
    """The numbers at the selected moment: the objective, and each layer's norms as a table."""
    classes = any(m.accuracy is not None for m in page.moments)  # a regression has none
    shown, given = page.rows
    data = "on the data given"
    if shown < given:
        data = (
            f'on <span class="tg-sample-note">a sample of {shown:,} of the {given:,} rows '
            "given</span> (drawn with a fixed seed, each class in proportion)"
        )
    head = (
        f'<p class="tg-objective">with the weights of this moment, {data}: '
        'objective <b data-cell="objective"></b> = data loss <b data-cell="data"></b> + '
        'L2 <b data-cell="l2"></b>'
        + (', accuracy <b data-cell="accuracy"></b>' if classes else "")
        + _validation_cells(page.history, classes)
        + "</p>"
    )
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="tg-r">{n}</td>'
        f'<td class="tg-r" data-weights="{i}"></td><td class="tg-r" data-norm="{i}"></td>'
        f'<td class="tg-barcell"><div class="tg-fill" data-bar="{i}"></div></td></tr>'
        for i, (name, n) in enumerate(page.layers)
    )
    table = (
        '<table class="tg-layers"><caption>the objective\'s gradient per layer</caption>'
        "<tr><th>layer</th><th>params</th><th>|w|</th><th>|grad|</th><th></th></tr>"
        f"{rows}</table>"
    )
    return f'<div class="tg-now">{head}{table}</div>'


def _validation_cells(history: History, classes: bool) -> str:
    """The validation numbers at the selected moment, when the run measured any."""
    if not any(_finite(v) for v in history.val_loss):
        return ""
    split = getattr(history, "val_split", None) or "validation"
    accuracy = ', accuracy <b data-cell="val_accuracy"></b>' if classes else ""
    return f'; on the {escape(split)} rows loss <b data-cell="val_loss"></b>{accuracy}'


def _views(page: TrainingReport) -> str:
    """Every sample's explain view at every moment; the script shows one at a time."""
    parts = []
    for m_i, m in enumerate(page.moments):
        for s_i, view in enumerate(m.views):
            if isinstance(view, str):
                inner = f'<p class="tg-none">{escape(view)}</p>'
            else:
                name, point = page.samples[s_i]
                names = page.names or _Names([f"x{i}" for i in range(len(point))], None)
                said = m.said[s_i] if m.said else _num(view.root.data)
                inner = (
                    f'<p class="tg-out">{escape(name)}: {escape(point_text(point, names.inputs))}; '
                    f"{escape(view.root.label)} <b>{_num(view.root.data)}</b>, predicted "
                    f'<span class="tg-said">{escape(said)}</span></p>{view._repr_html_()}'
                )
            parts.append(f'<div class="tg-view" data-m="{m_i}" data-s="{s_i}">{inner}</div>')
    return (
        "<h3>one sample through the network: its graph, data and grad "
        "(backward from the output; with several classes from the predicted one's probability)</h3>"
        f'<div class="tg-views">{"".join(parts)}</div>'
    )


def _round(v: float) -> float | None:
    """A number for the page's JSON: 6 significant digits, None when not finite."""
    return float(f"{v:.6g}") if math.isfinite(v) else None


def _outcome(page: TrainingReport) -> str:
    """What the model predicts at the selected moment against the truth: a confusion matrix
    for classes, predicted against true values for a regression (the script fills either)."""
    if page.names is None or not page.moments[-1].predicted:
        return ""
    shown, given = page.rows
    on = f"the {shown:,} rows measured" + (f" (of {given:,})" if shown < given else "")
    if page.names.classes is None:
        target = escape(page.names.target)
        return (
            f'<figure class="tg-regression"><svg class="tg-scatter" viewBox="0 0 {_SCATTER} '
            f'{_SCATTER}" width="{_SCATTER}" height="{_SCATTER}" role="img" '
            f'aria-label="predicted against true {target}"></svg><figcaption>predicted '
            f"against true {target} on {on}; on the diagonal is right</figcaption></figure>"
        )
    classes = [escape(c) for c in page.names.classes]
    head = "".join(f"<th>{c}</th>" for c in classes)
    cells = [
        "".join(f'<td class="tg-r" data-cm="{t}-{p}"></td>' for p in range(len(classes)))
        for t in range(len(classes))
    ]
    body = "".join(f"<tr><th>{c}</th>{row}</tr>" for c, row in zip(classes, cells, strict=True))
    return (
        f'<table class="tg-confusion"><caption>confusion on {on}: rows the true class, '
        f"columns the predicted</caption><tr><th>true ↓ predicted →</th>{head}</tr>{body}</table>"
    )


_SCATTER = 260
"""The regression view's width and height (the script draws inside with a margin)."""


def _settings_table(settings: dict) -> str:
    if not settings:
        return ""
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v if isinstance(v, str) else json.dumps(v))}</td>"
        "</tr>"
        for k, v in settings.items()
    )
    return f'<h3>settings</h3><table class="tg-settings">{rows}</table>'


# --- the curves, drawn here as SVG -------------------------------------------------------------


def _x(step: float, total: int) -> float:
    """The horizontal position of `step` in every chart."""
    return round(_LEFT + (CHART_W - _LEFT - _RIGHT) * step / max(total, 1), 1)


def _charts(history: History, total: int, moments: list[Moment] | None = None) -> str:
    """Loss and (when there is any) accuracy per step, training and validation, each from the
    first moment the slider shows; a dot at each moment marks the number the panel shows."""
    moments = moments or []
    losses, accs = _curves(history, moments)
    at = [(m.step, m.objective) for m in moments if math.isfinite(m.objective)]
    charts = [_chart("loss", losses, total, history.unit, at)]
    if any(_finite(v) for _, _, vs in accs for v in vs):
        at = [(m.step, m.accuracy) for m in moments if m.accuracy is not None]
        charts.append(_chart("accuracy", accs, total, history.unit, at))
    return f'<div class="tg-charts">{"".join(charts)}</div>'


def _curves(history: History, moments: list[Moment]) -> tuple[list, list]:
    """(loss series, accuracy series), each (label, steps, values). An epoch's training numbers
    are means across it (drawn mid-epoch); validation is measured after each entry. With a
    moment before the first entry (step 0), each series begins there with its numbers."""
    offset = 0.0 if history.unit == "step" else 0.5
    n = len(history)
    first = moments[0] if moments and moments[0].step == 0 else None
    lead = first is not None and offset > 0  # a step's loss at 0 is already of those weights

    def series(label: str, xs: list, vs, start, begin: bool) -> tuple:
        xs, vs = list(xs), list(vs)
        if begin and _finite(start):
            xs, vs = [0.0, *xs], [start, *vs]
        return label, xs, vs

    train_x = [i + offset for i in range(n)]
    val_x = [i + 1.0 for i in range(n)]  # measured after the update
    f = first or Moment(0, math.nan, 0.0, None, [], [], None)
    losses = [series("objective", train_x, history.loss, f.objective, lead)]
    data_loss = getattr(history, "data_loss", None)  # History's data loss, when it keeps one
    if data_loss is not None and any(getattr(history, "l2_term", None) or ()):
        losses.append(series("data loss", train_x, data_loss, f.objective - f.l2_term, lead))
    losses.append(series("validation loss", val_x, history.val_loss, f.val_loss, bool(first)))
    accs = [
        series("accuracy", train_x, history.accuracy, f.accuracy, lead),
        series("validation accuracy", val_x, history.val_accuracy, f.val_accuracy, bool(first)),
    ]
    return losses, accs


def _axis(lo: float, hi: float) -> tuple[float, float]:
    """A chart's range: `lo` and `hi` moved out to round numbers (at most two digits finer
    than the span), so that the axis labels are short and exactly the axis's ends."""
    if not hi - lo > 1e-12 * max(abs(lo), abs(hi), 1e-300):
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    step = 10.0 ** (math.floor(math.log10(hi - lo)) - 1)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def _tick(v: float) -> str:
    """An axis label: the shortest text that reads back as `v` to 6 digits (`460`, `0.05`,
    `9.1e-4`, `1.2e8`), so that it fits left of a chart (8 characters at most)."""
    if v == 0:
        return "0"
    options = [f"{v:.{decimals}f}" for decimals in range(10)]
    for digits in range(6):
        mantissa, exp = f"{v:.{digits}e}".split("e")
        options.append(f"{mantissa}e{int(exp)}")
    near = [t for t in options if abs(float(t) - v) <= 1e-6 * abs(v)]
    return min(near, key=len) if near else f"{v:.2e}"


def _chart(name: str, series: list, total: int, unit: str, at: list | None = None) -> str:
    """One chart: a polyline per series, the axes' ranges, a dot at each moment's panel number
    (`at`: (step, value)), and the marker the script moves."""
    points = [
        [(x, float(v)) for x, v in zip(xs, vs, strict=False) if _finite(v)] for _, xs, vs in series
    ]
    ys = [v for pts in points for _, v in pts] + [v for _, v in at or ()]
    lo, hi = _axis(*((min(ys), max(ys)) if ys else (0.0, 1.0)))
    height = CHART_H - _TOP - _BOTTOM

    def y(v: float) -> float:
        return round(_TOP + height * (hi - v) / (hi - lo), 1)

    parts = [
        f'<svg class="tg-chart" viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" '
        f'height="{CHART_H}" role="img" aria-label="{name}">',
        f'<rect class="tg-frame" x="{_LEFT}" y="{_TOP}" width="{CHART_W - _LEFT - _RIGHT}" '
        f'height="{height}"/>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 4}" text-anchor="end">{_tick(hi)}</text>',
        f'<text x="{_LEFT - 4}" y="{_TOP + height}" text-anchor="end">{_tick(lo)}</text>',
        f'<text x="{_LEFT}" y="{CHART_H - 12}">0</text>',
        f'<text x="{CHART_W - _RIGHT}" y="{CHART_H - 12}" text-anchor="end">{total}</text>',
        f'<text x="{(CHART_W + _LEFT) / 2}" y="{CHART_H - 12}" text-anchor="middle">'
        f"{escape(unit)}</text>",
    ]
    legend_x: float = _LEFT
    for i, ((label, _, _), pts) in enumerate(zip(series, points, strict=True)):
        colour = _COLOURS[i % len(_COLOURS)]
        if not pts:  # nothing measured (no validation data): no line, no legend
            continue
        line = " ".join(f"{_x(px, total)},{y(py)}" for px, py in pts)
        marker = ' class="tg-dots"' if len(pts) < 30 else ""
        parts.append(f'<polyline{marker} points="{line}" stroke="{colour}"/>')
        parts.append(f'<text x="{legend_x}" y="14" fill="{colour}">{escape(label)}</text>')
        legend_x += 8 + 6.5 * len(label)
    for step, v in at or ():
        parts.append(
            f'<circle class="tg-at" cx="{_x(step, total)}" cy="{y(v)}" r="3">'
            f"<title>{escape(name)} at {escape(unit)} {step}: {_num(v)}</title></circle>"
        )
    parts.append(f'<line class="tg-mark" x1="0" x2="0" y1="{_TOP}" y2="{_TOP + height}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _finite(v) -> bool:
    return isinstance(v, numbers.Real) and math.isfinite(v)
