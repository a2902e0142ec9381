"""The replay binds its instructions to buffers once per batch size and keeps them: whatever
path a sum takes (a few terms as chained adds, many accumulated), whatever batch sizes come and
go from the cache, and through `Tape.replay` (training's unchecked call), the numbers are
eager's bit for bit where the tape promises bits, and equal to `value_and_grad` always."""

import numpy as np
import pytest
from eager_sums import eager_sums

import tapegrad
from tapegrad import Value, losses, nn


def same_bits(actual, expected):
    """Equal as IEEE doubles: nan matches nan, and 0.0 does not match -0.0."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape
    both_nan = np.isnan(actual) & np.isnan(expected)
    same = (actual == expected) & (np.signbit(actual) == np.signbit(expected))
    assert (both_nan | same).all(), f"{actual} != {expected}"


@pytest.mark.parametrize("n_terms", [2, 3, 4, 5, 8, 40])
def test_sums_of_any_length_add_left_to_right_forward_and_back(n_terms):
    """Short sums run as chained np.add, long ones as one accumulate: both are eager's left
    fold bit for bit (1e16 and -1e16 around small terms), and every term gets the gradient."""
    rng = np.random.default_rng(n_terms)
    scale = [1e8, -1e8] + [1.0] * (n_terms - 2)  # squared: 1e16 and -1e16 around small terms
    weights = [Value(float(s * rng.uniform(0.5, 1.5))) for s in scale]

    def fn(x):  # not weight * input terms: those would make a dense layer (BLAS's order)
        return tapegrad.sum([(w + x) * (w - x) for w in weights])

    X = rng.uniform(-2, 2, 7)
    tape = tapegrad.compile(fn, 0.0)
    want, grads = eager_sums(fn, weights, [X])
    outs, got = tape.value_and_grad(X, reduction="sum")
    same_bits(outs, want)
    assert got == pytest.approx(grads, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("n_terms", [3, 12])
def test_a_sum_of_parameters_alone_runs_once_and_repeated_terms_get_every_share(n_terms):
    """A sum of parameters (an L2 penalty) runs once per call, with a parameter used twice;
    its gradient is every share, as eager's."""
    params = [Value(0.1 * (k + 1)) for k in range(n_terms)]
    terms = [p * p for p in params] + [params[0]]

    def fn(x):
        return x * tapegrad.sum(terms + [params[0]])

    X = np.array([0.5, -1.5, 2.0])
    tape = tapegrad.compile(fn, 0.0)
    assert tape.instructions[0].startswith("once:")
    want, grads = eager_sums(fn, params, [X])
    outs, got = tape.value_and_grad(X, reduction="sum")
    same_bits(outs, want)
    assert got == pytest.approx(grads, rel=1e-12, abs=0.0)


def test_batch_sizes_coming_and_going_from_the_cache_give_the_same_numbers():
    """More batch sizes than the tape keeps buffers for, in turn: every call equals a fresh
    tape's, so no instruction reads a buffer bound for another size."""
    model = nn.MLP(3, [5, 2], seed=0)
    fn = lambda x, t: losses.softmax_cross_entropy(model(x), t)  # noqa: E731
    tape = tapegrad.compile(fn, [0.0] * 3, [1.0, 0.0])
    rng = np.random.default_rng(1)
    for n in [1, 2, 3, 4, 5, 6, 2, 1, 7, 3]:
        X, T = rng.normal(size=(n, 3)), np.eye(2)[rng.integers(0, 2, n)]
        fresh = tapegrad.compile(fn, [0.0] * 3, [1.0, 0.0])
        outs, grads = tape.value_and_grad(X, T)
        want_outs, want_grads = fresh.value_and_grad(X, T)
        same_bits(outs, want_outs)
        same_bits(grads, want_grads)


def test_replay_is_value_and_grad_at_the_weights_it_takes():
    """`Tape.replay` (a training loop's call: no checks, weights picked from its own array)
    gives value_and_grad's outputs and gradient bit for bit."""
    model = nn.MLP(2, [4, 1], seed=2)
    tape = tapegrad.compile(
        lambda x, t: (losses.hinge(model(x), t) + losses.l2(model, 1e-3), model(x)),
        [0.0, 0.0],
        1.0,
        has_aux=True,
    )
    weights = np.random.default_rng(3).normal(size=len(tape.parameters) + 2)
    where = np.random.default_rng(4).permutation(len(weights))[: len(tape.parameters)]
    X, T = np.random.default_rng(5).normal(size=(6, 2)), np.array([1.0, -1, 1, 1, -1, -1])
    (outs, aux), grad = tape.replay([X, T], weights, where)
    (want, want_aux), want_grad = tape.value_and_grad(X, T, params=weights[where])
    same_bits(outs, want)
    same_bits(aux, want_aux)
    same_bits(grad, want_grad)


