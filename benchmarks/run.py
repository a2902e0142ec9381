"""Side-by-side benchmarks: tapegrad (eager and compiled) against micrograd 0.1.0, PyTorch
float64 tensors and hand-written NumPy, all measured in this one run.

    pip install -e ".[bench]"   # micrograd 0.1.0, torch 2.13.0, scikit-learn
    python benchmarks/run.py            # the full table: about 2.5 minutes
    python benchmarks/run.py --quick    # fewer repeats, smaller sizes: about 40 s
    python benchmarks/run.py --only W1,W3   # some workloads only

Workloads (micrograd's rows are sized to finish in seconds and are scaled per node or per
sample; every anchor is measured in the same run):
  W1  one training step of micrograd's demo: MLP 2-16-16-1, 100 moons points, hinge loss
      + 1e-4 L2, SGD (forward, backward, update); tapegrad with fused neurons (the default),
      with the explicit graph (fused=False), compiled (fit, and the tape driven by hand:
      `tape.replay` and the optimizer's update per step, as the hand-written loop), the nodes one
      step builds, and each eager engine alone in fresh processes (five alternating pairs;
      by wall time and by CPU time, which a loaded machine moves less)
  W2  the deepest chain y = y * 1.0000001 + 0.1 each engine can backpropagate (up to
      1,000,000; PyTorch, which has no depth limit to find, to 100,000), and the time per
      node (build + backward) at that depth
  W3  a sum of products, build + backward: tapegrad's time per node at 200,000 products, and
      time and bytes per node of tapegrad and micrograd side by side at 20,000
  W4  one epoch of digits (MLP 64-32-10, batches of 32, softmax cross-entropy, SGD 0.1):
      tapegrad eager (a quarter of the epoch, scaled), compiled (fit, and driven by hand:
      an epoch's steps in one `tape.loop()`),
      PyTorch, hand-written NumPy; micrograd has no exp/log, so it runs MSE on one-hot
      targets, on 32 samples, scaled
  scope  the cost of tagging Values with their module path (W1 forward with and without)
  userops  W1's eager step with and without 20 ops of the user's registered (register_op)
  W5  saving and loading a checkpoint of MLP(500, [1000, 1]) (502,001 parameters; --quick:
      MLP(100, [1000, 1])), and the parameters per second of each: loading is linear in size
  scaling  benchmarks/scaling.py: recording, memory and a training step against model size,
      and a step against batch size, beside PyTorch and hand-written NumPy

The compiled rows and their anchors are timed in alternating rounds (each row's least of three
passes, a pass a mean over a block of steps; a fit row timed inside one run by its History's
`elapsed`), and the run ends with their ratios for W1 and W4 (fit vs hand-written NumPy, fit vs
PyTorch, the tape driven by hand vs hand-written NumPy: the median of the rounds' ratios, and
each round's) and its total wall and CPU time. Absolute times on a shared machine are noise;
read the ratios, which are measured together.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tapegrad import Value, load, save
from tapegrad.losses import hinge, l2
from tapegrad.nn import MLP

try:
    import micrograd.engine as mg_engine
    import micrograd.nn as mg_nn
except ImportError:  # pragma: no cover - the bench extra installs it
    mg_engine = mg_nn = None
try:
    import torch

    torch.set_num_threads(1)  # tapegrad runs on one core; on these sizes one thread is faster
except ImportError:  # pragma: no cover
    torch = None


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `fn` over `repeats` calls, after one warm-up call."""
    return timed_both(fn, repeats)[0]


