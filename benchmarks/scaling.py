"""How the compiled tape scales: recording time, memory and replay time against model size, and
replay time against batch size, beside PyTorch float64 tensors and hand-written NumPy, all
measured in this one run.

    python benchmarks/scaling.py            # MLPs from 2-16-16-1 to 784-256-256-10 (~1 minute)
    python benchmarks/scaling.py --quick    # up to 64-128-128-10, fewer repeats (~15 s)
    python benchmarks/run.py --only scaling # the same table from the main benchmark

Every model is an MLP (ReLU hidden layers, linear output) trained on mean squared error
against a target vector (the same loss for every width; torch's mse_loss), by plain SGD:
- recording: `tapegrad.compile` of the per-sample loss, i.e. one forward pass building the
  Value graph of one sample plus the compiler's passes, in CPU time (the faster of two); its
  time per graph node shows whether it grows linearly; "forward" is the eager forward pass
  alone (building the Values), the rest is the tape's graph walk and passes;
- memory: tracemalloc's peak while recording (a second recording: tracemalloc slows it), and
  what the tape keeps; the model's own weights are made before and not counted;
- a training step: the tape's `value_and_grad(X, T, params=w)` with the weights in one array,
  then `w -= lr * g`; PyTorch: forward, mse_loss, backward, update; NumPy: the matrix products
  written by hand. Batch 32 across sizes; the batch sweep uses 64-128-128-10.
NumPy's BLAS and PyTorch each run on one thread (threadpoolctl, torch.set_num_threads), as
tapegrad's Python does. Timings are medians of interleaved rounds; read the ratios.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np

import tapegrad
from tapegrad.graph import reachable
from tapegrad.losses import mse
from tapegrad.nn import MLP

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - the bench extra installs it
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - scikit-learn (the bench extra) brings it
    threadpool_limits = None

MODELS = [
    (2, 16, 16, 1),
    (16, 64, 64, 4),
    (64, 128, 128, 10),
    (256, 256, 256, 10),
    (784, 256, 256, 10),
]
QUICK_MODELS = 3  # the first three with --quick
BATCHES = [1, 32, 256, 2048]
SWEEP_MODEL = (64, 128, 128, 10)
LR = 0.01


def name(sizes: tuple[int, ...]) -> str:
    return "-".join(map(str, sizes))


def fmt_time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_bytes(b: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} B"


def interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each fn, over `rounds` rounds that run every fn in turn (so a
    slow spell of the shared machine lands on all of them); each round takes ~30 ms per fn."""
    calls = {}
    for key, fn in fns.items():
        fn()  # warm up (buffers, caches)
        t = time.perf_counter()
        fn()
        calls[key] = max(1, int(0.03 / max(time.perf_counter() - t, 1e-7)))
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            t = time.perf_counter()
            for _ in range(calls[key]):
                fn()
            times[key].append((time.perf_counter() - t) / calls[key])
    return {k: statistics.median(v) for k, v in times.items()}


# ---------------------------------------------------------------- the three training steps


def per_sample_loss(model: MLP) -> Callable:
    """The loss of one sample, the function the tape records."""

    def loss(x, t):
        out = model(x)
        return mse(out if isinstance(out, list) else [out], t)

    return loss


def record(model: MLP, sizes: tuple[int, ...]) -> tapegrad.Tape:
    return tapegrad.compile(per_sample_loss(model), [0.0] * sizes[0], [0.0] * sizes[-1])


def tape_step(tape: tapegrad.Tape, X: np.ndarray, T: np.ndarray) -> Callable[[], None]:
    """One SGD step on the tape, the weights held in one array between steps."""
    w = tape.read_parameters()

    def step() -> None:
        _, g = tape.value_and_grad(X, T, params=w)
        w[:] -= LR * g

    return step


def make_model(sizes: tuple[int, ...]) -> MLP:
    """The MLP, its weights scaled by 1/sqrt(fan-in) (as PyTorch's init) so that 784 inputs
    do not blow the activations up over the timed steps."""
    model = MLP(sizes[0], list(sizes[1:]), seed=0)
    for layer in model.layers:
        scale = 1.0 / layer.nin**0.5
        for neuron in layer.neurons:
            for w in neuron.w:
                w.data *= scale
    return model


