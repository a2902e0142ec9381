"""Data sets to train on (moons, circles, blobs, spiral, digits, iris, wine, breast cancer), and
the checked reading of a CSV file's rows that `tapegrad.preprocessing.read_table` builds on:
streamed (UTF-8, or UTF-16/32 that says so), into compact `Column`s, after an estimate of the
memory the table will need (`estimate_table_memory`) has been checked.

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
import stat
from collections.abc import Iterable, Iterator
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
#
# A table is read as a stream of rows into compact columns (`Column`): a column of few distinct
# texts keeps one code per cell (two bytes) and the texts once; any other keeps blocks of float64
# numbers, with the exact text of only the cells whose number does not spell it back (`1.50`,
# `NA`), or, for a column of words, the block's text in one string. Every cell's text stays
# exact, and no Python object is made per cell, so a table takes about its file's size in memory.

CHUNK_ROWS = 16_384
"""Rows per block of a column (and per batch of rows the reader hands to the columns)."""

DICTIONARY = 1_024
"""Distinct texts a column keeps as a dictionary (a code per cell) before it keeps blocks."""

MAX_TABLE_MEMORY = 832 * 2**20
"""The most memory (bytes) a table may need, read and encoded as a network's inputs (see
`estimate_table_memory`): a larger one is refused before it is read, with the figure."""

SNIFF_BYTES = 2**20  # the head of a file that its encoding and memory estimate are taken from

_UTF32 = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"))
_UTF16 = ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-16-le": "UTF-16",
          "utf-16-be": "UTF-16", "utf-32": "UTF-32", "utf-32-le": "UTF-32",
          "utf-32-be": "UTF-32"}  # fmt: skip


def _encoding(head: bytes) -> str:
    """The codec of a file from its first bytes: a byte-order mark says it (UTF-8, -16, -32);
    without one, NUL bytes in every second (fourth) place are ASCII text in UTF-16 (UTF-32),
    as Excel and PowerShell save it; anything else is read as UTF-8."""
    for bom, codec in (*_UTF32, *_UTF16, (codecs.BOM_UTF8, "utf-8-sig")):
        if head.startswith(bom):
            return codec
    sample = head[: 4096 - 4096 % 4]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return "utf-8"
    by_place = [sample[i::4].count(0) / len(sample[i::4]) for i in range(4)]
    if by_place[1] > 0.9 and by_place[2] > 0.9 and by_place[3] > 0.9:
        return "utf-32-le"
    if by_place[0] > 0.9 and by_place[1] > 0.9 and by_place[2] > 0.9:
        return "utf-32-be"
    odd, even = (by_place[1] + by_place[3]) / 2, (by_place[0] + by_place[2]) / 2
    if odd > 0.5 and even < 0.1:
        return "utf-16-le"
    if even > 0.5 and odd < 0.1:
        return "utf-16-be"
    return "utf-8"


def _open_csv(path: str | os.PathLike) -> tuple[str, io.BufferedReader, int]:
    """(the file's name, the open file, its size); a file over `MAX_CSV_BYTES` is a DataError,
    found from its size alone (a pipe is read, up to the limit, to learn it)."""
    path = os.fspath(path)
    name = os.path.basename(path) or path
    fh = open(path, "rb")  # noqa: SIM115 - the caller closes it
    info = os.fstat(fh.fileno())
    if stat.S_ISREG(info.st_mode):
        size = info.st_size
    else:  # a pipe or a device: its size is known only once read
        raw = fh.read(MAX_CSV_BYTES + 1)
        fh.close()
        fh = io.BufferedReader(io.BytesIO(raw))
        size = len(raw)
    if size > MAX_CSV_BYTES:
        fh.close()
        raise DataError(
            f"{name}: the file is larger than {MAX_CSV_BYTES // 2**20} MiB, the most tapegrad "
            "reads as a table"
        )
    return name, fh, size


def csv_file_rows(path: str | os.PathLike) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    """(the file's name, its non-blank rows as (line, cells), read as they are asked for); a
    file too big, not text (UTF-8, or UTF-16/32 with a byte-order mark or NULs that say so) or
    badly quoted is a DataError that names the line."""
    name, fh, _ = _open_csv(path)
    codec = _encoding(fh.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    return name, _file_rows(name, fh, codec)


def _file_rows(name: str, fh: io.BufferedReader, codec: str) -> Iterator[tuple[int, list[str]]]:
    with fh:
        text = io.TextIOWrapper(fh, encoding=codec, newline="")
        try:
            yield from csv_rows(name, text)
        except UnicodeDecodeError:
            fh.seek(0)
            raise _not_text(name, fh, codec) from None


def csv_rows(name: str, lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """CSV lines' non-blank rows as (line number, cells); broken quoting is a DataError."""
    reader = csv.reader(lines, strict=True)
    try:
        for cells in reader:
            if "".join(cells).strip():
                yield reader.line_num, cells
    except csv.Error as err:
        raise DataError(f"{name}: line {reader.line_num}: {err}") from None


def _not_text(name: str, fh: io.BufferedReader, codec: str) -> DataError:
    """The error for a file that is not text in `codec`, naming the line and column of the first
    bad byte (found by reading the file again with the bad bytes escaped)."""
    text = io.TextIOWrapper(fh, encoding=codec, errors="surrogateescape", newline="")
    where, bad = "", None
    try:
        for line, cells in csv_rows(name, text):
            hit = next((c for c, cell in enumerate(cells) if _has_escape(cell)), None)
            if hit is not None:
                bad = next(ch for ch in cells[hit] if "\udc80" <= ch <= "\udcff")
                where = f"line {line}, column {hit + 1}: "
                break
    except (DataError, UnicodeError):
        pass
    byte = "" if bad is None else f"byte 0x{ord(bad) - 0xDC00:02x} "
    if codec.startswith("utf-8"):
        return DataError(
            f"{name}: {where}{byte}is not UTF-8; the file must be encoded as UTF-8 (it looks "
            "like Latin-1 or Windows-1252: save it again as 'CSV UTF-8')"
        )
    return DataError(
        f"{name}: {where}the file looks like {_NAMES[codec]} but is not valid {_NAMES[codec]}; "
        "save it again as 'CSV UTF-8'"
    )


def _has_escape(cell: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


@dataclass
class TableCost:
    """What `estimate_table_memory` guessed: the rows, and per column the bytes each row takes
    stored (`Column`) and encoded as the network's inputs (float64) twice over (all rows, and
    the training and test rows apart)."""

    rows: int
    per_column: list[float]

    def need(self, keep: Iterable[int] | None = None) -> int:
        """Bytes for the columns `keep` (default all), with every row's line number."""
        cols = range(len(self.per_column)) if keep is None else keep
        per_row = 4 + sum(self.per_column[c] for c in cols if c < len(self.per_column))
        return round(self.rows * per_row)


def estimate_table_memory(path: str | os.PathLike) -> TableCost:
    """How much memory a CSV file's table would need, read and encoded, estimated from the
    file's size and its first `SNIFF_BYTES`: a guess in well under a second, not a measurement,
    to refuse a table too big before reading it."""
    name, fh, size = _open_csv(path)
    with fh:
        head = fh.read(SNIFF_BYTES)
    codec = _encoding(head)
    if len(head) < size:  # whole rows only (a quoted newline may cut one: close enough)
        head = head[: head.rfind(b"\n") + 1] or head
    rows = [cells for _, cells in _rows_or_none(name, head.decode(codec, errors="replace"))]
    if len(rows) < 2:
        return TableCost(len(rows), [])
    n = round(len(rows) * size / max(len(head), 1))
    below = [r for r in rows[1:] if len(r) == len(rows[0])]
    costs = []
    for column in zip(*below, strict=True):
        stored, inputs = _cost([c.strip() for c in column])
        costs.append(stored + 2 * 8 * inputs)
    return TableCost(n, costs)


def _rows_or_none(name: str, text: str) -> list[tuple[int, list[str]]]:
    try:
        return list(csv_rows(name, io.StringIO(text, newline="")))
    except DataError:
        return []


def _cost(cells: list[str]) -> tuple[float, int]:
    """(bytes per row a column of these cells takes as a `Column`, network inputs it makes)."""
    distinct = set(cells)
    numbers = sum(_number(c) is not None for c in cells)
    if len(distinct) <= DICTIONARY and len(distinct) * 4 <= len(cells):
        stored = 2.0  # a dictionary
    elif numbers * 2 > len(cells):
        spelt = sum(len(c) + 8 for c in cells if _spelling(c) != c) / len(cells)
        stored = 8 + spelt
    else:
        stored = sum(len(c) + 4 for c in cells) / len(cells)
    text = numbers * 2 <= len(cells)
    return stored, (min(len(distinct), 100) if text else 1)


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _spelling(cell: str) -> str | None:
    """How a block would spell the cell's number back (None: not a finite number)."""
    x = _number(cell)
    if x is None or not math.isfinite(x):
        return None
    return str(int(x)) if x.is_integer() and "." not in cell and "e" not in cell else repr(x)


class Column:
    """One column's cells as text, exactly, held compactly: `codes` into `texts` (a column of
    at most `DICTIONARY` distinct texts), or `blocks` of `CHUNK_ROWS` cells, each float64
    numbers that spell most cells back, with the text of those they do not (see `_Block`)."""

    __slots__ = ("n", "codes", "texts", "blocks")

    def __init__(self, n: int, codes=None, texts=None, blocks=None) -> None:
        self.n, self.codes, self.texts, self.blocks = n, codes, texts, blocks

    @classmethod
    def of(cls, cells: Iterable[str]) -> Column:
        """The column of these cells (a list of str, kept exactly)."""
        builder = ColumnBuilder()
        builder.add(list(cells))
        return builder.finish()

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        how = f"{len(self.texts)} texts" if self.blocks is None else f"{len(self.blocks)} blocks"
        return f"Column({self.n} cells, {how})"

    @property
    def nbytes(self) -> int:
        """Roughly the memory the column holds (its arrays and texts)."""
        if self.blocks is None:
            return self.codes.nbytes + sum(len(t) + 49 for t in self.texts)
        return sum(b.nbytes for b in self.blocks)

    def cells(self, rows: npt.ArrayLike | None = None) -> list[str]:
        """The cells' texts, all of them or those of `rows` (row positions), in order."""
        if self.blocks is None:
            codes = self.codes if rows is None else self.codes[np.asarray(rows, dtype=np.intp)]
            return [self.texts[c] for c in codes.tolist()]
        if rows is None:
            return [cell for b in self.blocks for cell in b.cells()]
        out: list[str] = []
        for part in self._parts(rows):
            out.extend(part)
        return out

    def cell(self, r: int) -> str:
        """One cell's text."""
        if self.blocks is None:
            return self.texts[int(self.codes[r])]
        return self.blocks[r // CHUNK_ROWS].cells()[r % CHUNK_ROWS]

    def _parts(self, rows) -> Iterator[list[str]]:
        """The texts of `rows`, a run of at most CHUNK_ROWS of them at a time."""
        rows = np.asarray(rows, dtype=np.intp).reshape(-1)
        for start in range(0, len(rows), CHUNK_ROWS):
            part = rows[start : start + CHUNK_ROWS]
            if self.blocks is None:
                yield [self.texts[c] for c in self.codes[part].tolist()]
                continue
            out: list[str] = [""] * len(part)
            order = np.argsort(part, kind="stable")
            which = part[order] // CHUNK_ROWS
            bounds = np.flatnonzero(np.diff(which)) + 1
            for group in np.split(np.arange(len(part)), bounds):
                if not len(group):
                    continue
                texts = self.blocks[int(which[group[0]])].cells()
                for i, r in zip(order[group].tolist(), part[order[group]].tolist(), strict=True):
                    out[i] = texts[r % CHUNK_ROWS]
            yield out

    def take(self, rows: npt.ArrayLike) -> Column:
        """The column of the given rows (by position), in that order."""
        rows = np.asarray(rows, dtype=np.intp).reshape(-1)
        if self.blocks is None:
            return Column(len(rows), self.codes[rows], list(self.texts))
        builder = ColumnBuilder()
        for part in self._parts(rows):
            builder.add(part)
        return builder.finish()

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """(every cell's number, nan where it is not one; where a cell is not a number) as
        float64 and bool arrays; numbers parse as `float` does (inf, nan and 1e999 included)."""
        if self.blocks is None:
            parsed = [_number(t) for t in self.texts]
            words = np.array([x is None for x in parsed], dtype=bool)
            table = np.array([math.nan if x is None else x for x in parsed], dtype=np.float64)
            return table[self.codes], words[self.codes]
        values, words = np.empty(self.n), np.zeros(self.n, dtype=bool)
        for k, b in enumerate(self.blocks):
            at = slice(k * CHUNK_ROWS, k * CHUNK_ROWS + b.n)
            values[at], words[at] = b.numbers()
        return values, words

    def isin(self, texts: frozenset[str] | set[str]) -> np.ndarray:
        """Where a cell's text is one of `texts` (bool per cell)."""
        if self.blocks is None:
            hit = np.array([t in texts for t in self.texts], dtype=bool)
            return hit[self.codes] if len(hit) else np.zeros(self.n, dtype=bool)
        return np.concatenate([b.isin(texts) for b in self.blocks])

    def lookup(self, index: dict[str, int]) -> np.ndarray:
        """Each cell's value in `index` (a text's number), -1 where its text is not there."""
        if self.blocks is None:
            table = np.array([index.get(t, -1) for t in self.texts], dtype=np.intp)
            return table[self.codes] if len(table) else np.zeros(0, dtype=np.intp)
        out = np.empty(self.n, dtype=np.intp)
        for k, b in enumerate(self.blocks):
            cells = b.cells()
            out[k * CHUNK_ROWS : k * CHUNK_ROWS + b.n] = [index.get(t, -1) for t in cells]
        return out

    def distinct(self, rows=None, most: int = DICTIONARY) -> list[str] | int:
        """The distinct texts of the cells (of `rows`), sorted; their count when over `most`."""
        if self.blocks is None:
            codes = self.codes if rows is None else self.codes[np.asarray(rows, dtype=np.intp)]
            used = np.flatnonzero(np.bincount(codes, minlength=len(self.texts)))
            found = sorted(self.texts[c] for c in used.tolist())
            return found if len(found) <= most else len(found)
        parts = (b.cells() for b in self.blocks) if rows is None else self._parts(rows)
        seen: set[str] = set()
        hashes = []
        for part in parts:
            if len(seen) <= most:
                seen.update(part)
            hashes.append(np.fromiter(map(hash, part), np.int64, len(part)))
        if len(seen) <= most:
            return sorted(seen)
        return len(np.unique(np.concatenate(hashes)))  # distinct hashes: distinct texts


class _Block:
    """CHUNK_ROWS cells of a column: float64 `values` whose `style` ("repr": `repr(x)`, "int":
    `str(int(x))`) spells the cell, except at `at`, whose texts are `text` cut at `ends`; or,
    with `values` None, every cell's text in `text` cut at `ends`."""

    __slots__ = ("n", "values", "style", "at", "text", "ends")

    def __init__(self, cells: list[str]) -> None:
        self.n = len(cells)
        self.values, self.style = _spelt(cells)
        self.at = np.zeros(0, dtype=np.intp)  # (every cell's text is kept when values is None)
        if self.values is None:
            kept = cells
        else:
            spelt = self._spell(self.values)
            differ = np.fromiter(map(str.__ne__, cells, spelt), bool, self.n)
            self.at = np.flatnonzero(differ | np.isnan(self.values))  # words, inf, nan: as text
            kept = [cells[i] for i in self.at.tolist()]
            if len(kept) * 2 > self.n:  # mostly not numbers as they are spelt: keep the text
                self.values, self.at, kept = None, self.at[:0], cells
        self.text = "".join(kept)
        self.ends = np.cumsum(np.fromiter(map(len, kept), np.int64, len(kept)), dtype=np.int64)

    @property
    def nbytes(self) -> int:
        arrays = (self.values, self.at, self.ends)  # values None: text only
        return len(self.text) + sum(a.nbytes for a in arrays if a is not None)

    def _spell(self, values: np.ndarray) -> list[str]:
        xs = values.tolist()
        if self.style == "int":
            return [str(int(x)) if x.is_integer() else "" for x in xs]
        return list(map(repr, xs))

    def _kept(self) -> list[str]:
        ends = self.ends.tolist()
        starts = [0, *ends[:-1]] if ends else []
        return [self.text[a:b] for a, b in zip(starts, ends, strict=True)]

    def cells(self) -> list[str]:
        if self.values is None:
            return self._kept()
        out = self._spell(self.values)
        for i, t in zip(self.at.tolist(), self._kept(), strict=True):
            out[i] = t
        return out

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        if self.values is None:
            parsed = [_number(t) for t in self._kept()]
            words = np.array([x is None for x in parsed], dtype=bool)
            return np.array([math.nan if x is None else x for x in parsed]), words
        values, words = self.values.copy(), np.zeros(self.n, dtype=bool)
        for i, t in zip(self.at.tolist(), self._kept(), strict=True):
            x = _number(t)
            values[i], words[i] = (math.nan, True) if x is None else (x, False)
        return values, words

    def isin(self, texts: frozenset[str] | set[str]) -> np.ndarray:
        if self.values is None:
            return np.fromiter((t in texts for t in self._kept()), bool, self.n)
        hit = np.zeros(self.n, dtype=bool)
        if any(_spelling(t) is not None for t in texts):  # a number's own spelling
            spelt = self._spell(self.values)
            hit[:] = [t in texts for t in spelt]
        hit[self.at] = [t in texts for t in self._kept()]
        return hit


def _spelt(cells: list[str]) -> tuple[np.ndarray | None, str]:
    """(the cells' numbers, nan where not a finite one, or None when few are; the spelling
    that gives back the most of them: "repr" or "int")."""
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        parsed = [_number(c) for c in cells]
        if sum(x is not None for x in parsed) * 2 <= len(cells):
            return None, "repr"
        values = np.array([math.nan if x is None else x for x in parsed], dtype=np.float64)
    values[~np.isfinite(values)] = np.nan  # not finite: kept as text (see _Block)
    finite = values[np.isfinite(values)]
    whole = len(finite) and np.all(finite == np.floor(finite)) and np.all(np.abs(finite) < 2**63)
    if whole and cells and "." not in cells[int(np.argmax(np.isfinite(values)))]:
        return values, "int"
    return values, "repr"


class ColumnBuilder:
    """A `Column` made from cells added a batch at a time: a dictionary while the distinct
    texts number at most `DICTIONARY`, then blocks."""

    def __init__(self) -> None:
        self.index: dict[str, int] | None = {}
        self.codes: list[np.ndarray] = []
        self.pending: list[str] = []
        self.blocks: list[_Block] = []
        self.n = 0

    def add(self, cells: list[str]) -> None:
        """Append cells (stripped text) to the column."""
        self.n += len(cells)
        if self.index is not None:
            index = self.index
            codes = list(map(index.get, cells))
            if None in codes:
                for i, c in enumerate(codes):
                    if c is None:
                        codes[i] = index.setdefault(cells[i], len(index))
            if len(index) <= DICTIONARY:
                self.codes.append(np.array(codes, dtype=np.uint16))
                return
            texts = list(index)  # too many: the cells so far become blocks
            self.index, done = None, self.codes
            self.codes = []
            for part in done:
                self._blocks([texts[c] for c in part.tolist()])
        self._blocks(cells)

    def _blocks(self, cells: list[str]) -> None:
        self.pending.extend(cells)
        while len(self.pending) >= CHUNK_ROWS:
            self.blocks.append(_Block(self.pending[:CHUNK_ROWS]))
            del self.pending[:CHUNK_ROWS]

    def finish(self) -> Column:
        """The column of every cell added."""
        if self.index is not None:
            codes = np.concatenate(self.codes) if self.codes else np.zeros(0, dtype=np.uint16)
            return Column(self.n, codes, list(self.index))
        if self.pending:
            self.blocks.append(_Block(self.pending))
            self.pending = []
        return Column(self.n, blocks=self.blocks)


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