def timed_both(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time (this process's) of `fn` over `repeats` calls,
    after one warm-up call. On a loaded machine the wall time also counts the time the process
    waited for a core; the CPU time does not, so their ratios tell load from code."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def block(fn: Callable[[], object], calls: int) -> Callable[[], float]:
    """`calls` calls of `fn` as one measurement: their mean wall time per call."""

    def run() -> float:
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t) / calls

    return run


def alternating(
    rows: dict[str, Callable[[], float]], rounds: int, best_of: int = 3
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Each row's measurement in turn, `rounds` times round (after one warm-up pass): each
    row's median, and every round's times. The compiled tape and its anchors are compared this
    way, every one a mean over a block of steps, so a slow spell of a shared machine lands on
    all rows of a round or on one round only, never on one row's only measurement. A round
    passes over the rows `best_of` times and keeps each row's least time, as timeit's repeat
    does: a spell only ever adds time, and the difference of two fit runs (W1, W4) otherwise
    swings with it both ways."""
    for measure in rows.values():
        measure()
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(rounds):
        best = {name: math.inf for name in rows}
        for _ in range(best_of):
            for name, measure in rows.items():
                best[name] = min(best[name], measure())
        for name, t in best.items():
            times[name].append(t)
    return {name: statistics.median(t) for name, t in times.items()}, times


def gc_paused(fn: Callable[[], None]) -> float:
    """`fn`'s wall time with the cycle collector paused, after a collection, as timeit times:
    a fit run's difference of two runs would otherwise take a full collection of the other
    runs' recordings (tens of thousands of Values) in one run or the other."""
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    finally:
        gc.enable()


TAPE_LOOP = "tapegrad compiled (tape driven by hand)"
"""The row of the tape driven by hand (its steps and the optimizer's `update`), beside fit's."""

ROUNDS: dict[str, list[float]] = {}
"""Per row ("W1 tapegrad compiled (fit)", ...), its time in each alternating round: the
closing table takes each round's ratio from these."""


def moons() -> tuple[np.ndarray, np.ndarray]:
    from tapegrad.data import moons as make

    X, y = make(100, noise=0.1, seed=1337)
    return X, (2 * y - 1).astype(float)


# ---------------------------------------------------------------- W1: micrograd's demo step


def scalar_demo_step(model, ValueType, X, y) -> Callable[[], float]:
    """micrograd's demo loss + backward + SGD step, for any micrograd-style engine (the
    schedule restarts every 100 steps, so long timing runs stay on the demo's path)."""
    params = model.parameters()
    state = {"k": 0, "loss": None}

    def step() -> float:
        inputs = [list(map(ValueType, row)) for row in X.tolist()]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(y.tolist(), scores, strict=True)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in params)
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * (state["k"] % 100) / 100
        for p in params:
            p.data -= lr * p.grad
        state["k"] += 1
        state["loss"] = total  # the demo keeps the last graph alive until the next step
        return total.data

    step.state = state
    return step


def fit_entry_seconds(run: Callable[[], object], entries: int) -> float:
    """Seconds per History entry (a step or an epoch) of a fit run, `run()` returning its
    History, timed inside it (`History.elapsed`): from the end of its first entry (which
    records the tape) to the end of the last, over the `entries` between. A difference of two
    runs' wall times, as before, swung with the host both ways."""
    history: list = []
    gc_paused(lambda: history.append(run()))
    elapsed = history[0].elapsed
    assert len(elapsed) == entries + 1, (len(elapsed), entries)
    return (elapsed[-1] - elapsed[0]) / entries


def compiled_demo_steps(X, y, steps: int) -> tuple[Callable[[], float], float]:
    """A measurement of the per-step time of micrograd's demo trained by `fit(...,
    compile=True)` (the tape, with the L2 term inside it, replayed over the batch; SGD's update
    on the weights held in an array), timed inside a run of `steps` + 1 (`fit_entry_seconds`),
    and the time to record the tape."""
    from tapegrad.optim import SGD, linear
    from tapegrad.tape import compile as record
    from tapegrad.train import fit

    def fit_run():
        model = MLP(2, [16, 16, 1], seed=1337)
        opt = SGD(model.parameters(), lr=linear(1.0, 0.1, steps + 1))
        return fit(model, X, y, "hinge", opt, l2=1e-4, steps=steps + 1, progress=False,
                   compile=True)  # fmt: skip

    model = MLP(2, [16, 16, 1], seed=1337)
    gc.collect()  # so a full collection owed by the rows before does not land in this one
    t = time.perf_counter()
    record(lambda x, t_: hinge(model(x), t_) + l2(model, 1e-4), [0.0, 0.0], 1.0)
    recording = time.perf_counter() - t
    return (lambda: fit_entry_seconds(fit_run, steps)), recording


def tape_demo_step(X, y) -> Callable[[], float]:
    """micrograd's demo step driven by hand on the compiled tape, as the hand-written NumPy
    loop is written: `tape.replay` (the objective, L2 term inside, and its gradient over the
    batch at the weights held in one array) and SGD's `update` on that array. No History, no
    divergence guard: what the tape itself costs, where `fit`'s row adds its bookkeeping."""
    from tapegrad.optim import SGD, linear
    from tapegrad.tape import compile as record

    model = MLP(2, [16, 16, 1], seed=1337)
    tape = record(lambda x, t_: hinge(model(x), t_) + l2(model, 1e-4), [0.0, 0.0], 1.0)
    opt = SGD(model.parameters(), lr=linear(1.0, 0.1, 100))
    w, batch = tape.read_parameters(), [np.asarray(X, dtype=np.float64), np.asarray(y)]

    def step() -> float:
        if opt.step_count == 100:  # the schedule restarts, as the other rows' does
            opt.step_count = 0
        objective, g = tape.replay(batch, w)
        opt.update(w, g)
        return float(np.mean(objective))

    return step


def torch_demo_step(X, y) -> Callable[[], float]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 1),
    ).double()
    Xt, yt = torch.tensor(X), torch.tensor(y)
    params = list(net.parameters())
    state = {"k": 0}

    def step() -> float:
        scores = net(Xt).squeeze(1)
        loss = torch.relu(1 - yt * scores).mean() + 1e-4 * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        lr = 1.0 - 0.9 * (state["k"] % 100) / 100
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        state["k"] += 1
        return loss.item()

    return step


