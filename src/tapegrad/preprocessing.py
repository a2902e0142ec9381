"""A user's table as it comes (a CSV file, a DataFrame, arrays) turned into what a network
trains on, and back. `read_table` reads the cells as text; a `Preprocessor` learns from the
training rows what they mean and is stored with the model, so every use maps them the same way:

- the label: text, or whole numbers with at most `MAX_CLASSES` values, are classes, numbered in
  sorted order as scikit-learn's LabelEncoder does ({0, 1000000} is 2 classes); other numbers
  are a regression target;
- numeric features are standardised with the training rows' mean and standard deviation;
- text features are one-hot over the training rows' categories (an unseen one: all zeros).

A missing cell (see `MISSING`) is an error naming the column, unless `drop_missing=True`.
"""

from __future__ import annotations

import math
import numbers
import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .data import (
    EXACT_INT,
    MAX_CLASSES,
    TABLES,
    DataError,
    Seed,
    csv_rows,
    load_dataset,
    read_csv_rows,
    split_indices,
)
from .limits import MAX_CATEGORIES, MAX_COLUMNS
from .limits import MAX_INPUTS as MAX_WIDTH

if TYPE_CHECKING:
    # pandas ships no type hints and pandas-stubs is not among the dependencies
    from pandas import DataFrame  # type: ignore[import-untyped]

# MAX_CATEGORIES, MAX_COLUMNS (feature columns) and MAX_WIDTH (network inputs after one-hot
# encoding, limits.MAX_INPUTS) are tapegrad.limits', shared with training and nn.MLP.
MAX_NAME = 1_000  # characters in a column, category or class name

SNIFF_ROWS = 100  # rows below the first that decide whether it is a header

