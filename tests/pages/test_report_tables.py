"""The report of a table (issue 20): the sample graph's layers say what the layer table says,
the curves begin where the slider does, the kept weights are the last moment, a regression is
shown in the label's own units, and the samples are real rows named by column and class."""

import re

import numpy as np
import pytest

from tapegrad.nn import MLP
from tapegrad.pages import report as R
from tapegrad.train import fit


def graph_params(view) -> list[int]:
    """The `N params` each collapsed box of a sample's graph says, in the layers' order."""
    boxes = re.findall(r"(layers\.\d+)</text>.*?(\d+) params", view._repr_html_(), flags=re.S)
    return [int(n) for _, n in sorted(set(boxes), key=lambda b: int(b[0].split(".")[1]))]


@pytest.mark.parametrize(
    ("nin", "sizes", "loss", "kind"),
    [
        (4, [16, 16, 3], "softmax_ce", "classes"),  # several outputs: every class's neuron
        (4, [16, 16, 1], "hinge", "binary"),  # one output
        (2, [16, 16, 1], "hinge", "binary"),  # micrograd's demo network
        (3, [12, 2], "mse", "regression"),  # a regression of two outputs
    ],
)
def test_the_sample_graphs_layers_have_the_layer_tables_parameter_counts(nin, sizes, loss, kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, nin))
    if kind == "classes":
        y = rng.integers(0, sizes[-1], size=30)
    elif kind == "binary":
        y = (X[:, 0] > 0).astype(int)
    else:
        y = np.column_stack([X[:, 0], X[:, 1] - X[:, 0]])
    model = MLP(nin, sizes, seed=1)
    history = fit(model, X, y, loss=loss, steps=3, snapshots=2, progress=False)
    page = R.report(history, model, X, y, loss=loss)
    want = [len(layer.parameters()) for layer in model.layers]  # counted here, not by the page
    assert [n for _, n in page.layers] == want
    for m in page.moments:
        for view in m.views:
            assert not isinstance(view, str), view
            assert graph_params(view) == want
            # every parameter of the model is a leaf of the graph, and gets its gradient
            assert set(map(id, model.parameters())) <= set(map(id, view.grads))


# --- the curves begin at the moment the slider shows first -------------------------------------


def chart_points(page, which: int) -> dict:
    """Chart `which`'s polylines and moment dots read back into (step, value) through its
    axis labels: {"lines": [[(step, value), ...] per series], "dots": [(step, value), ...]}."""
    svg = re.findall(r'<svg class="tg-chart".*?</svg>', page.html(), flags=re.S)[which]
    ends = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    hi, lo, total = float(ends[0]), float(ends[1]), float(ends[2])
    height, width = R.CHART_H - R._TOP - R._BOTTOM, R.CHART_W - R._LEFT - R._RIGHT

    def back(px: float, py: float) -> tuple[float, float]:
        return (px - R._LEFT) * total / width, hi - (py - R._TOP) * (hi - lo) / height

    lines = [
        [back(*map(float, pair.split(","))) for pair in points.split()]
        for points in re.findall(r'<polyline[^>]* points="([^"]+)"', svg)
    ]
    dots = [back(float(x), float(y)) for x, y in re.findall(r'cx="([^"]+)" cy="([^"]+)"', svg)]
    return {"lines": lines, "dots": dots, "span": hi - lo}


def blobs(seed=0, n=80):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    X = rng.normal(size=(n, 2)) + np.eye(3)[y][:, :2] * 2.5
    return X, y