def numpy_demo_step(X, y) -> Callable[[], float]:
    """The same step written by hand in NumPy: the floor a batched replay can approach."""
    rng = np.random.default_rng(0)
    W = [rng.uniform(-1, 1, (16, 2)), rng.uniform(-1, 1, (16, 16)), rng.uniform(-1, 1, (1, 16))]
    b = [np.zeros(16), np.zeros(16), np.zeros(1)]
    state = {"k": 0}
    n = len(y)

    def step() -> float:
        h1 = X @ W[0].T + b[0]
        a1 = np.maximum(h1, 0)
        h2 = a1 @ W[1].T + b[1]
        a2 = np.maximum(h2, 0)
        s = (a2 @ W[2].T + b[2])[:, 0]
        margin = 1 - y * s
        loss = np.maximum(margin, 0).mean() + 1e-4 * sum((w * w).sum() for w in W + b)
        ds = np.where(margin > 0, -y, 0.0)[:, None] / n
        gW2, gb2, da2 = ds.T @ a2, ds.sum(0), ds @ W[2]
        dh2 = da2 * (h2 > 0)
        gW1, gb1, da1 = dh2.T @ a1, dh2.sum(0), dh2 @ W[1]
        dh1 = da1 * (h1 > 0)
        gW0, gb0 = dh1.T @ X, dh1.sum(0)
        lr = 1.0 - 0.9 * (state["k"] % 100) / 100
        for p, g in zip(W + b, [gW0, gW1, gW2, gb0, gb1, gb2], strict=True):
            p -= lr * (g + 2e-4 * p)
        state["k"] += 1
        return float(loss)

    return step


def _mlp(fused: bool) -> MLP:
    """The demo's MLP, its neurons fused (the default) or not."""
    return MLP(2, [16, 16, 1], seed=1337) if fused else MLP(2, [16, 16, 1], seed=1337, fused=False)


def _has_fused() -> bool:
    import inspect

    return "fused" in inspect.signature(MLP).parameters


def _nodes(step: Callable[[], float]) -> int:
    """Nodes in the graph the step's last call kept (the loss and everything below it)."""
    from tapegrad.graph import topological_order

    return len(topological_order(step.state["loss"]))  # type: ignore[attr-defined]


def w1(quick: bool) -> tuple[dict[str, float], dict[str, int]]:
    """W1's times per engine, and the nodes one step builds (counted on the timed steps)."""
    X, y = moons()
    out: dict[str, float] = {}
    nodes: dict[str, int] = {}
    # The compiled step and its two anchors first, side by side in a fresh process: after the
    # eager rows' hundreds of thousands of Values the same fit step ran ~1.5x slower (a
    # fragmented heap), which is the benchmark's history, not the tape's cost.
    steps = 100 if quick else 300
    compiled, recording = compiled_demo_steps(X, y, steps)
    rows = {"tapegrad compiled (fit)": compiled, TAPE_LOOP: block(tape_demo_step(X, y), steps)}
    if torch is not None:
        rows["pytorch tensors"] = block(torch_demo_step(X, y), steps)
    rows["hand-written numpy"] = block(numpy_demo_step(X, y), steps)
    medians, rounds = alternating(rows, 3 if quick else 15)
    ROUNDS.update({f"W1 {name}": t for name, t in rounds.items()})
    per_step = medians.pop("tapegrad compiled (fit)")
    out.update(medians)
    step = scalar_demo_step(MLP(2, [16, 16, 1], seed=1337), Value, X, y)
    out["tapegrad eager"] = timed(step, 3 if quick else 10)
    nodes["tapegrad eager"] = _nodes(step)
    if _has_fused():
        name = "tapegrad eager, explicit graph (fused=False)"
        step = scalar_demo_step(_mlp(False), Value, X, y)
        out[name] = timed(step, 2 if quick else 5)
        nodes[name] = _nodes(step)
    del step  # its graph: freed before the next rows are timed
    out["tapegrad compiled (fit)"] = per_step
    out["recording (compile) time"] = recording
    if mg_nn is not None:
        random.seed(1337)
        step = scalar_demo_step(mg_nn.MLP(2, [16, 16, 1]), mg_engine.Value, X, y)
        out["micrograd 0.1.0"] = timed(step, 1 if quick else 2)
        nodes["micrograd 0.1.0"] = _nodes(step)
        del step
    order = ["tapegrad eager", "tapegrad eager, explicit graph (fused=False)"]
    order += ["tapegrad compiled (fit)", TAPE_LOOP, "recording (compile) time", "micrograd 0.1.0"]
    return {k: out[k] for k in order + list(out) if k in out}, nodes  # the table's row order


