"""Data sets: the generators against scikit-learn and cs231n's published code, digits, the
train/test split, and CSV reading (`tapegrad.tables`, the one CSV reader) with errors that name
the file, line and column."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from references import require

from tapegrad import data
from tapegrad.data import DataError
from tapegrad.tables import Preprocessor, read_table

sklearn_datasets = require("sklearn.datasets")


# --- generators vs scikit-learn --------------------------------------------------------------


@pytest.mark.parametrize(
    "n, noise, seed", [(100, 0.1, 1337), (7, None, 0), (1, 0.3, 5), (250, 0.05, 2**32 - 1)]
)
def test_moons_equals_make_moons(n, noise, seed):
    X, y = data.moons(n, noise=noise, seed=seed)
    Xs, ys = sklearn_datasets.make_moons(n, noise=noise, random_state=seed)
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)
    assert X.dtype == np.float64 and X.shape == (n, 2)
    assert y.dtype.kind == "i" and y.shape == (n,)


def test_moons_without_seed_follows_numpy_global_state_like_micrograd():
    # micrograd's demo: np.random.seed(1337); make_moons(n_samples=100, noise=0.1)
    np.random.seed(1337)
    X, y = data.moons(100, noise=0.1)
    np.random.seed(1337)
    Xs, ys = sklearn_datasets.make_moons(n_samples=100, noise=0.1)
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)


@pytest.mark.parametrize("n, noise, factor, seed", [(100, 0.1, 0.5, 3), (101, None, 0.8, 0)])
def test_circles_equals_make_circles(n, noise, factor, seed):
    X, y = data.circles(n, noise=noise, factor=factor, seed=seed)
    Xs, ys = sklearn_datasets.make_circles(n, noise=noise, factor=factor, random_state=seed)
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_samples=100, centers=3, n_features=2),
        dict(n_samples=101, centers=4, n_features=3, cluster_std=0.5),
        dict(n_samples=10, centers=[[0.0, 0.0], [5.0, 5.0]], cluster_std=2.0),
    ],
)
def test_blobs_equals_make_blobs(kwargs):
    X, y = data.blobs(**kwargs, seed=42)
    Xs, ys = sklearn_datasets.make_blobs(**kwargs, random_state=42)
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)


def cs231n_spiral(N, K, seed):
    """The cs231n notes' spiral, verbatim but for the seed line."""
    np.random.seed(seed)
    D = 2
    X = np.zeros((N * K, D))
    y = np.zeros(N * K, dtype="uint8")
    for j in range(K):
        ix = range(N * j, N * (j + 1))
        r = np.linspace(0.0, 1, N)  # radius
        t = np.linspace(j * 4, (j + 1) * 4, N) + np.random.randn(N) * 0.2  # theta
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y


def test_spiral_equals_cs231n_code():
    X, y = data.spiral(100, classes=3, seed=0)
    Xr, yr = cs231n_spiral(100, 3, seed=0)
    np.testing.assert_array_equal(X, Xr)
    np.testing.assert_array_equal(y, yr)
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1 + 1e-12)


def test_generators_are_reproducible_and_seed_sensitive():
    for make in (data.moons, data.circles, data.blobs, data.spiral):
        a, b, c = make(seed=1), make(seed=1), make(seed=2)
        np.testing.assert_array_equal(a[0], b[0])
        assert not np.array_equal(a[0], c[0]), make.__name__


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: data.moons(0), "n_samples"),
        (lambda: data.moons(10, noise=-0.1), "noise"),
        (lambda: data.moons(10, noise=math.nan), "noise"),
        (lambda: data.circles(10, factor=1.5), "factor"),
        (lambda: data.spiral(10, classes=0), "classes"),
        (lambda: data.moons(10, seed=-1), "seed"),
        (lambda: data.blobs(10, centers=[1.0, 2.0]), "centers"),
    ],
)
def test_generator_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- digits ----------------------------------------------------------------------------------