def _layer(ws, bs, xs):
    """A layer written by hand: neuron k is bs[k] + sum_i ws[k][i] * xs[i] (no bias: None)."""
    return [
        tapegrad.sum([w * x for w, x in zip(row, xs, strict=True)] + ([] if b is None else [b]))
        for row, b in zip(ws, bs, strict=True)
    ]


@pytest.mark.parametrize("case", ["tied weights", "computed weights", "no biases"])
def test_layers_whose_weights_are_not_one_block_read_and_train_right(case):
    """A layer reads its weights as a matrix view where they lie neuron by neuron in the tape;
    where they cannot (weights shared with an earlier layer, weights computed from parameters)
    it gathers them, and without biases the view has no gaps: each way, eager's numbers."""
    rng = np.random.default_rng(7)
    W = [[Value(float(rng.normal())) for _ in range(3)] for _ in range(3)]
    B = [Value(float(rng.normal())) for _ in range(3)]
    scale = Value(0.5)

    def fn(x0, x1, x2):
        if case == "tied weights":  # the second layer reuses the first's weights, transposed
            h = [v.tanh() for v in _layer(W, B, [x0, x1, x2])]
            out = _layer([list(col) for col in zip(*W, strict=True)], B, h)
        elif case == "computed weights":
            out = _layer([[scale * w for w in row] for row in W], B, [x0, x1, x2])
        else:
            out = _layer(W, [None] * 3, [x0, x1, x2])
        return tapegrad.sum([o.tanh() for o in out])

    params = [w for row in W for w in row] + B + [scale]
    columns = [rng.normal(size=5) for _ in range(3)]
    tape = tapegrad.compile(fn, 0.0, 0.0, 0.0)
    assert any(s.startswith("dense[3x3]") for s in tape.instructions)
    want, grads = eager_sums(fn, params, columns)
    for p in params:
        p.grad = 0.0
    outs = tape.backward(*columns, reduction="sum")
    assert outs == pytest.approx(want, rel=1e-12)
    assert [p.grad for p in params] == pytest.approx(grads, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "rows",
    [[3, 4, 5], [5, 3, 1], [4, 3, 2, 1, 0], [6, 4, 2, 0], [2, 0], [7], [0, 2, 3], [3, 3]],
)
def test_rows_read_and_written_through_a_view_where_evenly_spaced(rows):
    """`index` makes evenly spaced rows, up or down and down to row 0, a slice (a view),
    others an index array; either way reading and adding into them touch those rows only."""
    from tapegrad.tape.instructions import index

    idx = index(rows)
    steps = {b - a for a, b in zip(rows, rows[1:], strict=False)}
    spaced = len(rows) == 1 or (len(steps) == 1 and 0 not in steps)
    assert isinstance(idx, slice) == spaced
    buf = np.arange(8.0 * 3).reshape(8, 3)
    assert np.array_equal(buf[idx], buf[rows])
    if spaced:  # a view: an in-place add lands in the buffer's rows
        view = buf[idx]
        np.add(view, 100.0, out=view)
        expected = np.arange(8.0 * 3).reshape(8, 3)
        expected[rows] += 100.0
        assert np.array_equal(buf, expected)


@pytest.mark.parametrize(
    ("rows", "shape", "geometry"),
    [
        ([1, 2, 3, 5, 6, 7], (2, 3), (1, 4)),  # neuron by neuron, a bias after each
        ([0, 1, 2, 3], (2, 2), (0, 2)),  # one block
        (slice(4, 7), (1, 3), (4, 3)),  # one neuron, as `index` gives its rows
        ([1, 2, 3, 5, 6, 8], (2, 3), None),  # uneven
        ([0, 1, 1, 2], (2, 2), None),  # overlapping rows
        ([2, 1, 0, 5, 4, 3], (2, 3), None),  # reversed within a neuron
    ],
)
def test_a_layers_weights_are_a_matrix_view_only_where_their_rows_make_one(rows, shape, geometry):
    """`matrix_geometry` finds a layer's weight rows' (start, stride) once, and `strided` views
    a buffer through it: the same numbers as gathering those rows, and writes land in them."""
    from tapegrad.tape.instructions import matrix_geometry, strided

    idx = rows if isinstance(rows, slice) else np.array(rows)
    assert matrix_geometry(idx, shape) == geometry
    if geometry is None:
        return
    buf = np.arange(10.0)
    view = strided(buf, geometry, shape)
    assert np.array_equal(view, buf[idx].reshape(shape))
    view += 100.0
    expected = np.arange(10.0)
    expected[idx] += 100.0
    assert np.array_equal(buf, expected)
    with pytest.raises(ValueError):  # NumPy checks the view lies inside its buffer
        strided(np.zeros(geometry[0] + 1), geometry, shape)