def w1_alone(engine: str, quick: bool) -> tuple[float, float]:
    """W1's eager step for `engine` ("tapegrad" or "micrograd") in a fresh process that imports
    nothing else: the collector then walks only the engine's own objects, not PyTorch's too.
    The median of 8 steps for tapegrad, 2 for micrograd (a step of 1.5 s; 2 and 1 with --quick),
    by wall time and by CPU time."""
    reps = (2 if quick else 8) if engine == "tapegrad" else (1 if quick else 2)
    code = (
        "import sys; sys.modules['torch'] = None; "  # keep PyTorch out of this process
        "sys.path.insert(0, sys.argv[1]); import run, random; "
        "from tapegrad.nn import MLP; "
        f"engine = {engine!r}; X, y = run.moons(); "
        "import tapegrad, micrograd.engine, micrograd.nn; "
        "random.seed(1337); "
        "model = MLP(2, [16, 16, 1], seed=1337) if engine == 'tapegrad' "
        "else micrograd.nn.MLP(2, [16, 16, 1]); "
        "V = tapegrad.Value if engine == 'tapegrad' else micrograd.engine.Value; "
        f"print(*run.timed_both(run.scalar_demo_step(model, V, X, y), {reps}))"
    )
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    wall, cpu = out.stdout.split()[-2:]
    return float(wall), float(cpu)


def w1_alone_pairs(quick: bool) -> dict[str, tuple[float, float, list[float]]]:
    """`w1_alone` for tapegrad then micrograd, in 5 pairs (1 with --quick): by wall time and by
    CPU time, the median time of each engine and every pair's ratio. A shared machine's slow
    spells last seconds, so one pair can land a spell on one engine only; alternating pairs
    and taking the median keeps that out."""
    tg, mg = [], []
    for _ in range(1 if quick else 5):
        tg.append(w1_alone("tapegrad", quick))
        mg.append(w1_alone("micrograd", quick))
    out = {}
    for k, clock in enumerate(("wall", "CPU")):
        t, m = [x[k] for x in tg], [x[k] for x in mg]
        ratios = [b / a for a, b in zip(t, m, strict=True)]
        out[clock] = (statistics.median(t), statistics.median(m), ratios)
    return out


# ---------------------------------------------------------------- W2: deepest chain


def chain(ValueType, depth: int) -> float:
    x = ValueType(0.5)
    y = x
    for _ in range(depth):
        y = y * 1.0000001 + 0.1
    y.backward()
    return x.grad


def torch_chain(depth: int) -> float:
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(depth):
        y = y * 1.0000001 + 0.1
    y.backward()
    return float(x.grad)


def w2(quick: bool) -> dict[str, tuple[int, float]]:
    # 100 to 3,000 in steps of 3x (micrograd stops there), then 10x up to a million: the
    # engines that never fail spend their time on the last depth, not on a ladder to it.
    depths = [100, 300, 1000, 3000, 10**4] + ([3 * 10**4] if quick else [10**5, 10**6])
    engines: dict[str, Callable[[int], float]] = {"tapegrad eager": lambda d: chain(Value, d)}
    if mg_engine is not None:
        engines["micrograd 0.1.0"] = lambda d: chain(mg_engine.Value, d)
    if torch is not None:
        engines["pytorch tensors (to 100,000 only)"] = torch_chain
    out = {}
    for name, run in engines.items():
        deepest, per_node = 0, math.nan
        # PyTorch's autograd walks iteratively in C++ (no depth limit to find) and its time
        # per node is flat: its million-deep chain cost 35 s of a 5-minute budget.
        for depth in depths if "pytorch" not in name else [d for d in depths if d <= 10**5]:
            try:
                t = time.perf_counter()
                run(depth)
                elapsed = time.perf_counter() - t
            except RecursionError:
                break
            deepest, per_node = depth, elapsed / (2 * depth)  # a mul and an add per link
            gc.collect()
        out[name] = (deepest, per_node)
    return out


# ---------------------------------------------------------------- W3: sum of products


def sum_of_products(ValueType, n: int):
    rnd = random.Random(0)
    xs = [ValueType(rnd.random()) for _ in range(n)]
    ws = [ValueType(rnd.random()) for _ in range(n)]
    return sum(x * w for x, w in zip(xs, ws, strict=True)), xs, ws


