"""The compiled tape refuses what it would silently get wrong: Python control flow on an input
while recording (a comparison, `bool`, `float`, builtin `max`/`min` would freeze the example's
branch for every sample), and calls from several threads at once (which shared its buffers)."""

import math
import sys
import threading

import numpy as np
import pytest

import tapegrad
from tapegrad import Value, losses, nn
from tapegrad.tape import StaleTapeError, TracingError

# --------------------------------------------------------------------------- threads


def _in_threads(work, n_threads: int, timeout: float = 120.0) -> list:
    """Run `work(k)` in `n_threads` daemon threads started together; their results in order.
    A thread still running after `timeout` seconds fails the test (a deadlock) instead of
    hanging it; the switch interval is made tiny so the threads interleave as often as the
    interpreter allows."""
    results, errors = [None] * n_threads, []
    start = threading.Barrier(n_threads)

    def run(k):
        try:
            start.wait()
            results[k] = work(k)
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(n_threads)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout)
    finally:
        sys.setswitchinterval(old)
    assert not any(t.is_alive() for t in threads), f"a thread still runs after {timeout} s"
    assert not errors, errors
    return results


def test_a_tape_shared_by_threads_gives_every_thread_its_own_answer():
    """4 threads call one tape (forward, and forward + backward) on different batches, many
    times: every output and gradient equals the single-threaded result for that batch."""
    model = nn.MLP(2, [8, 8, 1], seed=3)
    tape = tapegrad.compile(lambda x, y: losses.hinge(model(x), y), [0.0, 0.0], 1.0)
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(8, 2)), rng.choice([-1.0, 1.0], size=8)) for _ in range(4)]
    expected = [(tape(*b), tape.value_and_grad(*b)) for b in batches]
    calls = 150

    def work(k):
        X, y = batches[k]
        wrong = 0
        for _ in range(calls):
            out = tape(X, y)
            (vals, grad) = tape.value_and_grad(X, y)
            wrong += not np.allclose(out, expected[k][0], rtol=1e-12, atol=1e-12)
            wrong += not np.allclose(vals, expected[k][1][0], rtol=1e-12, atol=1e-12)
            wrong += not np.allclose(grad, expected[k][1][1], rtol=1e-12, atol=1e-12)
        return wrong

    wrong = _in_threads(work, len(batches))
    assert wrong == [0] * len(batches), f"wrong results per thread out of {3 * calls}: {wrong}"


def test_backward_from_threads_adds_every_gradient():
    """Concurrent `tape.backward` calls all land in `.grad`: none is lost to a race."""
    w = Value(0.5)
    tape = tapegrad.compile(lambda x: w * x, 0.0)
    X = np.arange(1.0, 11.0)  # d mean(w * x) / dw = mean(x) = 5.5 per call
    calls = 200
    _in_threads(lambda k: [tape.backward(X) for _ in range(calls)], 4)
    assert w.grad == pytest.approx(4 * calls * 5.5, rel=1e-12)


# --------------------------------------------------------------------------- control flow

W = Value(0.5, label="w")


def _if_positive(x):
    return x * 2.0 if x > 0 else x * -3.0


def _if_truthy(x):
    return x * 2.0 if x else x * -3.0


def _hidden_in_a_product(x):
    h = W * x + 1.0
    return h if h >= 0.25 else -h


def _constant_on_the_left(x):
    return x if 0.0 < x else -x


def _parameter_on_the_left(x):
    return x if W <= x * 2.0 else -x


def _under_no_grad(x):
    with tapegrad.no_grad():
        positive = x > 0
    return x if positive else -x


def _known_first(x):
    """A parameter-only comparison first (its graph is remembered as input-free), then one
    through a node built on that graph and the input."""
    p = W * 2.0
    assert p > 0
    q = p * x
    return q if q > 0 else -q


