"""Side-by-side benchmarks: tapegrad (eager and compiled) against micrograd 0.1.0, PyTorch
float64 tensors and hand-written NumPy, all measured in this one run.

    pip install -e ".[bench]"   # micrograd 0.1.0, torch 2.13.0, scikit-learn
    python benchmarks/run.py            # the full table (a few minutes)
    python benchmarks/run.py --quick    # fewer repeats, smaller W2/W3
    python benchmarks/run.py --only W1,W3   # some workloads only

Workloads:
  W1  one training step of micrograd's demo: MLP 2-16-16-1, 100 moons points, hinge loss
      + 1e-4 L2, SGD (forward, backward, update); tapegrad with fused neurons (the default)
      and with the explicit graph (fused=False), and the nodes one step builds
  W2  the deepest chain y = y * 1.0000001 + 0.1 each engine can backpropagate, and the time
      per node (build + backward) at that depth
  W3  a sum of 200,000 products: build + backward time per node and bytes per node
  W4  one epoch of digits (MLP 64-32-10, batches of 32, softmax cross-entropy; micrograd has
      no exp/log, so it runs MSE on one-hot targets, timed on a few batches and scaled)
  scope  the cost of tagging Values with their module path (W1 forward with and without)
  userops  W1's eager step with and without 20 ops of the user's registered (register_op)
  W5  saving and loading a checkpoint of MLP(1000, [1000, 1]) (1,002,001 parameters; --quick:
      MLP(100, [1000, 1])), and the parameters per second of each: loading is linear in size

Absolute times on a shared machine are noise; read the ratios, which are measured together.
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
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
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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


def compiled_demo_steps(X, y, steps: int) -> tuple[float, float]:
    """Per-step time of micrograd's demo trained by `fit(..., compile=True)` (the tape, with the
    L2 term inside it, replayed over the batch; SGD's update on the weights held in an array),
    and the time to record the tape. The step time is the difference of a long and a short
    run, so it leaves out what both pay once (recording, setup)."""
    from tapegrad.optim import SGD, linear
    from tapegrad.tape import compile as record
    from tapegrad.train import fit

    def run(n: int) -> float:
        model = MLP(2, [16, 16, 1], seed=1337)
        opt = SGD(model.parameters(), lr=linear(1.0, 0.1, n))
        t = time.perf_counter()
        fit(
            model, X, y, loss="hinge", l2=1e-4, steps=n, optimizer=opt, progress=False, compile=True
        )
        return time.perf_counter() - t

    model = MLP(2, [16, 16, 1], seed=1337)
    gc.collect()  # so a full collection owed by the rows before does not land in this one
    t = time.perf_counter()
    record(lambda x, t_: hinge(model(x), t_) + l2(model, 1e-4), [0.0, 0.0], 1.0)
    recording = time.perf_counter() - t
    return (run(steps) - run(10)) / (steps - 10), recording


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


def w1_nodes() -> dict[str, int]:
    """Nodes in one W1 step's graph (the loss and everything below it), per engine."""
    from tapegrad.graph import topological_order

    X, y = moons()
    out = {}
    variants = {"tapegrad eager": True}
    if _has_fused():
        variants["tapegrad eager, explicit graph (fused=False)"] = False
    for name, fused in variants.items():
        step = scalar_demo_step(_mlp(fused), Value, X, y)
        step()
        out[name] = len(topological_order(step.state["loss"]))
    if mg_nn is not None:
        random.seed(1337)
        step = scalar_demo_step(mg_nn.MLP(2, [16, 16, 1]), mg_engine.Value, X, y)
        step()
        out["micrograd 0.1.0"] = len(topological_order(step.state["loss"]))
    return out


def w1(quick: bool) -> dict[str, float]:
    X, y = moons()
    out: dict[str, float] = {}
    model = MLP(2, [16, 16, 1], seed=1337)
    out["tapegrad eager"] = timed(scalar_demo_step(model, Value, X, y), 3 if quick else 10)
    if _has_fused():  # one expression: the step (and the graph it keeps) is freed right after
        out["tapegrad eager, explicit graph (fused=False)"] = timed(
            scalar_demo_step(_mlp(False), Value, X, y), 3 if quick else 10
        )
    per_step, recording = compiled_demo_steps(X, y, 100 if quick else 1000)
    out["tapegrad compiled (fit)"] = per_step
    out["recording (compile) time"] = recording
    if mg_nn is not None:
        random.seed(1337)
        model = mg_nn.MLP(2, [16, 16, 1])
        out["micrograd 0.1.0"] = timed(
            scalar_demo_step(model, mg_engine.Value, X, y), 2 if quick else 5
        )
    if torch is not None:
        out["pytorch tensors"] = timed(torch_demo_step(X, y), 100 if quick else 500)
    out["hand-written numpy"] = timed(numpy_demo_step(X, y), 200 if quick else 1000)
    return out