def _w3_row(ValueType, n: int, memory: bool = True) -> tuple[float, float]:
    """(seconds, bytes) per node of building and backpropagating a sum of n products (bytes
    measured in a second build under tracemalloc, which slows it 3-5x; nan without `memory`)."""
    nodes = 4 * n  # n x, n w, n products, n sums (micrograd's `sum` adds a 0 leaf too)
    gc.collect()
    t = time.perf_counter()
    root, xs, ws = sum_of_products(ValueType, n)
    root.backward()
    elapsed = time.perf_counter() - t
    del root, xs, ws
    gc.collect()
    if not memory:
        return elapsed / nodes, math.nan
    tracemalloc.start()
    root, xs, ws = sum_of_products(ValueType, n)
    root.backward()
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del root, xs, ws
    gc.collect()
    return elapsed / nodes, used / nodes


def w3(quick: bool) -> dict[str, tuple[float, float]]:
    """Per node: tapegrad's time at 200,000 products (50,000 with --quick), and tapegrad and
    micrograd side by side, time and bytes, at a tenth of that. micrograd's recursive sort
    needs a frame per link, and its 200,000 under tracemalloc took most of 20 minutes; bytes
    per node do not depend on the size (tapegrad: 164 at 200,000 and at 20,000)."""
    n = 50_000 if quick else 200_000
    small = n // 10
    out = {f"tapegrad eager, {n:,} products": _w3_row(Value, n, memory=False)}
    out[f"tapegrad eager, {small:,} products"] = _w3_row(Value, small)
    if mg_engine is not None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 3 * small))
        try:
            row = _w3_row(mg_engine.Value, small)
        finally:
            sys.setrecursionlimit(limit)
        out[f"micrograd 0.1.0, {small:,} products (recursion limit raised)"] = row
    return out


# ---------------------------------------------------------------- W4: digits epoch


def digits_split():
    from tapegrad.data import digits, train_test_split

    X, y = digits()
    return train_test_split(X, y, test_fraction=0.2, seed=0)


def shuffled_batches(rs: np.random.RandomState, n: int, size: int = 32) -> Iterator[np.ndarray]:
    """One epoch's batches of row indices: a fresh shuffle cut into `size`s, as fit cuts it."""
    order = rs.permutation(n)
    return (order[i : i + size] for i in range(0, n, size))


def numpy_digits_epoch(Xtr: np.ndarray, ytr: np.ndarray) -> Callable[[], float]:
    """W4's epoch written by hand in NumPy, as fit(compile=True) runs it: each epoch a fresh
    shuffle, batches of 32, MLP 64-32-10 (ReLU) from tapegrad's initial weights, softmax
    cross-entropy on one-hot targets (made once, as fit does), the batch's mean loss read
    out, and SGD's update w -= 0.1 * g. The floor a compiled epoch can approach."""
    model = MLP(64, [32, 10], seed=0)
    W = [np.array([[w.data for w in n.w] for n in layer.neurons]) for layer in model.layers]
    b = [np.array([n.b.data for n in layer.neurons]) for layer in model.layers]
    X, T = np.asarray(Xtr, dtype=np.float64), np.eye(10)[np.asarray(ytr, dtype=np.intp)]
    rs = np.random.RandomState(0)
    n = len(T)

    def epoch() -> float:
        loss = 0.0
        for rows in shuffled_batches(rs, n):
            x, t = X[rows], T[rows]
            h = x @ W[0].T + b[0]
            a = np.maximum(h, 0.0)
            z = a @ W[1].T + b[1]
            top = z.max(axis=1, keepdims=True)
            e = np.exp(z - top)
            total = e.sum(axis=1, keepdims=True)
            loss = float(np.mean(np.log(total[:, 0]) + top[:, 0] - (t * z).sum(axis=1)))
            dz = (e / total - t) / len(rows)
            dh = (dz @ W[1]) * (h > 0)
            for p, g in zip(W + b, [dh.T @ x, dz.T @ a, dh.sum(0), dz.sum(0)], strict=True):
                p -= 0.1 * g
        return loss

    return epoch


def tape_digits_epoch(Xtr: np.ndarray, ytr: np.ndarray) -> Callable[[], float]:
    """W4's epoch driven by hand on the compiled tape, as the hand-written NumPy epoch is
    written: a fresh shuffle, and per batch of 32 a step of the tape's `loop()` and SGD's
    `update` on the weights it reads. The tape is the one fit records (the loss table's
    `tape_fn` on its `tape_targets`), and its batches are gathered as fit gathers them
    (`take`), so this row and fit's differ by fit's bookkeeping."""
    from tapegrad.losses import TABLE
    from tapegrad.optim import SGD
    from tapegrad.tape import compile as record

    spec = TABLE["softmax_ce"]
    model = MLP(64, [32, 10], seed=0)
    tape = record(lambda x, t: spec.tape_fn(model(x), t), [0.0] * 64, spec.example_target(10))
    opt = SGD(model.parameters(), lr=0.1)
    w = tape.read_parameters()
    X, T = np.asarray(Xtr, dtype=np.float64), spec.tape_targets(ytr, 10)
    rs = np.random.RandomState(0)
    n = len(T)

    def epoch() -> float:
        loss = 0.0
        with tape.loop() as step:
            weights = step.weights  # the array the tape reads: updated in place, no copies
            weights[:] = w
            for rows in shuffled_batches(rs, n):
                objective, g = step([X.take(rows, axis=0), T.take(rows, axis=0)], weights)
                opt.update(weights, g)
                loss = float(np.add.reduce(objective)) / len(objective)  # as fit reads it
            w[:] = weights
        return loss

    return epoch


