"""Data sets to train on (moons, circles, blobs, spiral, digits, iris, wine, breast cancer), and
the checked reading of a CSV file's rows that `tapegrad.preprocessing.read_table` builds on.

`moons`, `circles` and `blobs` make scikit-learn's draws in its order, so a seed gives the very
same points (micrograd's demo data is `moons(100, noise=0.1, seed=1337)`); scikit-learn itself
is needed only for the tables it ships."""

from __future__ import annotations

import codecs
import csv
import io
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .limits import MAX_CLASSES

if TYPE_CHECKING:
    import numpy.typing as npt

Seed = int | np.random.RandomState | None  # None: NumPy's global state, as in micrograd's demo
DATASETS = ("moons", "circles", "blobs", "spiral", "digits", "iris", "wine", "breast_cancer")

# The most bytes a CSV file may hold (it is read whole; a larger table would train for hours).
MAX_CSV_BYTES = 256 * 2**20

# Whole numbers beyond 2**53 are no longer exact in a float64 (2**53 + 1 reads as 2**53).
EXACT_INT = 2**53

# MAX_CLASSES (the most distinct labels a classifier may have) is one of tapegrad.limits'.


class DataError(ValueError):
    """A data file or data argument that cannot be used; the message says where and why."""


def random_state(seed: Seed) -> np.random.RandomState:
    """A RandomState as scikit-learn's `check_random_state` makes one: None is NumPy's global
    state (so `np.random.seed` works as in micrograd's notebook), an int seeds a new one."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not 0 <= seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        return np.random.RandomState(int(seed))
    raise TypeError(f"seed must be None, an int or a numpy RandomState, got {type(seed).__name__}")


def _count(name: str, n, minimum: int = 1) -> int:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {n!r}")
    return int(n)


def _noise(noise) -> float | None:
    if noise is None:
        return None
    # numbers.Real declares only < and <=, hence `noise < 0` (a nan fails isfinite instead)
    if not isinstance(noise, numbers.Real) or noise < 0 or not math.isfinite(noise):
        raise ValueError(f"noise must be None or a finite number >= 0, got {noise!r}")
    return float(noise)


def _two_classes(n_samples: int) -> tuple[int, int, np.ndarray]:
    n_out = n_samples // 2
    n_in = n_samples - n_out
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return n_out, n_in, y


def _shuffle(rs: np.random.RandomState, X: np.ndarray, y: np.ndarray):
    # scikit-learn's `utils.shuffle`: shuffle an index array in place, then take rows.
    order = np.arange(X.shape[0])
    rs.shuffle(order)
    return X[order], y[order]


def moons(
    n_samples: int = 100, noise: float | None = None, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (X (n, 2), y in {0, 1}): scikit-learn's `make_moons`."""
    n_samples = _count("n_samples", n_samples)
    noise = _noise(noise)
    rs = random_state(seed)
    n_out, n_in, y = _two_classes(n_samples)
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    xs = np.append(np.cos(outer), 1 - np.cos(inner))
    return _finish(rs, xs, np.append(np.sin(outer), 1 - np.sin(inner) - 0.5), y, noise)


