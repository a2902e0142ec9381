"""The training report: fit's snapshots, and every number the page embeds checked against an
independent computation (History's own numbers, a fresh eager forward/backward, PyTorch)."""

import json
import math
import re

import numpy as np
import pytest

import tapegrad
from tapegrad import Value
from tapegrad.data import moons
from tapegrad.interop import to_torch
from tapegrad.nn import MLP
from tapegrad.optim import SGD
from tapegrad.pages import report as R
from tapegrad.plots import DecisionGrid, decision_grid
from tapegrad.train import History, evaluate, fit


def small_run(snapshots=5, steps=20, compile=True, **kw):
    X, y = moons(40, noise=0.1, seed=3)
    model = MLP(2, [8, 1], seed=5)
    history = fit(
        model,
        X,
        y,
        optimizer=SGD(model, lr=0.2),
        steps=steps,
        l2=1e-3,
        progress=False,
        compile=compile,
        snapshots=snapshots,
        **kw,
    )
    return X, y, model, history


def weights_of(model) -> list[float]:
    return [p.data for p in model.parameters()]


# --- fit's snapshots -----------------------------------------------------------------------------


@pytest.mark.parametrize("compile", [False, True])
def test_snapshots_are_the_weights_after_k_steps(compile):
    X, y, model, history = small_run(snapshots=5, steps=20, compile=compile)
    assert [s["step"] for s in history.snapshots] == [0, 5, 10, 15, 20]
    for snap in history.snapshots:
        # The reference: a fresh run of exactly `step` steps from the same start.
        again = MLP(2, [8, 1], seed=5)
        if snap["step"]:
            fit(again, X, y, optimizer=SGD(again, lr=0.2), steps=snap["step"], l2=1e-3,
                progress=False, compile=compile)  # fmt: skip
        assert snap["weights"] == pytest.approx(weights_of(again), rel=1e-12, abs=1e-12)
    assert history.snapshots[-1]["weights"] == pytest.approx(weights_of(model), abs=0)


def test_snapshot_counts_and_json():
    assert [s["step"] for s in small_run(snapshots=1, steps=7)[3].snapshots] == [7]
    assert [s["step"] for s in small_run(snapshots=3, steps=7)[3].snapshots] == [0, 4, 7]
    assert len(small_run(snapshots=50, steps=7)[3].snapshots) == 8  # one per moment at most
    assert small_run(snapshots=0, steps=3)[3].snapshots == []
    history = small_run(snapshots=2, steps=3)[3]
    back = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert back.snapshots == history.snapshots
    with pytest.raises(ValueError, match="snapshots must be a positive integer"):
        small_run(snapshots=-1)


def test_epochs_snapshots():
    X, y = moons(40, noise=0.1, seed=3)
    model = MLP(2, [4, 1], seed=1)
    h = fit(model, X, y, epochs=4, batch_size=16, seed=0, progress=False, snapshots=3)
    assert [s["step"] for s in h.snapshots] == [0, 2, 4]


# --- the numbers the page embeds ---------------------------------------------------------------


@pytest.fixture(scope="module")
def run_and_page():
    X, y, model, history = small_run(snapshots=5, steps=20)
    samples = {"origin": [0.0, 0.0], "p": [1.0, -0.5]}
    page = tapegrad.report(history, model, X, y, loss="hinge", l2=1e-3, samples=samples,
                           settings={"lr": 0.2, "note": "<b>&"}, resolution=25)  # fmt: skip
    return X, y, model, history, page


def torch_objective(model, weights, X, y, l2, torch):
    """The hinge objective and its gradient per layer, in PyTorch float64."""
    twin = MLP(2, [8, 1], seed=0)
    for p, w in zip(twin.parameters(), weights, strict=True):
        p.data = w
    net = to_torch(twin)
    t = torch.tensor(np.where(np.asarray(y) > 0, 1.0, -1.0), dtype=torch.float64)
    out = net(torch.tensor(X, dtype=torch.float64))[:, 0]
    params = list(net.parameters())
    objective = torch.relu(1 - t * out).mean() + l2 * sum((p * p).sum() for p in params)
    objective.backward()
    norms = [
        math.sqrt(sum(float((p.grad**2).sum()) for p in layer.parameters()))
        for layer in net
        if isinstance(layer, torch.nn.Linear)
    ]
    return float(objective), norms


