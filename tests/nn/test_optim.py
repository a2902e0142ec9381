"""optim: SGD and Adam step for step against torch.optim (float64, changing gradients, schedules),
schedules against their closed forms and torch's schedulers, resuming from a state dict."""

import json
import math

import numpy as np
import pytest

from tapegrad import Value
from tapegrad.nn import MLP
from tapegrad.optim import SGD, Adam, constant, cosine, linear, step_decay

START = [0.5, -1.2, 0.8, 2.0, -0.3]
COEF = [1.0, 0.5, -2.0, 1.5, 3.0]
STEPS = 20


def objective(ps):
    """A loss whose gradient changes every step; works on Values and on 0-d torch tensors."""
    loss = sum((c * p - 1.0) ** 2 for c, p in zip(COEF, ps, strict=True))
    return loss + (ps[0] * ps[1]).sin() + (ps[2] * ps[3] * ps[4]).tanh() + ps[1] * ps[4]


def run_both(torch, make_ours, make_theirs, schedule=None, steps=STEPS):
    """Yield (ours, theirs) parameter lists after every step."""
    ps = [Value(v) for v in START]
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in START]
    opt, topt = make_ours(ps), make_theirs(ts)
    for k in range(steps):
        opt.zero_grad()
        objective(ps).backward()
        opt.step()
        topt.zero_grad()
        objective(ts).backward()
        if schedule is not None:
            for group in topt.param_groups:
                group["lr"] = schedule(k)
        topt.step()
        yield [p.data for p in ps], [t.item() for t in ts]


SGD_CASES = {
    "plain": ({"lr": 0.05}, {"lr": 0.05}),
    "momentum": ({"lr": 0.05, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.9}),
    "nesterov": (
        {"lr": 0.03, "momentum": 0.8, "nesterov": True},
        {"lr": 0.03, "momentum": 0.8, "nesterov": True},
    ),
    "weight_decay": (
        {"lr": 0.04, "momentum": 0.5, "weight_decay": 0.1},
        {"lr": 0.04, "momentum": 0.5, "weight_decay": 0.1},
    ),
}


@pytest.mark.parametrize("case", SGD_CASES)
def test_sgd_matches_torch_step_for_step(case, torch):
    ours, theirs = SGD_CASES[case]
    for got, ref in run_both(
        torch, lambda ps: SGD(ps, **ours), lambda ts: torch.optim.SGD(ts, **theirs)
    ):
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)


ADAM_CASES = {
    "default": ({"lr": 0.05}, {"lr": 0.05}),
    "betas_eps": (
        {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6},
        {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6},
    ),
    "weight_decay": ({"lr": 0.02, "weight_decay": 0.3}, {"lr": 0.02, "weight_decay": 0.3}),
    "beta1_over_half": (
        {"lr": 0.02, "betas": (0.3, 0.9)},  # 1 - beta1 >= 0.5: torch's other lerp branch
        {"lr": 0.02, "betas": (0.3, 0.9)},
    ),
}


@pytest.mark.parametrize("case", ADAM_CASES)
def test_adam_matches_torch_step_for_step(case, torch):
    ours, theirs = ADAM_CASES[case]
    for got, ref in run_both(
        torch, lambda ps: Adam(ps, **ours), lambda ts: torch.optim.Adam(ts, **theirs)
    ):
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "schedule", [linear(0.1, 0.01, 15), cosine(0.08, 0.001, 12), step_decay(0.1, 5, 0.5)]
)
def test_schedules_drive_both_optimizers_like_torch(schedule, torch):
    for got, ref in run_both(
        torch,
        lambda ps: SGD(ps, lr=schedule, momentum=0.9),
        lambda ts: torch.optim.SGD(ts, lr=0.0, momentum=0.9),
        schedule,
    ):
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)
    for got, ref in run_both(
        torch, lambda ps: Adam(ps, lr=schedule), lambda ts: torch.optim.Adam(ts, lr=0.0), schedule
    ):
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_linear_is_micrograds_demo_schedule_to_the_bit():
    sched = linear(1.0, 0.1, 100)
    for k in range(100):
        assert sched(k) == 1.0 - 0.9 * k / 100
    assert sched(100) == sched(500) == 0.1


def test_cosine_vs_torch_scheduler(torch):
    sched = cosine(0.5, 0.01, 30)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30, eta_min=0.01)
    for k in range(31):
        assert sched(k) == pytest.approx(torch_sched.get_last_lr()[0], rel=1e-12)
        opt.step()
        torch_sched.step()
    assert sched(0) == 0.5 and sched(30) == sched(99) == 0.01
    assert sched(15) == pytest.approx((0.5 + 0.01) / 2, rel=1e-15)


