"""Pictures of training (a classifier's decision boundary, loss and accuracy curves) and the
lecture's first picture, a function with its tangent line. Figures use matplotlib's Agg canvas,
never pyplot, so they work headless and are returned for the caller to show (inline in Jupyter).
"""

from __future__ import annotations

import base64
import io
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ._files import replacing
from .engine import Value, no_grad
from .tape import compile as record
from .valuemath import data_of

if TYPE_CHECKING:
    import numpy.typing as npt
    from matplotlib.axes import Axes

    from .train import History


MAX_POINTS = 2_000
"""The most data points a picture draws (and a report measures): more are a sample."""


def sample_rows(y: npt.ArrayLike, most: int = MAX_POINTS, seed: int = 0) -> np.ndarray | None:
    """Sorted positions of about `most` of the rows labelled `y`, drawn with `seed`, each class
    (with at most 100 distinct labels; else the rows at large) in proportion and keeping at
    least one row; None when there are no more than `most` rows (draw them all)."""
    y = np.asarray(y)
    n = len(y)
    if n <= most:
        return None
    rs = np.random.RandomState(seed)
    labels = y.reshape(n, -1)[:, 0] if y.ndim > 1 else y
    classes, codes = np.unique(labels, return_inverse=True)
    if len(classes) > 100:
        return np.sort(rs.choice(n, most, replace=False))
    counts = np.bincount(codes, minlength=len(classes))
    share = counts * (most / n)
    take = np.floor(share).astype(np.intp)
    for k in np.argsort(-(share - take), kind="stable")[: most - int(take.sum())]:
        take[k] += 1  # the largest remainders get the rows left over
    take = np.maximum(take, 1)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picked = [
        rs.choice(order[s : s + c], t, replace=False)
        for s, c, t in zip(starts.tolist(), counts.tolist(), take.tolist(), strict=True)
    ]
    return np.sort(np.concatenate(picked))


class PlotFigure(Figure):
    """A matplotlib Figure that also shows itself inline in Jupyter without pyplot."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def _figure(width: float, height: float) -> PlotFigure:
    fig = PlotFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure, path) -> Figure:
    if path is not None:
        path = os.fspath(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with replacing(path) as tmp:  # a crash or a full disk never leaves half a picture
            fig.savefig(tmp, dpi=100)
    return fig


def _classes(out) -> int:
    """The class a model output stands for: score > 0 for one output, argmax for several."""
    if isinstance(out, Value | numbers.Real):
        return int(float(out) > 0)
    scores = [float(o) for o in out]
    return int(np.argmax(scores)) if len(scores) > 1 else int(scores[0] > 0)


class DecisionGrid:
    """A grid over X's two features (plus `margin`) and the class `model` gives each point (one
    output > 0 is class 1, several the argmax). A Module runs on a tape recorded once, so
    `classes()` after its weights change costs one replay; other callables run point by point."""

    def __init__(
        self, model: Callable, X: npt.ArrayLike, resolution: int = 50, margin: float = 1.0
    ) -> None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"a decision boundary needs 2 features, X has shape {X.shape}")
        if not isinstance(resolution, int) or resolution < 2:
            raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
        nin = getattr(model, "nin", None)
        if nin is not None and nin != 2:
            raise ValueError(f"X has 2 features but the model takes {nin} inputs")
        lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
        self.xx, self.yy = np.meshgrid(
            np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
        )
        self.points = np.column_stack([self.xx.ravel(), self.yy.ravel()])
        self.model = model
        self.tape = (
            record(model, [0.0, 0.0]) if callable(getattr(model, "parameters", None)) else None
        )

    def classes(self) -> np.ndarray:
        """The class at each grid point, with the model's weights as they are now."""
        if self.tape is None:
            with no_grad():
                labels = [_classes(self.model(point)) for point in self.points.tolist()]
            return np.asarray(labels).reshape(self.xx.shape)
        out = self.tape(self.points)
        Z = out > 0 if out.ndim == 1 else np.argmax(out, axis=1)
        return Z.astype(int).reshape(self.xx.shape)

    def draw(
        self, ax: Axes, X: npt.ArrayLike, y: npt.ArrayLike, size: float = 40, **style: Any
    ) -> None:
        """The regions (as `classes()` gives them now) and the data on top, one colour per
        class; -1/+1 labels are classes 0/1, as the regions are. More than `MAX_POINTS`
        points: a sample of them (`sample_rows`), said in the corner."""
        Z = self.classes()
        X, y = _sample_drawn(ax, np.asarray(X, dtype=np.float64), np.asarray(y))
        if y.size and set(np.unique(y).tolist()) <= {-1, 1}:
            y = (y > 0).astype(int)
        k = int(max(Z.max(), y.max() if y.size else 0)) + 1
        norm = Normalize(vmin=0, vmax=max(k - 1, 1))  # one colour per class, regions and points
        levels = np.arange(k + 1) - 0.5
        ax.contourf(self.xx, self.yy, Z, levels=levels, cmap="Spectral", norm=norm, alpha=0.45)
        x0, x1 = X.T
        ax.scatter(x0, x1, c=y, s=size, cmap="Spectral", norm=norm, edgecolors="k", **style)
        ax.set_xlim(self.xx.min(), self.xx.max())
        ax.set_ylim(self.yy.min(), self.yy.max())

    def png(self, X: npt.ArrayLike, y: npt.ArrayLike) -> str:
        """A small picture of `draw`, as a PNG data URI for a page that must stand alone."""
        fig = _figure(3.6, 3.3)
        ax = fig.add_subplot()
        self.draw(ax, X, y, size=14, lw=0.5)
        ax.tick_params(labelsize=7)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _sample_drawn(ax: Axes, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points to draw: all, or a sample of more than `MAX_POINTS`, said in the corner."""
    rows = sample_rows(y)
    if rows is None:
        return X, y
    note = f"a sample of {len(rows):,} of {len(X):,} points"
    ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=7, va="bottom")
    return X[rows], y[rows]


def decision_grid(
    model: Callable, X: npt.ArrayLike, resolution: int = 50, margin: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xx, yy, Z), all (resolution, resolution): the grid over X's two features (plus
    `margin`) and the class `model` gives each point (see `DecisionGrid`)."""
    grid = DecisionGrid(model, X, resolution, margin)
    return grid.xx, grid.yy, grid.classes()


def decision_boundary(
    model: Callable,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    path: str | os.PathLike | None = None,
    *,
    resolution: int = 50,
    margin: float = 1.0,
    title: str | None = None,
) -> Figure:
    """The regions a 2-D classifier assigns to each class, with the data on top (micrograd's
    demo picture). `model` maps [x0, x1] to a Value (binary: > 0 is class 1) or a list of
    Values (argmax). Saved to `path` when given (format from the extension)."""
    grid = DecisionGrid(model, X, resolution, margin)
    fig = _figure(5.5, 5)
    ax = fig.add_subplot()
    grid.draw(ax, X, y)
    ax.set(xlabel="x0", ylabel="x1")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def _series(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values or ()], dtype=np.float64)


