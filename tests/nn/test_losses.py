"""losses: every loss's value and gradient against torch float64 (stability cases included),
micrograd's demo loss, accuracy and the registry."""

import math
import random

import numpy as np
import pytest

import tapegrad
from tapegrad import Value
from tapegrad.losses import (
    LOSSES,
    accuracy,
    bce_with_logits,
    hinge,
    l2,
    logsumexp,
    mean,
    mse,
    softmax_cross_entropy,
)
from tapegrad.nn import MLP

TOL = {"rel": 1e-12, "abs": 1e-12}


def _t(torch, values, grad=True):
    return torch.tensor(values, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("pred,target", [(0.3, 1.0), (-2.5, 0.75), (1e3, -1e3), (4.0, 4.0)])
def test_mse_scalar_vs_torch(pred, target, torch):
    F = torch.nn.functional
    p = Value(pred)
    loss = mse(p, target)
    loss.backward()
    tp = _t(torch, pred)
    ref = F.mse_loss(tp, _t(torch, target, grad=False))
    ref.backward()
    assert loss.data == pytest.approx(ref.item(), **TOL)
    assert p.grad == pytest.approx(tp.grad.item(), **TOL)


def test_mse_list_is_the_mean_vs_torch(torch):
    F = torch.nn.functional
    preds, targets = [0.1, -1.2, 3.3], [0.0, 1.0, 2.5]
    ps = [Value(v) for v in preds]
    loss = mse(ps, targets)
    loss.backward()
    tp = _t(torch, preds)
    ref = F.mse_loss(tp, _t(torch, targets, grad=False))
    ref.backward()
    assert loss.data == pytest.approx(ref.item(), **TOL)
    assert [p.grad for p in ps] == pytest.approx(tp.grad.tolist(), **TOL)
    with pytest.raises(ValueError, match="as long as pred"):
        mse(ps, targets[:2])


@pytest.mark.parametrize("score", [-3.0, -1.0, -0.2, 0.0, 0.5, 0.999, 1.0, 1.5, 1000.0])
@pytest.mark.parametrize("y", [-1.0, 1.0])
def test_hinge_vs_torch(score, y, torch):
    F = torch.nn.functional
    s = Value(score)
    loss = hinge(s, y)
    loss.backward()
    ts = _t(torch, score)
    ref = F.relu(1.0 - y * ts)
    ref.backward()
    assert loss.data == pytest.approx(ref.item(), **TOL)
    assert s.grad == pytest.approx(ts.grad.item(), **TOL)


def test_hinge_is_micrograds_expression_bit_for_bit(micrograd):
    MValue = micrograd.engine.Value

    rng = random.Random(0)
    for _ in range(50):
        score, y = rng.uniform(-3, 3), rng.choice([-1.0, 1.0])
        assert hinge(Value(score), y).data == (1 + -y * MValue(score)).relu().data


def test_hinge_rejects_labels_other_than_plus_minus_one():
    for bad in (0, 0.5, 2, math.nan):
        with pytest.raises(ValueError, match="-1 or \\+1"):
            hinge(Value(0.3), bad)


BCE_LOGITS = [-1000.0, -40.0, -5.0, -1.0, -1e-3, 0.0, 0.3, 2.0, 40.0, 1000.0]


@pytest.mark.parametrize("logit", BCE_LOGITS)
@pytest.mark.parametrize("y", [0.0, 1.0, 0.25])
def test_bce_with_logits_vs_torch_including_extremes(logit, y, torch):
    F = torch.nn.functional
    x = Value(logit)
    loss = bce_with_logits(x, y)
    loss.backward()
    tx = _t(torch, logit)
    ref = F.binary_cross_entropy_with_logits(tx, _t(torch, y, grad=False))
    ref.backward()
    assert math.isfinite(loss.data) and math.isfinite(x.grad)
    assert loss.data == pytest.approx(ref.item(), **TOL)
    assert x.grad == pytest.approx(tx.grad.item(), **TOL)


def test_bce_at_1000_is_exact():
    # the closed forms: softplus(-1000) = 0 (to double precision), softplus(1000) = 1000
    assert bce_with_logits(Value(1000.0), 1.0).data == 0.0
    assert bce_with_logits(Value(-1000.0), 1.0).data == 1000.0
    assert bce_with_logits(Value(1000.0), 0.0).data == 1000.0
    assert bce_with_logits(Value(-1000.0), 0.0).data == 0.0


def test_bce_second_derivative_vs_torch(torch):
    # the loss is built from primitives, so it differentiates twice: d2/dx2 = sigmoid'(x)
    F = torch.nn.functional
    for logit in (-3.0, 0.0, 0.7, 30.0):
        d2 = tapegrad.grad(tapegrad.grad(lambda x: bce_with_logits(x, 1.0)))(logit)
        tx = _t(torch, logit)
        (g,) = torch.autograd.grad(
            F.binary_cross_entropy_with_logits(tx, _t(torch, 1.0, grad=False)),
            tx,
            create_graph=True,
        )
        (ref,) = torch.autograd.grad(g, tx)
        assert d2 == pytest.approx(ref.item(), **TOL)


def test_bce_rejects_labels_outside_unit_interval():
    for bad in (-1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            bce_with_logits(Value(0.0), bad)


SOFTMAX_CASES = [
    ([0.1, -0.3, 2.0], 0),
    ([0.1, -0.3, 2.0], 2),
    ([1000.0, -1000.0, 999.0], 1),  # huge and opposite: naive exp overflows
    ([1000.0, -1000.0, 999.0], 0),
    ([-1000.0, -1000.0], 1),  # naive exp underflows to 0, log(0) = -inf
    ([5.0], 0),
    ([3.0, 3.0, 3.0, 3.0], 2),
]


@pytest.mark.parametrize("logits,y", SOFTMAX_CASES)
def test_softmax_cross_entropy_vs_torch(logits, y, torch):
    F = torch.nn.functional
    xs = [Value(v) for v in logits]
    loss = softmax_cross_entropy(xs, y)
    loss.backward()
    tx = _t(torch, logits)
    ref = F.cross_entropy(tx.unsqueeze(0), torch.tensor([y]))
    ref.backward()
    assert math.isfinite(loss.data)
    assert loss.data == pytest.approx(ref.item(), **TOL)
    assert [x.grad for x in xs] == pytest.approx(tx.grad.tolist(), **TOL)


def test_softmax_cross_entropy_random_vs_torch(torch):
    F = torch.nn.functional
    rng = random.Random(1)
    for _ in range(20):
        n = rng.randint(2, 10)
        logits = [rng.gauss(0, 5) for _ in range(n)]
        y = rng.randrange(n)
        xs = [Value(v) for v in logits]
        softmax_cross_entropy(xs, y).backward()
        tx = _t(torch, logits)
        F.cross_entropy(tx.unsqueeze(0), torch.tensor([y])).backward()
        assert [x.grad for x in xs] == pytest.approx(tx.grad.tolist(), **TOL)


def test_softmax_cross_entropy_uses_no_data_dependent_shift():
    # one logsumexp node, whose rule finds its shift per call: no max read off the data and
    # frozen into the graph, so a tape recorded where logit 0 is largest is right elsewhere
    xs = [Value(v) for v in (2.0, -1.0, 0.5)]
    loss = softmax_cross_entropy(xs, 0)
    ops = tapegrad.graph.stats(loss).ops
    assert ops.get("logsumexp") == 1
    assert "max" not in ops
    tape = tapegrad.compile(lambda z: softmax_cross_entropy(list(z), 0), [2.0, -1.0, 0.5])
    rows = np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, 1.0], [0.0, 1.0, 800.0]])
    eager = [softmax_cross_entropy([Value(v) for v in row], 0).data for row in rows]
    np.testing.assert_allclose(tape(rows), eager, rtol=1e-14)


