"""The compiled tape: replaying a recorded graph over a batch gives the eager engine's outputs
and gradients (to 1e-12), for every op, every loss and random models; and it says clearly
when it is misused or stale."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_facts import n_args

import tapegrad
from tapegrad import Constant, Value, losses, nn
from tapegrad.engine import apply
from tapegrad.ops import OPS
from tapegrad.tape import StaleTapeError, Tape, TracingError

RTOL = 1e-12


# --------------------------------------------------------------------------- references


def eager(fn, params, *batch, reduction="mean"):
    """What the eager engine gives: per-sample outputs, and the parameters' gradients of
    `losses.mean(outs).backward()` (or `sum(outs)`), each sample built as its own graph."""
    for p in params:
        p.grad = 0.0
    n = len(batch[0])
    outs = []
    for i in range(n):
        args = []
        for a in batch:
            row = np.asarray(a)[i]
            args.append([Value(float(v)) for v in row] if np.ndim(row) else Value(float(row)))
        outs.append(fn(*args))
    if not isinstance(outs[0], Value):
        return np.array([[o.data for o in out] for out in outs]), None
    loss = losses.mean(outs) if reduction == "mean" else sum(outs)
    loss.backward()
    grads = np.array([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    return np.array([o.data for o in outs]), grads


def compiled(tape, *batch, reduction="mean"):
    """The tape's outputs and the gradients it accumulates into fresh `.grad`s."""
    for p in tape.parameters:
        p.grad = 0.0
    out = tape.backward(*batch, reduction=reduction)
    grads = np.array([p.grad for p in tape.parameters])
    for p in tape.parameters:
        p.grad = 0.0
    return out, grads