MISSING = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "?"})
TASKS = ("auto", "classification", "regression")
FORMAT = "tapegrad-table"
VERSION = 1


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Table:
    """A CSV's cells as text (stripped), row by row, with the file line each row started on, so
    that every later error can name the file, line and column."""

    name: str
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]
    header: bool = True
    dropped: int = 0  # rows left out by drop_missing

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {len(self)} rows, columns={self.columns!r})"

    def index(self, key: int | str, what: str = "column") -> int:
        """The position of a column by name or index (negative from the end), else a DataError."""
        width = len(self.columns)
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if not -width <= key < width:
                raise DataError(
                    f"{self.name}: {what} {key} is out of range: the file has {width} columns "
                    f"(use 0..{width - 1} or -1 for the last)"
                )
            return int(key) % width
        if isinstance(key, str):
            if key in self.columns and self.header:
                return self.columns.index(key)
            if key.lstrip("-").isdigit():
                return self.index(int(key), what)
            if not self.header:
                raise DataError(
                    f"{self.name}: {what} {key!r} asked for by name, but the file has no header "
                    f"row; give its index instead (0..{width - 1}, or -1 for the last)"
                )
            raise DataError(
                f"{self.name}: no column named {key!r}; the columns are "
                f"{', '.join(map(repr, self.columns))}"
            )
        raise TypeError(f"a column is a name or an index, got {key!r}")

    def column(self, key: int | str) -> list[str]:
        """One column's cells, top to bottom."""
        c = self.index(key)
        return [row[c] for row in self.rows]

    def take(self, rows: Iterable[int]) -> Table:
        """The table with only the given rows (by position), in that order."""
        rows = list(rows)
        cells, lines = [self.rows[i] for i in rows], [self.lines[i] for i in rows]
        return Table(self.name, list(self.columns), cells, lines, self.header)

    def without(self, columns: Iterable[int | str]) -> Table:
        """The table without the given columns (by name or index): `--drop`."""
        gone = {self.index(key, "column to drop") for key in columns}
        keep = [c for c in range(len(self.columns)) if c not in gone]
        if not keep:
            raise DataError(f"{self.name}: dropping {len(gone)} column(s) leaves none")
        cells = [[row[c] for c in keep] for row in self.rows]
        names = [self.columns[c] for c in keep]
        return Table(self.name, names, cells, list(self.lines), self.header, self.dropped)

    def where(self, r: int, c: int) -> str:
        """'file: line L, column C ('name')' for row r, column c: the start of an error."""
        return f"{self.name}: line {self.lines[r]}, column {c + 1} ({self.columns[c]!r})"

    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray,
        y: np.ndarray | None = None,
        feature_names: Sequence[str] | None = None,
        label: str = "target",
        class_names: Sequence[str] | None = None,
        name: str = "arrays",
    ) -> Table:
        """Numbers (and labels, `class_names[y]` if given) as if read from a CSV file, exactly."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array, got shape {X.shape}")
        names = list(feature_names or [f"x{i}" for i in range(X.shape[1])])
        rows = [[repr(v) for v in row] for row in X.tolist()]
        if y is not None:
            y = np.asarray(y).tolist()
            if len(y) != len(rows):
                raise ValueError(f"X has {len(rows)} rows but y has {len(y)} labels")
            if class_names is not None:
                cells = [class_names[int(i)] for i in y]
            else:  # numbers keep every bit; text labels (class names) stay as they are
                cells = [v if isinstance(v, str) else _number_text(v) for v in y]
            rows = [[*row, cell] for row, cell in zip(rows, cells, strict=True)]
            names.append(label)
        return cls(name, names, rows, list(range(2, len(rows) + 2)), True)

    @classmethod
    def from_frame(cls, frame: DataFrame, name: str = "DataFrame") -> Table:
        """A pandas DataFrame (without its index) as a Table, read through its CSV text."""
        if not callable(getattr(frame, "to_csv", None)):
            raise TypeError(f"from_frame takes a pandas DataFrame, got {type(frame).__name__}")
        return _table(name, csv_rows(name, frame.to_csv(index=False)), header=True)

    def without_missing(self) -> Table:
        """The table without the rows that have a missing cell (see `MISSING`): `drop_missing`."""
        complete = [r for r, row in enumerate(self.rows) if not any(c in MISSING for c in row)]
        if not complete:
            raise DataError(f"{self.name}: every row has a missing cell; nothing is left to use")
        kept = self.take(complete)
        kept.dropped = self.dropped + len(self) - len(complete)
        return kept


def read_table(
    path: str | os.PathLike,
    *,
    header: bool | None = None,
    drop: Sequence[int | str] = (),
    drop_missing: bool = False,
) -> Table:
    """Read a CSV file's cells as text: a `Table` (a bad file is a DataError naming the line).

    `header=None` takes the first row as column names when it looks like names over the
    `SNIFF_ROWS` below (else the columns are x0, x1, ...). `drop` leaves columns out (by name or
    index); `drop_missing` drops every row with a missing cell in the remaining columns.
    """
    name, rows = read_csv_rows(path)
    table = _table(name, rows, header)
    if drop:
        table = table.without(drop)
    return table.without_missing() if drop_missing else table


def _table(name: str, rows: list[tuple[int, list[str]]], header: bool | None) -> Table:
    """The Table of CSV rows (line, cells): the header found or given, every row as wide."""
    if not rows:
        raise DataError(f"{name}: the file is empty (no rows of data)")
    first_line, first = rows[0]
    first = [c.strip() for c in first]
    width = len(first)
    if header is None:
        header = _looks_like_header(first, [cells for _, cells in rows[1:SNIFF_ROWS]])
    if header:
        columns = _column_names(name, first_line, first)
        rows = rows[1:]
        if not rows:
            raise DataError(f"{name}: line {first_line}: a header but no rows of data")
    else:
        columns = [f"x{i}" for i in range(width)]
    cells, lines = [], []
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{name}: line {line}: expected {width} columns, found {len(row)}")
        cells.append([c.strip() for c in row])
        lines.append(line)
    return Table(name, columns, cells, lines, bool(header))


def _numbers(cells: list[str]) -> np.ndarray | None:
    """The cells as float64, or None when one is not a number (inf and nan parse)."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        return None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _looks_like_header(first: list[str], below: list[list[str]]) -> bool:
    for c, top in enumerate(first):
        under = [row[c].strip() for row in below if c < len(row)]
        if not _is_number(top) and any(_is_number(u) for u in under if u not in MISSING):
            return True  # a name over numbers
    if any(_is_number(top) or top in MISSING for top in first):
        return False
    # all text: names when none of them recurs in its own column below
    return not any(
        top in (row[c].strip() for row in below if c < len(row)) for c, top in enumerate(first)
    )


