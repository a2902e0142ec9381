"""What watching a run live costs (issue 23): `tapegrad demo`'s training (micrograd's demo:
MLP(2, [16, 16, 1]) on 100 moons, 100 full-batch SGD steps on the compiled tape) timed as the
command times it (the whole `fit` call), without --live, with --live and no page open, and
with --live and a page watching (a client reading the Server-Sent Events stream, as a
browser's EventSource does), interleaved run by run so the machine's load falls on all alike;
the median of each, and its cost over the plain run.

    PYTHONPATH=src python benchmarks/live_cost.py [--runs 15] [--steps 100]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.request

from tapegrad.commands.demo import SEED, demo_setup
from tapegrad.live import LiveControl, LiveServer
from tapegrad.train import fit


def train(steps: int, control=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process, every thread) of the demo's `fit`
    call, as `tapegrad demo` times it. On a shared machine the CPU time is the steadier
    measure: it counts what this process spent (the painter's and server's threads too),
    not the time other processes took the cores."""
    X, y, model, optimizer = demo_setup(steps)
    start, cpu = time.perf_counter(), time.process_time()
    fit(model, X, y, loss="hinge", optimizer=optimizer, steps=steps, l2=1e-4, seed=SEED,
        progress=False, compile=True, divergence_guard=False, snapshots=11,
        control=control)  # fmt: skip
    return time.perf_counter() - start, time.process_time() - cpu


def live(steps: int, watched: bool) -> tuple[tuple[float, float], int]:
    """((wall, CPU) seconds, frames the page got) of one run with its live page served."""
    control = LiveControl()
    frames = []
    with LiveServer(control) as server:
        reader = None
        seconds = (0.0, 0.0)
        if watched:
            ready = threading.Event()

            def read() -> None:
                url = server.url.replace("/?", "/events?")
                with urllib.request.urlopen(url, timeout=60) as stream:
                    ready.set()
                    for line in stream:
                        if line.startswith(b"event: frame"):
                            frames.append(1)

            reader = threading.Thread(target=read)
            reader.start()
            ready.wait(60)
            with control.cond:  # the page is connected before the run starts
                control.cond.wait_for(lambda: control.watchers > 0, timeout=60)
        seconds = train(steps, control)
    if reader is not None:
        reader.join(60)
    return seconds, len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    train(args.steps)  # warm up: imports, first tape
    live(args.steps, True)
    kinds = {
        "demo": lambda: (train(args.steps), 0),
        "demo --live": lambda: live(args.steps, False),
        "demo --live, watched": lambda: live(args.steps, True),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
    got = []
    for i in range(args.runs):
        order = list(kinds) if i % 2 == 0 else list(reversed(kinds))  # no kind always first
        for name in order:
            seconds, frames = kinds[name]()
            times[name].append(seconds)
            if name.endswith("watched"):
                got.append(frames)
    print(f"tapegrad demo's training, {args.steps} steps, median of {args.runs} interleaved runs")
    print(f"  {'':<22} {'wall':>9} {'cost':>8}   {'CPU':>9} {'cost':>8}")
    base = [statistics.median(t[j] for t in times["demo"]) for j in (0, 1)]
    for name, ts in times.items():
        m = [statistics.median(t[j] for t in ts) for j in (0, 1)]
        cost = [100 * (m[j] / base[j] - 1) for j in (0, 1)]
        print(f"  {name:<22} {m[0] * 1000:6.1f} ms {cost[0]:+7.1f} %   "
              f"{m[1] * 1000:6.1f} ms {cost[1]:+7.1f} %")  # fmt: skip
    print(f"  frames a watching page got per run: median {statistics.median(got)}")


if __name__ == "__main__":
    main()