def assert_close(actual, expected, rtol=RTOL, floor=0.0):
    """Equal to `rtol` relative; where the exact value is a sum that cancels to ~0 the two
    summation orders can only agree to rtol times the largest gradient, so that is the
    absolute floor (or `floor`, if larger). nan and inf must match exactly."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected))
    fin = np.isfinite(expected)
    if fin.any():
        scale = np.max(np.abs(expected[fin]))
        atol = max(rtol * scale, floor)
        np.testing.assert_allclose(actual[fin], expected[fin], rtol=rtol, atol=atol)


def check_equivalent(fn, examples, *batch, reduction="mean"):
    tape = tapegrad.compile(fn, *examples)
    e_out, e_grads = eager(fn, tape.parameters, *batch, reduction=reduction)
    t_out, t_grads = compiled(tape, *batch, reduction=reduction)
    assert_close(t_out, e_out)
    assert_close(t_grads, e_grads)
    return tape


def labels(rng, n):
    return np.where(rng.random(n) < 0.5, -1.0, 1.0)


# --------------------------------------------------------------------------- every op


def _op_fn(op, ws, qs, v):
    # Inputs are positive and away from ties, where every op is defined and smooth.
    def fn(x):
        per_sample = apply(op, *[ws[j] * x[j] for j in range(n_args(op))])
        once = apply(op, *qs)  # on parameters only: runs once per call
        return per_sample * v + once * x[0]

    return fn


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_matches_eager_on_a_batch(name):
    """Each primitive, applied per sample (weights times inputs) and once per call (on
    parameters only), through the op table by name: new ops are covered automatically."""
    op = OPS[name]
    rng = np.random.default_rng(len(name))
    ws = [Value(rng.uniform(0.5, 1.5)) for _ in range(n_args(op))]
    qs = [Value(rng.uniform(0.5, 1.5)) for _ in range(n_args(op))]
    v = Value(rng.uniform(0.5, 1.5))
    X = rng.uniform(0.5, 2.0, (37, n_args(op)))
    fn = _op_fn(op, ws, qs, v)
    tape = check_equivalent(fn, [[1.0] * n_args(op)], X)
    assert set(tape.parameters) == {*ws, *qs, v}
    check_equivalent(fn, [[1.0] * n_args(op)], X, reduction="sum")


SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.5, 1000.0, -1000.0, math.inf, -math.inf, math.nan]


def _special_rows(arity: int, rng) -> np.ndarray:
    if arity == 1:
        return np.array(SPECIAL)[:, None]
    rows = list(rng.choice(SPECIAL, (60, arity)))
    rows += [[s] * arity for s in SPECIAL]  # ties: max/min split, clamp boundaries
    rows += [[1.0, 1.0, 1.0], [1.0, 2.0, 0.5], [3.0, 1.0, 2.0], [-1.0, 0.0, 0.0]]
    return np.array([r[:arity] for r in rows], dtype=float)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_matches_eager_at_ieee_special_values(name):
    """inf, nan, signed zeros and ties: the forward values (signed zeros included) and every
    argument's gradient, sample by sample, are the eager engine's."""
    op = OPS[name]
    rng = np.random.default_rng(7)
    X = _special_rows(n_args(op), rng)
    # Forward straight on the inputs, all rows in one call.
    fwd = tapegrad.compile(lambda x: apply(op, *x), [1.0] * n_args(op))
    got = fwd(X)
    ref, _ = eager(lambda x: apply(op, *x), [], X)
    assert_close(got, ref[:, 0] if ref.ndim == 2 else ref)
    want = np.array([op.fwd(tapegrad.floatmath, *row) for row in X.tolist()])
    zeros = want == 0.0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))
    # Gradient of each argument: x_j + p_j with p_j = 0 passes the rule's value to p_j.
    ps = [Value(0.0) for _ in range(n_args(op))]

    def fn(x):
        return apply(op, *[xj + pj for xj, pj in zip(x, ps, strict=True)])

    tape = tapegrad.compile(fn, [1.0] * n_args(op))
    for row in X:
        e_out, e_grads = eager(fn, ps, row[None, :], reduction="sum")
        t_out, t_grads = compiled(tape, row[None, :], reduction="sum")
        assert_close(t_out, e_out)
        assert_close(t_grads[[tape.parameters.index(p) for p in ps]], e_grads)


# --------------------------------------------------------------------------- models and losses


@pytest.mark.parametrize(
    ("act", "sizes", "seed"),
    [("relu", [16, 16, 1], 0), ("tanh", [8, 8, 1], 1), ("sigmoid", [5, 1], 2), ("relu", [1], 3)],
)
def test_mlp_hinge_with_l2_matches_eager(act, sizes, seed):
    """micrograd's demo objective: mean hinge loss plus 1e-4 L2, on random MLPs and batches."""
    model = nn.MLP(2, sizes, act, seed=seed)
    params = model.parameters()
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((40, 2)), labels(rng, 40)
    tape = check_equivalent(
        lambda x, t: losses.hinge(model(x), t) + losses.l2(params, 1e-4), [[0.0, 0.0], 1.0], X, y
    )
    assert set(tape.parameters) == set(params)