# --- gradient writes: the first stores, later ones add (tape/writes.py) ----------------------


def _zeroed(tape):
    """The gradient rows a backward pass zeroes first: per-sample, once-per-call."""
    prog = tape._replay.prog
    return prog.zero_rows, prog.zero_once


def test_a_layered_models_backward_zeroes_no_gradient_row():
    """In an MLP's training tape (softmax cross-entropy, an L2 term, aux outputs) every
    gradient row is first written by a store, so no row is zeroed before a pass."""
    model = nn.MLP(5, [8, 8, 3], seed=1)
    spec = losses.TABLE["softmax_ce"]

    def fn(x, t):
        out = model(x)
        return spec.tape_fn(out, t) + losses.l2(model, 1e-3), out

    tape = tapegrad.compile(fn, [0.0] * 5, spec.example_target(3), has_aux=True)
    assert _zeroed(tape) == (None, None)


def test_a_write_that_finds_part_of_its_rows_written_adds_and_the_rest_are_zeroed():
    """tanh reads a and b as one group, and a later product reads a again: backward, the
    product stores a's gradient first, so the group adds into a's and b's rows, and b's row is
    zeroed before each pass instead. Replays over different batches, one after another, give
    eager's numbers; so does the graph whose single reader of a comes first (it adds)."""
    w1, w2 = Value(0.7), Value(-1.3)
    rng = np.random.default_rng(8)

    def later(x):
        a, b = x * w1, x * w2
        t = b.tanh()
        return a.tanh() + t + a * t  # the product, a level after the group, reads a

    def earlier(x):
        a, b = x * w1, x * w2
        return a.exp() + a.tanh() + b.tanh()

    for fn, zeroes in ((later, True), (earlier, False)):
        tape = tapegrad.compile(fn, 0.0)
        assert (_zeroed(tape)[0] is not None) == zeroes
        for _ in range(3):
            X = rng.uniform(-1.0, 1.0, 5)
            want, grads = eager_sums(fn, [w1, w2], [X])
            outs, got = tape.value_and_grad(X, reduction="sum")
            np.testing.assert_allclose(outs, want, rtol=1e-13)
            np.testing.assert_allclose(got, grads, rtol=1e-12)


def test_the_gradient_view_a_loop_gets_may_be_written_into():
    """`Tape.replay` hands out a view of its gradient buffer; a loop that writes into it (nan,
    here) still gets the right gradient from the next replay, every row of it."""
    model = nn.MLP(3, [4, 1], seed=4)
    tape = tapegrad.compile(lambda x, t: losses.mse(model(x), t), [0.0] * 3, 0.0)
    weights = tape.read_parameters()
    X, T = np.random.default_rng(2).normal(size=(7, 3)), np.linspace(-1, 1, 7)
    _, grad = tape.replay([X, T], weights)
    want = grad.copy()
    grad[:] = np.nan
    _, again = tape.replay([X, T], weights)
    same_bits(again, want)


# --- Tape.loop: replay for a block of steps ---------------------------------------------------


def _training_tape():
    model = nn.MLP(3, [5, 2], seed=6)
    spec = losses.TABLE["softmax_ce"]
    tape = tapegrad.compile(
        lambda x, t: (spec.tape_fn(model(x), t), model(x)),
        [0.0] * 3,
        spec.example_target(2),
        has_aux=True,
    )
    rng = np.random.default_rng(9)
    batches = [
        (rng.normal(size=(n, 3)), spec.tape_targets(rng.integers(0, 2, n), 2)) for n in (8, 8, 5)
    ]
    return tape, batches


def test_a_loops_steps_are_replays_numbers_on_weights_updated_in_place():
    """Inside `with tape.loop() as step`, a step on `step.weights` (updated in place, as an
    optimizer does) gives `replay`'s outputs and gradients bit for bit, step after step; its
    outputs are views the next step overwrites."""
    tape, batches = _training_tape()
    w = tape.read_parameters()
    want = []
    for X, T in batches:
        (outs, aux), grad = tape.replay([X, T], w)
        want.append((outs, aux, grad.copy()))
        w -= 0.5 * grad
    with tape.loop() as step:
        shared = step.weights
        shared[:] = tape.read_parameters()
        for (X, T), (w_outs, w_aux, w_grad) in zip(batches, want, strict=True):
            (outs, aux), grad = step([X, T], shared)
            same_bits(outs, w_outs)
            same_bits(aux, w_aux)
            same_bits(grad, w_grad)
            shared -= 0.5 * grad
        first = outs.copy()
        step([batches[0][0][:5], batches[0][1][:5]], shared)
        assert not np.array_equal(outs, first)  # the same buffer, written by the next step
    same_bits(shared, w)