def test_each_moment_measured_as_pytorch_does(run_and_page, torch):
    X, y, model, history, page = run_and_page
    assert [m.step for m in page.moments] == [0, 5, 10, 15, 20]
    for m, snap in zip(page.moments, history.snapshots, strict=True):
        objective, norms = torch_objective(model, snap["weights"], X, y, 1e-3, torch)
        assert m.objective == pytest.approx(objective, rel=1e-10)
        assert m.norms == pytest.approx(norms, rel=1e-9, abs=1e-12)
        assert m.l2_term == pytest.approx(1e-3 * sum(w * w for w in snap["weights"]), rel=1e-12)
        if m.step < len(history):  # fit measured the objective with the same weights
            assert history.loss[m.step] == pytest.approx(m.objective, rel=1e-10)
    texts = page.data()["moments"]
    assert texts[2]["norms"] == [f"{n:.4g}" for n in page.moments[2].norms]
    assert texts[2]["cells"]["objective"] == f"{page.moments[2].objective:.4g}"


def test_the_model_keeps_its_weights(run_and_page):
    X, y, model, history, _ = run_and_page
    before = [(p.data, p.grad) for p in model.parameters()]
    tapegrad.report(history, model, X, y, l2=1e-3, resolution=5)
    assert [(p.data, p.grad) for p in model.parameters()] == before


def test_the_sample_graph_is_a_real_forward_and_backward(run_and_page):
    X, y, model, history, page = run_and_page
    for m, snap in zip(page.moments, history.snapshots, strict=True):
        for (_, point), view in zip(page.samples, m.views, strict=True):
            twin = MLP(2, [8, 1], seed=0)
            for p, w in zip(twin.parameters(), snap["weights"], strict=True):
                p.data = w
            xs = [Value(v) for v in point]
            out = twin(xs)
            out.backward()
            assert view.root.data == pytest.approx(out.data, rel=1e-12, abs=1e-15)
            got = {n.label: g for n, g in view.grads.items() if n.label in ("x0", "x1")}
            assert got == pytest.approx({"x0": xs[0].grad, "x1": xs[1].grad}, abs=1e-12)
            # ... and the page opens the view at its last step, every grad shown.
            data = view.data(standalone=False)
            assert data["start"] == len(data["steps"]) - 1
    names = [name for name, _ in page.samples]
    assert names == ["origin", "p"]


def test_boundary_pictures_are_the_models_classes(run_and_page):
    X, y, model, history, page = run_and_page
    grid = DecisionGrid(model, X, 25)  # the report's grid: one tape, replayed per moment
    pictures = set()
    for m, snap in zip(page.moments, history.snapshots, strict=True):
        assert m.boundary.startswith("data:image/png;base64,")
        pictures.add(m.boundary)
        for p, w in zip(model.parameters(), snap["weights"], strict=True):
            p.data = w
        _, _, eager = decision_grid(model, X, resolution=25)  # the reference: eager, per point
        assert np.array_equal(grid.classes(), eager)
    for p, w in zip(model.parameters(), history.snapshots[-1]["weights"], strict=True):
        p.data = w
    assert len(pictures) == len(page.moments)


def chart_values(svg: str, label_index: int) -> list[tuple[float, float]]:
    """A chart's polyline read back into (step, value) through its axis labels."""
    hi, lo = (float(t) for t in re.findall(r'text-anchor="end">([^<]+)</text>', svg)[:2])
    total = float(re.findall(r'text-anchor="end">([^<]+)</text>', svg)[2])
    lines = re.findall(r'<polyline[^>]* points="([^"]+)"', svg)
    height = R.CHART_H - R._TOP - R._BOTTOM
    width = R.CHART_W - R._LEFT - R._RIGHT
    out = []
    for pair in lines[label_index].split():
        px, py = map(float, pair.split(","))
        out.append(((px - R._LEFT) * total / width, hi - (py - R._TOP) * (hi - lo) / height))
    return out