def test_digits_scaled_to_unit_interval():
    X, y = data.digits()
    ref = sklearn_datasets.load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    np.testing.assert_array_equal(X * 16.0, ref.data)
    np.testing.assert_array_equal(y, ref.target)
    assert X.min() == 0.0 and X.max() == 1.0


def test_digits_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'tapegrad\[digits\]'"):
        data.digits()


# --- train/test split ------------------------------------------------------------------------


def test_train_test_split_partitions_rows_and_keeps_pairs():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) * 10
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_fraction=0.25, seed=0)
    assert len(Xte) == 3 and len(Xtr) == 7  # ceil(0.25 * 10), as scikit-learn rounds
    np.testing.assert_array_equal(Xtr[:, 0] * 5, ytr)  # each row still has its own label
    np.testing.assert_array_equal(Xte[:, 0] * 5, yte)
    assert sorted(np.concatenate([ytr, yte]).tolist()) == y.tolist()
    again = data.train_test_split(X, y, test_fraction=0.25, seed=0)
    np.testing.assert_array_equal(again[1], Xte)


def test_train_test_split_checks_its_arguments():
    X, y = np.zeros((4, 2)), np.zeros(4)
    with pytest.raises(ValueError, match="test_fraction"):
        data.train_test_split(X, y, test_fraction=1.0)
    with pytest.raises(ValueError, match="X has 4 rows but y has 3"):
        data.train_test_split(X, y[:3])
    with pytest.raises(ValueError, match="no rows to train on"):
        data.train_test_split(X[:1], y[:1], test_fraction=0.5)


# --- CSV -------------------------------------------------------------------------------------


def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def numbers(path, **kwargs):
    """(X, y, feature names) of a CSV of numbers, fed as they are: what the removed
    `data.load_csv` returned, now read by `tapegrad.tables` (y None without a label)."""
    header = kwargs.pop("header", None)
    table = read_table(path, header=header)
    prep = Preprocessor(standardize=False, **kwargs).fit(table)
    y = None if prep.label_name is None else prep.encode_labels(table)
    return prep.transform(table), y, prep.feature_names


def test_csv_with_header_label_by_name_and_index(tmp_path):
    path = write(tmp_path, "a,label,b\n1,0,2.5\n3,1,-4e-1\n")
    X, y, names = numbers(path, label="label")
    np.testing.assert_array_equal(X, [[1.0, 2.5], [3.0, -0.4]])
    np.testing.assert_array_equal(y, [0, 1])
    assert y.dtype.kind == "i"
    assert names == ["a", "b"]
    X2, y2, _ = numbers(path, label=1)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_csv_without_header_defaults_to_last_column(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,1\n\n5,6,2.5\n")  # blank line skipped
    X, y, names = numbers(path)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 2.5])
    assert y.dtype == np.float64  # not all whole numbers: regression targets
    assert names == ["x0", "x1"]


def test_csv_forced_header_quotes_bom_and_no_label(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes('\ufeff"1","2"\n" 3 ",4\n'.encode())
    X, y, names = numbers(path, label=None, header=True)
    assert names == ["1", "2"] and y is None
    np.testing.assert_array_equal(X, [[3, 4]])


@pytest.mark.parametrize(
    "text, kwargs, pattern",
    [
        ("a,b,y\n1,2,0\n3,x,1\n", {}, r"d\.csv: line 3, column 2 \('b'\): 'x' is not"),
        ("1,2,0\n3,4,1\n5,6,0\n7,8\n", {}, r"d\.csv: line 4: expected 3 columns, found 2"),
        ("a,b,y\n1,2,0\n1,2,\n", {}, r"column 3 \('y'\), the label, has 1 missing cell \(first"),
        ("1,2,0\n3,4,nan\n", {}, r"column 3 \('x2'\), the label, has 1 missing cell \(first"),
        ("1,2,0\n3,4,1\n5,6,0\n1e999,0,1\n", {}, r"line 4, column 1"),
        ("", {}, r"d\.csv: the file is empty"),
        ("\n\n", {}, r"d\.csv: the file is empty"),
        ("a,b,y\n", {}, r"d\.csv: line 1: a header but no rows"),
        ("a,b,y\n1,2,0\n", {"label": "z"}, r"no column named 'z'; the columns are 'a', 'b', 'y'"),
        ("1,2,0\n", {"label": "y"}, r"no header row"),
        ("1,2,0\n", {"label": 3}, r"label column 3 is out of range: the file has 3 columns"),
        ("5\n6\n", {}, r"no feature columns"),
    ],
)
def test_csv_errors_name_file_line_and_column(tmp_path, text, kwargs, pattern):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=pattern):
        numbers(path, **kwargs)