def test_softmax_cross_entropy_bad_input():
    with pytest.raises(ValueError, match="out of range for 3 logits"):
        softmax_cross_entropy([Value(0.0)] * 3, 3)
    with pytest.raises(ValueError, match="integer"):
        softmax_cross_entropy([Value(0.0)] * 3, 1.5)
    with pytest.raises(ValueError, match="non-empty list"):
        softmax_cross_entropy([], 0)
    assert softmax_cross_entropy([Value(1.0), Value(2.0)], 1.0).data == pytest.approx(
        math.log(1 + math.exp(-1.0)), rel=1e-15
    )


def test_logsumexp_vs_torch(torch):
    vals = [3.0, -2.0, 700.0, 699.5]
    xs = [Value(v) for v in vals]
    out = logsumexp(xs)
    out.backward()
    tx = _t(torch, vals)
    ref = torch.logsumexp(tx, 0)
    ref.backward()
    assert out.data == pytest.approx(ref.item(), **TOL)
    assert [x.grad for x in xs] == pytest.approx(tx.grad.tolist(), **TOL)


def test_l2_vs_torch_and_micrograd_form(torch):
    model = MLP(2, [3, 1], seed=0)
    for p in model.parameters():
        p.data += 0.1  # biases nonzero too
    reg = l2(model, 1e-4)
    reg.backward()
    flat = _t(torch, [p.data for p in model.parameters()])
    ref = 1e-4 * (flat * flat).sum()
    ref.backward()
    assert reg.data == pytest.approx(ref.item(), **TOL)
    assert [p.grad for p in model.parameters()] == pytest.approx(flat.grad.tolist(), **TOL)
    # micrograd's reg_loss written out, bit for bit
    ps = model.parameters()
    assert l2(ps, 1e-4).data == (1e-4 * sum(p * p for p in ps)).data


def test_mean_is_micrograds_and_rejects_empty():
    vals = [Value(v) for v in (0.1, 0.2, 0.3, 0.4)]
    m = mean(vals)
    assert m.data == (0.1 + 0.2 + 0.3 + 0.4) * (1.0 / 4)
    m.backward()
    assert [v.grad for v in vals] == [0.25] * 4
    assert mean(v for v in vals).data == m.data
    with pytest.raises(ValueError, match="empty"):
        mean([])