def test_w1_loss_and_gradients_match_torch(torch):
    """The W1 step's loss and every gradient against PyTorch float64 with the same weights."""
    model = nn.MLP(2, [16, 16, 1], seed=1337)
    params = model.parameters()
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((100, 2)), labels(rng, 100)
    tape = tapegrad.compile(
        lambda x, t: losses.hinge(model(x), t) + losses.l2(params, 1e-4), [0.0, 0.0], 1.0
    )
    model.zero_grad()
    loss = tape.backward(X, y).mean()
    weights = [
        torch.tensor(
            [[p.data for p in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True
        )
        for layer in model.layers
    ]
    biases = [
        torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        for layer in model.layers
    ]
    h = torch.tensor(X)
    for k, (W, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ W.T + b
        if k < len(weights) - 1:
            h = torch.relu(h)
    ref = torch.relu(1 - torch.tensor(y) * h[:, 0]).mean()
    ref = ref + 1e-4 * sum((t * t).sum() for t in weights + biases)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=RTOL)
    got = [[[p.grad for p in n.w] for n in layer.neurons] for layer in model.layers]
    got_b = [[n.b.grad for n in layer.neurons] for layer in model.layers]
    for g, W in zip(got, weights, strict=True):
        assert_close(g, W.grad.numpy())
    for g, b in zip(got_b, biases, strict=True):
        assert_close(g, b.grad.numpy())


def test_every_loss_matches_eager():
    rng = np.random.default_rng(3)
    model = nn.MLP(3, [6, 1], "tanh", seed=3)
    X = rng.standard_normal((30, 3))
    check_equivalent(lambda x, t: losses.hinge(model(x), t), [[0.0] * 3, 1.0], X, labels(rng, 30))
    check_equivalent(
        lambda x, t: losses.mse(model(x), t), [[0.0] * 3, 0.0], X, rng.standard_normal(30)
    )
    check_equivalent(
        lambda x, t: losses.bce_with_logits(model(x), t),
        [[0.0] * 3, 1.0],
        X,
        (rng.random(30) < 0.5).astype(float),
    )
    multi = nn.MLP(3, [6, 4], "relu", seed=4)
    check_equivalent(
        lambda x, t: losses.mse(multi(x), t),
        [[0.0] * 3, [0.0] * 4],
        X,
        rng.standard_normal((30, 4)),
    )


def _one_hot_ce(logits, t):
    # softmax cross-entropy with a one-hot target: a class index cannot be a placeholder.
    return losses.logsumexp(logits) - sum(ti * li for ti, li in zip(t, logits, strict=True))


def test_softmax_cross_entropy_matches_eager_with_class_indices():
    """The compiled one-hot form equals `losses.softmax_cross_entropy(logits, class)` run
    eagerly sample by sample, loss and gradients."""
    model = nn.MLP(8, [12, 5], "relu", seed=5)
    params = model.parameters()
    rng = np.random.default_rng(5)
    X, cls = rng.standard_normal((24, 8)) * 2, rng.integers(0, 5, 24)
    tape = tapegrad.compile(lambda x, t: _one_hot_ce(model(x), t), [0.0] * 8, [0.0] * 5)
    model.zero_grad()
    outs = [
        losses.softmax_cross_entropy(model([Value(v) for v in x]), int(c))
        for x, c in zip(X.tolist(), cls, strict=True)
    ]
    losses.mean(outs).backward()
    e_grads = np.array([p.grad for p in tape.parameters])
    t_out, t_grads = compiled(tape, X, np.eye(5)[cls])
    assert_close(t_out, [o.data for o in outs])
    assert_close(t_grads, e_grads)
    assert len(params) == len(tape.parameters)


def test_multiple_outputs_forward():
    model = nn.MLP(3, [4, 3], "tanh", seed=6)
    tape = tapegrad.compile(lambda x: model(x), [0.0] * 3)
    X = np.random.default_rng(6).standard_normal((9, 3))
    ref, _ = eager(lambda x: model(x), [], X)
    out = tape(X)
    assert out.shape == (9, 3)
    assert_close(out, ref)
    assert_close(tape.forward(X), ref)


def test_aux_outputs_come_back_without_being_differentiated():
    """has_aux, as in value_and_grad: the loss is differentiated, the model outputs beside it
    are only returned (a training loop's accuracy needs them)."""
    model = nn.MLP(2, [4, 1], "tanh", seed=7)
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((11, 2)), labels(rng, 11)

    def fn(x, t):
        score = model(x)
        return losses.hinge(score, t), score

    tape = tapegrad.compile(fn, [0.0, 0.0], 1.0, has_aux=True)
    e_loss, e_grads = eager(lambda x, t: fn(x, t)[0], tape.parameters, X, y)
    e_scores, _ = eager(lambda x, t: [fn(x, t)[1]], [], X, y)
    (t_loss, t_scores), t_grads = tape.value_and_grad(X, y)
    assert_close(t_loss, e_loss)
    assert_close(t_scores, e_scores[:, 0])
    assert_close(t_grads, e_grads)
    loss2, scores2 = tape(X, y)
    np.testing.assert_allclose(scores2, t_scores, rtol=RTOL)
    multi = tapegrad.compile(lambda x: (x[0] * x[1], [x[0], x[1]]), [0.0, 0.0], has_aux=True)
    out, aux = multi(X)
    assert out.shape == (11,) and aux.shape == (11, 2)
    with pytest.raises(TypeError, match=r"with has_aux=True, <lambda> must return a pair"):
        tapegrad.compile(lambda x: x, 1.0, has_aux=True)


def test_outputs_that_are_inputs_constants_or_parameters():
    w = Value(1.5)
    fn = lambda x: [x[1], Constant(2.0), w * w, x[0] * w]  # noqa: E731
    tape = tapegrad.compile(fn, [0.0, 0.0])
    X = np.array([[1.0, 2.0], [3.0, -4.0]])
    np.testing.assert_array_equal(tape(X), [[2.0, 2.0, 2.25, 1.5], [-4.0, 2.0, 2.25, 4.5]])


# --------------------------------------------------------------------------- structure


def test_shared_nodes_repeated_inputs_and_shared_weights():
    """Gradients into a node used several times (a + a, x*x, one weight in two terms, one
    input in two terms of a neuron) are added, not overwritten."""
    rng = np.random.default_rng(8)
    w = [Value(v) for v in rng.standard_normal(4)]

    def fn(x):
        h = w[0] * x[0] + w[0] * x[1] + w[1] * x[0] + w[2]
        s = h.tanh()
        return (s + s) * (x[1] * x[1] * w[3]) + w[3] * w[3]

    check_equivalent(fn, [[0.0, 0.0]], rng.standard_normal((15, 2)))


def test_variadic_ops_over_scattered_and_repeated_arguments():
    """Several log-sum-exp and affine nodes at one level, whose arguments sit in rows that are
    not evenly spaced, repeat (x twice in one node, one node in two) or are constants, run as
    one call each and match eager, at special values too."""
    rng = np.random.default_rng(11)
    w = [Value(v) for v in rng.uniform(0.5, 1.5, 4)]

    def fn(x):
        a, b, c = x[0] * w[0], x[1].tanh(), x[2] * w[1]
        first = tapegrad.logsumexp([a, b, a, Constant(0.5)])
        second = tapegrad.logsumexp([c, a, b, c])
        third = tapegrad.dot([w[2], w[3]], [c, b], a)
        return first * second + third

    tape = tapegrad.compile(fn, [0.0, 0.0, 0.0])
    assert any(i.startswith("logsumexp[2]") for i in tape.instructions), tape.instructions
    rows = rng.standard_normal((25, 3)) * 3
    special = np.array([[math.inf, 0.0, 1.0], [-math.inf, -math.inf, 2.0], [math.nan, 1.0, 0.0]])
    for X in (rows, np.vstack([rows, special])):
        check_equivalent(fn, [[0.0, 0.0, 0.0]], X)


def test_logsumexp_adds_in_eagers_order_for_one_row_and_once_per_call():
    """A log-sum-exp of many terms, on parameters alone (run once per call)
    and over a batch of one row, gives eager's number to the bit: its terms add left to
    right there too, where a NumPy reduction over a lone axis would add them in pairs."""
    rng = np.random.default_rng(21)
    qs = [Value(float(v)) for v in rng.uniform(-4.0, 0.0, 24)]  # many terms of one size

    def fn(x):
        once = tapegrad.logsumexp(qs)
        per_sample = tapegrad.logsumexp([q * x[0] for q in qs])
        return once + per_sample * x[1]

    tape = tapegrad.compile(fn, [0.0, 0.0])
    for row in rng.standard_normal((20, 2)):
        expected = fn([Value(float(row[0])), Value(float(row[1]))]).data
        assert tape(row[None, :])[0] == expected


def test_layers_sharing_weights_or_inputs_add_their_gradients():
    """Two layers with the same weights (tied), a layer's inputs also read by another layer
    and by the output (a skip connection): each gradient is the sum over every reader, where
    a layer alone with its weights and inputs writes its gradients directly."""
    rng = np.random.default_rng(12)
    tied = nn.Layer(3, 3, seed=1)
    head, skip = nn.Layer(3, 1, seed=2, nonlin=False), nn.Layer(3, 1, seed=3, nonlin=False)

    def fn(x):
        h = tied(x)
        h2 = tied(h)  # the same weights again, on the first layer's outputs
        return head(h2) + skip(h) + h[0] * h[1]  # h read by two layers and a product

    tape = check_equivalent(fn, [[0.0, 0.0, 0.0]], rng.standard_normal((20, 3)))
    assert sum(i.startswith("dense") for i in tape.instructions) >= 3, tape.instructions


def test_layers_run_as_matrix_products():
    """An MLP compiles to one dense instruction per layer, and the instruction count does not
    grow with the width: the replay's NumPy calls follow depth, not size."""
    narrow = tapegrad.compile(nn.MLP(2, [4, 4, 1], seed=0), [0.0, 0.0])
    wide = tapegrad.compile(nn.MLP(2, [32, 32, 1], seed=0), [0.0, 0.0])
    assert [s for s in wide.instructions if s.startswith("dense")] == [
        "dense[32x2]",
        "dense[32x32]",
        "dense[1x32]",
    ]
    assert len(narrow.instructions) == len(wide.instructions)


def test_generic_path_alone_matches_eager(monkeypatch):
    """With the sum and matrix-product fusions off (as when the table's add or mul rule is not
    the textbook one), every node runs through the generic grouped path, still exactly."""
    import tapegrad.tape.fuse as tape_module

    monkeypatch.setattr(tape_module, "LINEAR_RULES", False)
    model = nn.MLP(3, [5, 4, 1], "tanh", seed=12)
    rng = np.random.default_rng(12)
    tape = check_equivalent(
        lambda x, t: losses.hinge(model(x), t) + losses.l2(model, 1e-3),
        [[0.0] * 3, 1.0],
        rng.standard_normal((20, 3)),
        labels(rng, 20),
    )
    assert not any(s.startswith(("dense", "sum")) for s in tape.instructions)


def test_fusions_depend_on_the_tables_add_and_mul_rules(monkeypatch):
    import tapegrad.tape.fuse as tape_module
    from tapegrad.ops import ADD, Op

    assert tape_module._linear_rules_hold()
    doubled = Op("add", "+", ADD.fwd, (lambda m, g, out, a, b: 2.0 * g, ADD.vjps[1]))
    monkeypatch.setattr(tape_module, "ADD", doubled)
    assert not tape_module._linear_rules_hold()


def test_constants_get_no_gradient():
    w, c = Value(2.0), Constant(3.0)
    tape = tapegrad.compile(lambda x: x * c * w, 1.0)
    assert tape.parameters == [w]
    tape.backward(np.array([1.0, 2.0]))
    assert c.grad == 0.0 and w.grad == pytest.approx(4.5, rel=RTOL)


def test_penalty_on_parameters_runs_once_per_call():
    model = nn.MLP(2, [3, 1], seed=0)
    tape = tapegrad.compile(lambda x: model(x) + losses.l2(model, 0.1), [0.0, 0.0])
    once = [s for s in tape.instructions if s.startswith("once:")]
    assert once and all(s.startswith("once:") for s in tape.instructions[: len(once)])


def test_generic_path_when_no_layer_pattern():
    """Sums whose terms are not weight*input products still replay exactly (n-ary sums)."""
    rng = np.random.default_rng(9)
    a, b = Value(0.3), Value(-0.7)

    def fn(x):
        return x[0] * x[1] + x[1].exp() + a * b + x[0].sin() * a + 2.0 + b

    check_equivalent(fn, [[0.0, 0.0]], rng.standard_normal((12, 2)))


def test_deep_chain_compiles_without_recursion_limits():
    w = Value(1.0000001)

    def fn(x):
        y = x
        for _ in range(3000):
            y = y * w + 0.1
        return y

    check_equivalent(fn, [0.0], np.array([0.5, -1.0, 2.0]))


# Random graphs: each node is a random op over earlier nodes, inputs, parameters, constants.
@st.composite
def graphs(draw):
    n_nodes = draw(st.integers(1, 25))
    plan = []
    for k in range(n_nodes):
        kind = draw(st.sampled_from(["op", "op", "neuron", "chain"]))
        if kind == "op":
            name = draw(st.sampled_from(sorted(OPS)))
            args = [draw(st.integers(0, 1000)) for _ in range(n_args(OPS[name]))]
            plan.append(("op", name, args))
        else:
            width = draw(st.integers(1, 5))
            plan.append((kind, None, [draw(st.integers(0, 1000)) for _ in range(width)]))
        del k
    n_out = draw(st.integers(1, 3))
    return plan, n_out


def _build(plan, n_out, params):
    # Every node is clamped to [-3, 3] before reuse, so that no chain of ops grows values to
    # where one rounding decides the result (cos(1e9), tanh at saturation): the graphs test
    # grouping, fusion and gradient accumulation, which fail by O(1) when wrong.
    def fn(x):
        pool = [*x, *params, Constant(0.5)]
        for kind, name, picks in plan:
            args = [pool[-1 - (p % len(pool))] if p % 3 else pool[p % len(pool)] for p in picks]
            if kind == "op":
                node = apply(OPS[name], *args)
            elif kind == "neuron":
                node = sum((params[i % 3] * a for i, a in enumerate(args)), params[3])
            else:
                node = sum(args[1:], args[0])
            pool.append(node.clamp(-3.0, 3.0))
        return sum(pool[-n_out:], Constant(0.0))

    return fn


@given(graphs(), st.integers(0, 2**32 - 1))
def test_random_graphs_match_eager(spec, seed):
    plan, n_out = spec
    rng = np.random.default_rng(seed)
    params = [Value(v) for v in rng.uniform(0.2, 1.2, 4)]
    fn = _build(plan, n_out, params)
    X = rng.uniform(0.1, 2.0, (5, 2))
    tape = tapegrad.compile(fn, [1.0, 1.0])
    e_out, e_grads = eager(fn, tape.parameters, X)
    t_out, t_grads = compiled(tape, X)
    # Looser than the models' 1e-12, on purpose: NumPy's tanh and exp differ from libm's (the
    # eager engine's) by one ulp on a quarter and a twentieth of inputs, and a rule such as
    # tanh's 1 - out*out can amplify that ulp a hundredfold even inside [-3, 3].
    assert_close(t_out, e_out, rtol=1e-9, floor=1e-12)
    assert_close(t_grads, e_grads, rtol=1e-9, floor=1e-12)


# --------------------------------------------------------------------------- calling


def test_backward_accumulates_like_eager():
    model = nn.MLP(2, [4, 1], seed=1)
    tape = tapegrad.compile(lambda x: model(x), [0.0, 0.0])
    X = np.random.default_rng(1).standard_normal((6, 2))
    _, once = compiled(tape, X)
    for p in tape.parameters:
        p.grad = 1.0
    tape.backward(X)
    tape.backward(X)
    assert_close([p.grad for p in tape.parameters], 1.0 + 2 * once)


def test_parameters_are_read_on_every_call():
    """An optimizer that assigns `.data` needs no recompilation: after an SGD step the tape
    computes the updated model, as a fresh eager pass does."""
    model = nn.MLP(2, [5, 1], "tanh", seed=2)
    fn = lambda x, t: losses.mse(model(x), t)  # noqa: E731
    tape = tapegrad.compile(fn, [0.0, 0.0], 0.0)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    for _ in range(3):
        model.zero_grad()
        tape.backward(X, y)
        for p in model.parameters():
            p.data -= 0.1 * p.grad
    e_out, e_grads = eager(fn, tape.parameters, X, y)
    t_out, t_grads = compiled(tape, X, y)
    assert_close(t_out, e_out)
    assert_close(t_grads, e_grads)


def test_value_and_grad_with_explicit_parameters():
    model = nn.MLP(2, [3, 1], seed=4)
    tape = tapegrad.compile(lambda x: model(x), [0.0, 0.0])
    X = np.random.default_rng(4).standard_normal((5, 2))
    before = tape.read_parameters()
    out, grads = tape.value_and_grad(X)
    assert all(p.grad == 0.0 for p in tape.parameters)
    shifted = before + 0.25
    out2, grads2 = tape.value_and_grad(X, params=shifted)
    np.testing.assert_array_equal(tape.read_parameters(), before)  # nothing written
    tape.write_parameters(shifted)
    out3, grads3 = tape.value_and_grad(X)
    np.testing.assert_allclose(out2, out3, rtol=RTOL)
    np.testing.assert_allclose(grads2, grads3, rtol=RTOL)
    e_out, e_grads = eager(lambda x: model(x), tape.parameters, X)
    assert_close(out3, e_out)
    assert_close(grads3, e_grads)
    assert not np.allclose(out, out3)


def test_batch_sizes_and_input_types():
    model = nn.MLP(2, [3, 1], seed=5)
    tape = tapegrad.compile(lambda x, t: model(x) * t, [0.0, 0.0], 1.0)
    X = np.random.default_rng(5).standard_normal((7, 2))
    full = tape(X, np.ones(7))
    # A matrix product over 3 rows may round differently from one over 7 (the BLAS kernel
    # picks its blocking by shape, and kernels differ between machines): compare to 1e-12.
    np.testing.assert_allclose(tape(X[:3], np.ones(3)), full[:3], rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(tape(X.tolist(), [1, 1, 1, 1, 1, 1, 1]), full, rtol=RTOL)
    np.testing.assert_allclose(
        tape(X.astype(np.float32), np.ones(7, bool)),
        tape(X.astype(np.float32).astype(float), np.ones(7)),
        rtol=RTOL,
    )
    for n in (1, 2, 3, 4, 5, 6):  # more batch sizes than the buffer cache holds
        assert tape(X[:n], np.ones(n)).shape == (n,)


def test_recording_works_inside_no_grad_and_anomaly_mode():
    w = Value(0.5)
    with tapegrad.no_grad():
        tape = tapegrad.compile(lambda x: (x * w).exp(), 1.0)
    with tapegrad.detect_anomaly():
        anomalous = tapegrad.compile(lambda x: (x * w).exp(), 1.0)
    for t in (tape, anomalous):
        assert t.parameters == [w]
        np.testing.assert_allclose(t(np.array([0.0, 2.0])), [1.0, math.e], rtol=RTOL)


def test_frozen_control_flow_on_an_input_is_refused():
    """As with jax.jit, a Python `if` on data would run once, at recording, and its branch be
    replayed for every sample (it gave [-2, 4] here, eager gives [3, 4]): it is an error now
    (issue 10; tests/tape/test_tape_guards.py has the rest)."""

    def fn(x):
        return x * 2.0 if x > 0 else x * -3.0

    with pytest.raises(TracingError, match=r"computed x \(=1\.0\) > 0 while"):
        tapegrad.compile(fn, 1.0)


# --------------------------------------------------------------------------- errors


@pytest.fixture
def small_tape() -> Tape:
    model = nn.MLP(2, [2, 1], seed=0)
    return tapegrad.compile(lambda x, y: losses.mse(model(x), y), [0.0, 0.0], 0.0)


def test_wrong_argument_count(small_tape):
    with pytest.raises(
        TypeError, match=r"takes 2 batch argument\(s\) \(x: \(batch, 2\), y: \(batch,\)\), got 1"
    ):
        small_tape(np.zeros((3, 2)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (np.zeros((3, 3)), np.zeros(3)),
            r"argument x: expected an array of shape \(batch, 2\).*got shape \(3, 3\)",
        ),
        ((np.zeros(3), np.zeros(3)), r"argument x: .*shape \(batch, 2\).*got shape \(3,\)"),
        (
            (np.zeros((3, 2)), np.zeros((3, 1))),
            r"argument y: .*shape \(batch,\).*got shape \(3, 1\)",
        ),
        ((np.zeros((3, 2)), np.zeros(4)), r"argument y has a batch of 4 but argument x has 3"),
        ((np.zeros((0, 2)), np.zeros(0)), r"batch is empty"),
        ((np.zeros((3, 2)), [[1, 2], [3]]), r"argument y: expected shape \(batch,\)"),
    ],
)
def test_wrong_shapes(small_tape, args, message):
    with pytest.raises(ValueError, match=message):
        small_tape(*args)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            np.zeros(3, complex),
            "argument y: expected real numbers, got an array of dtype complex128",
        ),
        (np.array(["a", "b", "c"]), "argument y: expected real numbers"),
        ([Value(1.0)] * 3, r"dtype object \(pass numbers, not Values\)"),
    ],
)
def test_wrong_dtypes(small_tape, bad, message):
    with pytest.raises(TypeError, match=message):
        small_tape(np.zeros((3, 2)), bad)