def test_a_loops_weight_arrays_are_read_where_they_stand_and_rotate():
    """`step.weight_arrays(3)`: the first is `step.weights`, the others start as its copies, and
    the tape reads each where it stands. A loop that writes each step's new weights into the
    next array (as `fit` does under its divergence guard) gives the in-place loop's numbers bit
    for bit, and leaves the weights each step started from as they were."""
    tape, batches = _training_tape()
    w = tape.read_parameters()
    want, started = [], []
    for X, T in batches * 2:
        started.append(w.copy())
        (outs, aux), grad = tape.replay([X, T], w)
        want.append((aux.copy(), grad.copy()))
        w -= 0.5 * grad
    with tape.loop() as step:
        step.weights[:] = tape.read_parameters()
        ring = step.weight_arrays(3)
        assert ring[0] is step.weights
        same_bits(ring[1], ring[0])
        same_bits(ring[2], ring[0])
        for k, ((X, T), (w_aux, w_grad)) in enumerate(zip(batches * 2, want, strict=True)):
            now, after = ring[k % 3], ring[(k + 1) % 3]
            (_, aux), grad = step([X, T], now)
            same_bits(aux, w_aux)
            same_bits(grad, w_grad)
            np.subtract(now, 0.5 * grad, out=after)
            same_bits(now, started[k])  # the step's own weights stay
    same_bits(ring[len(want) % 3], w)
    # A call with other weights loads them into the first array only.
    tape.replay([X, T], np.zeros_like(w))
    assert not ring[0].any() and ring[1].any() and ring[2].any()


def test_a_loop_holds_the_lock_and_the_float_silence_only_for_its_block():
    """Inside the block the same thread may still call the tape (a training control does)
    and NumPy warns of nothing; outside, the warning state is the caller's again and a step
    is an error that says where steps belong."""
    tape, batches = _training_tape()
    X, T = batches[0]
    before = np.geterr()
    with tape.loop() as step:
        assert np.geterr()["over"] == "ignore"
        step([X, T], step.weights)
        outs, _ = tape(X, T)  # re-entrant: no deadlock
        assert outs.shape == (8,)
    assert np.geterr() == before
    with pytest.raises(RuntimeError, match="inside its `with tape.loop\\(\\)` block"):
        step([X, T], step.weights)


def test_another_thread_waits_for_a_loops_block_to_end():
    """The steps' buffers are the tape's: a call from another thread waits until the loop's
    block ends, then runs."""
    import threading

    tape, batches = _training_tape()
    X, T = batches[0]
    done = threading.Event()

    def other() -> None:
        tape(X, T)
        done.set()

    with tape.loop() as step:
        step([X, T], step.weights)
        thread = threading.Thread(target=other)
        thread.start()
        assert not done.wait(0.3)  # blocked on the tape's lock
    thread.join(10)
    assert done.is_set()


def test_a_rule_that_is_one_call_writes_straight_into_its_rows():
    """An op whose forward rule is one numpymath call that takes `out=` (relu, exp, tanh)
    runs as that call into the op's rows; a rule of more (sigmoid's split, 2 * exp(x), a
    product of operators) runs as written. Either way the numbers are eager's, -0.0 and nan
    included."""
    from tapegrad import ops
    from tapegrad.numpymath import unchecked as npm
    from tapegrad.tape.instructions import written_into

    assert written_into(ops.RELU) is npm.relu
    assert written_into(ops.EXP) is npm.exp and written_into(ops.TANH) is npm.tanh
    twice = ops.Op("twice_exp", "2exp", lambda m, x: 2.0 * m.exp(x), (lambda m, g, o, x: g * o,))
    assert written_into(ops.SIGMOID) is None and written_into(ops.MUL) is None
    assert written_into(twice) is None

    def fn(x):
        return x.relu() + (x * 0.5).exp() + (x * 0.25).tanh()

    X = np.array([-0.0, 0.0, -1.5, 2.0, np.nan, np.inf, -np.inf, 700.0])
    tape = tapegrad.compile(fn, 0.0)
    want, _ = eager_sums(fn, [], [X])
    same_bits(tape(X), want)


def test_a_loop_step_on_its_own_weights_with_where_picks_them():
    """Passed its own `step.weights` with `where`, a step reads `weights[where]`, not the
    array as it stands."""
    tape, batches = _training_tape()
    X, T = batches[0]
    where = np.arange(len(tape.parameters))[::-1].copy()
    w = tape.read_parameters()
    (want, _), want_grad = tape.value_and_grad(X, T, params=w[where])
    with tape.loop() as step:
        step.weights[:] = w
        (outs, _), grad = step([X, T], step.weights, where)
        same_bits(outs, want)
        same_bits(grad, want_grad)