def test_csv_error_counts_physical_lines_across_blank_lines_and_quoted_newlines(tmp_path):
    path = write(tmp_path, 'name,x,y\n"two\nlines",1,0\n\nbad,2,1\n', name="m.csv")
    # The quoted cell spans lines 2-3 (a newline in a name is refused); reported on line 3.
    with pytest.raises(DataError, match=r"m\.csv: line 3, column 1 \('name'\)"):
        numbers(path)
    path = write(tmp_path, "x,y\n1,0\n\n2,1\noops,0\n", name="n.csv")
    with pytest.raises(DataError, match=r"n\.csv: line 5, column 1 \('x'\)"):
        numbers(path)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


# --- by name ---------------------------------------------------------------------------------


def test_load_dataset_by_name_and_path(tmp_path):
    moons = data.load_dataset("moons", seed=1337)
    Xs, ys = sklearn_datasets.make_moons(100, noise=0.1, random_state=1337)
    np.testing.assert_array_equal(moons.X, Xs)
    assert moons.n_classes == 2 and moons.feature_names == ["x0", "x1"]
    assert data.load_dataset("spiral", seed=0).n_classes == 3
    assert data.load_dataset("blobs", seed=0).n_classes == 3
    assert data.load_dataset("circles", seed=0).X.shape == (100, 2)
    path = write(tmp_path, "f,g,cls\n0.5,1,2\n1.5,0,0\n")
    with pytest.raises(DataError, match="a CSV file is read by tapegrad.tables.read_table"):
        data.load_dataset(str(path))
    prep = Preprocessor(label="cls").fit(read_table(path))  # labels name classes, in order
    assert prep.classes == ["0", "2"] and prep.feature_names == ["f", "g"]
    with pytest.raises(DataError, match="unknown data set 'mooons': use one of moons"):
        data.load_dataset("mooons")


# --- hostile CSV input (issue 10) ------------------------------------------------------------


def test_csv_label_beyond_exact_integers_stays_a_float_instead_of_wrapping(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n2,1e20\n")
    _, y, _ = numbers(path, task="regression")
    assert y.dtype == np.float64 and y.tolist() == [0.0, 1e20]  # never -9223372036854775808
    with pytest.raises(DataError, match="too large to name a class"):
        numbers(path)


def test_csv_labels_far_apart_are_not_class_indices(tmp_path):
    ds = data.Dataset("t", np.zeros((2, 1)), np.array([0, 1000000]))
    assert ds.n_classes is None  # not a 1000001-class model; tapegrad.tables maps such labels
    _, y, _ = numbers(write(tmp_path, "a,y\n1,0\n2,1000000\n"))
    assert y.tolist() == [0, 1]


def test_csv_that_is_not_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b\n1,2\n3,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: line 3, column 2: byte 0xe9 is not UTF-8"):
        read_table(path)


def test_split_indices_are_the_rows_train_test_split_takes():
    X = np.arange(30.0).reshape(15, 2)
    y = np.arange(15)
    train, test = data.split_indices(15, 0.2, seed=4)
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, 0.2, seed=4)
    np.testing.assert_array_equal(ytr, train)
    np.testing.assert_array_equal(yte, test)
    assert sorted([*train, *test]) == list(range(15))