def weights(model: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) per layer, copied from the tapegrad model: all three start from the same point."""
    return [
        (
            np.array([[w.data for w in n.w] for n in layer.neurons]),
            np.array([n.b.data for n in layer.neurons]),
        )
        for layer in model.layers
    ]


def numpy_step(model: MLP, X: np.ndarray, T: np.ndarray) -> Callable[[], None]:
    """The same step written by hand in NumPy: a matrix product per layer each way."""
    layers = weights(model)
    last = len(layers) - 1

    def step() -> None:
        acts, h = [X], X
        for i, (W, b) in enumerate(layers):
            h = h @ W.T + b
            if i < last:
                h = np.maximum(h, 0.0)
            acts.append(h)
        d = (2.0 / h.size) * (h - T)  # d mean((out - T)**2) / d out
        for i in range(last, -1, -1):
            W, b = layers[i]
            if i < last:
                d = d * (acts[i + 1] > 0)
            gW, gb = d.T @ acts[i], d.sum(0)
            if i:
                d = d @ W
            W -= LR * gW
            b -= LR * gb

    return step


def torch_step(model: MLP, X: np.ndarray, T: np.ndarray) -> Callable[[], None]:
    """The same step with PyTorch float64 tensors."""
    mods: list = []
    layers = weights(model)
    for i, (W, b) in enumerate(layers):
        linear = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(W))
            linear.bias.copy_(torch.tensor(b))
        mods.append(linear)
        if i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*mods)
    params = list(net.parameters())
    Xt, Tt = torch.tensor(X), torch.tensor(T)

    def step() -> None:
        loss = torch.nn.functional.mse_loss(net(Xt), Tt)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad

    return step


def batch(sizes: tuple[int, ...], n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, sizes[0])), rng.normal(size=(n, sizes[-1]))


def steps(model: MLP, tape: tapegrad.Tape, n: int) -> dict[str, Callable[[], None]]:
    """The three training steps on batches of `n`, from the model's weights."""
    X, T = batch((model.nin, *model.nouts), n)
    out = {"tape": tape_step(tape, X, T), "numpy": numpy_step(model, X, T)}
    if torch is not None:
        out["torch"] = torch_step(model, X, T)
    return out


# ---------------------------------------------------------------- recording


def recording(sizes: tuple[int, ...]) -> dict:
    """Record the model's tape: seconds (the faster of two recordings in CPU time, and the
    eager forward alone), graph nodes, and
    tracemalloc's peak and kept bytes in a second recording (tracemalloc slows it 3-4x; the
    resident size would cost nothing but misses memory freed before and reused). Returns the
    model and the tape too."""
    model = make_model(sizes)
    fn = per_sample_loss(model)
    x, t = [tapegrad.Value(0.0) for _ in range(sizes[0])], [0.0] * sizes[-1]
    gc.collect()
    start = time.process_time()
    out = fn(x, t)
    forward = time.process_time() - start
    nodes = len(reachable([out]))
    del out
    seconds = math.inf
    for _ in range(2):  # the faster of two, in CPU time: a loaded machine moves it less
        gc.collect()
        start = time.process_time()
        record(model, sizes)
        seconds = min(seconds, time.process_time() - start)
    gc.collect()
    tracemalloc.start()
    tape = record(model, sizes)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "tape": tape,
        "model": model,
        "seconds": seconds,
        "forward": forward,
        "nodes": nodes,
        "params": len(model.parameters()),
        "peak": peak,
        "kept": kept,
    }


# ---------------------------------------------------------------- the tables


def by_size(quick: bool, rounds: int) -> list[dict]:
    record(make_model((2, 2, 1)), (2, 2, 1))  # warm up: the first compile pays for imports
    rows = []
    for sizes in MODELS[:QUICK_MODELS] if quick else MODELS:
        row = recording(sizes)
        row["sizes"] = sizes
        row["step"] = interleaved(steps(row["model"], row.pop("tape"), 32), rounds)
        del row["model"]
        gc.collect()
        rows.append(row)
    return rows


def by_batch(quick: bool, rounds: int) -> dict[int, dict[str, float]]:
    model = make_model(SWEEP_MODEL)
    tape = record(model, SWEEP_MODEL)
    return {n: interleaved(steps(model, tape, n), rounds) for n in BATCHES}


def ratio(a: float, b: float) -> str:
    """How `a` (tape) compares with `b` (an anchor), as the tables say it."""
    return f"{b / a:.2g}x faster" if a <= b else f"{a / b:.2g}x slower"