def _finish(
    rs: np.random.RandomState, xs: np.ndarray, ys: np.ndarray, y: np.ndarray, noise: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Points (xs, ys) labelled y, shuffled, then jittered, in scikit-learn's order of draws."""
    X, y = _shuffle(rs, np.vstack([xs, ys]).T, y)
    if noise is not None:
        X += rs.normal(scale=noise, size=X.shape)
    return X, y


def circles(
    n_samples: int = 100, noise: float | None = None, factor: float = 0.8, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """A small circle in a large one (X (n, 2), y 1 = inner): scikit-learn's `make_circles`."""
    n_samples = _count("n_samples", n_samples)
    noise = _noise(noise)
    if not isinstance(factor, numbers.Real) or not 0 <= factor < 1:
        raise ValueError(f"factor must be a number in [0, 1), got {factor!r}")
    rs = random_state(seed)
    n_out, n_in, y = _two_classes(n_samples)
    outer = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    inner = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    xs = np.append(np.cos(outer), np.cos(inner) * factor)
    return _finish(rs, xs, np.append(np.sin(outer), np.sin(inner) * factor), y, noise)


def blobs(
    n_samples: int = 100,
    centers: int | npt.ArrayLike = 3,
    n_features: int = 2,
    cluster_std: float = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    seed: Seed = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, one class each (X (n, n_features), y in {0, ..., k-1}):
    scikit-learn's `make_blobs`; `centers` is a count (drawn in `center_box`) or an array."""
    n_samples = _count("n_samples", n_samples)
    n_features = _count("n_features", n_features)
    if not isinstance(cluster_std, numbers.Real) or not cluster_std >= 0:
        raise ValueError(f"cluster_std must be a number >= 0, got {cluster_std!r}")
    rs = random_state(seed)
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = _count("centers", centers)
        centers = rs.uniform(center_box[0], center_box[1], size=(k, n_features))
    else:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[0] < 1:
            raise ValueError(f"centers must be an int or a (k, n_features) array, got {centers!r}")
        k, n_features = centers.shape
    per_center = [n_samples // k] * k
    for i in range(n_samples % k):
        per_center[i] += 1
    X = np.empty((n_samples, n_features), dtype=np.float64)
    y = np.empty(n_samples, dtype=int)
    start = 0
    for i, n in enumerate(per_center):
        X[start : start + n] = rs.normal(loc=centers[i], scale=cluster_std, size=(n, n_features))
        y[start : start + n] = i
        start += n
    return _shuffle(rs, X, y)


def spiral(
    n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """cs231n's spiral, the notes' very draws: `classes` arms of `n_per_class` points, radius
    0..1, angle noise `noise` (X (n, 2), y in {0, ..., classes-1}, grouped by class)."""
    n_per_class = _count("n_per_class", n_per_class)
    classes = _count("classes", classes)
    noise = _noise(noise) or 0.0
    rs = random_state(seed)
    X = np.zeros((n_per_class * classes, 2))
    y = np.zeros(n_per_class * classes, dtype=np.intp)
    for j in range(classes):
        rows = slice(n_per_class * j, n_per_class * (j + 1))
        r = np.linspace(0.0, 1, n_per_class)
        t = np.linspace(j * 4, (j + 1) * 4, n_per_class) + rs.randn(n_per_class) * noise
        X[rows] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[rows] = j
    return X, y


def _sklearn_datasets(what: str):
    try:
        import sklearn.datasets as datasets
    except ImportError as err:
        raise ImportError(
            f"the {what} data set ships with scikit-learn, which is not installed: "
            "pip install 'tapegrad[digits]'"
        ) from err
    return datasets


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: X (1797, 64) in [0, 1], y in 0..9 (`tapegrad[digits]`)."""
    bunch = _sklearn_datasets("digits").load_digits()
    return bunch.data.astype(np.float64) / 16.0, bunch.target.astype(np.intp)


# The real tables scikit-learn bundles (read from files inside its package, so offline).
TABLES = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer"}


def real_table(name: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """One of scikit-learn's `TABLES`, unscaled: (X, y class indices, feature and class names)."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}: use one of {', '.join(TABLES)}")
    bunch = getattr(_sklearn_datasets(name), TABLES[name])()
    names, classes = [str(f) for f in bunch.feature_names], [str(c) for c in bunch.target_names]
    return bunch.data.astype(np.float64), bunch.target.astype(np.intp), names, classes


def train_test_split(
    X: npt.ArrayLike, y: npt.ArrayLike, test_fraction: float = 0.2, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle rows and hold out `ceil(test_fraction * n)`: (X_train, X_test, y_train, y_test)."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    train, test = split_indices(len(X), test_fraction, seed)
    return X[train], X[test], y[train], y[test]


def split_indices(
    n: int, test_fraction: float = 0.2, seed: Seed = None, stratify: npt.ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The row indices (train, test) of `train_test_split` for n rows. With `stratify` (a class
    per row) each class is held out in proportion (largest remainders, each keeping a training
    row), so a small table's test split cannot miss a class by bad luck."""
    n = _count("n", n, minimum=0)
    if not isinstance(test_fraction, numbers.Real) or not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    n_test = math.ceil(test_fraction * n)
    if n - n_test < 1:
        raise ValueError(f"test_fraction {test_fraction} of {n} rows leaves no rows to train on")
    rs = random_state(seed)
    if stratify is None:
        order = rs.permutation(n)
        return order[n_test:], order[:n_test]
    labels = np.asarray(stratify)
    if labels.shape != (n,):
        raise ValueError(f"stratify must hold one label per row ({n}), got shape {labels.shape}")
    classes, codes = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(codes == k) for k in range(len(classes))]
    share = np.array([len(m) for m in members]) * (n_test / n)
    take = np.floor(share).astype(np.intp)
    for k in np.argsort(-(share - take), kind="stable")[: n_test - int(take.sum())]:
        take[k] += 1  # the largest remainders get the rows left over
    take = np.minimum(take, [len(m) - 1 for m in members])  # every class keeps a training row
    train, test = [], []
    for m, t in zip(members, take.tolist(), strict=True):
        m = m[rs.permutation(len(m))]
        test.append(m[:t])
        train.append(m[t:])
    train, test = np.concatenate(train), np.concatenate(test)
    return train[rs.permutation(len(train))], test[rs.permutation(len(test))]


# --- CSV -------------------------------------------------------------------------------------


def read_csv_rows(path: str | os.PathLike) -> tuple[str, list[tuple[int, list[str]]]]:
    """(the file's name, its non-blank rows as (line, cells)); not UTF-8 or too big: DataError."""
    path = os.fspath(path)
    name = os.path.basename(path) or path
    with open(path, "rb") as fh:
        raw = fh.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise DataError(
            f"{name}: the file is larger than {MAX_CSV_BYTES // 2**20} MiB, the most tapegrad "
            "reads as a table"
        )
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_utf8(name, raw, err) from None
    return name, csv_rows(name, text)


def csv_rows(name: str, text: str) -> list[tuple[int, list[str]]]:
    """CSV text's non-blank rows as (line number, cells); broken quoting is a DataError."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as err:
        raise DataError(f"{name}: line {reader.line_num}: {err}") from None
    return rows


def _not_utf8(name: str, raw: bytes, err: UnicodeDecodeError) -> DataError:
    """The error for a file that is not UTF-8, naming the line and column of the first bad byte."""
    bad = raw[err.start]
    line = raw.count(b"\n", 0, err.start) + 1
    where = f"line {line}"
    try:
        rows = csv_rows(name, raw.decode("utf-8", errors="surrogateescape"))
    except DataError:
        rows = []
    for line, cells in rows:
        hit = next((c for c, cell in enumerate(cells) if _has_escape(cell)), None)
        if hit is not None:
            where = f"line {line}, column {hit + 1}"
            break
    return DataError(
        f"{name}: {where}: byte 0x{bad:02x} is not UTF-8; the file must be encoded as UTF-8 "
        "(it looks like Latin-1 or Windows-1252: save it again as 'CSV UTF-8')"
    )


def _has_escape(cell: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


@dataclass
class Dataset:
    """A data set loaded by `load_dataset`; `class_names[i]` names class i (None: unnamed)."""

    name: str
    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] | None = None

    @property
    def n_classes(self) -> int | None:
        """k when the labels are class indices 0..k-1 (k <= `MAX_CLASSES`), else None."""
        if self.class_names is not None:
            return len(self.class_names)
        if self.y is None or self.y.dtype.kind not in "iu" or self.y.min() < 0:
            return None
        k = int(self.y.max()) + 1
        return k if k <= MAX_CLASSES else None

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, X={self.X.shape}, classes={self.n_classes})"


def load_dataset(name: str, seed: Seed = None) -> Dataset:
    """A data set by its name in `DATASETS` (a CSV file is read by `read_table`)."""
    key = str(name)
    if key == "moons":
        X, y = moons(100, noise=0.1, seed=seed)
    elif key == "circles":
        X, y = circles(100, noise=0.1, factor=0.5, seed=seed)
    elif key == "blobs":
        X, y = blobs(150, centers=3, seed=seed)
    elif key == "spiral":
        X, y = spiral(50, classes=3, seed=seed)
    elif key == "digits":
        X, y = digits()
        return Dataset(key, X, y, [f"pixel{i}" for i in range(X.shape[1])])
    elif key in TABLES:
        X, y, names, classes = real_table(key)
        return Dataset(key, X, y, names, classes)
    else:
        raise DataError(
            f"unknown data set {key!r}: use one of {', '.join(DATASETS)} (a CSV file is read by "
            "tapegrad.tables.read_table)"
        )
    return Dataset(key, X, y, ["x0", "x1"])
