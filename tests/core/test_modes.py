"""The modes (modes.py): no_grad and enable_grad (nested, thread-local, as decorators) and
detect_anomaly (forward and backward, naming the op and the inputs' labels)."""

from __future__ import annotations

import threading

import pytest

from tapegrad import AnomalyError, Value, detect_anomaly, enable_grad, is_grad_enabled, no_grad

# --- no_grad --------------------------------------------------------------------------------------


def _records() -> bool:
    """Whether an op run here records a graph node."""
    out = Value(1.0) * 2.0
    return out._prev != ()


def test_no_grad_context_manager():
    x = Value(3.0)
    with no_grad():
        assert not is_grad_enabled()
        y = x * x + 1
    assert y.data == 10.0
    assert y._prev == () and y._op == ""
    assert is_grad_enabled() and _records()


def test_no_grad_decorator():
    @no_grad()
    def step(v):
        return v * 2.0

    out = step(Value(1.5))
    assert out.data == 3.0 and out._prev == ()
    assert _records()


def test_no_grad_restores_after_an_exception():
    with pytest.raises(ZeroDivisionError), no_grad():
        1 / 0  # noqa: B018
    assert is_grad_enabled() and _records()


def test_enable_grad_nested_inside_no_grad():
    with no_grad():
        assert not _records()
        with enable_grad():
            assert _records()
            with no_grad():
                assert not _records()
            assert _records()
        assert not _records()
    assert _records()


def test_no_grad_is_thread_local():
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        assert entered.wait(10)
        seen["records"] = _records()
        checked.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with no_grad():
        entered.set()
        assert checked.wait(10)
        seen["main"] = _records()  # still inside, after the other thread recorded
    worker.join(10)
    assert seen == {"records": True, "main": False}


def test_new_thread_records_even_when_started_inside_no_grad():
    seen = []
    with no_grad():
        worker = threading.Thread(target=lambda: seen.append(_records()))
        worker.start()
        worker.join(10)
    assert seen == [True]


# --- detect_anomaly -------------------------------------------------------------------------------


def test_anomaly_forward_names_the_op_and_input_labels():
    big = Value(1000.0, label="big")
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        big.exp().log()
    message = str(caught.value)
    assert "exp" in message and "big" in message
    assert "log" not in message  # the first non-finite value, not a later one


def test_anomaly_forward_ignores_values_that_were_already_non_finite():
    inf = Value(float("inf"), label="inf")
    with detect_anomaly():
        y = (inf + 1.0).tanh()  # inf + 1 is inf from a non-finite input: not a new anomaly
    assert y.data == 1.0


def test_anomaly_in_backward_sqrt_at_zero():
    z = Value(0.0, label="z")
    y = z.sqrt() * 2.0 + 1.0
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        y.backward()
    message = str(caught.value)
    assert "sqrt" in message and "z" in message


def test_anomaly_in_backward_log_at_zero():
    zero = Value(0.0, label="zero")
    y = zero.log()  # -inf, recorded outside the context: no error here
    assert y.data == float("-inf")
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        y.backward()
    message = str(caught.value)
    assert "log" in message and "zero" in message


def test_anomaly_does_nothing_outside_the_context():
    big = Value(1000.0, label="big")
    with detect_anomaly():
        pass
    y = big.exp()
    assert y.data == float("inf")
    z = Value(0.0, label="z")
    w = z.sqrt() * 2.0
    w.backward()
    assert z.grad == float("inf")


def test_anomaly_as_decorator():
    @detect_anomaly()
    def f(v):
        return v.exp()

    with pytest.raises(AnomalyError):
        f(Value(1000.0, label="x"))
    assert Value(1000.0).exp().data == float("inf")


def test_anomaly_error_is_a_runtime_error():
    assert issubclass(AnomalyError, RuntimeError)