def test_bad_compile_arguments():
    with pytest.raises(TypeError, match="compile needs a function"):
        tapegrad.compile(3.0, 1.0)
    with pytest.raises(TypeError, match="example argument x is a Value"):
        tapegrad.compile(lambda x: x, Value(1.0))
    with pytest.raises(TypeError, match=r"example argument x\[1\] must be a real number, got str"):
        tapegrad.compile(lambda x: x[0], [1.0, "a"])
    with pytest.raises(TypeError, match="must be a number or a flat sequence"):
        tapegrad.compile(lambda x: x, np.zeros((2, 2)))
    with pytest.raises(
        TypeError, match="must return a Value or a non-empty list of Values, got float"
    ):
        tapegrad.compile(lambda x: 1.0, 1.0)
    with pytest.raises(TypeError, match="item 1 is float"):
        tapegrad.compile(lambda x: [x, 1.0], 1.0)


def test_unknown_op_in_graph():
    def fn(x):
        return Value(x.data * 2, (x,), "double", label="custom")

    with pytest.raises(ValueError, match=r"label 'custom'.*_op 'double' is not a primitive"):
        tapegrad.compile(fn, 1.0)


def test_recording_error_says_what_to_do():
    model = nn.MLP(2, [3], seed=0)
    with pytest.raises(ValueError) as info:
        tapegrad.compile(lambda x, y: losses.softmax_cross_entropy(model(x), y), [0.0, 0.0], 0.0)
    assert "one-hot" in "".join(getattr(info.value, "__notes__", []))


