"""fit(compile=True) and the CLI's compiled default give eager's numbers, far faster."""

import json

import numpy as np
import pytest
from references import require

from tapegrad.cli import main
from tapegrad.data import blobs, moons, spiral
from tapegrad.nn import MLP
from tapegrad.optim import SGD, Adam, linear
from tapegrad.train import TrainingDiverged, evaluate, fit, outputs, predict


def _close(a, b, rel=1e-9):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.allclose(a, b, rtol=rel, atol=rel * max(1.0, np.abs(b).max()))


def _both(make_data, nouts, loss, opt, **kw):
    """Train the same seeded model eagerly and compiled; return [(history, model)] * 2."""
    X, y = make_data()
    act = kw.pop("act", "relu")
    runs = []
    for compile in (False, True):
        model = MLP(X.shape[1], nouts, act=act, seed=3)
        hist = fit(
            model,
            X,
            y,
            loss=loss,
            optimizer=opt(model),
            progress=False,
            compile=compile,
            seed=5,
            **kw,
        )
        runs.append((hist, model))
    return runs


@pytest.mark.parametrize(
    "make_data, nouts, loss, opt, kw",
    [
        (
            lambda: moons(60, noise=0.1, seed=1),
            [8, 1],
            "hinge",
            lambda m: SGD(m.parameters(), lr=linear(1.0, 0.1, 15)),
            {"steps": 15, "l2": 1e-4},
        ),
        (
            lambda: moons(60, noise=0.1, seed=2),
            [8, 1],
            "bce",
            lambda m: Adam(m.parameters(), lr=0.02),
            {"epochs": 3, "batch_size": 16},
        ),
        (
            lambda: spiral(20, classes=3, seed=3),
            [8, 3],
            "softmax_ce",
            lambda m: Adam(m.parameters(), lr=0.02),
            {"steps": 12, "batch_size": 25, "l2": 1e-3},
        ),
        (
            lambda: blobs(50, seed=4),
            [6, 1],
            "mse",
            lambda m: SGD(m.parameters(), lr=0.05, momentum=0.9),
            {"steps": 10, "act": "tanh"},
        ),
    ],
)
def test_compiled_history_equals_eager(make_data, nouts, loss, opt, kw):
    (eager, m_eager), (compiled, m_comp) = _both(make_data, nouts, loss, opt, **kw)
    assert len(eager) == len(compiled)
    assert _close(compiled.loss, eager.loss)
    assert compiled.accuracy == eager.accuracy
    assert _close([p.data for p in m_comp.parameters()], [p.data for p in m_eager.parameters()])


def test_compiled_validation_and_evaluation_equal_eager():
    X, y = spiral(30, classes=3, seed=7)
    model = MLP(2, [10, 3], seed=1)
    fit(
        model,
        X,
        y,
        loss="softmax_ce",
        steps=20,
        optimizer=Adam(model.parameters(), lr=0.05),
        progress=False,
        compile=True,
    )
    eager, comp = evaluate(model, X, y, "softmax_ce"), evaluate(model, X, y, "softmax_ce", True)
    assert comp["accuracy"] == eager["accuracy"]
    assert comp["loss"] == pytest.approx(eager["loss"], rel=1e-12)
    assert _close(outputs(model, X, compile=True), outputs(model, X), rel=1e-12)
    assert (predict(model, X, "softmax_ce", compile=True) == predict(model, X, "softmax_ce")).all()


def test_demo_compiled_reproduces_micrograd_numbers(tmp_path):
    """micrograd's demo ends at loss 0.010978 and 100 % accuracy; the compiled run must too."""
    from tapegrad.commands.demo import demo_setup

    X, y, model, optimizer = demo_setup(100)
    hist = fit(
        model,
        X,
        y,
        loss="hinge",
        optimizer=optimizer,
        steps=100,
        l2=1e-4,
        progress=False,
        compile=True,
    )
    assert hist.loss[0] == pytest.approx(0.8958441028683222, rel=1e-12)
    assert hist.loss[-1] == pytest.approx(0.010978370135492717, rel=1e-9)
    assert hist.accuracy[-1] == 1.0


