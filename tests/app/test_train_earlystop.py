"""Early stopping (issue 20): a validation split out of the training rows, patience on its loss,
and the best entry's weights kept."""

import json

import numpy as np
import pytest

from tapegrad.nn import MLP
from tapegrad.train import evaluate, fit


def overfit_table(seed=0):
    """Few rows, many features, one that matters: a big network learns the noise."""
    rs = np.random.RandomState(seed)
    X, Xv = rs.randn(60, 30), rs.randn(30, 30)
    return X, X[:, 0] + 0.5 * rs.randn(60), Xv, Xv[:, 0] + 0.5 * rs.randn(30)


@pytest.mark.parametrize("compile", [False, True])
def test_early_stopping_stops_and_keeps_the_best_weights(compile):
    X, y, Xv, yv = overfit_table()
    model = MLP(30, [32, 32, 1], seed=0)
    h = fit(model, X, y, loss="mse", epochs=200, batch_size=16, seed=0, validation=(Xv, yv),
            patience=10, progress=False, compile=compile)  # fmt: skip
    assert len(h) < 200  # stopped before the maximum
    best = min(v for v in h.val_loss if v is not None)
    assert h.kept == 1 + h.val_loss.index(best) and len(h) >= h.kept + 10
    assert evaluate(model, Xv, yv, loss="mse")["loss"] == pytest.approx(best, rel=1e-9)
    assert h.stopped.startswith(f"stopped at epoch {len(h)}: validation loss has not improved")
    assert f"kept epoch {h.kept}'s weights" in h.stopped
    assert json.loads(json.dumps(h.to_dict()))["kept"] == h.kept


def test_without_patience_every_epoch_runs_and_the_last_weights_stay():
    X, y, Xv, yv = overfit_table()
    model = MLP(30, [32, 32, 1], seed=0)
    h = fit(model, X, y, loss="mse", epochs=60, batch_size=16, seed=0, validation=(Xv, yv),
            patience=None, progress=False)  # fmt: skip
    assert len(h) == 60 and h.kept is None and h.stopped is None
    assert evaluate(model, Xv, yv, loss="mse")["loss"] == pytest.approx(h.val_loss[-1], rel=1e-9)


def test_patience_is_checked():
    X, y, Xv, yv = overfit_table()
    with pytest.raises(ValueError, match="patience"):
        fit(MLP(30, [1], seed=0), X, y, loss="mse", validation=(Xv, yv), patience=-1)


def regression_frame(n=300, seed=0):
    rs = np.random.RandomState(seed)
    X = rs.randn(n, 20)
    return X, X[:, 0] - X[:, 1] + 0.3 * rs.randn(n)


def test_fit_table_holds_out_validation_rows_from_the_training_rows():
    from tapegrad.tables import fit_table

    X, y = regression_frame()
    r = fit_table(X, y, epochs=40, hidden=(32, 32), progress=False, seed=3)
    train, val, test = set(r.train), set(r.validation), set(r.test)
    assert len(val) == 48 and len(test) == 60 and len(train) == 192  # 20 % of the 240
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(300))
    assert r.history.val_split == "validation" and r.history.val_loss[0] is not None
    assert all(v is not None for v in r.history.val_loss)  # measured every epoch
    again = fit_table(X, y, epochs=40, hidden=(32, 32), progress=False, seed=3)
    assert list(again.validation) == list(r.validation) and again.history.loss == r.history.loss
    if r.history.kept is not None:
        best = min(r.history.val_loss)
        assert r.metrics["valid"]["loss"] == pytest.approx(best, rel=1e-9)


def test_fit_table_skips_the_split_on_a_tiny_table_and_when_asked():
    from tapegrad.tables import fit_table

    X, y = regression_frame(40)  # 32 training rows: 20 % is under 10 rows
    r = fit_table(X, y, epochs=5, progress=False)
    assert len(r.validation) == 0 and len(r.train) == 32 and r.history.val_split == "test"
    X, y = regression_frame()
    r = fit_table(X, y, epochs=5, progress=False, validation_fraction=0)
    assert len(r.validation) == 0 and len(r.train) == 240 and r.history.kept is None


def test_fit_table_early_stopping_saves_the_best_weights_and_resumes(tmp_path):
    from tapegrad.tables import TableModel, fit_table

    X, y = regression_frame()
    r = fit_table(X, y, epochs=300, hidden=(64, 64), l2=0.0, progress=False,
                  out=tmp_path / "run")  # fmt: skip
    h = r.history
    assert len(h) < 300 and h.kept is not None and h.stopped.startswith("stopped at epoch")
    saved = TableModel.load(tmp_path / "run" / "model.json")
    Xv, yv = r.X[r.validation], r.y[r.validation]
    assert saved._evaluate(Xv, yv)["loss"] == pytest.approx(min(h.val_loss), rel=1e-9)
    doc = json.loads((tmp_path / "run" / "history.json").read_text())
    assert doc["val_loss"] == h.val_loss and doc["kept"] == h.kept
    assert doc["val_split"] == "validation"
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["settings"]["patience"] == 20 and run["data"]["validation_rows"] == 48
    more = fit_table(X, y, epochs=5, progress=False, resume=tmp_path / "run")
    assert list(more.validation) == list(r.validation) and len(more.history) <= 5


def test_an_overfit_run_says_so_and_names_the_option():
    from tapegrad.tables import fit_table

    X, y = regression_frame(120)
    y = y + 0.7 * np.random.RandomState(1).randn(120)  # noisier: a big network learns it
    lines = []
    big = dict(epochs=200, hidden=(64, 64), l2=0.0, progress=False, seed=0)
    fit_table(X, y, patience=None, log=lines.append, **big)
    assert lines[-1].startswith("overfitting: train R²")
    assert lines[-1].endswith("early stopping may help (--patience 20)")
    lines = []
    fit_table(X, y, validation_fraction=0, log=lines.append, **big)
    assert lines[-1].endswith("(--validation-fraction 0.2, held out of the training rows)")


def test_an_overfit_run_with_early_stopping_suggests_a_larger_l2():
    from tapegrad.tables import fit_table

    X, y = regression_frame(40)  # 32 training rows: too few to hold out validation rows
    lines = []
    fit_table(X, y, epochs=200, hidden=(64, 64), l2=1e-4, progress=False, log=lines.append)
    assert lines[-1].startswith("overfitting: train R²") and "(--l2 0.01)" in lines[-1]


def test_a_run_that_generalises_says_nothing_of_overfitting():
    from tapegrad.tables import fit_table

    X, y = regression_frame(300)
    lines = []
    r = fit_table(X, y, progress=False, log=lines.append)
    assert r.metrics["train"]["r2"] - r.metrics["test"]["r2"] < 0.2
    assert not any(line.startswith("overfitting") for line in lines)
