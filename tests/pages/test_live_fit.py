"""`tapegrad.fit(..., live=True)` (issue 23): training in a background thread with its page,
returning at once (a notebook's kernel stays free), on the moons demo and on a table with a
text feature; the History at the end is the one `fit` gives without a page."""

import json
import threading
import urllib.request

import numpy as np
import pytest

import tapegrad
from tapegrad.data import moons
from tapegrad.live import LiveRun
from tapegrad.nn import MLP
from tapegrad.optim import SGD, linear
from tapegrad.tables import Preprocessor, read_table


@pytest.fixture
def baseline():
    before = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) <= before, "a live run left a thread behind"


def first_frame(url: str, ok) -> dict:
    """The first frame on the run's stream for which `ok(frame)`."""
    events = url.replace("/?", "/events?")
    with urllib.request.urlopen(events, timeout=60) as stream:
        for raw in stream:
            line = raw.decode()
            if line.startswith("data: ") and '"curves"' in line:
                frame = json.loads(line[6:])
                if ok(frame):
                    return frame
    raise AssertionError("the stream ended without such a frame")


def demo(model):
    return SGD(model, lr=linear(1.0, 0.1, 40))


def test_fit_live_returns_at_once_and_gives_the_same_history(baseline):
    X, y = moons(100, noise=0.1, seed=1337)
    model = MLP(2, [16, 16, 1], seed=1337)
    run = tapegrad.fit(model, X, y, optimizer=demo(model), steps=40, l2=1e-4, compile=True,
                       progress=False, live=True, live_pace=0.02)  # fmt: skip
    assert isinstance(run, LiveRun) and run.running  # returned while the run trains
    assert run.url.startswith("http://127.0.0.1:")
    assert f'src="{run.url}"' in run._repr_html_().replace("&amp;", "&")
    frame = first_frame(run.url, lambda f: f["step"] > 0)
    assert frame["grid"] and frame["confusion"] and frame["unit"] == "step"
    history = run.wait(120)
    assert not run.running
    plain = MLP(2, [16, 16, 1], seed=1337)
    expected = tapegrad.train.fit(plain, X, y, optimizer=demo(plain), steps=40, l2=1e-4,
                                  compile=True, progress=False)  # fmt: skip
    assert history.loss == expected.loss
    assert [p.data for p in model.parameters()] == [p.data for p in plain.parameters()]


def test_fit_live_on_a_table_with_a_text_feature(baseline, tmp_path):
    rs = np.random.RandomState(0)
    lines = ["colour,size,label"]
    for _ in range(90):
        colour = ("red", "green", "blue")[rs.randint(0, 3)]
        lines.append(f"{colour},{rs.randn():.3f},{'warm' if colour == 'red' else 'cold'}")
    (tmp_path / "colours.csv").write_text("\n".join(lines) + "\n")
    table = read_table(tmp_path / "colours.csv")
    prep = Preprocessor(label="label").fit(table)
    X, y = prep.transform(table), prep.encode_labels(table)
    model = MLP(X.shape[1], [8, 2], seed=0)
    run = tapegrad.fit(model, X, y, loss="softmax_ce", epochs=500, batch_size=16, seed=0,
                       progress=False, live=True, live_pace=0.01)  # fmt: skip
    frame = first_frame(run.url, lambda f: f["step"] > 0)
    assert frame["unit"] == "epoch" and "grid" not in frame
    assert np.sum(frame["confusion"]) == 90 and len(frame["confusion"]) == 2
    run.stop()
    history = run.wait(120)
    assert history.stopped.startswith("stopped by the learner")


def test_without_live_fit_is_trains_fit():
    X, y = moons(30, noise=0.1, seed=0)
    h = tapegrad.fit(MLP(2, [4, 1], seed=0), X, y, steps=3, progress=False)
    assert isinstance(h, tapegrad.train.History) and len(h) == 3


def test_a_failing_live_run_raises_in_wait_and_leaves_nothing(baseline):
    X, y = moons(30, noise=0.1, seed=0)
    run = tapegrad.fit(MLP(2, [4, 1], seed=0), X, y, loss="no such loss", live=True)
    with pytest.raises(ValueError, match="no such loss"):
        run.wait(60)


def test_fit_live_on_a_regression_shows_predicted_against_true(baseline):
    rs = np.random.RandomState(1)
    X = rs.randn(80, 3)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rs.randn(80)
    run = tapegrad.fit(MLP(3, [8, 1], seed=0), X, y, loss="mse", steps=400, progress=False,
                       validation=(X[:20], y[:20]), live=True, live_pace=0.01)  # fmt: skip
    frame = first_frame(run.url, lambda f: f["step"] > 0)
    assert "confusion" not in frame and len(frame["pred"]) == 20  # the validation rows
    run.stop()
    run.wait(120)