def test_the_curves_are_historys_numbers(run_and_page):
    X, y, model, history, page = run_and_page
    charts = re.findall(r'<svg class="tg-chart".*?</svg>', page.html())
    assert len(charts) == 2  # loss and accuracy
    loss = chart_values(charts[0], 0)
    span = max(history.loss) - min(history.loss)
    assert [round(s) for s, _ in loss] == list(range(len(history)))
    # Drawn to a tenth of a pixel, and the axis labels are rounded to 4 digits.
    assert [v for _, v in loss] == pytest.approx(history.loss, abs=span * 0.004 + 1e-3)
    acc = chart_values(charts[1], 0)
    assert [v for _, v in acc] == pytest.approx(history.accuracy, abs=0.01)


def test_validation_curve_and_settings():
    X, y = moons(40, noise=0.1, seed=3)
    model = MLP(2, [4, 1], seed=1)
    h = fit(model, X[:30], y[:30], steps=6, progress=False, validation=(X[30:], y[30:]),
            eval_every=2, snapshots=2)  # fmt: skip
    page = tapegrad.report(
        h, model, X[:30], y[:30], settings={"lr": 0.01, "note": "<b>&"}, resolution=5
    )
    html = page.html()
    chart = re.findall(r'<svg class="tg-chart".*?</svg>', html)[0]
    val = chart_values(chart, 1)
    start = evaluate(MLP(2, [4, 1], seed=1), X[30:], y[30:])["loss"]  # the weights at step 0
    measured = [(0, start)] + [(i + 1, v) for i, v in enumerate(h.val_loss) if v is not None]
    assert [round(s) for s, _ in val] == [s for s, _ in measured]
    span = max(v for _, v in measured) - min(v for _, v in measured)
    assert [v for _, v in val] == pytest.approx([v for _, v in measured], abs=span * 0.004)
    assert "validation loss" in chart
    assert "&lt;b&gt;&amp;" in html and "<b>&" not in html  # settings are escaped


def test_without_snapshots_one_moment_and_other_models():
    X, y = moons(30, noise=0.1, seed=3)
    model = MLP(2, [3, 3, 2], act="tanh", seed=2)  # two outputs: the predicted class's chance
    h = fit(model, X, y, loss="softmax_ce", steps=3, progress=False)
    page = tapegrad.report(h, model, X, y, loss="softmax_ce", samples=[[0.5, 0.5]])
    assert [m.step for m in page.moments] == [3]
    view = page.moments[0].views[0]
    scores = np.array([o.data for o in model([0.5, 0.5])])
    softmax = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    assert view.root.data == pytest.approx(softmax.max(), rel=1e-12)
    assert view.root.label == f"P({int(np.argmax(scores))})"
    assert page.samples[0][0] == "(0.5, 0.5)"
    # Regression data: no boundary and no accuracy, the rest as before.
    Xr = np.linspace(-1, 1, 12).reshape(-1, 1)
    yr = Xr[:, 0] ** 2
    reg = MLP(1, [4, 1], seed=0)
    h = fit(reg, Xr, yr, loss="mse", steps=4, progress=False, snapshots=2)
    page = tapegrad.report(h, reg, Xr, yr, loss="mse")
    assert all(m.boundary is None for m in page.moments)
    assert all(m.accuracy is None for m in page.moments)
    assert "<img" not in page.html()


def test_bad_input_is_named(run_and_page):
    X, y, model, history, _ = run_and_page
    with pytest.raises(ValueError, match="sample 0 must be 2 finite numbers"):
        tapegrad.report(history, model, X, y, samples=[[1.0]])
    with pytest.raises(ValueError, match="samples is empty"):
        tapegrad.report(history, model, X, y, samples=[])
    with pytest.raises(ValueError, match="model that was trained"):
        tapegrad.report(history, MLP(2, [3, 1]), X, y)
    with pytest.raises(TypeError, match="settings must be a mapping"):
        tapegrad.report(history, model, X, y, settings=[1])
    with pytest.raises(ValueError, match="resolution must be"):
        tapegrad.report(history, model, X, y, resolution=1)