def test_backward_needs_one_output_and_a_known_reduction():
    tape = tapegrad.compile(lambda x: [x * 2.0, x], 1.0)
    with pytest.raises(ValueError, match="one output per sample.*list of 2 Values"):
        tape.backward(np.ones(3))
    single = tapegrad.compile(lambda x: x * Value(2.0), 1.0)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'max'"):
        single.backward(np.ones(3), reduction="max")
    with pytest.raises(ValueError, match=r"expected an array of 1 real numbers.*shape \(2,\)"):
        single.value_and_grad(np.ones(3), params=[1.0, 2.0])


# --------------------------------------------------------------------------- staleness


def test_check_passes_when_only_data_changed(small_tape):
    for p in small_tape.parameters:
        p.data += 1.0
    small_tape.check()


def test_check_detects_a_replaced_parameter():
    model = nn.MLP(2, [2, 1], seed=0)
    tape = tapegrad.compile(lambda x: model(x), [0.0, 0.0])
    model.layers[0].neurons[1].w[0] = Value(0.5)
    with pytest.raises(
        StaleTapeError, match=r"1 parameter\(s\) are new Value objects and 1 recorded"
    ):
        tape.check()


def test_check_detects_a_changed_model():
    model = nn.MLP(2, [2, 1], seed=0)
    tape = tapegrad.compile(lambda x: model(x), [0.0, 0.0])
    model.layers[0].neurons[0]._act = nn.ACTIVATIONS["tanh"]
    with pytest.raises(StaleTapeError, match="is stale"):
        tape.check()


def test_repr_and_parameters(small_tape):
    text = repr(small_tape)
    assert "x: (batch, 2), y: (batch,)" in text and "9 parameters" in text
    assert len(small_tape.parameters) == 9
    assert all(type(p) is Value for p in small_tape.parameters)


def test_compile_docstring_example_runs():
    """compile's Example section is a doctest, run here so the documented outputs stay true."""
    import doctest

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(tapegrad.compile, "tapegrad.compile", globs={}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 5 and result.failed == 0