def test_the_curves_begin_with_moment_0s_numbers_and_the_panels_are_on_them():
    from tapegrad.train import evaluate

    X, y = blobs()
    Xv, yv = blobs(seed=1, n=30)
    model = MLP(2, [6, 3], seed=4)
    history = fit(model, X, y, loss="softmax_ce", epochs=6, batch_size=16, seed=0,
                  validation=(Xv, yv), snapshots=4, progress=False)  # fmt: skip
    page = R.report(history, model, X, y, loss="softmax_ce")
    start = MLP(2, [6, 3], seed=4)  # the weights before the first epoch, measured here
    train0, val0 = evaluate(start, X, y, "softmax_ce"), evaluate(start, Xv, yv, "softmax_ce")
    loss, acc = chart_points(page, 0), chart_points(page, 1)
    tol = loss["span"] * 0.004
    objective, validation = loss["lines"]
    assert objective[0] == pytest.approx((0, train0["loss"]), abs=tol)
    assert validation[0] == pytest.approx((0, val0["loss"]), abs=tol)
    assert acc["lines"][0][0] == pytest.approx((0, train0["accuracy"]), abs=0.01)
    assert acc["lines"][1][0] == pytest.approx((0, val0["accuracy"]), abs=0.01)
    # then History's numbers: epoch means mid-epoch, validation after each epoch
    flat = [c for point in objective[1:] for c in point]
    assert flat == pytest.approx([c for i, v in enumerate(history.loss) for c in (i + 0.5, v)],
                                 abs=tol)  # fmt: skip
    flat = [c for point in validation[1:] for c in point]
    assert flat == pytest.approx([c for i, v in enumerate(history.val_loss) for c in (i + 1, v)],
                                 abs=tol)  # fmt: skip
    # a dot at each moment, at the number its panel shows; the panel's validation numbers are
    # the validation curve's at that moment
    twin = MLP(2, [6, 3], seed=9)
    data = page.data()["moments"]
    for m, dot, shown, snap in zip(page.moments, loss["dots"], data, history.snapshots,
                                   strict=True):  # fmt: skip
        set_weights(twin, snap["weights"])
        here = evaluate(twin, X, y, "softmax_ce")
        assert dot == pytest.approx((snap["step"], here["loss"]), abs=tol)
        assert shown["cells"]["objective"] == f"{here['loss']:.4g}"
        at = [v for s, v in validation if s == pytest.approx(m.step, abs=0.01)]
        assert at and float(shown["cells"]["val_loss"]) == pytest.approx(at[0], abs=tol)
    assert f"{val0['loss']:.4g}" == data[0]["cells"]["val_loss"]


def set_weights(model, weights) -> None:
    for p, w in zip(model.parameters(), weights, strict=True):
        p.data = w


# --- early stopping: the last moment is the weights kept ---------------------------------------


def overfitting_run(compile=False, snapshots=5):
    """Labels that are noise: the validation loss turns up after a few epochs."""
    rng = np.random.default_rng(3)
    X, Xv = rng.normal(size=(40, 4)), rng.normal(size=(40, 4))
    y, yv = rng.integers(0, 2, size=40), rng.integers(0, 2, size=40)
    model = MLP(4, [24, 24, 1], seed=2)
    history = fit(model, X, y, loss="bce", epochs=60, batch_size=8, seed=0, compile=compile,
                  validation=(Xv, yv), patience=3, snapshots=snapshots, progress=False)  # fmt: skip
    return X, y, model, history


@pytest.mark.parametrize("compile", [False, True])
def test_the_last_moment_is_the_weights_early_stopping_kept(compile):
    from tapegrad.train import evaluate

    X, y, model, history = overfitting_run(compile)
    assert history.kept is not None and history.kept < len(history) < 60
    steps = [s["step"] for s in history.snapshots]
    assert steps[-2:] == [len(history), history.kept]  # the last epoch trained, then the kept
    assert [bool(s.get("kept")) for s in history.snapshots] == [False] * (len(steps) - 1) + [True]
    assert history.snapshots[-1]["weights"] == [p.data for p in model.parameters()]
    # the last trained epoch's weights are another run's of exactly that many epochs
    again = MLP(4, [24, 24, 1], seed=2)
    fit(again, X, y, loss="bce", epochs=len(history), batch_size=8, seed=0, compile=compile,
        progress=False)  # fmt: skip
    assert history.snapshots[-2]["weights"] == pytest.approx(
        [p.data for p in again.parameters()], abs=1e-12
    )
    page = R.report(history, model, X, y, loss="bce")
    last = page.moments[-1]
    assert last.step == history.kept and last.kept
    assert page.data()["moments"][-1]["step"] == (
        f"epoch {history.kept} of {len(history)} (best, kept)"
    )
    assert last.objective == pytest.approx(evaluate(model, X, y, "bce")["loss"], rel=1e-9)
    assert last.val_loss == history.val_loss[history.kept - 1]
    assert not any(m.kept for m in page.moments[:-1])


def test_without_snapshots_the_one_moment_is_the_kept_epoch():
    X, y, model, history = overfitting_run(snapshots=0)
    page = R.report(history, model, X, y, loss="bce")
    assert [(m.step, m.kept) for m in page.moments] == [(history.kept, True)]


def test_one_snapshot_with_early_stopping_is_the_last_epoch_then_the_kept():
    X, y, model, history = overfitting_run(snapshots=1)
    assert [s["step"] for s in history.snapshots] == [len(history), history.kept]
