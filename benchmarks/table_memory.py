"""Peak memory of reading and training on a big CSV table, each measured in a fresh process
(`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`), against the file's size.

    python benchmarks/table_memory.py                  # a 256 MiB table (a few minutes)
    python benchmarks/table_memory.py --mib 32         # a smaller one
    python benchmarks/table_memory.py --only read      # read_table alone

The table has 10 numeric features of 9-10 characters and a 3-class text label, the shape of a
typical exported data set. `train` runs `tapegrad train` (one epoch, the report included), so
its figure is the whole run's: reading, preprocessing, the split, training and the report.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from tapegrad.data import MAX_TABLE_MEMORY, estimate_table_memory

FEATURES = 10


def write_table(path: str, mib: float, seed: int = 0) -> int:
    """A CSV file of about `mib` MiB: FEATURES numeric columns and a 3-class label; its rows."""
    rs = np.random.RandomState(seed)
    target = int(mib * 2**20)
    rows = 0
    with open(path, "w", encoding="ascii", newline="") as fh:
        fh.write(",".join([f"f{i}" for i in range(FEATURES)] + ["label"]) + "\n")
        while True:
            X = rs.normal(size=(20_000, FEATURES))
            y = np.where(X[:, 0] + X[:, 1] > 0.5, "high", np.where(X[:, 2] > 0, "mid", "low"))
            lines = [
                ",".join(f"{v:.6f}" for v in row) + f",{label}\n"
                for row, label in zip(X.tolist(), y.tolist(), strict=True)
            ]
            for line in lines:
                if fh.tell() + len(line) > target:  # at most `mib`: 256 is the reader's limit
                    return rows
                fh.write(line)
                rows += 1


READ = """
import sys, time
import tapegrad.data
from tapegrad.tables import read_table
tapegrad.data.MAX_TABLE_MEMORY = int(sys.argv[2])
start = time.perf_counter()
t = read_table(sys.argv[1])
print(f"{len(t)} rows in {time.perf_counter() - start:.1f} s, {t.nbytes / 2**20:.0f} MiB held")
"""

TRAIN = """
import sys
import tapegrad.data
from tapegrad.cli import main
tapegrad.data.MAX_TABLE_MEMORY = int(sys.argv[1])
sys.exit(main(sys.argv[2:]))
"""


def measure(argv: list[str]) -> tuple[int, float, str]:
    """(peak RSS in bytes, seconds, the last line printed) of a child process."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    lines = (done.stdout + done.stderr).strip().splitlines()
    return peak, seconds, lines[-1] if lines else f"exit {done.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=256, help="the table's size (default 256)")
    parser.add_argument("--only", choices=("read", "train"), help="one measurement only")
    parser.add_argument(
        "--limit", type=float, help="MAX_TABLE_MEMORY in MiB (default: tapegrad's own)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.csv")
        rows = write_table(path, args.mib)
        size = os.path.getsize(path)
        print(f"{path}: {size / 2**20:.0f} MiB, {rows:,} rows of {FEATURES} features + label")
        limit = str(int(args.limit * 2**20) if args.limit else MAX_TABLE_MEMORY)
        cost = estimate_table_memory(path)
        print(f"estimated need {cost.need() / 2**20:,.0f} MiB for {cost.rows:,} rows")
        runs = {
            "read": [sys.executable, "-c", READ, path, limit],
            "train": [
                sys.executable, "-c", TRAIN, limit, "train", "--data", path, "--label", "label",
                "--epochs", "1", "--batch-size", "256", "--out", os.path.join(tmp, "run"),
            ],
        }  # fmt: skip
        # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: measure the smaller first
        for name in ("read", "train"):
            if args.only not in (None, name):
                continue
            peak, seconds, last = measure(runs[name])
            print(
                f"{name:<5}: peak RSS {peak / 2**20:,.0f} MiB = {peak / size:.2f} x the file, "
                f"{seconds:.1f} s; {last}"
            )


if __name__ == "__main__":
    main()
