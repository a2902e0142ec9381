"""A user's table as it comes (a CSV file, a DataFrame, arrays) turned into what a network
trains on, and back. `read_table` reads the cells as text; a `Preprocessor` learns from the
training rows what they mean and is stored with the model, so every use maps them the same way:

- the label: text, or whole numbers with at most `MAX_CLASSES` values, are classes, numbered in
  sorted order as scikit-learn's LabelEncoder does ({0, 1000000} is 2 classes); other numbers
  are a regression target;
- numeric features are standardised with the training rows' mean and standard deviation;
- text features are one-hot over the training rows' categories (an unseen one: all zeros).

Missing cells (see `MISSING`) are handled as scikit-learn's SimpleImputer(strategy="median",
add_indicator=True) and a one-hot encoder's own category would: a numeric cell takes the training
rows' median, and a column with missing training cells gets a 0/1 input after its number (1:
missing); a text column's missing cells are the category `MISSING_CATEGORY`. A row without its
label cannot train (`fit_table` leaves such rows out); `drop_missing=True` drops every row with a
missing cell instead.
"""

from __future__ import annotations

import array
import io
import itertools
import math
import numbers
import os
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import data
from .data import (
    CHUNK_ROWS,
    EXACT_INT,
    MAX_CLASSES,
    TABLES,
    Column,
    ColumnBuilder,
    DataError,
    Seed,
    TableCost,
    _number,
    csv_file_rows,
    csv_rows,
    estimate_table_memory,
    load_dataset,
    split_indices,
)
from .limits import MAX_CATEGORIES, MAX_COLUMNS
from .limits import MAX_INPUTS as MAX_WIDTH

if TYPE_CHECKING:
    import numpy.typing as npt

    # pandas ships no type hints and pandas-stubs is not among the dependencies
    from pandas import DataFrame  # type: ignore[import-untyped]

# MAX_CATEGORIES, MAX_COLUMNS (feature columns) and MAX_WIDTH (network inputs after one-hot
# encoding, limits.MAX_INPUTS) are tapegrad.limits', shared with training and nn.MLP.
MAX_NAME = 1_000  # characters in a column, category or class name

SNIFF_ROWS = 100  # rows below the first that decide whether it is a header
READ_ROWS = 4_096  # rows read as text before they go into the columns (a few MB at most)

MISSING = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "?"})
MISSING_CATEGORY = "(missing)"  # a text column's missing cells, as a category of their own
TASKS = ("auto", "classification", "regression")
FORMAT = "tapegrad-table"
VERSION = 1


# --- reading ---------------------------------------------------------------------------------