def micrograd_digits_epoch(batches: list, samples: int) -> float:
    """micrograd's W4 epoch (MSE on one-hot targets: it has no exp/log), timed on its first
    `samples` samples, each batch's update included, and scaled to the epoch by sample."""
    random.seed(0)
    mg_model = mg_nn.MLP(64, [32, 10])
    params = mg_model.parameters()
    n = sum(len(yb) for _, yb in batches)
    done = 0
    t = time.perf_counter()
    for Xb, yb in batches:
        Xb, yb = Xb[: samples - done], yb[: samples - done]
        loss = 0
        for x, t_ in zip(Xb, yb, strict=True):
            out_ = mg_model([mg_engine.Value(float(v)) for v in x])
            loss = loss + sum((o - (1.0 if k == t_ else 0.0)) ** 2 for k, o in enumerate(out_))
        loss = loss * (1.0 / len(yb))
        mg_model.zero_grad()
        loss.backward()
        for p in params:
            p.data -= 0.1 * p.grad
        done += len(yb)
        if done >= samples:
            break
    return (time.perf_counter() - t) * n / done


def compiled_digits_epoch(Xtr, ytr, epochs: int) -> Callable[[], float]:
    """A measurement of one epoch of `fit(..., compile=True)`, timed inside a run of `epochs`
    + 1 (`fit_entry_seconds`)."""
    from tapegrad.optim import SGD
    from tapegrad.train import fit

    def fit_run():
        model = MLP(64, [32, 10], seed=0)
        opt = SGD(model.parameters(), lr=0.1)
        return fit(model, Xtr, ytr, "softmax_ce", opt, epochs=epochs + 1, batch_size=32,
                   seed=0, progress=False, compile=True)  # fmt: skip

    return lambda: fit_entry_seconds(fit_run, epochs)


def w4_anchors(quick: bool) -> dict[str, float]:
    """W4's compiled epoch and its two anchors in alternating rounds (`alternating`); main()
    runs this before any eager workload, for the reason `w1` gives."""
    Xtr, _, ytr, _ = digits_split()
    batches = [(Xtr[i : i + 32], ytr[i : i + 32]) for i in range(0, len(ytr), 32)]
    epochs = 3 if quick else 12
    rows = {"tapegrad compiled (fit)": compiled_digits_epoch(Xtr, ytr, epochs)}
    if torch is not None:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
        ).double()
        topt = torch.optim.SGD(net.parameters(), lr=0.1)
        tb = [(torch.tensor(Xb), torch.tensor(yb, dtype=torch.long)) for Xb, yb in batches]

        def torch_epoch() -> None:
            for Xb, yb in tb:
                loss = torch.nn.functional.cross_entropy(net(Xb), yb)
                topt.zero_grad()
                loss.backward()
                topt.step()

        rows["pytorch tensors"] = block(torch_epoch, epochs)
    rows[TAPE_LOOP] = block(tape_digits_epoch(Xtr, ytr), epochs)
    rows["hand-written numpy"] = block(numpy_digits_epoch(Xtr, ytr), epochs)
    medians, rounds = alternating(rows, 3 if quick else 15)
    ROUNDS.update({f"W4 {name}": t for name, t in rounds.items()})
    return medians


