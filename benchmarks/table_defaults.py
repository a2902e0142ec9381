"""Evidence for the training defaults on a user's table (issue 11, item 3).

scikit-learn's iris, wine, breast-cancer and digits tables are written as CSV files (class
names as text; digits as the numbers 0-9), read back with `tapegrad.tables`, split 80/20 per
seed, standardised with the training rows' statistics, and trained with each candidate
setting through the Python API (`tapegrad.fit(..., compile=True)`). Prints one row per data
set, setting and seed (test accuracy, wall time) and a summary per setting.

    PYTHONPATH=src python benchmarks/table_defaults.py [--seeds 0 1 2 ...] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from tapegrad import data, optim
from tapegrad.nn import MLP
from tapegrad.tables import Preprocessor, read_table
from tapegrad.train import evaluate, fit


@dataclass(frozen=True)
class Setting:
    name: str
    hidden: tuple[int, ...] = (16, 16)
    act: str = "relu"
    lr: float = 0.01
    epochs: int = 100
    batch_size: int = 32
    l2: float = 0.0
    early_stop: bool = False  # hold out 20 % of the training rows, keep the best weights
    decay: bool = False  # lr falls linearly to lr/10 over the run (the CLI's --schedule linear)


SETTINGS = [
    Setting("adam.01 16,16 relu e100"),
    Setting("adam.01 16,16 tanh e100", act="tanh"),
    Setting("adam.01 32 tanh e100", hidden=(32,), act="tanh"),
    Setting("adam.003 16,16 relu e200", lr=0.003, epochs=200),
    Setting("adam.01 16,16 relu e50", epochs=50),
    Setting("adam.01 16,16 relu e100 l2=1e-4", l2=1e-4),
    Setting("adam.01 16,16 relu e200 early-stop", epochs=200, early_stop=True),
    Setting("adam.01 16,16 tanh e100 l2=1e-4 decay", act="tanh", l2=1e-4, decay=True),
    Setting("adam.01 16,16 relu e100 l2=1e-4 decay", l2=1e-4, decay=True),
]


def write_csv(path: str, name: str) -> None:
    """The table as a user would have it: a header, numbers, the label's own values."""
    if name == "digits":
        X, y = data.digits()
        names, label, cells = [f"pixel{i}" for i in range(64)], "digit", [str(v) for v in y]
        X = X * 16
    else:
        X, y, names, classes = data.real_table(name)
        label, cells = "class", [classes[i] for i in y]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*names, label])
        for row, cell in zip(X.tolist(), cells, strict=True):
            w.writerow([*(repr(v) for v in row), cell])


def run(table, setting: Setting, seed: int) -> tuple[float, float]:
    """(test accuracy, seconds) for one setting, one seed; the clock covers preprocessing and
    training, as the command would."""
    start = time.perf_counter()
    train, test = data.split_indices(len(table), 0.2, seed)
    prep = Preprocessor(label=-1).fit(table, rows=train)
    X, y = prep.transform(table), prep.encode_labels(table)
    k = prep.n_classes
    model = MLP(X.shape[1], [*setting.hidden, k], act=setting.act, seed=seed)
    lr = setting.lr
    if setting.decay:
        steps = setting.epochs * -(-len(train) // setting.batch_size)
        lr = optim.linear(setting.lr, setting.lr * 0.1, steps)
    opt = optim.Adam(model.parameters(), lr=lr)
    kw = dict(loss="softmax_ce", optimizer=opt, batch_size=setting.batch_size, seed=seed)
    kw.update(l2=setting.l2, progress=False, compile=True)
    if not setting.early_stop:
        fit(model, X[train], y[train], epochs=setting.epochs, **kw)
    else:
        fit_rows, val_rows = data.split_indices(len(train), 0.2, seed + 1)
        fit_rows, val_rows = train[fit_rows], train[val_rows]
        best, best_state, waited, chunk, patience = np.inf, model.state_dict(), 0, 5, 4
        for _ in range(setting.epochs // chunk):
            fit(model, X[fit_rows], y[fit_rows], epochs=chunk, **kw)
            loss = evaluate(model, X[val_rows], y[val_rows], "softmax_ce", compile=True)["loss"]
            if loss < best - 1e-4:
                best, best_state, waited = loss, model.state_dict(), 0
            else:
                waited += 1
                if waited >= patience:
                    break
        model.load_state_dict(best_state)
    acc = evaluate(model, X[test], y[test], "softmax_ce", compile=True)["accuracy"]
    return acc, time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--only", nargs="*", default=None, help="settings whose name contains this")
    p.add_argument("--tables", nargs="*", default=["iris", "wine", "breast_cancer", "digits"])
    args = p.parse_args(argv)
    settings = [s for s in SETTINGS if not args.only or any(o in s.name for o in args.only)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tables = {}
        for name in args.tables:
            path = os.path.join(tmp, f"{name}.csv")
            write_csv(path, name)
            tables[name] = read_table(path)
        for s in settings:
            for name, table in tables.items():
                for seed in args.seeds:
                    acc, sec = run(table, s, seed)
                    results[s.name, name, seed] = (acc, sec)
                    print(f"{s.name:<38} {name:<14} seed {seed}: {acc:6.1%} {sec:5.1f} s")
                    sys.stdout.flush()
    print("\nsetting | " + " | ".join(f"{t} acc min/mean, max s" for t in args.tables))
    for s in settings:
        cells = []
        for t in args.tables:
            accs = [results[s.name, t, i][0] for i in args.seeds]
            secs = [results[s.name, t, i][1] for i in args.seeds]
            cells.append(f"{min(accs):.1%}/{statistics.mean(accs):.1%}, {max(secs):.1f}")
        print(f"{s.name} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