def _column_names(name: str, line: int, first: list[str]) -> list[str]:
    columns: list[str] = []
    for c, cell in enumerate(first):
        bad = _control(cell)
        if bad:
            raise DataError(
                f"{name}: line {line}, column {c + 1}: the column name {cell!r} holds a control "
                f"character ({bad}); column names must be printable text"
            )
        if len(cell) > MAX_NAME:
            raise DataError(
                f"{name}: line {line}, column {c + 1}: the column name is {len(cell)} "
                f"characters long (at most {MAX_NAME})"
            )
        cell = cell or f"x{c}"  # an unnamed column (pandas writes its index so)
        if cell in columns:
            raise DataError(
                f"{name}: line {line}, column {c + 1}: the column name {cell!r} is also column "
                f"{columns.index(cell) + 1}; column names must differ"
            )
        columns.append(cell)
    return columns


def _control(text: str) -> str | None:
    """'U+0007' for the first control character (or lone surrogate) in text, else None."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return f"U+{ord(ch):04X}"
    return None


def _number_text(v) -> str:
    if isinstance(v, numbers.Integral):
        return str(int(v))
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < EXACT_INT else repr(v)


# --- learning the mapping --------------------------------------------------------------------


@dataclass
class _Feature:
    """One input column: numbers (standardised with mean and scale) or categories (one-hot)."""

    name: str
    position: int
    mean: float = 0.0
    scale: float = 1.0
    categories: list[str] | None = None

    @property
    def width(self) -> int:
        return 1 if self.categories is None else len(self.categories)

    def outputs(self) -> list[str]:
        if self.categories is None:
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]


@dataclass
class Preprocessor:
    """What a table's training rows teach about turning its cells into network inputs and
    targets, and predictions back into the label's values. `label`: its column (None: features
    only); `task`: "auto" (see the module's docstring), "classification" or "regression";
    `categorical`: numeric columns to one-hot; `standardize=False` feeds numbers as they are."""

    label: int | str | None = -1
    task: str = "auto"
    categorical: Sequence[int | str] = ()
    standardize: bool = True
    # learnt by fit:
    label_name: str | None = field(default=None, init=False)
    label_position: int | None = field(default=None, init=False)
    width: int = field(default=0, init=False)  # columns of the training table
    header: bool = field(default=True, init=False)
    classes: list[str] | None = field(default=None, init=False)
    numeric_classes: bool = field(default=False, init=False)
    target_mean: float = field(default=0.0, init=False)  # a regression's target, standardised
    target_scale: float = field(default=1.0, init=False)
    features: list[_Feature] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")

    @property
    def fitted(self) -> bool:
        """Whether `fit` has learnt the mapping."""
        return bool(self.features)

    @property
    def feature_names(self) -> list[str]:
        """The input columns, in order."""
        return [f.name for f in self.features]

    @property
    def output_names(self) -> list[str]:
        """One name per network input: a numeric column's name, or 'column=category'."""
        return [name for f in self.features for name in f.outputs()]

    @property
    def n_inputs(self) -> int:
        """How many numbers one row becomes (the network's `nin`)."""
        return sum(f.width for f in self.features)

    @property
    def n_classes(self) -> int | None:
        """How many classes the label has (None for a regression)."""
        return None if self.classes is None else len(self.classes)

    @property
    def is_classifier(self) -> bool:
        """Whether the label is classes (else numbers: a regression)."""
        return self.classes is not None

    def describe(self) -> str:
        """What was inferred, in one line, e.g. "3 classes from column 'species': setosa,
        versicolor, virginica; 4 numeric features, standardised"."""
        self._check_fitted()
        if self.label_name is None:
            what = "no label column"
        elif self.classes is not None:
            shown = ", ".join(self.classes[:10]) + (", ..." if len(self.classes) > 10 else "")
            what = f"{len(self.classes)} classes from column {self.label_name!r}: {shown}"
        else:
            what = f"regression on column {self.label_name!r} (numbers)"
        numeric = sum(f.categories is None for f in self.features)
        parts = []
        if numeric:
            how = "standardised" if self.standardize else "as they are"
            parts.append(f"{numeric} numeric feature{'s' * (numeric != 1)}, {how}")
        for f in self.features:
            if f.categories is not None:
                parts.append(f"{f.name!r} one-hot over {len(f.categories)} categories")
        return f"{what}; {'; '.join(parts)}"

    def __repr__(self) -> str:
        if not self.fitted:
            return f"Preprocessor(label={self.label!r}, task={self.task!r}, not fitted)"
        return f"Preprocessor({self.describe()})"

    def fit(self, table: Table, rows: Sequence[int] | np.ndarray | None = None) -> Preprocessor:
        """Learn the mapping from `table`: the classes from every row (a held-out row needs an
        output too), the rest from `rows` only (the training split; default all). Returns self."""
        if not isinstance(table, Table):
            raise TypeError(f"fit takes a Table (see read_table), got {type(table).__name__}")
        train = list(range(len(table))) if rows is None else [int(r) for r in rows]
        if not train:
            raise DataError(f"{table.name}: no training rows to learn from")
        if not all(0 <= r < len(table) for r in train):
            raise ValueError(f"rows must be row positions in 0..{len(table) - 1}")
        label_at, forced = self._learn_label(table)
        self._learn_features(table, label_at, forced, train, train)
        return self

    def fit_split(
        self, table: Table, test_fraction: float = 0.2, seed: Seed = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`fit` on the training rows of a split stratified by class (`data.split_indices`), in
        one pass (every row is still checked). Returns the (train, test) row indices."""
        if not isinstance(table, Table):
            raise TypeError(f"fit takes a Table (see read_table), got {type(table).__name__}")
        label_at, forced = self._learn_label(table)
        strata = None if self.classes is None else self._encode(table)
        train, test = split_indices(len(table), test_fraction, seed, stratify=strata)
        self._learn_features(table, label_at, forced, train.tolist(), range(len(table)))
        return train, test

    def _learn_label(self, table: Table) -> tuple[int | None, set[int]]:
        """Learn the label's classes from every row: (its position, the columns to one-hot)."""
        label_at = None if self.label is None else table.index(self.label, "label column")
        forced = {table.index(c, "categorical column") for c in self.categorical}
        if label_at in forced:
            raise DataError(f"{table.name}: the label column cannot also be a categorical feature")
        positions = [c for c in range(len(table.columns)) if c != label_at]
        if not positions:
            raise DataError(
                f"{table.name}: no feature columns (the file has {len(table.columns)} column(s))"
            )
        for c in [*positions, *([] if label_at is None else [label_at])]:
            _check_missing(table, c)
        self.features = []  # unfitted until the features are learnt: never half of two fits
        self.classes, self.numeric_classes = None, False
        if label_at is not None:
            self.classes, self.numeric_classes = _learn_labels(table, label_at, self.task)
        self.label_name = None if label_at is None else table.columns[label_at]
        self.label_position = label_at
        self.width, self.header = len(table.columns), table.header
        return label_at, forced

    def _learn_features(self, table: Table, label_at, forced, train: list[int], vet) -> None:
        """Learn the features from the `train` rows (checked on `vet`), and the target's scale."""
        features = []
        for c in range(len(table.columns)):
            if c == label_at:
                continue
            cells = table.column(c)
            x = None if c in forced else _numeric_column(table, c, cells)
            if x is not None:
                features.append(self._numeric(table, c, x[train]))
            else:
                seen = [cells[r] for r in vet]
                features.append(self._categories(table, c, [cells[r] for r in train], seen))
        if sum(f.width for f in features) > MAX_WIDTH:
            raise DataError(f"{table.name}: one-hot encoding gives more than {MAX_WIDTH} inputs")
        self.target_mean, self.target_scale = 0.0, 1.0
        if label_at is not None and self.classes is None and self.standardize:
            y = _finite_column(table, label_at, table.column(label_at))[train]
            self.target_mean, self.target_scale = _mean_and_scale(y)
        self.features = features

    def _numeric(self, table: Table, c: int, x: np.ndarray) -> _Feature:
        feature = _Feature(table.columns[c], c)
        if self.standardize:
            feature.mean, feature.scale = _mean_and_scale(x)
        return feature

    def _categories(self, table: Table, c: int, cells: list[str], seen: list[str]) -> _Feature:
        """One-hot over the categories of `cells`, after checking every cell `seen`."""
        distinct = sorted(set(seen))
        if len(distinct) > MAX_CATEGORIES:
            col = table.columns[c]
            raise DataError(
                f"{table.name}: column {c + 1} ({col!r}) holds {len(distinct)} different "
                f"text values, too many to one-hot encode (at most {MAX_CATEGORIES}): it looks "
                f"like an identifier or free text; leave it out with drop=[{col!r}] "
                f"(--drop {_shell_word(col)})"
            )
        for category in distinct:
            _check_name(table, c, category, "category")
        return _Feature(table.columns[c], c, categories=sorted(set(cells)))

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("this Preprocessor has not been fitted: call fit(table) first")

    def transform(self, table: Table, unknown: str = "zeros") -> np.ndarray:
        """The network inputs (n, n_inputs) for `table`, its columns found by name (by position
        without a header); an unseen category gives zeros, or a DataError (`unknown="error"`)."""
        self._check_fitted()
        if unknown not in ("zeros", "error"):
            raise ValueError(f"unknown must be 'zeros' or 'error', got {unknown!r}")
        positions = self._positions(table)
        X = np.zeros((len(table), self.n_inputs), dtype=np.float64)
        at = 0
        for f, c in zip(self.features, positions, strict=True):
            _check_missing(table, c)
            cells = table.column(c)
            if f.categories is None:
                X[:, at] = (_finite_column(table, c, cells) - f.mean) / f.scale
            else:
                index = {cat: i for i, cat in enumerate(f.categories)}
                for r, v in enumerate(cells):
                    i = index.get(v)
                    if i is not None:
                        X[r, at + i] = 1.0
                    elif unknown == "error":
                        raise DataError(
                            f"{table.where(r, c)}: {v!r} is not one of the categories seen in "
                            f"training ({_few(f.categories)})"
                        )
            at += f.width
        return X

    def _positions(self, table: Table) -> list[int]:
        if table.header and self.header:
            missing = [n for n in self.feature_names if n not in table.columns]
            if missing:
                raise DataError(
                    f"{table.name}: no column named {_few(missing)}; the model was trained on "
                    f"columns {_few(self.feature_names)}"
                )
            return [table.columns.index(n) for n in self.feature_names]
        n = len(table.columns)
        if n == len(self.features):
            return list(range(n))
        if n == self.width:
            return [f.position for f in self.features]
        raise DataError(
            f"{table.name}: {n} columns, but the model takes {len(self.features)} feature "
            f"columns ({self.width} with the label)"
        )

    def encode_labels(self, labels: Table | Sequence) -> np.ndarray:
        """The training targets: class indices (intp), or a regression's numbers (float64,
        standardised), for a table holding the label column or the labels themselves."""
        self._check_fitted()
        return self._encode(labels)

    def _encode(self, labels: Table | Sequence) -> np.ndarray:
        """`encode_labels` once the label is learnt (`fit_split` needs it before the rest)."""
        if self.label_name is None or self.label_position is None:
            raise DataError("this Preprocessor was fitted without a label column")
        place, cells = self._label_cells(labels, self.label_name, self.label_position)
        if place is not None:
            _check_missing(*place)

        def where(r: int) -> str:
            return place[0].where(r, place[1]) if place is not None else f"label {r}"

        if self.classes is None:
            y = _finite_column(None, None, cells, where)
            return (y - self.target_mean) / self.target_scale
        keys: dict[str | float, int] = {}
        for i, name in enumerate(self.classes):
            keys[float(name) if self.numeric_classes else name] = i
        out = np.empty(len(cells), dtype=np.intp)
        for r, v in enumerate(cells):
            key: str | float | None = v
            if self.numeric_classes:
                try:
                    key = float(v)
                except ValueError:
                    key = None
            index = None if key is None else keys.get(key)
            if index is None:
                raise DataError(
                    f"{where(r)}: {v!r} is not one of the {len(self.classes)} classes the model "
                    f"knows ({_few(self.classes)})"
                )
            out[r] = index
        return out

    def _label_cells(
        self, labels: Table | Sequence, name: str, position: int
    ) -> tuple[tuple[Table, int] | None, list[str]]:
        """((table, column) the labels are in, or None for labels given as such; the cells)."""
        if isinstance(labels, Table):
            if labels.header and self.header:
                if name not in labels.columns:
                    raise DataError(f"{labels.name}: no label column {name!r}")
                c = labels.columns.index(name)
            elif len(labels.columns) == self.width:
                c = position
            else:
                raise DataError(
                    f"{labels.name}: {len(labels.columns)} columns, but the label is column "
                    f"{position + 1} of {self.width}"
                )
            return (labels, c), labels.column(c)
        values = np.asarray(labels).tolist() if isinstance(labels, np.ndarray) else list(labels)
        return None, [v if isinstance(v, str) else _number_text(v) for v in values]

    def decode_labels(self, predictions: Sequence | np.ndarray) -> list[str] | np.ndarray:
        """The label's own values for predictions: class names, or a regression's numbers."""
        self._check_fitted()
        if self.classes is None:
            out = np.asarray(predictions, dtype=np.float64)
            return out * self.target_scale + self.target_mean
        names = []
        for p in np.asarray(predictions).ravel().tolist():
            if isinstance(p, float) and p.is_integer():
                p = int(p)
            if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p < len(self.classes):
                raise ValueError(f"{p!r} is not a class index in 0..{len(self.classes) - 1}")
            names.append(self.classes[p])
        return names

    def to_dict(self) -> dict:
        """Plain JSON types: what a checkpoint stores."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "version": VERSION,
            "task": "classification" if self.classes is not None else "regression",
            "label": self.label_name,
            "label_position": self.label_position,
            "width": self.width,
            "header": self.header,
            "standardize": self.standardize,
            "classes": None if self.classes is None else list(self.classes),
            "numeric_classes": self.numeric_classes,
            "target": [self.target_mean, self.target_scale],
            "features": [
                {"name": f.name, "position": f.position, "mean": f.mean, "scale": f.scale}
                if f.categories is None
                else {"name": f.name, "position": f.position, "categories": list(f.categories)}
                for f in self.features
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessor:
        """The inverse of `to_dict`, checking every field first (a DataError says which)."""
        task, width = _check_header(d)
        label, position = _check_label(d, task, width)
        classes = _check_classes(d, task)
        target_mean, target_scale = _check_target(d)
        features = _check_features(d, width, label, position)
        prep = cls(label=label, task=task, standardize=d["standardize"])
        prep.label_name, prep.label_position = label, position
        prep.width, prep.header = width, d["header"]
        prep.classes, prep.numeric_classes = classes, d["numeric_classes"]
        prep.target_mean, prep.target_scale = target_mean, target_scale
        prep.features = features
        return prep


# --- helpers ---------------------------------------------------------------------------------


def _check_missing(table: Table, c: int) -> None:
    cells = table.column(c)
    if not MISSING.isdisjoint(cells):
        gaps = [r for r, v in enumerate(cells) if v in MISSING]
        n = len(gaps)
        raise DataError(
            f"{table.name}: column {c + 1} ({table.columns[c]!r}) has {n} missing "
            f"cell{'s' * (n != 1)} (first on line {table.lines[gaps[0]]}); fill "
            f"{'them' if n != 1 else 'it'} in, or leave such rows out with drop_missing=True "
            "(--drop-missing)"
        )


def _numeric_column(table: Table, c: int, cells: list[str]) -> np.ndarray | None:
    """The column's finite numbers, None when mostly text; a stray word is a DataError."""
    x = _numbers(cells)
    if x is not None:
        return _finite_column(table, c, cells) if not np.all(np.isfinite(x)) else x
    words = [r for r, v in enumerate(cells) if not _is_number(v)]
    if 2 * len(words) > len(cells):
        return None
    r = words[0]
    col = table.columns[c]
    raise DataError(
        f"{table.where(r, c)}: {cells[r]!r} is not a finite number (the column's other cells "
        f"are numbers; fix the cell, or read the column as categories with "
        f"categorical=[{col!r}])"
    )


def _finite_column(table, c, cells: list[str], where=None) -> np.ndarray:
    """The cells as finite float64; else a DataError at the first cell that is not one."""
    x = _numbers(cells)
    if x is not None and np.all(np.isfinite(x)):
        return x
    for r, v in enumerate(cells):
        _finite(table, r, c, v, where)
    raise AssertionError("unreachable: some cell is not finite")


def _finite(table, r: int, c, cell: str, where=None) -> float:
    try:
        x = float(cell)
    except ValueError:
        x = None
    if x is None or not math.isfinite(x):
        place = where(r) if where is not None else table.where(r, c)
        why = "is not a number" if x is None else "is not a finite number"
        if x is not None and cell.lower().lstrip("+-") not in ("inf", "infinity"):
            why = "is beyond the range of a float (about 1.8e308)"
        raise DataError(f"{place}: {cell!r} {why}")
    return x


def _mean_and_scale(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation as scikit-learn's StandardScaler has them (computed on the
    column over its largest magnitude, so huge values cannot overflow; a constant column: 1)."""
    big = float(np.max(np.abs(x)))
    if big == 0.0:
        return 0.0, 1.0
    z = x / big
    mean, std = float(np.mean(z)) * big, float(np.std(z)) * big
    if std <= 10 * np.finfo(np.float64).eps * max(abs(mean), np.finfo(np.float64).tiny):
        std = 1.0
    return mean, std


def _learn_labels(table: Table, c: int, task: str) -> tuple[list[str] | None, bool]:
    """(class names in index order, whether they are numbers), or (None, False) for a regression."""
    cells = table.column(c)
    col = table.columns[c]
    where = f"{table.name}: column {c + 1} ({col!r})"
    x = _numbers(cells)
    if x is None and task == "regression":
        r = next(r for r, v in enumerate(cells) if not _is_number(v))
        raise DataError(
            f"{table.where(r, c)}: {cells[r]!r} is not a number, but a regression needs numbers"
        )
    if x is not None:
        if not np.all(np.isfinite(x)):
            _finite_column(table, c, cells)  # raises at the first cell, saying why
        whole = bool(np.all(x == np.floor(x)))
        distinct = np.unique(x)
        if task == "regression" or (task == "auto" and (not whole or len(distinct) > MAX_CLASSES)):
            return None, False
        if whole and np.any(np.abs(x) >= EXACT_INT):
            r = int(np.argmax(np.abs(x) >= EXACT_INT))
            raise DataError(
                f"{table.where(r, c)}: the label {cells[r]!r} is too large to name a class "
                "(whole numbers from 2**53 on are not exact in floating point); for numbers "
                "to predict, use task='regression' (--task regression)"
            )
        _class_count(where, len(distinct), cells)
        # each class is named by its first appearance in the file ('9' and '9.0' are one)
        _, first = np.unique(x, return_index=True)
        names = [cells[r] for r in first.tolist()]
        for name in names:
            _check_name(table, c, name, "class name")
        return names, True
    names = sorted(set(cells))
    _class_count(where, len(names), cells)
    for name in names:
        _check_name(table, c, name, "class name")
    return names, False


def _class_count(where: str, k: int, cells: list[str]) -> None:
    if k < 2:
        raise DataError(
            f"{where}: every row has the same label {cells[0]!r}; a classifier needs at least "
            "two classes"
        )
    if k > MAX_CLASSES:
        raise DataError(
            f"{where}: {k} different labels, more than the {MAX_CLASSES} classes tapegrad "
            "trains; for numbers to predict, use task='regression' (--task regression)"
        )


def _check_name(table: Table, c: int, name: str, what: str) -> None:
    bad = _control(name)
    if bad or len(name) > MAX_NAME:
        r = table.column(c).index(name)
        why = f"holds a control character ({bad})" if bad else f"is {len(name)} characters long"
        raise DataError(f"{table.where(r, c)}: the {what} {name[:40]!r} {why}")


def _few(items: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(map(repr, items[:n]))
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _shell_word(name: str) -> str:
    safe = name and all(ch.isalnum() or ch in "_-.+=:/" for ch in name)
    return name if safe else "'" + name.replace("'", "'\\''") + "'"


BUILTIN_LABELS = {"iris": "species", "digits": "digit"}  # the label column's name, by data set


def builtin_table(name: str, seed: Seed = None) -> Table:
    """A built-in data set (`tapegrad.data.DATASETS`) as a Table, to take a CSV file's path;
    its label column is named as in `BUILTIN_LABELS`, else "class" (tables) or "label"."""
    ds = load_dataset(name, seed=seed)
    label = BUILTIN_LABELS.get(name, "class" if name in TABLES else "label")
    return Table.from_arrays(
        ds.X, ds.y, ds.feature_names, label=label, class_names=ds.class_names, name=name
    )


# --- from_dict -------------------------------------------------------------------------------


def _bad(why: str) -> DataError:
    return DataError(f"the stored preprocessing is invalid: {why}")


def _text(v, what: str) -> str:
    if not isinstance(v, str):
        raise _bad(f"{what} must be a string, got {type(v).__name__}")
    if len(v) > MAX_NAME:
        raise _bad(f"{what} is {len(v)} characters long (at most {MAX_NAME})")
    if _control(v):
        raise _bad(f"{what} {v[:40]!r} holds a control character")
    return v


def _int(v, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(f"{what} must be a whole number in [{lo}, {hi}], got {v!r}")
    return v


def _float(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _bad(f"{what} must be a finite number, got {v!r}")
    return float(v)


def _list(v, what: str, most: int) -> list:
    if not isinstance(v, list):
        raise _bad(f"{what} must be a list, got {type(v).__name__}")
    if len(v) > most:
        raise _bad(f"{what} has {len(v)} entries (at most {most})")
    return v


def _names(v, what: str, least: int, most: int) -> list[str]:
    names = [_text(x, f"{what}[{i}]") for i, x in enumerate(_list(v, what, most))]
    if len(names) < least:
        raise _bad(f"{what} has {len(names)} entries (at least {least})")
    if len(set(names)) != len(names):
        raise _bad(f"{what} repeats a name")
    return names


_FIELDS = {
    "format", "version", "task", "label", "label_position", "width", "header",
    "standardize", "classes", "numeric_classes", "target", "features",
}  # fmt: skip


def _check_header(d) -> tuple[str, int]:
    """The format, the known fields, the task, the width and the flags."""
    if not isinstance(d, dict):
        raise _bad(f"expected a JSON object, got {type(d).__name__}")
    if d.get("format") != FORMAT or d.get("version") != VERSION:
        raise _bad(f"expected format {FORMAT!r} version {VERSION}")
    extra = sorted(set(d) - _FIELDS, key=str)
    if extra:
        raise _bad(f"unknown field {extra[0]!r}")
    task = d.get("task")
    if task not in ("classification", "regression"):
        raise _bad(f"task must be 'classification' or 'regression', got {task!r}")
    width = _int(d.get("width"), "width", 1, MAX_COLUMNS + 1)
    for flag in ("header", "standardize", "numeric_classes"):
        if not isinstance(d.get(flag), bool):
            raise _bad(f"{flag} must be true or false")
    return task, width


def _check_label(d, task: str, width: int) -> tuple[str | None, int | None]:
    label = d.get("label")
    if label is None:
        if d.get("label_position") is not None or task == "classification":
            raise _bad("a classifier needs a label column")
        return None, None
    label = _text(label, "label")
    return label, _int(d.get("label_position"), "label_position", 0, width - 1)


def _check_classes(d, task: str) -> list[str] | None:
    if task != "classification":
        if d.get("classes") is not None:
            raise _bad("a regression has no classes")
        return None
    classes = _names(d.get("classes"), "classes", 2, MAX_CLASSES)
    if d["numeric_classes"]:
        try:
            keys = [float(c) for c in classes]
        except ValueError:
            raise _bad("numeric_classes is true but a class name is not a number") from None
        if len(set(keys)) != len(keys) or keys != sorted(keys):
            raise _bad("numeric classes must be distinct numbers in increasing order")
    elif classes != sorted(classes):
        raise _bad("classes must be in sorted order")
    return classes


def _check_target(d) -> tuple[float, float]:
    target = _list(d.get("target"), "target", 2)
    if len(target) != 2:
        raise _bad("target must be [mean, scale]")
    target_mean, target_scale = _float(target[0], "target[0]"), _float(target[1], "target[1]")
    if not target_scale > 0:
        raise _bad(f"target[1] (the scale) must be > 0, got {target_scale!r}")
    return target_mean, target_scale


def _check_features(d, width: int, label, position) -> list:
    raw = _list(d.get("features"), "features", MAX_COLUMNS)
    if not raw:
        raise _bad("features is empty")
    features, seen, total = [], set(), 0
    for i, f in enumerate(raw):
        what = f"features[{i}]"
        if not isinstance(f, dict):
            raise _bad(f"{what} must be an object")
        name = _text(f.get("name"), f"{what}.name")
        pos = _int(f.get("position"), f"{what}.position", 0, width - 1)
        if name in seen or name == label or pos == position:
            raise _bad(f"{what} repeats a column")
        seen.add(name)
        features.append(_check_feature(f, what, name, pos))
        total += features[-1].width
        if total > MAX_WIDTH:
            raise _bad(f"the features make more than {MAX_WIDTH} inputs")
    return features


def _check_feature(f: dict, what: str, name: str, pos: int):
    """One feature column: numeric (mean and scale) or one-hot (its categories)."""
    keys = set(f)
    if keys == {"name", "position", "mean", "scale"}:
        scale = _float(f["scale"], f"{what}.scale")
        if not scale > 0:
            raise _bad(f"{what}.scale must be > 0, got {scale!r}")
        return _Feature(name, pos, _float(f["mean"], f"{what}.mean"), scale)
    if keys == {"name", "position", "categories"}:
        cats = _names(f["categories"], f"{what}.categories", 1, MAX_CATEGORIES)
        if cats != sorted(cats):
            raise _bad(f"{what}.categories must be in sorted order")
        return _Feature(name, pos, categories=cats)
    raise _bad(f"{what} must hold name, position and mean/scale or categories")