def test_saved_page_is_self_contained(run_and_page, tmp_path):
    *_, page = run_and_page
    path = page.save(tmp_path / "sub" / "report.html")
    html = open(path, encoding="utf-8").read()
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from the network
    assert page._repr_html_().startswith('<div id="tgr-')
    assert "tapegrad training report" in repr(page)


def test_train_writes_its_report(tmp_path, capsys):
    from tapegrad.cli import main

    out = tmp_path / "run"
    argv = ["train", "--data", "moons", "--epochs", "4", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert "report.html" in capsys.readouterr().out.rstrip().splitlines()[-1]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "tg-boundary-img" in html
    run = json.loads((out / "run.json").read_text())
    assert str(out / "report.html") in run["files"]
    assert "<th>optimizer_steps</th>" in html  # run.json's settings, as a table
    history = json.loads((out / "history.json").read_text())
    steps = [s["step"] for s in history["snapshots"]]
    kept = history["kept"]  # early stopping's best epoch: its weights are the last moment
    assert steps == [0, 1, 2, 3, 4] + ([] if kept in (None, 4) else [kept])


# --- many rows: a sample (issue 19) ----------------------------------------------------------


def test_a_report_of_many_rows_measures_and_draws_a_seeded_sample():
    from tapegrad.plots import MAX_POINTS, sample_rows

    X, y = moons(60_000, noise=0.2, seed=1)
    model = MLP(2, [4, 1], seed=0)
    history = fit(model, X[:64], y[:64], steps=2, snapshots=3, progress=False, compile=True)
    page = R.report(history, model, X, y, resolution=8)
    rows = sample_rows(y)
    assert page.rows == (len(rows), 60_000) and len(rows) <= MAX_POINTS + 2
    html = page.html()
    assert "a sample of 2,000 of the 60,000 rows given" in html
    assert "decision boundary (a sample of 2,000 of 60,000 points)" in html
    # each moment measured on the sample: the objective fit's loss gives on those rows
    again = R.report(history, model, X[rows], y[rows], resolution=8)
    assert [m.objective for m in page.moments] == [m.objective for m in again.moments]
    assert "a sample of" not in again.html()


def test_a_report_of_some_rows_samples_them_without_copying_the_rest():
    X, y = moons(30_000, noise=0.2, seed=2)
    model = MLP(2, [4, 1], seed=0)
    history = fit(model, X[:64], y[:64], steps=2, progress=False, compile=True)
    rows = np.arange(0, 30_000, 3)  # 10,000 of them: a run's training rows
    page = R.report(history, model, X, y, rows=rows, resolution=8)
    copied = R.report(history, model, X[rows], y[rows], resolution=8)
    assert page.rows == copied.rows == (copied.rows[0], 10_000)
    assert [m.objective for m in page.moments] == [m.objective for m in copied.moments]
    assert "a sample of 2,000 of the 10,000 rows given" in page.html()


# --- a report that explains any table (issue 20) ---------------------------------------------

CLASSES = ["a&b", "setosa", "<virg>"]


def write_table(path, n=90, seed=0) -> None:
    """A 3-class table with a text feature and names that need escaping."""
    rng = np.random.default_rng(seed)
    lines = ["petal <len>,colour,width,species"]
    for _ in range(n):
        c = int(rng.integers(3))
        colour = ["red", "blue"][int(rng.integers(2))]
        lines.append(f"{rng.normal(c, 0.5):.3f},{colour},{rng.random():.3f},{CLASSES[c]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_train_names_inputs_by_column_and_outputs_by_class_escaped(tmp_path):
    from tapegrad.cli import main

    write_table(tmp_path / "t.csv")
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "t.csv"), "--epochs", "3", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    for name in ["petal &lt;len&gt; = ", "colour=blue = ", "colour=red = ", "width = "]:
        assert name in html  # each sample's line names its inputs by column
    assert "petal <len>" not in html and "<virg>" not in html  # never raw
    assert "x0 = " not in html and "origin" not in html
    options = re.findall(r'<option value="\d+">([^<]*)</option>', html)
    trues = {re.search(r"\(true (.*)\)", o).group(1) for o in options}
    assert trues == {"a&amp;b", "setosa", "&lt;virg&gt;"}  # a real row of each class
    head = re.search(r'<table class="tg-confusion">.*?</tr>', html).group(0)
    assert re.findall(r"<th>([^<]*)</th>", head)[1:] == ["&lt;virg&gt;", "a&amp;b", "setosa"]


def three_classes(snapshots=4):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    model = MLP(3, [6, 3], seed=1)
    history = fit(model, X, y, loss="softmax_ce", steps=12, snapshots=snapshots, progress=False)
    return X, y, model, history


def set_weights(model, weights) -> None:
    for p, w in zip(model.parameters(), weights, strict=True):
        p.data = w


def test_the_confusion_matrix_counts_each_moments_predictions():
    X, y, model, history = three_classes()
    page = R.report(history, model, X, y, loss="softmax_ce", output_names=["p", "q", "r"])
    twin = MLP(3, [6, 3], seed=9)
    for m, snap in zip(page.moments, history.snapshots, strict=True):
        set_weights(twin, snap["weights"])
        counts = np.zeros((3, 3), dtype=int)
        for row, label in zip(X.tolist(), y.tolist(), strict=True):
            scores = [o.data for o in twin([Value(v) for v in row])]
            counts[label, scores.index(max(scores))] += 1
        assert m.confusion == counts.tolist()
        assert page.data()["moments"][page.moments.index(m)]["confusion"] == counts.tolist()
    assert len({json.dumps(m.confusion) for m in page.moments}) > 1  # it changes as it trains
    # the samples are rows of X: the first of each class, then the worst predicted
    names = [name for name, _ in page.samples]
    for c, name in zip("pqr", names, strict=False):
        i = int(np.flatnonzero(y == "pqr".index(c))[0])
        assert name == f"row {i} (true {c})"
    for name, point in page.samples:
        i = int(re.search(r"row (\d+)", name).group(1))
        assert point == X[i].tolist()
    assert any(name.startswith("worst: ") for name in names)


def test_the_regression_view_is_the_models_outputs():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 2))
    y = 2 * X[:, 0] - X[:, 1]
    model = MLP(2, [5, 1], seed=1)
    history = fit(model, X, y, loss="mse", steps=15, snapshots=3, progress=False)
    page = R.report(history, model, X, y, loss="mse", input_names=["u", "v"],
                    output_names=["price"])  # fmt: skip
    data = page.data()
    assert data["truth"]["values"] == pytest.approx(y.tolist(), rel=1e-5)
    twin = MLP(2, [5, 1], seed=7)
    for k, (m, snap) in enumerate(zip(page.moments, history.snapshots, strict=True)):
        set_weights(twin, snap["weights"])
        want = [twin([Value(v) for v in row]).data for row in X.tolist()]
        assert m.predicted == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert data["moments"][k]["pred"] == pytest.approx(want, rel=1e-5, abs=1e-9)
        assert m.confusion is None
    html = page.html()
    assert 'class="tg-scatter"' in html and "predicted against true price" in html
    assert "u = " in html and "price <b>" in html


def test_names_that_do_not_fit_the_model_are_named():
    X, y, model, history = three_classes(snapshots=0)
    with pytest.raises(ValueError, match="input_names has 2 names but the model takes 3"):
        R.report(history, model, X, y, loss="softmax_ce", input_names=["a", "b"])
    with pytest.raises(ValueError, match="output_names has 2 names but the model has 3 classes"):
        R.report(history, model, X, y, loss="softmax_ce", output_names=["a", "b"])