def test_micrograd_demo_loss_matches_micrograd_bit_for_bit(micrograd):
    MValue = micrograd.engine.Value
    MMLP = micrograd.nn.MLP

    rng = random.Random(3)
    X = [[rng.uniform(-1, 2), rng.uniform(-1, 1)] for _ in range(10)]
    Y = [rng.choice([-1.0, 1.0]) for _ in range(10)]
    random.seed(1337)
    theirs = MMLP(2, [16, 16, 1])
    ours = MLP(2, [16, 16, 1], seed=1337)
    scores = [theirs([MValue(v) for v in x]) for x in X]
    losses = [(1 + -yi * si).relu() for yi, si in zip(Y, scores, strict=True)]
    ref = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in theirs.parameters())
    ours_scores = [ours(x) for x in X]
    total = mean([hinge(s, y) for s, y in zip(ours_scores, Y, strict=True)]) + l2(ours, 1e-4)
    assert total.data == ref.data


def test_accuracy_per_loss():
    assert accuracy([Value(0.5), Value(-2.0), Value(0.1)], [1, -1, -1], "hinge") == 2 / 3
    assert accuracy([0.9, -0.1], [1.0, -1.0], "mse") == 1.0
    assert accuracy([Value(3.0), Value(-0.1), Value(0.2)], [1, 1, 0], "bce") == 1 / 3
    logits = [[Value(0.1), Value(2.0)], [Value(5.0), Value(-1.0)], [1.0, 0.0, 3.0]]
    assert accuracy(logits, [1, 1, 2], "softmax_ce") == 2 / 3


def test_accuracy_bad_input():
    with pytest.raises(ValueError, match="unknown loss 'svm': expected one of hinge, mse"):
        accuracy([1.0], [1], "svm")
    with pytest.raises(ValueError, match="2 outputs but 1 targets"):
        accuracy([1.0, 2.0], [1], "hinge")
    with pytest.raises(ValueError, match="no outputs"):
        accuracy([], [], "hinge")


def test_registry():
    assert LOSSES == {
        "hinge": hinge,
        "mse": mse,
        "bce": bce_with_logits,
        "softmax_ce": softmax_cross_entropy,
    }


@pytest.mark.parametrize(
    "logits,y",
    [([30.0, 0.0], 0), ([40.0, 0.0, -3.0], 0), ([2.0, 50.0, 49.0, -700.0], 1), ([1e300, 0.0], 0)],
)
def test_softmax_cross_entropy_keeps_its_digits_when_confidently_right(logits, y):
    """A tiny loss log(1 + sum_{j != y} e^(z_j - z_y)) and its gradients (softmax_j, and
    -sum_{j != y} softmax_j for z_y) to a few ulps, where logsumexp(z) - z_y cancelled to one
    ulp of max|z| (1e-2 relative error at margin 30; 0 instead of 4.2e-18 at 40)."""
    zs = [Value(v) for v in logits]
    loss = softmax_cross_entropy(zs, y)
    loss.backward()
    terms = [math.exp(v - logits[y]) for j, v in enumerate(logits) if j != y]  # exact shifts
    want = math.log1p(math.fsum(terms))
    assert loss.data == pytest.approx(want, rel=1e-14, abs=0.0)
    others = [t / (1.0 + math.fsum(terms)) for t in terms]
    grads = [z.grad for j, z in enumerate(zs) if j != y]
    assert grads == pytest.approx(others, rel=1e-14, abs=1e-320)
    assert zs[y].grad == pytest.approx(-math.fsum(others), rel=1e-14, abs=1e-320)


def test_the_tapes_cross_entropy_is_softmax_cross_entropys_numbers_bit_for_bit():
    """fit's tape records softmax cross-entropy as one sum, logsumexp + sum(t * z), on the
    rows its `tape_targets` makes of class labels: for every class and logits of every size
    (ties, +-1000, -inf), its losses and gradients are those of softmax_cross_entropy on the
    one-hot target exactly."""
    from tapegrad.losses import TABLE, softmax_cross_entropy

    spec = TABLE["softmax_ce"]
    assert spec.tape_fn is not None
    rng = np.random.default_rng(5)
    rows = [list(rng.standard_normal(4) * 10.0 ** rng.integers(-3, 3)) for _ in range(30)]
    rows += [[1.0, 1.0, 1.0, 0.0], [1000.0, -1000.0, 0.0, 1000.0], [-math.inf, 0.0, 2.0, 1.0]]
    coded = spec.tape_targets([0, 1, 2, 3], 4)
    for logits in rows:
        for k in range(4):
            one_hot = [1.0 if j == k else 0.0 for j in range(4)]
            results = []
            for fn, t in ((softmax_cross_entropy, one_hot), (spec.tape_fn, list(coded[k]))):
                zs = [Value(z) for z in logits]
                loss = fn(zs, [Value(float(v)) for v in t])
                loss.backward()
                results.append([loss.data] + [z.grad for z in zs])
            assert np.array_equal(results[0], results[1], equal_nan=True), (logits, k)
