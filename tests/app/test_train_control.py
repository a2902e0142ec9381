"""`fit(control=...)` (issue 23): a hand on the training loop, asked before and told after every
optimizer step, that can change the learning rate, hold the run, or stop it with the weights
kept. Tested with plain fake controls, no page or server."""

import math
import threading

import numpy as np
import pytest

from tapegrad.data import moons
from tapegrad.nn import MLP
from tapegrad.optim import SGD, Adam, linear
from tapegrad.train import (
    Control,
    History,
    RescaledSchedule,
    StopTraining,
    TrainingDiverged,
    controlled,
    fit,
)


class Recorder(Control):
    """Notes every call; sets `rates[k]` before step k; stops before step `stop_at`."""

    def __init__(self, rates=None, stop_at=None):
        self.rates, self.stop_at = rates or {}, stop_at
        self.calls, self.ended, self.run = [], None, None

    def begin(self, run):
        self.run = run
        self.calls.append(("begin",))

    def before_step(self, step):
        self.calls.append(("before", step))
        if step == self.stop_at:
            raise StopTraining(f"stopped by the test before step {step}")
        return self.rates.get(step)

    def after_step(self, step, loss, history, trainer):
        self.calls.append(("after", step, len(history), loss))

    def end(self, history):
        self.ended = history


def data():
    return moons(40, noise=0.1, seed=2)


def weights(model):
    return [p.data for p in model.parameters()]


@pytest.mark.parametrize("compile", [False, True])
def test_a_control_that_does_nothing_changes_nothing(compile):
    X, y = data()
    runs = []
    for control in (None, Control()):
        model = MLP(2, [6, 1], seed=1)
        h = fit(model, X, y, optimizer=SGD(model, lr=linear(0.5, 0.05, 12)), steps=12,
                progress=False, compile=compile, control=control)  # fmt: skip
        runs.append((h.loss, h.lr, weights(model)))
    assert runs[0] == runs[1]


def test_the_control_is_asked_before_and_told_after_every_optimizer_step():
    X, y = data()
    model = MLP(2, [4, 1], seed=1)
    rec = Recorder()
    h = fit(model, X, y, epochs=2, batch_size=16, seed=0, progress=False, control=rec)
    # 40 rows in batches of 16: 3 optimizer steps per epoch, one History entry per epoch
    assert rec.calls[0] == ("begin",)
    steps = [c for c in rec.calls[1:]]
    assert [c[:2] for c in steps] == [
        ("before", 0), ("after", 1), ("before", 1), ("after", 2), ("before", 2), ("after", 3),
        ("before", 3), ("after", 4), ("before", 4), ("after", 5), ("before", 5), ("after", 6),
    ]  # fmt: skip
    # an epoch's last step is told after its History entry is recorded, the others before
    assert [c[2] for c in steps if c[0] == "after"] == [0, 0, 1, 1, 1, 2]
    assert rec.ended is h and rec.run.unit == "epoch" and rec.run.total == 2
    assert rec.run.model is model and rec.run.loss == "hinge" and len(rec.run.targets) == 40


@pytest.mark.parametrize("compile", [False, True])
def test_a_rate_set_by_the_control_is_used_from_that_step_and_recorded(compile):
    X, y = data()
    model = MLP(2, [6, 1], seed=1)
    schedule = linear(1.0, 0.1, 20)
    h = fit(model, X, y, optimizer=SGD(model, lr=schedule), steps=20, progress=False,
            compile=compile, control=Recorder(rates={7: 0.3}))  # fmt: skip
    assert h.lr[:7] == pytest.approx([schedule(k) for k in range(7)], rel=1e-12)
    # from step 8 (index 7) the schedule keeps its shape, scaled to start at 0.3
    expected = [0.3 * schedule(k) / schedule(7) for k in range(7, 20)]
    assert h.lr[7:] == pytest.approx(expected, rel=1e-12)
    assert h.lr_changes == [{"step": 8, "lr": 0.3}]
    assert History.from_dict(h.to_dict()).lr_changes == [{"step": 8, "lr": 0.3}]


def test_the_changed_rate_is_the_one_the_update_uses():
    # One SGD step with a rate set by the control moves the weights as SGD(lr=that rate) does.
    X, y = data()
    a, b = MLP(2, [4, 1], seed=3), MLP(2, [4, 1], seed=3)
    fit(a, X, y, optimizer=SGD(a, lr=0.9), steps=1, progress=False,
        control=Recorder(rates={0: 0.05}))  # fmt: skip
    fit(b, X, y, optimizer=SGD(b, lr=0.05), steps=1, progress=False)
    assert weights(a) == weights(b)