def w1_alone(engine: str, quick: bool) -> float:
    """W1's eager step for `engine` ("tapegrad" or "micrograd") in a fresh process that imports
    nothing else: the collector then walks only the engine's own objects, not PyTorch's too."""
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
        f"print(run.timed(run.scalar_demo_step(model, V, X, y), {2 if quick else 8}))"
    )
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return float(out.stdout.split()[-1])


def w1_alone_pairs(quick: bool) -> tuple[float, float, list[float]]:
    """`w1_alone` for tapegrad then micrograd, in 5 pairs (1 with --quick): the median time of
    each and every pair's ratio. A shared machine's slow spells last seconds, so one pair can
    land a spell on one engine only; alternating pairs and taking the median keeps that out."""
    tg, mg = [], []
    for _ in range(1 if quick else 5):
        tg.append(w1_alone("tapegrad", quick))
        mg.append(w1_alone("micrograd", quick))
    ratios = [m / t for t, m in zip(tg, mg, strict=True)]
    return statistics.median(tg), statistics.median(mg), ratios


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
    depths = [d * 10**k for k in range(2, 5 if quick else 6) for d in (1, 3)] + [10**6] * (
        not quick
    )
    engines: dict[str, Callable[[int], float]] = {"tapegrad eager": lambda d: chain(Value, d)}
    if mg_engine is not None:
        engines["micrograd 0.1.0"] = lambda d: chain(mg_engine.Value, d)
    if torch is not None:
        engines["pytorch tensors"] = torch_chain
    out = {}
    for name, run in engines.items():
        deepest, per_node = 0, math.nan
        for depth in depths:
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


def w3(quick: bool) -> dict[str, tuple[float, float]]:
    n = 50_000 if quick else 200_000
    engines = {"tapegrad eager": Value}
    if mg_engine is not None:
        engines["micrograd 0.1.0 (recursion limit raised)"] = mg_engine.Value
    out = {}
    limit = sys.getrecursionlimit()
    for name, ValueType in engines.items():
        # micrograd's recursive topological sort needs one Python frame per link of the sum.
        sys.setrecursionlimit(max(limit, 3 * n) if "micrograd" in name else limit)
        nodes = 4 * n  # n x, n w, n products, n sums (micrograd's `sum` adds a 0 leaf too)
        gc.collect()
        t = time.perf_counter()
        root, xs, ws = sum_of_products(ValueType, n)
        root.backward()
        elapsed = time.perf_counter() - t
        del root, xs, ws
        gc.collect()
        tracemalloc.start()
        root, xs, ws = sum_of_products(ValueType, n)
        root.backward()
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del root, xs, ws
        gc.collect()
        out[name] = (elapsed / nodes, used / nodes)
    sys.setrecursionlimit(limit)
    return out


# ---------------------------------------------------------------- W4: digits epoch


def digits_split():
    from tapegrad.data import digits, train_test_split

    X, y = digits()
    return train_test_split(X, y, test_fraction=0.2, seed=0)