def test_step_decay_vs_torch_scheduler(torch):
    sched = step_decay(0.2, 4, gamma=0.5)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    torch_sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    for k in range(20):
        assert sched(k) == pytest.approx(torch_sched.get_last_lr()[0], rel=1e-12)
        opt.step()
        torch_sched.step()
    assert [sched(k) for k in (0, 3, 4, 8)] == [0.2, 0.2, 0.1, 0.05]


def test_constant_schedule_and_current_lr():
    ps = [Value(1.0)]
    opt = SGD(ps, lr=constant(0.25))
    assert opt.current_lr() == 0.25
    ps[0].grad = 2.0
    opt.step()
    assert ps[0].data == 1.0 - 0.25 * 2.0
    opt = SGD(ps, lr=linear(1.0, 0.0, 4))
    seen = []
    for _ in range(5):
        seen.append(opt.current_lr())
        opt.step()
    assert seen == [1.0, 0.75, 0.5, 0.25, 0.0]


@pytest.mark.parametrize("compile", [False, True])
def test_a_schedule_is_asked_once_a_step_and_the_history_has_the_rate_used(compile):
    """fit records each step's rate and the optimizer's step uses it: the schedule is asked
    once for both, so even a schedule that answers differently each time it is asked gives a
    history that is the rates the steps took."""
    from tapegrad.train import fit

    asked: list[int] = []

    def restless(k: int) -> float:  # a different rate at every call, even for the same step
        asked.append(k)
        return 0.01 * len(asked)

    X, y = [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]], [1, 1, 0, 0]
    model = MLP(2, [3, 1], seed=0)
    opt = SGD(model.parameters(), lr=restless)
    history = fit(model, X, y, optimizer=opt, steps=4, progress=False, compile=compile)
    assert asked == [0, 1, 2, 3]
    assert history.lr == pytest.approx([0.01, 0.02, 0.03, 0.04])
    w = [p.data for p in model.parameters()]
    again = MLP(2, [3, 1], seed=0)  # the same run on a plain list of those rates
    rates = iter([0.01, 0.02, 0.03, 0.04])
    fit(again, X, y, optimizer=SGD(again.parameters(), lr=lambda k: next(rates)), steps=4,
        progress=False, compile=compile)  # fmt: skip
    assert [p.data for p in again.parameters()] == pytest.approx(w, rel=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: linear(1.0, 0.1, 0),
        lambda: linear(math.nan, 0.1, 10),
        lambda: cosine(0.1, -0.1, 10),
        lambda: step_decay(0.1, 2.5),
        lambda: constant("0.1"),
    ],
)
def test_bad_schedule_arguments(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("opt_class", [SGD, Adam])
def test_resume_from_state_dict_is_exact(opt_class):
    kwargs = {"lr": 0.05, "momentum": 0.9} if opt_class is SGD else {"lr": 0.05}

    def train(ps, opt, n):
        for _ in range(n):
            opt.zero_grad()
            objective(ps).backward()
            opt.step()

    straight = [Value(v) for v in START]
    train(straight, opt_class(straight, **kwargs), 2 * STEPS)

    first = [Value(v) for v in START]
    opt = opt_class(first, **kwargs)
    train(first, opt, STEPS)
    saved = json.loads(json.dumps(opt.state_dict()))  # through JSON, as a checkpoint would
    resumed = [Value(p.data) for p in first]
    opt2 = opt_class(resumed, **kwargs)
    opt2.load_state_dict(saved)
    assert opt2.step_count == STEPS
    train(resumed, opt2, STEPS)
    assert [p.data for p in resumed] == [p.data for p in straight]


def test_state_dict_contents():
    ps = [Value(1.0), Value(2.0)]
    opt = SGD(ps, lr=0.1, momentum=0.9)
    assert opt.state_dict() == {"type": "SGD", "step": 0, "momentum_buffer": None}
    ps[0].grad, ps[1].grad = 0.5, -1.0
    opt.step()
    assert opt.state_dict() == {"type": "SGD", "step": 1, "momentum_buffer": [0.5, -1.0]}
    adam = Adam(ps)
    assert adam.state_dict() == {
        "type": "Adam",
        "step": 0,
        "exp_avg": [0.0, 0.0],
        "exp_avg_sq": [0.0, 0.0],
    }


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"type": "SGD", "step": 3, "exp_avg": [0, 0], "exp_avg_sq": [0, 0]}, "not 'Adam'"),
        ({"type": "Adam", "step": -1, "exp_avg": [0, 0], "exp_avg_sq": [0, 0]}, "non-negative"),
        ({"type": "Adam", "step": 3, "exp_avg": [0], "exp_avg_sq": [0, 0]}, "list of 2.*got 1"),
        ({"type": "Adam", "step": 3, "exp_avg": [0, 0], "exp_avg_sq": None}, "exp_avg_sq"),
        ({"type": "Adam", "step": 3, "exp_avg": [0, math.nan], "exp_avg_sq": [0, 0]}, r"\[1\]"),
        ({"type": "Adam", "step": 3, "exp_avg": [0, 0]}, "keys"),
        ([1, 2], "mapping"),
    ],
)
def test_load_state_dict_rejects_bad_state_and_changes_nothing(bad, message):
    ps = [Value(1.0), Value(2.0)]
    opt = Adam(ps, lr=0.1)
    ps[0].grad, ps[1].grad = 0.3, -0.7
    opt.step()
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(bad)
    assert opt.state_dict() == before