class Table:
    """A CSV's cells as text (stripped), held column by column as compact `data.Column`s, with
    the file line each row started on, so that every later error can name the file, line and
    column. `rows` and `column()` give the texts as lists (made when asked for)."""

    def __init__(
        self,
        name: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]] | None = None,
        lines: Sequence[int] | np.ndarray | None = None,
        header: bool = True,
        dropped: int = 0,
        *,
        data: list[Column] | None = None,
    ) -> None:
        self.name, self.columns = name, list(columns)
        if data is None:
            cells = [] if rows is None else rows
            data = [Column.of([row[c] for row in cells]) for c in range(len(self.columns))]
        self.data = data
        n = len(data[0]) if data else 0
        lines = np.asarray(range(1, n + 1) if lines is None else lines)
        small = lines.dtype.kind in "iu" and (not len(lines) or lines.max() < 2**31)
        self._lines = lines.astype(np.int32 if small else np.int64, copy=False)
        self.header, self.dropped = header, dropped  # dropped: rows left out by drop_missing
        self.dropped_why = "with a missing cell"  # why they were (for the note that says so)

    def __len__(self) -> int:
        return len(self._lines)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {len(self)} rows, columns={self.columns!r})"

    @property
    def lines(self) -> list[int]:
        """The file line each row started on."""
        return self._lines.tolist()

    @property
    def rows(self) -> list[list[str]]:
        """Every row's cells, as lists of text (made now: a big table's take much memory)."""
        return [list(row) for row in zip(*(col.cells() for col in self.data), strict=True)]

    @property
    def nbytes(self) -> int:
        """Roughly the memory the table holds."""
        return self._lines.nbytes + sum(col.nbytes for col in self.data)

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
        return self.data[self.index(key)].cells()

    def cell(self, r: int, c: int) -> str:
        """The text of row r, column c (positions)."""
        return self.data[c].cell(r)

    def take(self, rows: Iterable[int] | np.ndarray) -> Table:
        """The table with only the given rows (by position), in that order."""
        rows = np.asarray(rows if isinstance(rows, np.ndarray) else list(rows), dtype=np.intp)
        data = [col.take(rows) for col in self.data]
        lines = self._lines[rows]
        return Table(self.name, self.columns, lines=lines, header=self.header, data=data)

    def without(self, columns: Iterable[int | str]) -> Table:
        """The table without the given columns (by name or index): `--drop`."""
        keep = self._kept(columns)
        return Table(
            self.name, [self.columns[c] for c in keep], lines=self._lines, header=self.header,
            dropped=self.dropped, data=[self.data[c] for c in keep],
        )  # fmt: skip

    def _kept(self, columns: Iterable[int | str]) -> list[int]:
        gone = {self.index(key, "column to drop") for key in columns}
        keep = [c for c in range(len(self.columns)) if c not in gone]
        if not keep:
            raise DataError(f"{self.name}: dropping {len(gone)} column(s) leaves none")
        return keep

    def where(self, r: int, c: int) -> str:
        """'file: line L, column C ('name')' for row r, column c: the start of an error."""
        return f"{self.name}: line {int(self._lines[r])}, column {c + 1} ({self.columns[c]!r})"

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
        builders = [ColumnBuilder() for _ in range(X.shape[1])]
        for start in range(0, len(X), CHUNK_ROWS):
            for c, part in enumerate(X[start : start + CHUNK_ROWS].T.tolist()):
                builders[c].add(list(map(repr, part)))
        data = [b.finish() for b in builders]
        if y is not None:
            y = np.asarray(y).tolist()
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
            if class_names is not None:
                cells = [class_names[int(i)] for i in y]
            else:  # numbers keep every bit; text labels (class names) stay as they are
                cells = [v if isinstance(v, str) else _number_text(v) for v in y]
            data.append(Column.of(cells))
            names.append(label)
        return cls(name, names, lines=np.arange(2, len(X) + 2), header=True, data=data)

    @classmethod
    def from_frame(cls, frame: DataFrame, name: str = "DataFrame") -> Table:
        """A pandas DataFrame (without its index) as a Table, read through its CSV text."""
        if not callable(getattr(frame, "to_csv", None)):
            raise TypeError(f"from_frame takes a pandas DataFrame, got {type(frame).__name__}")
        text = io.StringIO(frame.to_csv(index=False), newline="")
        return _table(name, csv_rows(name, text), header=True)

    def without_missing(self, columns: Iterable[int | str] | None = None) -> Table:
        """The table without the rows that have a missing cell (see `MISSING`): `drop_missing`;
        with `columns` (names or indices), a missing cell in those only (a label: a row
        without one cannot train)."""
        which = range(len(self.columns)) if columns is None else [self.index(c) for c in columns]
        gap = np.zeros(len(self), dtype=bool)
        for c in which:
            gap |= self.data[c].isin(MISSING)
        if not gap.any():
            return self
        complete = np.flatnonzero(~gap)
        where = "" if columns is None else f" in {_few([self.columns[c] for c in which])}"
        if not len(complete):
            raise DataError(f"{self.name}: every row has a missing cell{where}; nothing is left")
        kept = self.take(complete)
        kept.dropped = self.dropped + len(self) - len(complete)
        kept.dropped_why = f"with a missing cell{where}"
        return kept