def print_size_table(rows: list[dict]) -> None:
    print(
        "| model | parameters | graph nodes | recording, CPU (of it, forward) | per node | "
        "memory peak (per node; tape keeps) | step: tape | PyTorch | NumPy | "
        "tape vs PyTorch | tape vs NumPy |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["step"]
        torch_t = s.get("torch", float("nan"))
        cells = [
            name(r["sizes"]),
            f"{r['params']:,}",
            f"{r['nodes']:,}",
            f"{fmt_time(r['seconds'])} ({fmt_time(r['forward'])})",
            fmt_time(r["seconds"] / r["nodes"]),
            f"{fmt_bytes(r['peak'])} ({fmt_bytes(r['peak'] / r['nodes'])}; {fmt_bytes(r['kept'])})",
            fmt_time(s["tape"]),
            fmt_time(torch_t),
            fmt_time(s["numpy"]),
            ratio(s["tape"], torch_t) if "torch" in s else "",
            ratio(s["tape"], s["numpy"]),
        ]
        print("| " + " | ".join(cells) + " |")


def print_batch_table(rows: dict[int, dict[str, float]]) -> None:
    print(
        f"| batch ({name(SWEEP_MODEL)}) | step: tape | PyTorch | NumPy | tape per sample | "
        "tape vs PyTorch | tape vs NumPy |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, s in rows.items():
        torch_t = s.get("torch", float("nan"))
        print(
            f"| {n:,} | {fmt_time(s['tape'])} | {fmt_time(torch_t)} | {fmt_time(s['numpy'])} | "
            f"{fmt_time(s['tape'] / n)} | {ratio(s['tape'], torch_t) if 'torch' in s else ''} | "
            f"{ratio(s['tape'], s['numpy'])} |"
        )


def summary(rows: list[dict], sweep: dict[int, dict[str, float]]) -> list[str]:
    """The table's findings in words: linearity, where PyTorch overtakes, the 10 s model."""
    big = [r for r in rows if r["nodes"] >= 1000]  # below, fixed costs dominate
    lines = []
    if len(big) >= 2:
        first, last = big[0], big[-1]
        per = [r["seconds"] / r["nodes"] for r in big]
        growth = per[-1] / per[0]
        lines.append(
            f"recording per node: {fmt_time(per[0])} at {first['nodes']:,} nodes, "
            f"{fmt_time(per[-1])} at {last['nodes']:,} ({last['nodes'] / first['nodes']:.0f}x "
            f"the nodes, {growth:.2g}x the time per node; between {fmt_time(min(per))} and "
            f"{fmt_time(max(per))} in all): "
            + (
                "linear in the graph's size (a quadratic step would multiply the time per node "
                "by the growth in nodes)"
                if growth < 2
                else "grows faster than linear"
            )
        )
    under = [r for r in rows if r["seconds"] < 10]
    if under:
        largest = max(under, key=lambda r: r["nodes"])
        rate = largest["seconds"] / largest["nodes"]
        lines.append(
            f"largest model measured that records in under 10 s: {name(largest['sizes'])} "
            f"({fmt_time(largest['seconds'])}); at its rate per node, 10 s would record about "
            f"{10 / rate:,.0f} nodes (an extrapolation, not a measurement)"
        )
    if torch is not None:
        slower = [name(r["sizes"]) for r in rows if r["step"]["tape"] > r["step"]["torch"]]
        lines.append(
            "batch 32, PyTorch faster than the tape at: " + (", ".join(slower) or "none measured")
        )
        slower_b = [f"{n:,}" for n, s in sweep.items() if s["tape"] > s["torch"]]
        lines.append(
            f"{name(SWEEP_MODEL)}, PyTorch faster than the tape at batch: "
            + (", ".join(slower_b) or "none measured")
        )
    return lines


def run(quick: bool) -> None:
    """Both tables and their summary, printed (what run.py's `--only scaling` calls)."""
    rounds = 5 if quick else 7
    limit = threadpool_limits(1) if threadpool_limits is not None else nullcontext()
    with limit:
        rows = by_size(quick, rounds)
        sweep = by_batch(quick, rounds)
    print_size_table(rows)
    print()
    print_batch_table(sweep)
    print()
    for line in summary(rows, sweep):
        print(f"- {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller models, fewer repeats")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(
        f"# tapegrad scaling, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
        f"NumPy {np.__version__}" + (f", PyTorch {torch.__version__}" if torch else "")
    )
    print()
    run(args.quick)
    print(f"\n# scaling took {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