def w4(quick: bool) -> dict[str, float]:
    from tapegrad.losses import mean, softmax_cross_entropy
    from tapegrad.optim import SGD

    Xtr, _, ytr, _ = digits_split()
    batches = [(Xtr[i : i + 32], ytr[i : i + 32]) for i in range(0, len(ytr), 32)]
    out: dict[str, float] = {}

    model = MLP(64, [32, 10], seed=0)
    opt = SGD(model.parameters(), lr=0.1)
    sample = batches[:3] if quick else batches

    def eager_epoch() -> None:
        for Xb, yb in sample:
            loss = mean(
                [softmax_cross_entropy(model(list(x)), int(t)) for x, t in zip(Xb, yb, strict=True)]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()

    t = time.perf_counter()
    eager_epoch()
    out["tapegrad eager"] = (time.perf_counter() - t) * len(batches) / len(sample)

    from tapegrad.train import fit

    def fit_seconds(epochs: int) -> float:
        model = MLP(64, [32, 10], seed=0)
        opt = SGD(model.parameters(), lr=0.1)
        t = time.perf_counter()
        fit(
            model,
            Xtr,
            ytr,
            loss="softmax_ce",
            epochs=epochs,
            batch_size=32,
            optimizer=opt,
            seed=0,
            progress=False,
            compile=True,
        )
        return time.perf_counter() - t

    # The difference of two runs leaves out what both pay once (recording the tape).
    short, long = (2, 6) if quick else (2, 22)
    out["tapegrad compiled (fit)"] = (fit_seconds(long) - fit_seconds(short)) / (long - short)

    if mg_nn is not None:
        random.seed(0)
        mg_model = mg_nn.MLP(64, [32, 10])
        params = mg_model.parameters()
        few = batches[:2]
        t = time.perf_counter()
        for Xb, yb in few:
            loss = 0
            for x, t_ in zip(Xb, yb, strict=True):
                out_ = mg_model([mg_engine.Value(float(v)) for v in x])
                loss = loss + sum((o - (1.0 if k == t_ else 0.0)) ** 2 for k, o in enumerate(out_))
            loss = loss * (1.0 / len(yb))
            mg_model.zero_grad()
            loss.backward()
            for p in params:
                p.data -= 0.1 * p.grad
        out["micrograd 0.1.0 (MSE)"] = (time.perf_counter() - t) * len(batches) / len(few)

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

        out["pytorch tensors"] = timed(torch_epoch, 5 if quick else 20)
    return out


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

    model = MLP(100 if quick else 1000, [1000, 1], seed=0)
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


WORKLOADS = ("W1", "W2", "W3", "W4", "scope", "userops", "W5")


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
            f"{fmt_time(plain)} | {100 * (scoped / plain - 1):+.1f} % | |"
        )
    if "userops" in run:
        without, with_ops = userops_cost(quick)
        change = 100 * (with_ops / without - 1)
        print(
            f"| ops of your own | W1 eager step: none registered vs 20 registered | "
            f"{fmt_time(without)} vs {fmt_time(with_ops)} | {change:+.1f} % | |"
        )


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
    run = args.only
    print(f"# tapegrad benchmarks, {time.strftime('%Y-%m-%d')}")
    print(
        f"# {platform.machine()} {platform.processor() or ''}, Python {sys.version.split()[0]}, "
        f"NumPy {np.__version__}" + (f", PyTorch {torch.__version__}" if torch else "")
    )
    print()
    print("| workload | engine | result | vs micrograd | vs PyTorch |")
    print("|---|---|---|---|---|")

    def ratios(times: dict[str, float], t: float) -> str:
        cols = []
        for anchor in ("micrograd", "pytorch"):
            ref = next((v for k, v in times.items() if k.startswith(anchor)), None)
            cols.append(
                ""
                if ref is None
                else f"{ref / t:.3g}x faster"
                if t < ref
                else f"{t / ref:.3g}x slower"
            )
        return " | ".join(cols)

    r1 = w1(args.quick) if "W1" in run else {}
    for name, t in r1.items():
        cols = " | " if "recording" in name else ratios(r1, t)
        print(f"| W1 demo step | {name} | {fmt_time(t)} | {cols} |")
    if "W1" in run:
        for name, n in w1_nodes().items():
            print(f"| W1 nodes per step | {name} | {n:,} nodes | | |")
    if mg_nn is not None and "W1" in run:
        tg, mg, ratio = w1_alone_pairs(args.quick)
        print(
            f"| W1 demo step, each engine alone in a fresh process | tapegrad eager "
            f"{fmt_time(tg)}, micrograd {fmt_time(mg)} (medians of {len(ratio)} pairs) | "
            f"| {statistics.median(ratio):.3g}x faster (pairs: "
            f"{', '.join(f'{r:.3g}x' for r in ratio)}) | |"
        )
    for name, (depth, per) in (w2(args.quick) if "W2" in run else {}).items():
        print(f"| W2 deepest chain | {name} | {depth:,} deep, {fmt_time(per)}/node | | |")
    for name, (per, mem) in (w3(args.quick) if "W3" in run else {}).items():
        print(f"| W3 sum of products | {name} | {fmt_time(per)}/node, {mem:.0f} B/node | | |")
    r4 = w4(args.quick) if "W4" in run else {}
    for name, t in r4.items():
        print(f"| W4 digits epoch | {name} | {fmt_time(t)} | {ratios(r4, t)} |")
    print_costs(run, args.quick)
    if "W5" in run:
        n, save_t, load_t = w5(args.quick)
        print(
            f"| W5 checkpoint, {n:,} parameters | save, load | {fmt_time(save_t)}, "
            f"{fmt_time(load_t)} ({n / load_t:,.0f} parameters/s loaded) | | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