def read_table(
    path: str | os.PathLike,
    *,
    header: bool | None = None,
    drop: Sequence[int | str] = (),
    drop_missing: bool = False,
    memory_limit: int | None = None,
) -> Table:
    """Read a CSV file's cells as text: a `Table` (a bad file is a DataError naming the line).

    `header=None` takes the first row as column names when it looks like names over the
    `SNIFF_ROWS` below (else the columns are x0, x1, ...). `drop` leaves columns out (by name or
    index; they are never stored); `drop_missing` drops every row with a missing cell in the
    remaining columns. A table that would need more memory than `memory_limit` (default
    `data.MAX_TABLE_MEMORY`), read and encoded, is refused before it is read, with the figure.
    """
    limit = data.MAX_TABLE_MEMORY if memory_limit is None else memory_limit
    costs = estimate_table_memory(path)
    name, rows = csv_file_rows(path)
    table = _table(name, rows, header, drop, (costs, limit))
    return table.without_missing() if drop_missing else table


def _table(
    name: str,
    rows: Iterable[tuple[int, list[str]]],
    header: bool | None,
    drop: Sequence[int | str] = (),
    budget: tuple[TableCost, int] | None = None,
) -> Table:
    """The Table of CSV rows (line, cells): the header found or given, every row as wide, the
    columns in `drop` left out, refused when `budget` (its estimate, a limit) is too small."""
    rows = iter(rows)
    head = list(itertools.islice(rows, SNIFF_ROWS))
    if not head:
        raise DataError(f"{name}: the file is empty (no rows of data)")
    first_line, first = head[0]
    first = [c.strip() for c in first]
    width = len(first)
    if header is None:
        header = _looks_like_header(first, [cells for _, cells in head[1:SNIFF_ROWS]])
    if header:
        columns = _column_names(name, first_line, first)
        head = head[1:]
        if not head:
            raise DataError(f"{name}: line {first_line}: a header but no rows of data")
    else:
        columns = [f"x{i}" for i in range(width)]
    keep = list(range(width))
    if drop:
        keep = Table(name, columns, header=bool(header), data=[])._kept(drop)
    if budget is not None:
        _check_budget(name, budget[0], keep, budget[1])
    builders = [ColumnBuilder() for _ in keep]
    lines: array.array[int] = array.array("i")  # 4 bytes: a file of 256 MiB has fewer lines
    batch: list[list[str]] = []
    for line, row in itertools.chain(head, rows):
        if len(row) != width:
            raise DataError(f"{name}: line {line}: expected {width} columns, found {len(row)}")
        batch.append(row)
        lines.append(line)
        if len(batch) == READ_ROWS:
            _add_rows(builders, keep, batch)
    _add_rows(builders, keep, batch)
    data = [b.finish() for b in builders]
    return Table(name, [columns[c] for c in keep], lines=lines, header=bool(header), data=data)


def _add_rows(builders: list[ColumnBuilder], keep: list[int], batch: list[list[str]]) -> None:
    """Hand a batch of rows to the columns (stripped), and empty it."""
    if batch:
        columns = list(zip(*batch, strict=True))
        for builder, c in zip(builders, keep, strict=True):
            builder.add(list(map(str.strip, columns[c])))
        batch.clear()