def test_cli_digits_reaches_97_percent_on_held_out_split(tmp_path, capsys):
    require("sklearn")
    code = main(
        [
            "train",
            "--data",
            "digits",
            "--hidden",
            "64",
            "--act",
            "tanh",
            "--loss",
            "softmax_ce",
            "--optim",
            "adam",
            "--lr",
            "0.01",
            "--epochs",
            "30",
            "--batch-size",
            "32",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    test_line = next(line for line in printed.splitlines() if line.startswith("test"))
    accuracy = float(test_line.rsplit("accuracy", 1)[1].strip().rstrip("%")) / 100
    assert accuracy >= 0.97
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["val_accuracy"][-1] >= 0.97


def _runs(make_model, X, y, opt, **kw):
    """The same seeded run eagerly and compiled: [(history or the error, model)] * 2."""
    out = []
    for compile in (False, True):
        model = make_model()
        try:
            result = fit(model, X, y, optimizer=opt(model), progress=False, compile=compile, **kw)
        except Exception as err:  # the same error both ways, compared by the caller
            result = err
        out.append((result, model))
    return out


def _weights(model):
    return [p.data for p in model.parameters()]


@pytest.mark.parametrize(
    "workload",
    ["W1: micrograd's demo, hinge + L2, SGD", "W4: 64-32-10 softmax, batches of 32"],
)
def test_benchmark_workloads_compiled_equal_eager_to_1e_12(workload):
    """benchmarks/run.py's W1 and W4 (W4 on fewer rows): losses, accuracies and the weights
    the Values hold at the end are eager's to 1e-12."""
    if workload.startswith("W1"):
        X, y = moons(100, noise=0.1, seed=1337)
        make = lambda: MLP(2, [16, 16, 1], seed=1337)  # noqa: E731
        opt = lambda m: SGD(m.parameters(), lr=linear(1.0, 0.1, 4))  # noqa: E731
        kw = {"loss": "hinge", "l2": 1e-4, "steps": 4}
    else:
        rng = np.random.default_rng(0)
        X, y = rng.uniform(0, 16, (80, 64)), rng.integers(0, 10, 80)
        make = lambda: MLP(64, [32, 10], seed=0)  # noqa: E731
        opt = lambda m: SGD(m.parameters(), lr=0.01)  # noqa: E731
        kw = {"loss": "softmax_ce", "epochs": 1, "batch_size": 32, "seed": 0}
    (eager, m_eager), (compiled, m_comp) = _runs(make, X, y, opt, **kw)
    assert compiled.loss == pytest.approx(eager.loss, rel=1e-12)
    assert compiled.accuracy == eager.accuracy
    assert _close(_weights(m_comp), _weights(m_eager), rel=1e-12)


def test_weights_held_in_an_array_reach_the_values_at_every_look():
    """A compiled run keeps the weights in an array: the Values get them at every snapshot,
    after the divergence guard puts the last good ones back, and when the run is cut short by
    an error, each time the same as an eager run's."""
    X, y = moons(40, noise=0.1, seed=3)
    make = lambda: MLP(2, [6, 1], seed=3)  # noqa: E731
    # Snapshots: every step's weights, read from the Values as the run goes.
    sgd = lambda m: SGD(m.parameters(), lr=0.3)  # noqa: E731
    (eager, _), (compiled, _) = _runs(make, X, y, sgd, loss="hinge", steps=5, snapshots=6)
    assert [s["step"] for s in compiled.snapshots] == [0, 1, 2, 3, 4, 5]
    for s_comp, s_eager in zip(compiled.snapshots, eager.snapshots, strict=True):
        assert _close(s_comp["weights"], s_eager["weights"], rel=1e-12)
    # The divergence guard: a rate that blows up puts back the last weights with a fine loss.
    huge = lambda m: SGD(m.parameters(), lr=linear(0.1, 1e12, 4))  # noqa: E731
    (err_e, m_eager), (err_c, m_comp) = _runs(make, X, y, huge, loss="mse", steps=4)
    assert isinstance(err_c, TrainingDiverged) and isinstance(err_e, TrainingDiverged)
    assert err_c.step == err_e.step
    assert _close(_weights(m_comp), _weights(m_eager), rel=1e-12)

    # An error in the loop (a schedule that fails at step 3) leaves two steps' weights.
    def failing(k):
        if k == 2:
            raise RuntimeError("schedule failed")
        return 0.1

    broken = lambda m: SGD(m.parameters(), lr=failing)  # noqa: E731
    (err_e, m_eager), (err_c, m_comp) = _runs(make, X, y, broken, loss="hinge", steps=4)
    assert isinstance(err_c, RuntimeError) and str(err_c) == str(err_e)
    assert _close(_weights(m_comp), _weights(m_eager), rel=1e-12)
    assert _weights(m_comp) != _weights(make())  # two steps were taken


def test_a_guarded_epoch_run_rotates_its_weight_arrays_to_the_same_numbers():
    """With the divergence guard, a compiled run's steps write their new weights into another
    of three arrays the tape reads (no copy of the weights before each step): the run is the
    eager run's to 1e-12 and, bit for bit, the unguarded compiled run's (which updates one
    array in place), validation read between epochs included."""
    X, y = blobs(90, centers=3, seed=4)
    make = lambda: MLP(2, [8, 3], seed=4)  # noqa: E731
    kw = dict(loss="softmax_ce", epochs=4, batch_size=16, seed=0, validation=(X[:20], y[:20]))
    kw["l2"] = 1e-3  # the epoch's L2 term: the mean of its steps' (before each update)
    mom = lambda m: SGD(m.parameters(), lr=0.1, momentum=0.9)  # noqa: E731
    (eager, m_eager), (guarded, m_guarded) = _runs(make, X, y, mom, **kw)
    plain = make()
    unguarded = fit(plain, X, y, optimizer=mom(plain), progress=False, compile=True,
                    divergence_guard=False, **kw)  # fmt: skip
    assert guarded.loss == unguarded.loss and guarded.val_loss == unguarded.val_loss
    assert _weights(m_guarded) == _weights(plain)
    assert _close(_weights(m_guarded), _weights(m_eager), rel=1e-12)
    assert _close(guarded.l2_term, eager.l2_term, rel=1e-12) and min(guarded.l2_term) > 0


def test_the_guard_on_a_rotating_run_puts_back_the_weights_of_the_step_before_a_validation():
    """The first epoch's last update blows up, and the validation after it loads the model's
    weights into the tape: the compiled run keeps what the eager run keeps, the weights the
    last step with a fine loss started from (with 7 steps an epoch, the rotation's first array
    holds them then; the tape's other calls load into an array of their own)."""
    X, y = blobs(90, centers=3, seed=5)
    make = lambda: MLP(2, [8, 3], seed=5)  # noqa: E731
    blow = lambda m: SGD(m.parameters(), lr=lambda k: 1e9 if k == 6 else 0.1)  # noqa: E731
    kw = dict(loss="softmax_ce", epochs=3, batch_size=13, seed=0, validation=(X[:20], y[:20]))
    (err_e, m_eager), (err_c, m_comp) = _runs(make, X, y, blow, **kw)
    assert isinstance(err_e, TrainingDiverged) and isinstance(err_c, TrainingDiverged)
    assert err_c.step == err_e.step == 8  # the second epoch's first step
    assert _close(_weights(m_comp), _weights(m_eager), rel=1e-12)
    assert all(np.isfinite(_weights(m_comp)))