def _plot(ax, values: np.ndarray, label: str) -> None:
    # Only the measured points: validation may be measured every few steps (None between).
    x = np.flatnonzero(np.isfinite(values))
    sparse = len(x) < len(values)
    ax.plot(x, values[x], marker="o" if sparse else None, markersize=3, label=label)


def loss_curves(
    history: History | Mapping[str, Any], path: str | os.PathLike | None = None
) -> Figure:
    """Loss (left) and accuracy (right, when there is any) per step or epoch, training and
    validation. `history` is a `tapegrad.train.History` or its `to_dict()`."""
    h = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    unit = h.get("unit", "step")
    loss, val_loss = _series(h.get("loss")), _series(h.get("val_loss"))
    acc, val_acc = _series(h.get("accuracy")), _series(h.get("val_accuracy"))
    panels = [("loss", loss, val_loss)]
    if np.isfinite(acc).any() or np.isfinite(val_acc).any():
        panels.append(("accuracy", acc, val_acc))
    fig = _figure(10 if len(panels) == 2 else 5.5, 4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, train, validation) in zip(axes, panels, strict=True):
        _plot(ax, train, "train")
        if len(validation):
            _plot(ax, validation, "validation")
        if name == "accuracy":
            ax.set_ylim(-0.02, 1.02)
        ax.set(xlabel=unit, ylabel=name, title=name)
        ax.legend()
    return _finish(fig, path)


def _evaluate(f: Callable, x: float) -> float:
    with no_grad():
        out = f(Value(x))
    return float(data_of(out))


def function_and_tangent(
    f: Callable,
    x0: float,
    xs: Sequence[float] | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Plot `f` over `xs` (default x0 - 5 .. x0 + 5) with its tangent line at `x0`, the
    slope taken by `tapegrad.grad`: what a derivative is, as a picture. `f` is written
    with ordinary operators (`3*x**2 - 4*x + 5`), as in the lecture."""
    from .functional import grad

    x0 = float(x0)
    grid = np.linspace(x0 - 5, x0 + 5, 201) if xs is None else np.asarray(xs, dtype=np.float64)
    if grid.ndim != 1 or len(grid) < 2:
        raise ValueError(f"xs must be a 1-D sequence of at least 2 numbers, got shape {grid.shape}")
    ys = np.array([_evaluate(f, x) for x in grid.tolist()])
    y0 = _evaluate(f, x0)
    slope = grad(f)(x0)
    tangent = y0 + slope * (grid - x0)
    fig = _figure(6, 4.5)
    ax = fig.add_subplot()
    ax.plot(grid, ys, label="f(x)")
    ax.plot(grid, tangent, "--", label=f"tangent at x = {x0:g}: slope {slope:.6g}")
    ax.plot([x0], [y0], "o", color="k")
    finite = ys[np.isfinite(ys)]
    if finite.size:
        lo, hi = finite.min(), finite.max()
        pad = 0.1 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    ax.set(xlabel="x", ylabel="f(x)", title=f"f'({x0:g}) = {slope:.6g}")
    ax.legend()
    return _finish(fig, path)