def test_zero_grad_and_module_params_and_value_grads():
    model = MLP(2, [3, 1], seed=0)
    opt = SGD(model, lr=0.1)  # a Module is accepted for its parameters
    assert opt.params == model.parameters()
    out = model([1.0, -1.0])
    out.backward(create_graph=True)  # grads are Values now
    before = [p.data for p in model.parameters()]
    grads = [float(p.grad) for p in model.parameters()]
    opt.step()
    assert [p.data for p in model.parameters()] == [
        b - 0.1 * g for b, g in zip(before, grads, strict=True)
    ]
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
        lambda ps: Adam(ps, lr=0.01, weight_decay=0.01),
    ],
)
def test_update_into_out_gives_the_in_place_numbers_and_keeps_w(make):
    """`update(w, g, out=o)` writes the step's new weights into `o`, bit for bit what the
    in-place update makes of `w`, and leaves `w` and `g` as they were; the state advances as
    one step (a tape's training loop rotates weight arrays so)."""
    rng = np.random.default_rng(0)
    params = [Value(float(x)) for x in rng.normal(size=7)]
    in_place, into = make(params), make(params)
    w1 = np.array([p.data for p in params])
    w2 = w1.copy()
    for _ in range(3):
        g = rng.normal(size=7)
        kept_w, kept_g = w2.copy(), g.copy()
        out = np.full(7, np.nan)
        in_place.update(w1, g)
        into.update(w2, g, out=out)
        assert out.tobytes() == w1.tobytes()
        assert w2.tobytes() == kept_w.tobytes() and g.tobytes() == kept_g.tobytes()
        w2 = out
    assert into.step_count == in_place.step_count == 3


def test_bad_optimizer_arguments():
    p = Value(1.0)
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 1 must be a Value, got float"):
        SGD([p, 1.0], lr=0.1)
    with pytest.raises(ValueError, match="parameter 1 is the same Value as parameter 0"):
        Adam([p, p])
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="momentum"):
        SGD([p], lr=0.1, momentum=math.inf)
    opt = SGD([p], lr=lambda k: -1.0)
    with pytest.raises(ValueError, match="gave lr -1.0 at step 0"):
        opt.step()
    assert p.data == 1.0


def test_micrograd_demo_first_steps_reproduce_its_published_numbers(sklearn):
    # micrograd's demo.ipynb prints "step 0 loss 0.8958441028683222, accuracy 50.0%", then
    # step 1 loss 1.7236 (4 digits shown in the notebook's table).
    import numpy as np

    make_moons = sklearn.datasets.make_moons

    from tapegrad import losses as L

    np.random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    y = (y * 2 - 1).tolist()
    X = X.tolist()
    model = MLP(2, [16, 16, 1], seed=1337)
    opt = SGD(model.parameters(), lr=linear(1.0, 0.1, 100))
    seen = []
    for _ in range(2):
        scores = [model(x) for x in X]
        total = L.mean([L.hinge(s, t) for s, t in zip(scores, y, strict=True)]) + L.l2(model, 1e-4)
        seen.append((total.data, L.accuracy(scores, y, "hinge")))
        opt.zero_grad()
        total.backward()
        opt.step()
    assert seen[0] == (0.8958441028683222, 0.5)
    assert round(seen[1][0], 4) == 1.7236 and seen[1][1] == 0.81
