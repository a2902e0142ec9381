"""`tapegrad train` with its defaults against scikit-learn's MLP pipeline, side by side on the
same 80/20 split (issue 20's bar: within 2 points of accuracy, within 0.1 of R², median of 5
seeds, under 10 s a table).

scikit-learn's bundled tables are written as CSV files (class names as text; digits as the
numbers 0-9; diabetes as a regression), plus two tables made here with missing cells and a text
feature (one to classify, one to regress). For each table and seed, `tapegrad.fit_table` (the
function `tapegrad train` calls) trains with nothing but the label given; the same training and
test rows then go through SimpleImputer + OneHotEncoder + StandardScaler + MLPClassifier (or
MLPRegressor), random_state=0, max_iter=2000.

    PYTHONPATH=src python benchmarks/tables_vs_sklearn.py [--seeds 0 1 2 3 4] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np


def bundled(name: str, folder: str) -> tuple[str, str, bool]:
    """One of scikit-learn's tables as a CSV file: (path, label column, is a regression)."""
    from sklearn import datasets

    d = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = d.frame.copy()
    regression = name == "diabetes"
    if not regression and name != "digits":
        frame["target"] = [str(d.target_names[i]) for i in d.target]
    path = os.path.join(folder, f"{name}.csv")
    frame.to_csv(path, index=False)
    return path, "target", regression


def made(name: str, folder: str, rows: int = 600, seed: int = 0) -> tuple[str, str, bool]:
    """A table with missing cells (about 8 % of the numbers, 5 % of the texts) and a text
    feature whose category matters: 'made_classes' (3 classes) or 'made_regression'."""
    import pandas as pd

    rs = np.random.RandomState(seed)
    X = rs.normal(size=(rows, 5))
    colour = rs.choice(["red", "green", "blue", "grey"], size=rows)
    shift = pd.Series(colour).map({"red": 1.5, "green": -1.0, "blue": 0.0, "grey": 0.5}).to_numpy()
    score = X[:, 0] + 0.8 * X[:, 1] * X[:, 2] - 0.5 * X[:, 3] + shift + 0.3 * rs.normal(size=rows)
    frame = pd.DataFrame(X, columns=[f"m{i}" for i in range(5)])
    frame["colour"] = colour
    frame = frame.astype(object)
    frame[frame.columns[:5]] = frame[frame.columns[:5]].mask(rs.random_sample((rows, 5)) < 0.08)
    frame["colour"] = frame["colour"].mask(rs.random_sample(rows) < 0.05)
    if name == "made_classes":
        frame["target"] = np.where(score > 1.0, "high", np.where(score > -0.3, "mid", "low"))
    else:
        frame["target"] = np.round(10 * score + 50, 3)
    path = os.path.join(folder, f"{name}.csv")
    frame.to_csv(path, index=False)
    return path, "target", name == "made_regression"


TABLES = ["iris", "wine", "breast_cancer", "digits", "diabetes", "made_classes", "made_regression"]


def sklearn_score(path: str, label: str, regression: bool, train, test) -> float:
    """The scikit-learn pipeline's test accuracy (or R²) on these rows of the file."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(path)
    X, y = frame.drop(columns=[label]), frame[label]
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numbers = [c for c in X.columns if c not in text]
    columns = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                numbers,
            ),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                text,
            ),
        ]
    )
    model = (MLPRegressor if regression else MLPClassifier)(random_state=0, max_iter=2000)
    pipe = make_pipeline(columns, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on some tables
        pipe.fit(X.iloc[train], y.iloc[train])
    return float(pipe.score(X.iloc[test], y.iloc[test]))


def tapegrad_score(path: str, label: str, regression: bool, seed: int):
    """`tapegrad train --data PATH --label LABEL --seed SEED`'s test score, its training rows
    (with the validation rows it held out of them: scikit-learn trains on all of them), its
    test rows and time; None and the reason when it refuses the table."""
    from tapegrad import fit_table

    start = time.perf_counter()
    try:
        fit = fit_table(path, label, seed=seed, progress=False)
    except (ValueError, OSError) as err:
        return None, str(err).splitlines()[0][:60], None, None, 0.0
    seconds = time.perf_counter() - start
    test = fit.metrics["test"]
    score = test["r2"] if regression else test["accuracy"]
    return score, "", np.concatenate([fit.train, fit.validation]), fit.test, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--only", nargs="+", choices=TABLES, default=TABLES)
    args = parser.parse_args()
    print("| table | metric | tapegrad (median) | scikit-learn (median) | gap | tapegrad s (max) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only:
            path, label, regression = (made if name.startswith("made") else bundled)(name, folder)
            ours, theirs, times, note = [], [], [], ""
            for seed in args.seeds:
                score, why, train, test, seconds = tapegrad_score(path, label, regression, seed)
                if score is None:
                    note = f"refused: {why}"
                    break
                ours.append(score)
                times.append(seconds)
                theirs.append(sklearn_score(path, label, regression, train, test))
            metric = "R²" if regression else "accuracy"
            if note:
                print(f"| {name} | {metric} | {note} | | | |")
                continue
            a, b = statistics.median(ours), statistics.median(theirs)
            scale = 1 if regression else 100
            unit = "" if regression else " pts"
            print(
                f"| {name} | {metric} | {a * scale:.3f} | {b * scale:.3f} | "
                f"{(a - b) * scale:+.3f}{unit} | {max(times):.1f} |"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