def _check_budget(name: str, cost: TableCost, keep: list[int], limit: int) -> None:
    """A DataError when the table's estimate (for the columns kept) is over `limit` bytes."""
    need = cost.need(keep)
    if need > limit:
        raise DataError(
            f"{name}: this table would need about {_size(need)} of memory ({cost.rows:,} rows "
            f"of {len(keep)} columns, read and encoded for training; estimated from the file's "
            f"first MiB); the limit is {_size(limit)} (tapegrad.data.MAX_TABLE_MEMORY): leave "
            "columns out (--drop) or use fewer rows"
        )


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _is_number(cell: str) -> bool:
    return _number(cell) is not None


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
    """One input column: numbers (standardised with mean and scale; a missing cell takes
    `median`, and with `indicator` a 0/1 input follows, 1 where the cell was missing) or
    categories (one-hot). A model saved before imputation has no median: its mean is used."""

    name: str
    position: int
    mean: float = 0.0
    scale: float = 1.0
    categories: list[str] | None = None
    median: float | None = None
    indicator: bool = False

    @property
    def width(self) -> int:
        return 1 + self.indicator if self.categories is None else len(self.categories)

    @property
    def fill(self) -> float:
        """The number a missing cell takes."""
        return self.mean if self.median is None else self.median

    def outputs(self) -> list[str]:
        if self.categories is None:
            return [self.name, *([f"{self.name} missing"] if self.indicator else [])]
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
        imputed = [f.name for f in self.features if f.indicator]
        if imputed:
            parts.append(f"missing numbers imputed (median, with an indicator) in {_few(imputed)}")
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
        if rows is None:
            train = np.arange(len(table))
        else:
            train = np.array([int(r) for r in rows], dtype=np.intp)
        if not len(train):
            raise DataError(f"{table.name}: no training rows to learn from")
        if not np.all((train >= 0) & (train < len(table))):
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
        self._learn_features(table, label_at, forced, train, None)
        return train, test

    def refit(self, table: Table, rows: Sequence[int] | np.ndarray) -> Preprocessor:
        """Learn the features (and a regression target's mean and scale) again from `rows`
        only, keeping the label's classes: `fit_table` fits them on the rows it trains on, not
        on the validation rows it then holds out. Returns self."""
        self._check_fitted()
        train = np.asarray(rows, dtype=np.intp).reshape(-1)
        if not len(train):
            raise DataError(f"{table.name}: no training rows to learn from")
        forced = {table.index(c, "categorical column") for c in self.categorical}
        self._learn_features(table, self.label_position, forced, train, train)
        return self

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
        if label_at is not None:
            _check_missing(table, label_at)  # a row without its label cannot train
        self.features = []  # unfitted until the features are learnt: never half of two fits
        self.classes, self.numeric_classes = None, False
        if label_at is not None:
            self.classes, self.numeric_classes = _learn_labels(table, label_at, self.task)
        self.label_name = None if label_at is None else table.columns[label_at]
        self.label_position = label_at
        self.width, self.header = len(table.columns), table.header
        return label_at, forced

    def _learn_features(self, table: Table, label_at, forced, train: np.ndarray, vet) -> None:
        """Learn the features from the `train` rows (checked on the `vet` rows, None: all), and
        the target's scale."""
        features = []
        for c in range(len(table.columns)):
            if c == label_at:
                continue
            x = None if c in forced else _numeric_column(table, c)
            if x is not None:
                features.append(self._numeric(table, c, x[0][train], x[1][train]))
            else:
                features.append(self._categories(table, c, train, vet))
        if sum(f.width for f in features) > MAX_WIDTH:
            raise DataError(f"{table.name}: one-hot encoding gives more than {MAX_WIDTH} inputs")
        self.target_mean, self.target_scale = 0.0, 1.0
        if label_at is not None and self.classes is None and self.standardize:
            y = _finite_column(table.data[label_at], _at(table, label_at))[train]
            self.target_mean, self.target_scale = _mean_and_scale(y)
        self.features = features

    def _numeric(self, table: Table, c: int, x: np.ndarray, gaps: np.ndarray) -> _Feature:
        """A numeric column from its training rows' numbers `x` (nan where `gaps`, missing):
        the median fills the gaps (as SimpleImputer's), then mean and scale are learnt."""
        if gaps.all():
            col = table.columns[c]
            raise DataError(
                f"{table.name}: column {c + 1} ({col!r}) has no value in the training rows, "
                f"only missing cells; leave it out with drop=[{col!r}] (--drop {_shell_word(col)})"
            )
        median = float(np.median(x[~gaps]))
        feature = _Feature(table.columns[c], c, median=median, indicator=bool(gaps.any()))
        if self.standardize:
            feature.mean, feature.scale = _mean_and_scale(np.where(gaps, median, x))
        return feature

    def _categories(self, table: Table, c: int, train: np.ndarray, vet) -> _Feature:
        """One-hot over the categories of the `train` rows, after checking the `vet` rows'."""
        distinct = table.data[c].distinct(vet, most=MAX_CATEGORIES)
        if isinstance(distinct, int):
            col = table.columns[c]
            raise DataError(
                f"{table.name}: column {c + 1} ({col!r}) holds {distinct} different "
                f"text values, too many to one-hot encode (at most {MAX_CATEGORIES}): it looks "
                f"like an identifier or free text; leave it out with drop=[{col!r}] "
                f"(--drop {_shell_word(col)})"
            )
        for category in distinct:
            if category not in MISSING:
                _check_name(table, c, category, "category")
        found = table.data[c].distinct(train, most=MAX_CATEGORIES)
        assert isinstance(found, list)  # a part of the rows checked above
        categories = {MISSING_CATEGORY if t in MISSING else t for t in found}
        return _Feature(table.columns[c], c, categories=sorted(categories))

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("this Preprocessor has not been fitted: call fit(table) first")

    def transform(
        self, table: Table, unknown: str = "zeros", rows: npt.ArrayLike | None = None
    ) -> np.ndarray:
        """The network inputs (n, n_inputs) for `table`, its columns found by name (by position
        without a header); an unseen category gives zeros, or a DataError (`unknown="error"`).
        With `rows` (positions), the inputs of those rows only, as `transform(table)[rows]`
        (every row is checked still): a big table's splits without all of its inputs at once."""
        self._check_fitted()
        if unknown not in ("zeros", "error"):
            raise ValueError(f"unknown must be 'zeros' or 'error', got {unknown!r}")
        positions = self._positions(table)
        picked: slice | np.ndarray = slice(None)
        n = len(table)
        if rows is not None:
            picked = np.asarray(rows, dtype=np.intp).reshape(-1)
            n = len(picked)
        X = np.zeros((n, self.n_inputs))
        at = 0
        for f, c in zip(self.features, positions, strict=True):
            column = table.data[c]
            gaps = column.isin(MISSING)
            if f.categories is None:
                x = np.where(gaps, f.fill, _finite_column(column, _at(table, c), gaps))
                X[:, at] = (x[picked] - f.mean) / f.scale
                if f.indicator:
                    X[:, at + 1] = gaps[picked]
            else:
                index = column.lookup(_codes(f.categories))
                if unknown == "error" and np.any((index < 0) & ~gaps):
                    r = int(np.argmax((index < 0) & ~gaps))
                    raise DataError(
                        f"{table.where(r, c)}: {column.cell(r)!r} is not one of the categories "
                        f"seen in training ({_few(f.categories)})"
                    )
                index = index[picked]
                hot = np.flatnonzero(index >= 0)
                X[hot, at + index[hot]] = 1.0
            at += f.width
        return X

    def unseen(self, table: Table) -> dict[str, int]:
        """{text column: how many of its cells (not missing) hold a category not seen in
        training}, for the columns that have any: `transform` encodes those as all zeros."""
        self._check_fitted()
        out = {}
        for f, c in zip(self.features, self._positions(table), strict=True):
            if f.categories is not None:
                column = table.data[c]
                new = (column.lookup(_codes(f.categories)) < 0) & ~column.isin(MISSING)
                if new.any():
                    out[f.name] = int(np.count_nonzero(new))
        return out

    def labelled(self, table: Table) -> np.ndarray:
        """The positions of the rows whose label cell is not missing (a table with the label)."""
        self._check_fitted()
        if self.label_name is None or self.label_position is None:
            raise DataError("this Preprocessor was fitted without a label column")
        _, column = self._label_column(table, self.label_name, self.label_position)
        return np.flatnonzero(~column.isin(MISSING))

    def feature_columns(self, table: Table) -> list[int]:
        """Where the feature columns are in `table` (by name, or by position without a header)."""
        self._check_fitted()
        return self._positions(table)

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
        place, column = self._label_column(labels, self.label_name, self.label_position)
        if place is not None:
            _check_missing(*place)

        def where(r: int) -> str:
            return place[0].where(r, place[1]) if place is not None else f"label {r}"

        if self.classes is None:
            y = _finite_column(column, where)
            return (y - self.target_mean) / self.target_scale
        if self.numeric_classes:  # a class is a number, however it is spelt ('9', '9.0')
            keys = np.array([float(name) for name in self.classes])
            values, words = column.numbers()
            out = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
            out[words | (keys[out] != values)] = -1
        else:
            out = column.lookup({name: i for i, name in enumerate(self.classes)})
        if np.any(out < 0):
            r = int(np.argmax(out < 0))
            raise DataError(
                f"{where(r)}: {column.cell(r)!r} is not one of the {len(self.classes)} classes "
                f"the model knows ({_few(self.classes)})"
            )
        return out.astype(np.intp, copy=False)

    def _label_column(
        self, labels: Table | Sequence, name: str, position: int
    ) -> tuple[tuple[Table, int] | None, Column]:
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
            return (labels, c), labels.data[c]
        values = np.asarray(labels).tolist() if isinstance(labels, np.ndarray) else list(labels)
        return None, Column.of(v if isinstance(v, str) else _number_text(v) for v in values)

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
                {
                    "name": f.name,
                    "position": f.position,
                    "mean": f.mean,
                    "scale": f.scale,
                    "median": f.fill,
                    "indicator": f.indicator,
                }
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
    """A DataError when the label column `c` has a missing cell (a row cannot train without)."""
    gaps = np.flatnonzero(table.data[c].isin(MISSING))
    if len(gaps):
        n = len(gaps)
        raise DataError(
            f"{table.name}: column {c + 1} ({table.columns[c]!r}), the label, has {n} missing "
            f"cell{'s' * (n != 1)} (first on line {int(table._lines[gaps[0]])}); fill "
            f"{'them' if n != 1 else 'it'} in, or leave such rows out with "
            f"table.without_missing([{table.columns[c]!r}]) (fit_table does)"
        )