def w4(quick: bool, anchors: dict[str, float]) -> dict[str, float]:
    """W4's rows: eager and micrograd timed here, the compiled epoch and anchors given."""
    from tapegrad.losses import mean, softmax_cross_entropy
    from tapegrad.optim import SGD

    Xtr, _, ytr, _ = digits_split()
    batches = [(Xtr[i : i + 32], ytr[i : i + 32]) for i in range(0, len(ytr), 32)]
    out: dict[str, float] = {}

    model = MLP(64, [32, 10], seed=0)
    opt = SGD(model.parameters(), lr=0.1)
    sample = batches[: 3 if quick else 12]  # a quarter of the epoch, scaled: batches cost alike
    t = time.perf_counter()
    for Xb, yb in sample:
        loss = mean(
            [softmax_cross_entropy(model(list(x)), int(t)) for x, t in zip(Xb, yb, strict=True)]
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    out["tapegrad eager"] = (time.perf_counter() - t) * len(batches) / len(sample)
    out["tapegrad compiled (fit)"] = anchors["tapegrad compiled (fit)"]
    if mg_nn is not None:
        out["micrograd 0.1.0 (MSE)"] = micrograd_digits_epoch(batches, 8 if quick else 32)
    return {**out, **anchors}


# ---------------------------------------------------------------- scope tagging cost


def scope_cost(quick: bool) -> tuple[float, float]:
    """W1's forward pass through tapegrad.nn.MLP (scoped) and through the same neurons called
    directly (no scopes): the per-node price of tagging."""
    X, _ = moons()
    model = MLP(2, [16, 16, 1], seed=1337)
    rows = X.tolist()

    def scoped() -> None:
        for r in rows:
            model(list(map(Value, r)))

    def plain() -> None:
        for r in rows:
            x = list(map(Value, r))
            for layer in model.layers:
                x = [n(x) for n in layer.neurons]

    reps = 3 if quick else 10
    return timed(scoped, reps), timed(plain, reps)


# ---------------------------------------------------------------- ops registered by users


def userops_cost(quick: bool, n_ops: int = 20) -> tuple[float, float]:
    """W1's eager step with no op of the user's registered, and with `n_ops` registered (each
    with a Value method and a valuemath function), alternated: registering must not slow the
    built-in ops."""
    from tapegrad import register_op, unregister_op

    X, y = moons()
    model = MLP(2, [16, 16, 1], seed=1337)
    step = scalar_demo_step(model, Value, X, y)
    names = [f"bench_op_{i}" for i in range(n_ops)]
    reps = 2 if quick else 5
    without, with_ops = [], []
    for _ in range(2 if quick else 3):
        without.append(timed(step, reps))
        for name in names:
            register_op(name, lambda m, x: x * x, [lambda m, g, out, x: g * (2.0 * x)])
        with_ops.append(timed(step, reps))
        for name in names:
            unregister_op(name)
    return statistics.median(without), statistics.median(with_ops)


# ---------------------------------------------------------------- W5 checkpoints


def w5(quick: bool) -> tuple[int, float, float]:
    """(parameters, save time, load time) of one checkpoint round trip."""
    import tempfile

    model = MLP(100 if quick else 500, [1000, 1], seed=0)
    n = len(model.parameters())
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.json"
        t0 = time.perf_counter()
        save(model, path)
        t1 = time.perf_counter()
        del model
        load(path)
        t2 = time.perf_counter()
    return n, t1 - t0, t2 - t1


# ---------------------------------------------------------------- report


def fmt_time(s: float) -> str:
    if math.isnan(s):
        return "n/a"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


WORKLOADS = ("W1", "W2", "W3", "W4", "scope", "userops", "W5", "scaling")


def _workloads(text: str) -> tuple[str, ...]:
    """`--only`'s value: a comma-separated list of workload names, any case."""
    by_key = {w.lower(): w for w in WORKLOADS}
    chosen = [by_key.get(part.strip().lower()) for part in text.split(",") if part.strip()]
    if not chosen or None in chosen:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give workloads from {', '.join(WORKLOADS)}, separated by commas"
        )
    return tuple(chosen)


def print_costs(run: tuple[str, ...], quick: bool) -> None:
    """The rows that price one feature of the eager engine: scope tagging, registered ops."""
    if "scope" in run:
        scoped, plain = scope_cost(quick)
        print(
            f"| scope tagging | W1 forward: MLP (scoped) vs its neurons called unscoped | "
            f"{fmt_time(scoped)} vs "
            f"{fmt_time(plain)} | {100 * (scoped / plain - 1):+.1f} % | | |"
        )
    if "userops" in run:
        without, with_ops = userops_cost(quick)
        change = 100 * (with_ops / without - 1)
        print(
            f"| ops of your own | W1 eager step: none registered vs 20 registered | "
            f"{fmt_time(without)} vs {fmt_time(with_ops)} | {change:+.1f} % | | |"
        )


def cpu_model() -> str:
    """The processor's name as lscpu gives it (/proc/cpuinfo), and the cores Python sees."""
    try:
        with open("/proc/cpuinfo") as fh:
            name = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, IndexError):
        name = platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} cores"


def ratio(t: float, ref: float | None) -> str:
    """`t` against an anchor's time `ref`, in the tables' words ("" without the anchor)."""
    if ref is None or math.isnan(ref) or math.isnan(t):
        return ""
    return f"{ref / t:.3g}x faster" if t < ref else f"{t / ref:.3g}x slower"


ANCHORS = ("micrograd", "pytorch", "hand-written numpy")


