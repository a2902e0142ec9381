"""Walks from several threads: a walk waits only for another thread's walk over a shared node,
so a slow rule in one graph does not stall `backward()` on unrelated graphs (issue 19), and
walks over shared nodes still never lose a gradient. Events and timeouts, never timings."""

from __future__ import annotations

import math
import threading
import time

import pytest

import tapegrad
from tapegrad import Value, borrow

WAIT = 10.0  # seconds: only ever reached when the behaviour under test is broken


def held_node(x: Value, entered: threading.Event, release: threading.Event) -> Value:
    """`3 * x` as the lecture's closure op, whose `_backward` signals `entered` and then waits
    for `release`: a slow rule."""
    out = Value(3.0 * x.data, (x,), "slow3")

    def _backward():
        entered.set()
        assert release.wait(WAIT), "the test never released the slow rule"
        x.grad += 3.0 * out.grad

    out._backward = _backward
    return out


def in_thread(fn) -> tuple[threading.Thread, list]:
    """Run `fn` in a daemon thread; its exception (if any) lands in the list."""
    errors: list = []

    def run():
        try:
            fn()
        except BaseException as err:  # reported by the test
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def test_a_slow_rule_does_not_stall_backward_on_an_unrelated_graph():
    entered, release = threading.Event(), threading.Event()
    w1 = Value(0.5, label="w1")
    a, a_errors = in_thread(lambda: (held_node(w1, entered, release) * w1).backward())
    try:
        assert entered.wait(WAIT), "thread A never reached its slow rule"
        w2 = Value(2.0, label="w2")
        grads: list = []
        b, b_errors = in_thread(lambda: ((w2 * w2).tanh().backward(), grads.append(w2.grad)))
        b.join(WAIT)
        assert not b.is_alive(), "backward() on an unrelated graph waited for the slow rule"
        c, c_errors = in_thread(lambda: grads.append(tapegrad.grad(lambda x: x * x * x)(2.0)))
        c.join(WAIT)
        assert not c.is_alive(), "tapegrad.grad on an unrelated graph waited for the slow rule"
        assert not b_errors and not c_errors
        assert grads[0] == pytest.approx(4.0 * (1.0 - math.tanh(4.0) ** 2))
        assert grads[1] == 12.0
        assert a.is_alive() and w1.grad == 0.0  # A is still in its slow rule
    finally:
        release.set()
        a.join(WAIT)
    assert not a_errors and w1.grad == 6.0 * 0.5  # d(3 w^2)/dw


def test_walks_sharing_a_node_take_turns_and_lose_no_gradient():
    entered, release = threading.Event(), threading.Event()
    w = Value(0.5, label="w")
    a, a_errors = in_thread(lambda: (held_node(w, entered, release) * w).backward())  # 3 w^2
    try:
        assert entered.wait(WAIT)
        b, b_errors = in_thread(lambda: (w * w * w).backward())  # w^3 shares w
        wait_until(lambda: b.ident in borrow._waiting, "thread B waits for thread A's walk")
        assert b.is_alive() and w.grad == 0.0
    finally:
        release.set()
        a.join(WAIT)
    b.join(WAIT)
    assert not a.is_alive() and not b.is_alive() and not a_errors and not b_errors
    assert w.grad == 6.0 * 0.5 + 3.0 * 0.25  # both gradients, each added once


def test_a_walk_nested_in_a_closure_goes_ahead_in_its_own_thread():
    # backward() called from a closure during a walk (the re-entrant lock allowed it).
    x, y = Value(2.0), Value(5.0)
    out = Value(x.data, (x,), "id")

    def _backward():
        (y * x).backward()  # shares x with the walk in progress
        x.grad += out.grad

    out._backward = _backward
    (out * 1.0).backward()
    # what the closure left in x.grad (the nested walk's 5, its own 1) is its share, as on main
    assert (x.grad, y.grad) == (6.0, 2.0)


def test_crossed_nested_walks_are_refused_rather_than_hanging():
    """Thread 1 walks A and thread 2 walks B; inside them, 2 starts a walk over A's nodes (it
    waits) and then 1 one over B's: waiting would never end, so 1's is refused."""
    a_nodes, b_nodes = [Value(1.0)], [Value(2.0)]
    one_in, two_in = threading.Event(), threading.Event()
    two_ident: list[int] = []
    refused: list = []

    def one():
        with borrow.borrowing(a_nodes):
            one_in.set()
            assert two_in.wait(WAIT)
            wait_until(lambda: two_ident[0] in borrow._waiting, "thread 2 waits for A")
            try:
                with borrow.borrowing(b_nodes):
                    pass
            except RuntimeError as err:
                refused.append(err)

    def two():
        two_ident.append(threading.get_ident())
        assert one_in.wait(WAIT)
        with borrow.borrowing(b_nodes):
            two_in.set()
            with borrow.borrowing(a_nodes):  # waits until thread 1's walk over A ends
                pass

    t1, t1_errors = in_thread(one)
    t2, t2_errors = in_thread(two)
    t1.join(WAIT)
    t2.join(WAIT)
    assert not t1.is_alive() and not t2.is_alive() and not t1_errors and not t2_errors
    assert len(refused) == 1 and "walk them one after the other" in str(refused[0])
    assert not borrow._active and not borrow._waiting


def test_interrupted_waiting_holds_nothing(monkeypatch):
    """Ctrl-C (any BaseException) while a walk waits leaves the registry as it was."""
    node = [Value(1.0)]
    entered, release = threading.Event(), threading.Event()

    def holder():
        with borrow.borrowing(node):
            entered.set()
            release.wait(WAIT)

    t, errors = in_thread(holder)
    try:
        assert entered.wait(WAIT)

        class Interrupt(BaseException):
            pass

        def interrupted(timeout=None):
            raise Interrupt

        monkeypatch.setattr(borrow._ended, "wait", interrupted)
        with pytest.raises(Interrupt), borrow.borrowing(node):
            pytest.fail("the walk went ahead while another held its node")
        assert [w.thread for w in borrow._active] == [t.ident] and not borrow._waiting
    finally:
        release.set()
        t.join(WAIT)
    assert not errors and not borrow._active