@pytest.mark.parametrize(
    ("fn", "shown"),
    [
        (_if_positive, "x (=1.5) > 0"),
        (lambda x: x if x >= 1 else -x, "x (=1.5) >= 1"),
        (lambda x: -x if x < 0 else x, "x (=1.5) < 0"),
        (lambda x: -x if x <= 0 else x, "x (=1.5) <= 0"),
        (_constant_on_the_left, "x (=1.5) > 0.0"),  # Python asks x.__gt__(0.0)
        (_parameter_on_the_left, "w (=0.5) <= Value(data=3.0)"),
        (_hidden_in_a_product, "Value(data=1.75) >= 0.25"),
        (lambda x: max(x, 0.0), "x (=1.5) < 0.0"),  # builtin max: 0.0 > x, reflected
        (lambda x: min(x, W), "w (=0.5) < x (=1.5)"),
        (lambda x: x * float(x), "float(x (=1.5))"),
        (lambda x: x * math.exp(x), "float(x (=1.5))"),  # math.* converts with float()
        (lambda x: x * math.floor(x), "float(x (=1.5))"),
        (_if_truthy, "bool(x (=1.5))"),
        (lambda x: x if not x else -x, "bool(x (=1.5))"),
        (lambda x: x and x * 2.0, "bool(x (=1.5))"),
        (_under_no_grad, "x (=1.5) > 0"),
        (_known_first, "Value(data=1.5) > 0"),
    ],
)
def test_python_control_flow_on_an_input_is_refused_while_recording(fn, shown):
    """A comparison, `bool()` or `float()` of a Value that depends on an input would freeze
    the example's answer for every sample: TracingError names it, the number and the fix."""
    with pytest.raises(TracingError) as err:
        tapegrad.compile(fn, 1.5)
    message = str(err.value)
    assert f"computed {shown} while tapegrad.compile recorded it" in message
    assert "depends on the input x" in message
    assert "x.relu()" in message and "x.clamp(lo, hi)" in message and "jax.jit" in message
    assert isinstance(err.value, TypeError)
    assert not getattr(err.value, "__notes__", None)  # no generic note added on top
    assert Value(2.0) > 1 and bool(Value(0.0))  # the guard is gone with the recording


def test_the_error_names_the_element_of_a_vector_input():
    with pytest.raises(TracingError, match=r"w \(=0\.5\) > x\[1\] \(=2\.0\)") as err:
        tapegrad.compile(lambda x: x[0] if W > x[1] else x[0] * x[1], [1.0, 2.0])
    assert "the right side depends on the input x[1]" in str(err.value)


def test_check_runs_under_the_guard_too():
    """`tape.check()` records again, so a function that started comparing its input since it
    was compiled is refused there too."""
    branch = {"on": False}
    tape = tapegrad.compile(lambda x: x if branch["on"] and x > 0 else x * 2.0, 1.0)
    branch["on"] = True
    with pytest.raises(TracingError, match=r"x \(=1\.0\) > 0"):
        tape.check()


def test_comparisons_of_parameters_and_constants_still_work_while_recording():
    """Model code may branch on a parameter or a constant: allowed, and the tape equals the
    eager function for every sample while the branch stays the same."""
    model = nn.MLP(2, [4, 1], seed=0)
    c = tapegrad.Constant(3.0)

    def fn(x):
        penalty = losses.l2(model, 1e-2)  # a graph over every parameter, compared below
        out = model(x)
        scale = 2.0 if W > 0 and penalty < 1 and bool(c) and float(W) == 0.5 else -2.0
        return out * scale + max(W, c) + min(W, 0.25)

    tape = tapegrad.compile(fn, [0.0, 0.0])
    X = np.array([[1.0, -2.0], [-0.5, 0.25], [3.0, 1.0]])
    eager = [fn([Value(a), Value(b)]).data for a, b in X.tolist()]
    np.testing.assert_allclose(tape(X), eager, rtol=1e-12)