def test_a_number_rate_is_replaced_and_a_schedule_rescaled():
    opt = Adam(MLP(2, [2, 1], seed=0), lr=0.01)
    from tapegrad.train import set_lr

    set_lr(opt, 0.5)
    assert opt.lr == 0.5
    sched = linear(1.0, 0.1, 10)
    r = RescaledSchedule(sched, 4, 2.0)
    assert (
        r(3) == sched(3)
        and r(4) == pytest.approx(2.0)
        and r(9) == pytest.approx(2.0 * sched(9) / sched(4))
    )
    assert RescaledSchedule(lambda k: 0.0, 2, 0.7)(5) == 0.7  # nothing to scale: the rate
    with pytest.raises(TypeError, match="object has no learning rate"):
        set_lr(object(), 0.1)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "0.1", True])
def test_a_bad_rate_from_a_control_is_refused_by_name(bad):
    X, y = data()
    model = MLP(2, [4, 1], seed=1)
    with pytest.raises(ValueError, match="a control set the learning rate to"):
        fit(model, X, y, steps=3, progress=False, control=Recorder(rates={1: bad}))


@pytest.mark.parametrize("compile", [False, True])
def test_stop_keeps_the_weights_of_the_steps_taken(compile):
    X, y = data()
    stopped, short = MLP(2, [6, 1], seed=1), MLP(2, [6, 1], seed=1)
    rec = Recorder(stop_at=5)
    h = fit(stopped, X, y, optimizer=SGD(stopped, lr=0.2), steps=30, progress=False,
            compile=compile, control=rec)  # fmt: skip
    g = fit(short, X, y, optimizer=SGD(short, lr=0.2), steps=5, progress=False, compile=compile)
    assert len(h) == 5 and h.loss == g.loss
    assert weights(stopped) == weights(short)
    assert h.stopped == "stopped by the test before step 5"
    assert rec.ended is h


def test_stop_in_the_middle_of_an_epoch_records_the_part_taken():
    X, y = data()
    model = MLP(2, [4, 1], seed=1)
    rec = Recorder(stop_at=4)  # epoch 1 has steps 0-2, epoch 2 stops after its first
    h = fit(model, X, y, epochs=5, batch_size=16, seed=0, progress=False,
            validation=(X, y), control=rec)  # fmt: skip
    assert len(h) == 2 and len(h.val_loss) == 2 and h.val_loss[1] is not None
    # the second entry is the one batch taken (16 rows), not a whole epoch
    assert h.lr == [0.01, 0.01]


def test_stop_wins_over_early_stopping_restoring_the_best_weights():
    X, y = data()
    model = MLP(2, [8, 1], seed=1)
    rec = Recorder(stop_at=12)
    h = fit(model, X, y, steps=40, progress=False, validation=(X, y), patience=30,
            control=rec)  # fmt: skip
    assert len(h) == 12 and h.kept is None
    assert h.stopped == "stopped by the test before step 12"


def test_end_is_told_when_the_run_raises():
    X, y = data()
    model = MLP(2, [8, 1], seed=1)
    rec = Recorder(rates={2: 1e6})
    with pytest.raises(TrainingDiverged):
        fit(model, X, y, optimizer=SGD(model, lr=0.1), steps=20, loss="mse", progress=False,
            control=rec)  # fmt: skip
    assert rec.ended is not None and len(rec.ended) >= 2


def test_controlled_reaches_fits_that_a_workflow_makes():
    from tapegrad.tables import fit_table

    rs = np.random.RandomState(0)
    X = rs.randn(60, 3)
    y = (X[:, 0] > 0).astype(int)
    rec = Recorder(stop_at=3)
    with controlled(rec):
        result = fit_table(X, y, epochs=50, batch_size=16, progress=False, patience=None)
    assert result.history.stopped == "stopped by the test before step 3"
    assert [c[:2] for c in rec.calls[-2:]] == [("after", 3), ("before", 3)]
    calls = len(rec.calls)  # outside the block, fit is on its own again
    fit(MLP(3, [2, 1], seed=0), X, y, steps=2, progress=False)
    assert len(rec.calls) == calls


def test_controlled_is_per_thread():
    X, y = data()
    rec, seen = Recorder(), []

    def elsewhere():
        h = fit(MLP(2, [2, 1], seed=0), X, y, steps=2, progress=False)
        seen.append(len(h))

    with controlled(rec):
        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
    assert seen == [2] and rec.calls == []


def test_a_control_can_hold_the_run_until_released():
    # A blocking before_step holds the loop (as a paused live page does) without a sleep.
    X, y = data()
    go, holding = threading.Event(), threading.Event()

    class Hold(Control):
        def __init__(self):
            self.steps = 0

        def before_step(self, step):
            if step == 3:
                holding.set()
                assert go.wait(30)
            return None

        def after_step(self, step, loss, history, trainer):
            self.steps = step

    hold = Hold()
    t = threading.Thread(target=fit, args=(MLP(2, [2, 1], seed=0), X, y),
                         kwargs={"steps": 6, "progress": False, "control": hold})  # fmt: skip
    t.start()
    assert holding.wait(30)
    assert hold.steps == 3 and t.is_alive()
    go.set()
    t.join(30)
    assert hold.steps == 6 and not t.is_alive()
