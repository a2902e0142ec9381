"""The report of a table (issue 20): the sample graph's layers say what the layer table says,
the curves begin where the slider does, the kept weights are the last moment, a regression is
shown in the label's own units, and the samples are real rows named by column and class."""

import json
import re
from html import unescape

import numpy as np
import pytest

from tapegrad import Value
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


# --- tables through the command: units, names, real rows ---------------------------------------


def page_data(html: str) -> dict:
    """The numbers the report's script shows (its JSON), read back from the page."""
    text = re.search(r'<script type="application/json" id="tgr[^"]*-data">(.*?)</script>', html,
                     flags=re.S).group(1)  # fmt: skip
    return json.loads(text)


def options(html: str) -> list[str]:
    return [unescape(o) for o in re.findall(r'<option value="\d+">([^<]*)</option>', html)]


def train(tmp_path, lines: list[str], label: str, epochs: int = 6) -> tuple[str, str]:
    from tapegrad.cli import main

    data, out = tmp_path / "t.csv", tmp_path / "run"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["train", "--data", str(data), "--label", label, "--epochs", str(epochs),
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return str(data), (out / "report.html").read_text(encoding="utf-8")


def regression_table(n=120, seed=5) -> tuple[list[str], list[float]]:
    """Prices in the thousands from a size and a colour (text): far from standardised."""
    rng = np.random.default_rng(seed)
    lines, prices = ["size,colour,price"], []
    for _ in range(n):
        size, colour = rng.normal(3, 1), ["red", "blue", "green"][int(rng.integers(3))]
        price = round(2000 + 300 * size + 150 * (colour == "red") + rng.normal(0, 20), 2)
        lines.append(f"{size:.3f},{colour},{price}")
        prices.append(price)
    return lines, prices


def test_a_regressions_view_and_samples_are_in_the_labels_units(tmp_path):
    from tapegrad.preprocessing import read_table
    from tapegrad.tables import TableModel

    lines, prices = regression_table()
    data, html = train(tmp_path, lines, "price")
    shown = page_data(html)
    truth = shown["truth"]
    assert truth["name"] == "price"
    # each true value is a price of the table (the training rows'), in its units
    for v in truth["values"]:
        assert min(abs(v - p) for p in prices) <= 1e-5 * abs(v)
    assert truth["lo"] <= min(truth["values"]) and max(truth["values"]) <= truth["hi"]
    assert [float(t) for t in truth["ticks"]] == [truth["lo"], truth["hi"]]
    # the last moment's predictions are the saved model's, in the label's units
    model = TableModel.load(tmp_path / "run" / "model.json")
    predicted = np.asarray(model.predict(read_table(data)), dtype=float)
    row_of = {p: i for i, p in enumerate(prices)}
    for v, p in zip(truth["values"], shown["moments"][-1]["pred"], strict=True):
        i = min(row_of, key=lambda q: abs(q - v))
        assert p == pytest.approx(predicted[row_of[i]], rel=1e-5)
    assert "predicted against true price" in html and "standardised)" in html  # the graph's
    # the samples: real rows named by their true price, then the worst predicted
    names = options(html)
    assert len(names) == 3 and names[1].startswith("worst: ") and names[2].startswith("worst: ")
    for name in names:
        row, true = re.search(r"row (\d+) \(true ([^)]+)\)", name).groups()
        assert true == f"{prices[int(row)]:.4g}"
    errors = {abs(p - v) for v, p in zip(truth["values"], shown["moments"][-1]["pred"],
                                          strict=True)}  # fmt: skip
    worst = [int(re.search(r"row (\d+)", n).group(1)) for n in names[1:]]
    assert sorted(abs(predicted[i] - prices[i]) for i in worst) == pytest.approx(
        sorted(errors)[-2:], rel=1e-4
    )
    for column in ["size = ", "colour=red = ", "colour=blue = ", "colour=green = "]:
        assert column in html


def test_a_classifier_of_text_features_shows_a_row_of_each_class_and_the_worst(tmp_path):
    rng = np.random.default_rng(7)
    classes = ["low", "mid", "high"]
    lines, labels = ["width,shade,kind"], []
    for _ in range(90):
        c = int(rng.integers(3))
        shade = ["dark", "pale"][int(rng.integers(2))]
        lines.append(f"{rng.normal(c, 0.8):.3f},{shade},{classes[c]}")
        labels.append(classes[c])
    _, html = train(tmp_path, lines, "kind", epochs=3)
    names = options(html)
    firsts = [n for n in names if not n.startswith("worst: ")]
    assert sorted(re.search(r"\(true (\w+)\)", n).group(1) for n in firsts) == sorted(classes)
    assert sum(n.startswith("worst: ") for n in names) == 2
    for name in names:
        row, true = re.search(r"row (\d+) \(true (\w+)\)", name).groups()
        assert labels[int(row)] == true
    for column in ["width = ", "shade=dark = ", "shade=pale = "]:
        assert column in html
    said = re.findall(r'predicted <span class="tg-said">(\w+)</span>', html)
    assert said and set(said) <= set(classes)  # each sample's line says the predicted class


def test_a_classifier_right_on_every_row_still_shows_its_two_least_sure_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=60)
    X = rng.normal(scale=0.3, size=(60, 2)) + np.array([[0, 0], [4, 0], [0, 4]])[y]
    model = MLP(2, [8, 3], seed=0)
    history = fit(model, X, y, loss="softmax_ce", steps=150, snapshots=2, progress=False)
    page = R.report(history, model, X, y, loss="softmax_ce")
    assert page.moments[-1].accuracy == 1.0
    names = [name for name, _ in page.samples]
    assert len(names) == 5 and all(n.startswith("worst: ") for n in names[3:])
    # the least sure: the smallest lead of the true class's score over the best other's
    scores = np.array([[o.data for o in model([Value(v) for v in row])] for row in X.tolist()])
    lead = np.array([s[t] - np.delete(s, t).max() for s, t in zip(scores, y, strict=True)])
    firsts = [int(np.flatnonzero(y == c)[0]) for c in range(3)]
    lead[firsts] = np.inf
    want = sorted(np.argsort(lead)[:2].tolist())
    assert sorted(int(re.search(r"row (\d+)", n).group(1)) for n in names[3:]) == want


@pytest.mark.parametrize("compile", [False, True])
def test_an_early_stopped_runs_moments_are_spread_over_the_epochs_it_ran(compile):
    X, y, model, history = overfitting_run(compile, snapshots=5)
    n = len(history)
    steps = [s["step"] for s in history.snapshots[:-1]]  # the last is the kept one
    assert steps[0] == 0 and steps[-1] == n and steps == sorted(set(steps))
    gaps = np.diff(steps)
    assert len(steps) == 5 and gaps.max() <= n / 2
    for snap in history.snapshots[1:-2]:  # each the weights after exactly that many epochs
        again = MLP(4, [24, 24, 1], seed=2)
        fit(again, X, y, loss="bce", epochs=snap["step"], batch_size=8, seed=0, compile=compile,
            progress=False)  # fmt: skip
        assert snap["weights"] == pytest.approx([p.data for p in again.parameters()], abs=1e-12)