def test_a_branch_on_a_parameter_is_frozen_and_check_sees_it_change():
    """`if w > 0` on a parameter is taken at recording; once w crosses zero the tape still
    replays the old branch, and `tape.check()` says the tape is stale."""
    w = Value(0.5, label="w")
    tape = tapegrad.compile(lambda x: x * w if w > 0 else x * -3.0, 1.0)
    tape.check()
    w.data = -1.0
    np.testing.assert_array_equal(tape(np.array([2.0])), [-2.0])  # the recorded branch
    with pytest.raises(StaleTapeError, match="is stale"):
        tape.check()


def test_outside_recording_comparisons_and_conversions_are_unchanged():
    x, y = Value(-1.5), Value(2.0)
    assert x < y and x <= y and y > x and y >= x and not x > y
    assert x < 0 and 0 > x and max(x, y) is y and min(x, 0.0) is x
    assert float(x) == -1.5 and math.exp(y) == math.exp(2.0)
    assert bool(Value(0.0)) and bool(x)  # truthiness, as in micrograd: always True


def test_the_guard_is_per_thread():
    """While one thread records (and is refused), another thread compares Values, and
    compiles with a parameter branch, undisturbed; its own input comparisons are refused."""
    inside, other_done, seen = threading.Event(), threading.Event(), {}

    def recorded(x):
        inside.set()
        assert other_done.wait(60)
        return x if x > 0 else -x

    def other():
        assert inside.wait(60)
        seen["compare"] = Value(2.0) > 1
        seen["tape"] = tapegrad.compile(lambda x: x * 2.0 if W > 0 else x, 1.0)(np.ones(2))
        try:
            tapegrad.compile(_if_positive, 1.0)
        except TracingError:
            seen["refused"] = True
        other_done.set()

    worker = threading.Thread(target=other, daemon=True)
    worker.start()
    with pytest.raises(TracingError, match=r"x \(=1\.0\) > 0"):
        tapegrad.compile(recorded, 1.0)
    worker.join(60)
    assert not worker.is_alive()
    assert seen["compare"] and seen["refused"]
    np.testing.assert_array_equal(seen["tape"], [2.0, 2.0])


@pytest.mark.parametrize(
    ("f", "shown"),
    [
        (lambda z: z.relu(), "0.0 >= x (=0.5)"),
        (lambda z: abs(z), "sign(x (=0.5))"),
        (lambda z: z.max(0.0), "x (=0.5) < Value(data=0.0)"),
        (lambda z: z.clamp(-1.0, 1.0), "x (=0.5) >= Value(data=-1.0)"),
    ],
)
def test_a_derivative_taken_inside_that_needs_a_mask_is_refused(f, shown):
    """`grad(relu)` inside the recorded function: relu's rule picks 0 or g by the input's sign,
    a choice the tape would freeze at the example (it gave 1 for every sample)."""
    with pytest.raises(TracingError) as err:
        tapegrad.compile(lambda x: tapegrad.grad(f)(x), 0.5)
    message = str(err.value)
    assert f"a derivative whose rule reads its input's number ({shown})" in message
    assert "take the derivative outside the compiled function" in message


def test_a_derivative_taken_inside_without_an_input_mask_is_replayed():
    """Rules without a mask (tanh, powers), and masks on parameters only, replay exactly."""
    w = Value(0.3, label="w")

    def f(z):
        return (z * w).tanh() + z**2 + (w * 2.0).relu() * z

    tape = tapegrad.compile(lambda x: tapegrad.grad(f)(x), 0.5)
    X = np.array([-2.0, 0.5, 2.0])
    # closed form: 0.3 (1 - tanh(0.3 x)^2) + 2x + relu(0.6)
    expected = [0.3 * (1 - math.tanh(0.3 * v) ** 2) + 2 * v + 0.6 for v in X.tolist()]
    np.testing.assert_allclose(tape(X), expected, rtol=1e-12)