def _codes(categories: list[str]) -> dict[str, int]:
    """Each category's input (its place); a missing cell's is `MISSING_CATEGORY`'s, if known."""
    codes = {cat: i for i, cat in enumerate(categories)}
    if MISSING_CATEGORY in codes:
        for text in MISSING:
            codes.setdefault(text, codes[MISSING_CATEGORY])
    return codes


def _at(table: Table, c: int) -> Callable[[int], str]:
    """Where row r of column c is, for an error: `table.where(r, c)`."""
    return lambda r: table.where(r, c)


def _numeric_column(table: Table, c: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(the column's numbers, nan at a missing cell; where the cells are missing), None when
    mostly text; a stray word or a number that is not finite is a DataError."""
    column = table.data[c]
    x, words = column.numbers()
    gaps = column.isin(MISSING)
    words &= ~gaps
    if not words.any():
        return _finite_column(column, _at(table, c), gaps), gaps
    if 2 * int(np.count_nonzero(words)) > len(column) - int(np.count_nonzero(gaps)):
        return None
    r = int(np.argmax(words))
    col = table.columns[c]
    raise DataError(
        f"{table.where(r, c)}: {column.cell(r)!r} is not a finite number (the column's other "
        f"cells are numbers; fix the cell, or read the column as categories with "
        f"categorical=[{col!r}])"
    )


def _finite_column(
    column: Column, where: Callable[[int], str], gaps: np.ndarray | None = None
) -> np.ndarray:
    """The cells as finite float64 (nan at the `gaps`, missing cells, if given); else a
    DataError at the first cell that is not one."""
    x, _ = column.numbers()
    bad = ~np.isfinite(x) if gaps is None else ~np.isfinite(x) & ~gaps
    if not bad.any():
        return x
    r = int(np.argmax(bad))
    cell = column.cell(r)
    number = _number(cell)
    why = "is not a number" if number is None else "is not a finite number"
    if number is not None and cell.lower().lstrip("+-") not in ("inf", "infinity"):
        why = "is beyond the range of a float (about 1.8e308)"
    raise DataError(f"{where(r)}: {cell!r} {why}")


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
    column = table.data[c]
    col = table.columns[c]
    where = f"{table.name}: column {c + 1} ({col!r})"
    x, words = column.numbers()
    if words.any() and task == "regression":
        r = int(np.argmax(words))
        raise DataError(
            f"{table.where(r, c)}: {column.cell(r)!r} is not a number, but a regression needs "
            "numbers"
        )
    if not words.any():
        if not np.all(np.isfinite(x)):
            _finite_column(column, _at(table, c))  # raises at the first cell, saying why
        whole = bool(np.all(x == np.floor(x)))
        distinct, first = np.unique(x, return_index=True)
        if task == "regression" or (task == "auto" and (not whole or len(distinct) > MAX_CLASSES)):
            return None, False
        if whole and np.any(np.abs(x) >= EXACT_INT):
            r = int(np.argmax(np.abs(x) >= EXACT_INT))
            raise DataError(
                f"{table.where(r, c)}: the label {column.cell(r)!r} is too large to name a class "
                "(whole numbers from 2**53 on are not exact in floating point); for numbers "
                "to predict, use task='regression' (--task regression)"
            )
        _class_count(where, len(distinct), column)
        # each class is named by its first appearance in the file ('9' and '9.0' are one)
        names = [column.cell(r) for r in first.tolist()]
        for name in names:
            _check_name(table, c, name, "class name")
        return names, True
    found = column.distinct(most=MAX_CLASSES)
    _class_count(where, found if isinstance(found, int) else len(found), column)
    assert isinstance(found, list)
    for name in found:
        _check_name(table, c, name, "class name")
    return found, False


def _class_count(where: str, k: int, column: Column) -> None:
    if k < 2:
        raise DataError(
            f"{where}: every row has the same label {column.cell(0)!r}; a classifier needs at "
            "least two classes"
        )
    if k > MAX_CLASSES:
        raise DataError(
            f"{where}: {k} different labels, more than the {MAX_CLASSES} classes tapegrad "
            "trains; for numbers to predict, use task='regression' (--task regression)"
        )


def _check_name(table: Table, c: int, name: str, what: str) -> None:
    bad = _control(name)
    if bad or len(name) > MAX_NAME:
        r = int(np.argmax(table.data[c].lookup({name: 0}) == 0))
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
    """One feature column: numeric (mean and scale, and since imputation the median and the
    indicator; a model saved before has neither) or one-hot (its categories)."""
    keys = set(f)
    numeric = {"name", "position", "mean", "scale"}
    if keys in (numeric, numeric | {"median", "indicator"}):
        scale = _float(f["scale"], f"{what}.scale")
        if not scale > 0:
            raise _bad(f"{what}.scale must be > 0, got {scale!r}")
        feature = _Feature(name, pos, _float(f["mean"], f"{what}.mean"), scale)
        if "median" in keys:
            feature.median = _float(f["median"], f"{what}.median")
            if not isinstance(f["indicator"], bool):
                raise _bad(f"{what}.indicator must be true or false")
            feature.indicator = f["indicator"]
        return feature
    if keys == {"name", "position", "categories"}:
        cats = _names(f["categories"], f"{what}.categories", 1, MAX_CATEGORIES)
        if cats != sorted(cats):
            raise _bad(f"{what}.categories must be in sorted order")
        return _Feature(name, pos, categories=cats)
    raise _bad(
        f"{what} must hold name, position and mean/scale (and median/indicator) or categories"
    )
