"""Pictures: the tangent line's slope against calculus, the decision grid against models whose
boundary is known, loss curves against the history they draw, files that are real PNG/SVG,
and no pyplot state."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tapegrad import Value, is_grad_enabled
from tapegrad.plots import decision_boundary, decision_grid, function_and_tangent, loss_curves
from tapegrad.train import History

PNG = b"\x89PNG\r\n\x1a\n"


def lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_tangent_of_the_lecture_function():
    def f(x):
        return 3 * x**2 - 4 * x + 5

    fig = function_and_tangent(f, 3.0, xs=np.arange(-5, 5, 0.25))
    ax = fig.axes[0]
    curve = lines(ax)["f(x)"]
    np.testing.assert_allclose(curve.get_ydata(), f(np.arange(-5, 5, 0.25)), rtol=1e-15)
    (tangent,) = [ln for label, ln in lines(ax).items() if label.startswith("tangent")]
    xs, ys = np.asarray(tangent.get_xdata()), np.asarray(tangent.get_ydata())
    slope = (ys[-1] - ys[0]) / (xs[-1] - xs[0])
    assert slope == pytest.approx(6 * 3.0 - 4, rel=1e-12)  # d/dx 3x^2 - 4x + 5 = 6x - 4
    assert np.interp(3.0, xs, ys) == pytest.approx(f(3.0), rel=1e-12)  # touches at x0
    assert "14" in ax.get_title()


def test_tangent_of_a_function_using_value_methods(tmp_path):
    fig = function_and_tangent(lambda x: x.tanh(), 0.5, path=tmp_path / "t.png")
    (tangent,) = [ln for label, ln in lines(fig.axes[0]).items() if label.startswith("tangent")]
    xs, ys = np.asarray(tangent.get_xdata()), np.asarray(tangent.get_ydata())
    slope = (ys[-1] - ys[0]) / (xs[-1] - xs[0])
    assert slope == pytest.approx(1 - math.tanh(0.5) ** 2, rel=1e-12)
    assert (tmp_path / "t.png").read_bytes().startswith(PNG)


def test_tangent_rejects_bad_xs():
    with pytest.raises(ValueError, match="xs must be a 1-D sequence"):
        function_and_tangent(lambda x: x * x, 0.0, xs=[1.0])


def test_decision_grid_of_a_known_linear_boundary():
    seen_grad_enabled = []

    def model(p):  # class 1 right of x0 = 0.3
        seen_grad_enabled.append(is_grad_enabled())
        return Value(p[0]) - 0.3

    X = np.array([[-1.0, -2.0], [2.0, 1.0]])
    xx, yy, Z = decision_grid(model, X, resolution=21, margin=0.5)
    assert xx.shape == yy.shape == Z.shape == (21, 21)
    assert xx.min() == -1.5 and xx.max() == 2.5 and yy.min() == -2.5 and yy.max() == 1.5
    np.testing.assert_array_equal(Z, (xx > 0.3).astype(int))
    assert not any(seen_grad_enabled)  # evaluated under no_grad


def test_decision_grid_takes_the_argmax_of_several_outputs():
    def model(p):
        return [Value(p[0]), Value(p[1]), Value(-p[0] - p[1])]

    X = np.array([[-1.0, -1.0], [1.0, 1.0]])
    xx, yy, Z = decision_grid(model, X, resolution=15)
    ref = np.argmax(np.stack([xx, yy, -xx - yy]), axis=0)
    np.testing.assert_array_equal(Z, ref)


def test_decision_boundary_draws_the_data_and_saves_png(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "sub" / "db.png"
    fig = decision_boundary(lambda p: Value(p[0]), X, y, path=path, resolution=10, title="t")
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000
    ax = fig.axes[0]
    (points,) = [c for c in ax.collections if len(c.get_offsets()) == len(X)]
    np.testing.assert_array_equal(points.get_offsets(), X)
    np.testing.assert_array_equal(points.get_array(), y)
    assert fig._repr_png_().startswith(PNG)  # shows inline in Jupyter


def test_decision_boundary_needs_two_features():
    with pytest.raises(ValueError, match=r"needs 2 features, X has shape \(4, 3\)"):
        decision_boundary(lambda p: Value(0.0), np.zeros((4, 3)), np.zeros(4))


def test_loss_curves_draw_the_history(tmp_path):
    h = History(
        loss=[1.0, 0.5, 0.25],
        accuracy=[0.5, 0.75, 1.0],
        lr=[0.1] * 3,
        val_loss=[1.1, 0.6, 0.4],
        val_accuracy=[0.4, 0.7, 0.9],
    )
    fig = loss_curves(h, path=tmp_path / "loss.svg")
    assert (tmp_path / "loss.svg").read_text().lstrip().startswith("<?xml")
    loss_ax, acc_ax = fig.axes
    np.testing.assert_array_equal(lines(loss_ax)["train"].get_ydata(), h.loss)
    np.testing.assert_array_equal(lines(loss_ax)["validation"].get_ydata(), h.val_loss)
    np.testing.assert_array_equal(lines(acc_ax)["train"].get_ydata(), h.accuracy)
    np.testing.assert_array_equal(lines(acc_ax)["validation"].get_ydata(), h.val_accuracy)
    assert loss_ax.get_xlabel() == "step"


def test_loss_curves_draw_only_measured_validation_points():
    h = History(loss=[4.0, 3.0, 2.0, 1.0], accuracy=[0.1] * 4, lr=[0.1] * 4)
    h.val_loss, h.val_accuracy = [5.0, None, 3.0, 2.5], [0.2, None, 0.3, 0.4]
    loss_ax, _ = loss_curves(h).axes
    val = lines(loss_ax)["validation"]
    np.testing.assert_array_equal(val.get_xdata(), [0, 2, 3])
    np.testing.assert_array_equal(val.get_ydata(), [5.0, 3.0, 2.5])


def test_loss_curves_from_a_json_dict_without_accuracy(tmp_path):
    h = History(unit="epoch", loss=[3.0, 2.0], accuracy=[None, None], lr=[0.1, 0.1])
    fig = loss_curves(json.loads(json.dumps(h.to_dict())), path=tmp_path / "l.png")
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "epoch"
    assert (tmp_path / "l.png").read_bytes().startswith(PNG)


def test_plots_never_touch_pyplot():
    code = (
        "import sys, numpy as np\n"
        "from tapegrad import Value\n"
        "from tapegrad.plots import decision_boundary, function_and_tangent\n"
        "function_and_tangent(lambda x: x * x, 1.0)\n"
        "decision_boundary(lambda p: Value(p[0]), np.eye(2), [0, 1], resolution=5)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "MPLBACKEND": "TkAgg"}
    )


# --- many points: a sample (issue 19) --------------------------------------------------------


def test_sample_rows_is_seeded_stratified_and_bounded():
    from tapegrad.plots import MAX_POINTS, sample_rows

    rs = np.random.RandomState(0)
    y = rs.choice(3, size=100_000, p=[0.7, 0.299, 0.001])  # a class of about 100 rows
    rows = sample_rows(y)
    assert MAX_POINTS <= len(rows) <= MAX_POINTS + 3 and len(set(rows.tolist())) == len(rows)
    np.testing.assert_array_equal(rows, sample_rows(y))  # the same sample every time
    counts, kept = np.bincount(y, minlength=3), np.bincount(y[rows], minlength=3)
    np.testing.assert_allclose(kept, counts * len(rows) / len(y), atol=1.5)  # in proportion
    assert sample_rows(y[:MAX_POINTS]) is None  # few enough: all of them
    assert sample_rows(np.arange(10), most=4, seed=1).tolist() == sorted(
        sample_rows(np.arange(10), most=4, seed=1).tolist()
    )
    assert len(sample_rows(rs.normal(size=5_000), most=100)) == 100  # numbers: rows at large


def test_decision_boundary_of_many_points_draws_a_sample_and_says_so():
    from matplotlib.collections import PathCollection

    from tapegrad.plots import MAX_POINTS

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50_000, 2))
    y = (X[:, 0] > 0).astype(int)
    fig = decision_boundary(lambda p: Value(p[0]), X, y, resolution=5)
    ax = fig.axes[0]
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]  # the scatter
    assert len(points.get_offsets()) <= MAX_POINTS + 2
    assert any("a sample of 2,000 of 50,000 points" in t.get_text() for t in ax.texts)
    lo, hi = ax.get_xlim()
    assert lo < X[:, 0].min() and hi > X[:, 0].max()  # the grid spans every point