def test_real_tables_need_scikit_learn_and_a_known_name(monkeypatch):
    with pytest.raises(ValueError, match="unknown table 'iris2': use one of iris, wine"):
        data.real_table("iris2")
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"the wine data set ships with scikit-learn"):
        data.real_table("wine")


# --- CSV: encodings and compact columns (issue 19) -------------------------------------------

TEXT = "name,x,y\ncafé,1.5,0\nbar,-2,1\n"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_utf16_and_utf32_files_read_as_the_same_table(tmp_path, codec):
    # utf-16 and utf-32 write a byte-order mark; utf-16-le/-be do not (NUL bytes tell them)
    (tmp_path / "u8.csv").write_bytes(TEXT.encode("utf-8"))
    (tmp_path / "other.csv").write_bytes(TEXT.encode(codec))
    expected = read_table(tmp_path / "u8.csv")
    table = read_table(tmp_path / "other.csv")
    assert table.columns == expected.columns and table.rows == expected.rows
    assert table.rows[0] == ["café", "1.5", "0"]


def test_a_broken_utf16_file_says_it_is_not_valid_utf16(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(TEXT.encode("utf-16") + b"\x00\xd8")  # half a surrogate pair at the end
    with pytest.raises(DataError, match=r"broken\.csv: .*looks like UTF-16 but is not valid"):
        read_table(path)


CELLS = ["1.50", "7", "-0", "1e3", "nan", "NaN", "inf", "-Infinity", "1e999", "NA", "", "?",
         "word", "0.1", "3.0", "9007199254740993", "1_000", "café", " x ", "12"]  # fmt: skip


@pytest.mark.parametrize("distinct", [0, 1_025])  # 1,025: more than data.DICTIONARY
def test_a_column_gives_back_every_cell_exactly(monkeypatch, distinct):
    # a dictionary (few distinct cells) or blocks of numbers with the text of the rest
    monkeypatch.setattr(data, "CHUNK_ROWS", 64)
    cells = CELLS * 10 + [repr(0.001 * i) for i in range(distinct)] + CELLS
    column = data.Column.of(cells)
    assert (column.blocks is None) == (distinct == 0)
    assert column.cells() == cells and len(column) == len(cells)
    rows = np.random.RandomState(0).permutation(len(cells))[:300]
    assert column.cells(rows) == [cells[r] for r in rows]
    assert column.take(rows).cells() == [cells[r] for r in rows]
    assert [column.cell(r) for r in (0, 5, len(cells) - 1)] == [cells[0], cells[5], cells[-1]]
    values, words = column.numbers()
    for cell, v, w in zip(cells, values.tolist(), words.tolist(), strict=True):
        try:
            expected = float(cell)
        except ValueError:
            assert w and math.isnan(v)
        else:
            assert not w and (v == expected or (math.isnan(v) and math.isnan(expected)))
    missing = {"", "NA", "nan", "?"}
    assert column.isin(missing).tolist() == [c in missing for c in cells]
    assert column.lookup({"7": 3, "word": 1}).tolist() == [
        {"7": 3, "word": 1}.get(c, -1) for c in cells
    ]
    found = column.distinct(most=len(cells))
    assert found == sorted(set(cells))
    assert column.distinct(most=5) == len(set(cells))


def test_a_table_of_numbers_is_held_in_about_its_files_size(tmp_path):
    rs = np.random.RandomState(0)
    lines = ["a,b,c,label"] + [
        f"{x:.6f},{y:.6f},{z:.4g},{'yes' if x > 0 else 'no'}"
        for x, y, z in rs.normal(size=(40_000, 3)).tolist()
    ]
    path = write(tmp_path, "\n".join(lines) + "\n")
    table = read_table(path)
    assert table.rows[:3] == [line.split(",") for line in lines[1:4]]
    assert table.nbytes < 1.3 * path.stat().st_size  # text in cells alone: about 50 bytes each
    assert table.data[3].blocks is None  # two labels: a code per cell