def ratios(times: dict[str, float], t: float) -> str:
    """The table's three ratio columns for a time `t` of a row of `times`."""
    refs = [next((v for k, v in times.items() if k.startswith(a)), None) for a in ANCHORS]
    return " | ".join(ratio(t, ref) for ref in refs)


def print_w1(quick: bool) -> dict[str, float]:
    """W1's rows: times, nodes per step, and each engine alone; the times, for the summary."""
    r1, nodes = w1(quick)
    for name, t in r1.items():
        cols = " | | " if "recording" in name else ratios(r1, t)
        print(f"| W1 demo step | {name} | {fmt_time(t)} | {cols} |")
    for name, n in nodes.items():
        print(f"| W1 nodes per step | {name} | {n:,} nodes | | | |")
    if mg_nn is not None:
        for clock, (tg, mg, pairs) in w1_alone_pairs(quick).items():
            print(
                f"| W1 demo step, each engine alone in a fresh process ({clock} time) | "
                f"tapegrad eager {fmt_time(tg)}, micrograd {fmt_time(mg)} (medians of "
                f"{len(pairs)} pairs) | | **{statistics.median(pairs):.3g}x faster** (pairs: "
                f"{', '.join(f'{r:.3g}x' for r in pairs)}) | | |"
            )
    return r1


def print_closing(r1: dict[str, float], r4: dict[str, float]) -> None:
    """The compiled tape against its two anchors, W1 and W4, read off this run: the median of
    the ratios of the alternating rounds, each round's ratio after it."""
    rows = [w for w, r in (("W1", r1), ("W4", r4)) if "tapegrad compiled (fit)" in r]
    if not rows:
        return
    print()
    head = "compiled tape (median of the rounds' ratios; each round's)"
    print(f"| {head} | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for label, row, anchor in (
        ("compiled (fit) vs hand-written NumPy", "tapegrad compiled (fit)", "hand-written numpy"),
        ("compiled (fit) vs PyTorch tensors", "tapegrad compiled (fit)", "pytorch tensors"),
        ("tape driven by hand vs hand-written NumPy", TAPE_LOOP, "hand-written numpy"),
    ):
        cells = []
        for w in rows:
            ours, theirs = ROUNDS.get(f"{w} {row}"), ROUNDS.get(f"{w} {anchor}")
            if not ours or not theirs:
                cells.append("")
                continue
            each = [a / b for a, b in zip(ours, theirs, strict=True)]
            mid = statistics.median(each)
            cells.append(f"{ratio(mid, 1.0)} ({', '.join(f'{r:.2f}' for r in each)})")
        print(f"| {label} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    parser.add_argument(
        "--only",
        type=_workloads,
        default=WORKLOADS,
        metavar="W1,W3,...",
        help=f"run only these workloads (of {','.join(WORKLOADS)})",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    run = args.only
    print(f"# tapegrad benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"# {cpu_model()}; Python {sys.version.split()[0]}, NumPy {np.__version__}"
        + (f", PyTorch {torch.__version__}" if torch else "")
        + (" (--quick)" if args.quick else "")
    )
    print()
    print("| workload | engine | result | vs micrograd | vs PyTorch | vs hand-written NumPy |")
    print("|---|---|---|---|---|---|")
    a4 = w4_anchors(args.quick) if "W4" in run else {}  # before the eager workloads (see w1)
    r1 = print_w1(args.quick) if "W1" in run else {}
    for name, (depth, per) in (w2(args.quick) if "W2" in run else {}).items():
        print(f"| W2 deepest chain | {name} | {depth:,} deep, {fmt_time(per)}/node | | | |")
    for name, (per, mem) in (w3(args.quick) if "W3" in run else {}).items():
        size = "" if math.isnan(mem) else f", {mem:.0f} B/node"
        print(f"| W3 sum of products | {name} | {fmt_time(per)}/node{size} | | | |")
    r4 = w4(args.quick, a4) if "W4" in run else {}
    for name, t in r4.items():
        print(f"| W4 digits epoch | {name} | {fmt_time(t)} | {ratios(r4, t)} |")
    print_costs(run, args.quick)
    if "W5" in run:
        n, save_t, load_t = w5(args.quick)
        print(
            f"| W5 checkpoint, {n:,} parameters | save, load | {fmt_time(save_t)}, "
            f"{fmt_time(load_t)} ({n / load_t:,.0f} parameters/s loaded) | | | |"
        )
    print_closing(r1, r4)
    if "scaling" in run:
        import scaling  # beside this file

        print("\n## scaling (benchmarks/scaling.py)\n")
        scaling.run(args.quick)
    cpu = sum(os.times()[:4])  # user and system time, this process and its children
    print(f"\n# total wall time: {time.perf_counter() - start:.0f} s (CPU time {cpu:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
