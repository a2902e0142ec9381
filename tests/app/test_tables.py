"""Tables as they come: class labels from text or numbers, standardised numbers and one-hot
text compared with scikit-learn's LabelEncoder, StandardScaler and OneHotEncoder, the stored
form and its checks, and one clear error (file, line, column) for every kind of bad table."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from references import require

from tapegrad import data
from tapegrad.data import DataError
from tapegrad.tables import (
    MAX_CATEGORIES,
    MAX_CLASSES,
    MAX_COLUMNS,
    Preprocessor,
    Table,
    read_table,
)

sklearn_datasets = require("sklearn.datasets")
preprocessing = require("sklearn.preprocessing")


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_bundled(tmp_path, name):
    """One of scikit-learn's bundled tables as a user's CSV: a header, the numbers, and the
    class names as text in a last column 'class'. Returns (path, X, class name per row)."""
    bunch = getattr(sklearn_datasets, f"load_{name}")()
    names = [str(bunch.target_names[t]) for t in bunch.target]
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*bunch.feature_names, "class"])
        for row, label in zip(bunch.data.tolist(), names, strict=True):
            w.writerow([*row, label])
    return path, bunch.data, names


# --- scikit-learn's tables round trip --------------------------------------------------------


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_bundled_tables_written_as_csv_read_back_with_class_names(tmp_path, name):
    path, X, names = write_bundled(tmp_path, name)
    table = read_table(path)
    assert table.header and table.columns[-1] == "class" and len(table) == len(names)
    prep = Preprocessor(label="class", standardize=False).fit(table)
    y = prep.encode_labels(table)
    ref = preprocessing.LabelEncoder().fit(names)
    assert prep.classes == ref.classes_.tolist()  # sorted as text, as LabelEncoder
    np.testing.assert_array_equal(y, ref.transform(names))
    assert prep.decode_labels(y) == names  # every row's class name intact
    np.testing.assert_array_equal(prep.transform(table), X)  # numbers read back exactly
    assert prep.describe().startswith(f"{len(ref.classes_)} classes from column 'class': ")


def test_iris_summary_names_the_inferred_classes(tmp_path):
    path, _, _ = write_bundled(tmp_path, "iris")
    prep = Preprocessor(label="class").fit(read_table(path))
    assert prep.describe() == (
        "3 classes from column 'class': setosa, versicolor, virginica; "
        "4 numeric features, standardised"
    )


@pytest.mark.parametrize(
    "name, classes",
    [
        ("iris", ["setosa", "versicolor", "virginica"]),
        ("wine", ["class_0", "class_1", "class_2"]),
        ("breast_cancer", ["malignant", "benign"]),
    ],
)
def test_load_dataset_knows_the_bundled_tables(name, classes):
    assert name in data.DATASETS
    ds = data.load_dataset(name)
    bunch = getattr(sklearn_datasets, f"load_{name}")()
    np.testing.assert_array_equal(ds.X, bunch.data)
    np.testing.assert_array_equal(ds.y, bunch.target)  # scikit-learn's own coding
    assert ds.class_names == classes and ds.n_classes == len(classes)
    assert ds.feature_names == list(bunch.feature_names)


def test_table_from_arrays_reads_like_the_csv(tmp_path):
    X, y, names, classes = data.real_table("iris")
    from_arrays = Table.from_arrays(X, y, names, label="class", class_names=classes)
    path, _, _ = write_bundled(tmp_path, "iris")
    from_file = read_table(path)
    assert from_arrays.columns == from_file.columns
    assert [r[-1] for r in from_arrays.rows] == [r[-1] for r in from_file.rows]
    a = Preprocessor(label="class").fit(from_arrays)
    b = Preprocessor(label="class").fit(from_file)
    np.testing.assert_array_equal(a.transform(from_arrays), b.transform(from_file))


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_a_standardised_bundled_table_trains_past_the_issue_bar(tmp_path, name):
    """The recommended defaults (Adam 0.01 falling linearly to 0.001, 16,16 tanh, softmax_ce,
    L2 1e-4, batches of 32 for 100 epochs) on the standardised training split: the test
    accuracy the issue asks of them (>= 90 %, >= 93 % on breast cancer)."""
    from tapegrad import optim
    from tapegrad.nn import MLP
    from tapegrad.train import evaluate, fit

    path, _, _ = write_bundled(tmp_path, name)
    table = read_table(path)
    train, test = data.split_indices(len(table), 0.2, seed=0)
    prep = Preprocessor(label="class").fit(table, rows=train)
    X, y = prep.transform(table), prep.encode_labels(table)
    model = MLP(prep.n_inputs, [16, 16, prep.n_classes], act="tanh", seed=0)
    steps = 100 * -(-len(train) // 32)
    opt = optim.Adam(model.parameters(), lr=optim.linear(0.01, 0.001, steps))
    fit(model, X[train], y[train], "softmax_ce", opt, epochs=100, batch_size=32, seed=0,
        l2=1e-4, progress=False, compile=True)  # fmt: skip
    acc = evaluate(model, X[test], y[test], "softmax_ce", compile=True)["accuracy"]
    assert acc >= (0.93 if name == "breast_cancer" else 0.90)


# --- labels ----------------------------------------------------------------------------------


def labels_of(tmp_path, cells, **kwargs):
    text = "x,y\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells))
    table = read_table(write(tmp_path, text))
    return Preprocessor(label="y", **kwargs).fit(table), table


def test_numeric_labels_are_classes_by_value_not_indices(tmp_path):
    prep, table = labels_of(tmp_path, [0, 1000000, 0, 1000000])
    assert prep.classes == ["0", "1000000"] and prep.n_classes == 2
    np.testing.assert_array_equal(prep.encode_labels(table), [0, 1, 0, 1])
    prep, table = labels_of(tmp_path, [2000, 1999, 1999])
    assert prep.classes == ["1999", "2000"]
    np.testing.assert_array_equal(prep.encode_labels(table), [1, 0, 0])


def test_numeric_classes_sort_by_value_and_keep_their_text(tmp_path):
    cells = ["10", "9", "-1", "9.0", "10"]
    prep, table = labels_of(tmp_path, cells)
    ref = preprocessing.LabelEncoder().fit([float(c) for c in cells])
    assert [float(c) for c in prep.classes] == ref.classes_.tolist()
    assert prep.classes == ["-1", "9", "10"]  # 9 and 9.0 are one class, named as first seen
    np.testing.assert_array_equal(
        prep.encode_labels(table), ref.transform([float(c) for c in cells])
    )
    assert prep.decode_labels(np.array([2, 0])) == ["10", "-1"]
    np.testing.assert_array_equal(prep.encode_labels(np.array([10, 9])), [2, 1])


def test_text_labels_sort_as_text_like_label_encoder(tmp_path):
    cells = ["b", "B", "a", "é", "10", "9"]
    prep, table = labels_of(tmp_path, cells)
    ref = preprocessing.LabelEncoder().fit(cells)
    assert prep.classes == ref.classes_.tolist()
    np.testing.assert_array_equal(prep.encode_labels(table), ref.transform(cells))
    np.testing.assert_array_equal(prep.encode_labels(["a", "b"]), ref.transform(["a", "b"]))
    with pytest.raises(DataError, match=r"label 0: 'c' is not one of the 6 classes"):
        prep.encode_labels(["c"])


def test_many_numbers_or_fractions_are_a_regression(tmp_path):
    values = [i * 3 for i in range(MAX_CLASSES + 1)]
    prep, table = labels_of(tmp_path, values, standardize=False)
    assert prep.classes is None and prep.describe().startswith("regression on column 'y'")
    y = prep.encode_labels(table)
    assert y.dtype == np.float64 and y.tolist() == values
    prep, _ = labels_of(tmp_path, [0.5, 1.0, 0.5])
    assert prep.classes is None
    prep, _ = labels_of(tmp_path, [0, 1, 1], task="regression", standardize=False)
    assert prep.classes is None
    np.testing.assert_array_equal(prep.decode_labels([0.25]), [0.25])


def test_a_regression_trains_on_the_target_standardised_and_decodes_back(tmp_path):
    values = [100.5, 250.0, 175.25, 310.0, 90.0]
    prep, table = labels_of(tmp_path, values)
    assert prep.classes is None  # fractions: a regression
    train = [0, 1, 2, 3]
    prep.fit(table, rows=train)
    mean, std = np.mean(values[:4]), np.std(values[:4])  # the training rows only
    np.testing.assert_allclose(prep.encode_labels(table), (np.array(values) - mean) / std)
    np.testing.assert_allclose(prep.decode_labels(prep.encode_labels(table)), values)
    back = Preprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    np.testing.assert_allclose(back.decode_labels([1.0]), [mean + std])


def test_float_labels_become_classes_on_request(tmp_path):
    prep, _ = labels_of(tmp_path, [0.5, 1.5, 0.5], task="classification")
    assert prep.classes == ["0.5", "1.5"]


@pytest.mark.parametrize(
    "cells, kwargs, pattern",
    [
        (["a", "a", "a"], {}, r"t\.csv: column 2 \('y'\): every row has the same label 'a'"),
        ([7, 7], {}, r"column 2 \('y'\): every row has the same label '7'; a classifier"),
        ([0, 1, 1e20], {}, r"line 4, column 2 \('y'\): the label '1e\+20' is too large"),
        ([0, 1, "1e400"], {}, r"line 4, column 2 \('y'\): '1e400' is beyond the range of a float"),
        ([0, 1, "inf"], {}, r"line 4, column 2 \('y'\): 'inf' is not a finite number"),
        ([0, "x"], {"task": "regression"}, r"line 3, column 2 \('y'\): 'x' is not a number"),
        (
            [f"c{i}" for i in range(MAX_CLASSES + 1)],
            {},
            rf"column 2 \('y'\): {MAX_CLASSES + 1} different labels, more than the {MAX_CLASSES}",
        ),
        (
            list(range(MAX_CLASSES + 1)),
            {"task": "classification"},
            rf"{MAX_CLASSES + 1} different labels.*task='regression'",
        ),
    ],
)
def test_label_columns_that_cannot_train_say_why(tmp_path, cells, kwargs, pattern):
    with pytest.raises(DataError, match=pattern):
        labels_of(tmp_path, cells, **kwargs)


def test_decode_checks_the_indices(tmp_path):
    prep, _ = labels_of(tmp_path, ["a", "b"])
    with pytest.raises(ValueError, match=r"2 is not a class index in 0\.\.1"):
        prep.decode_labels([2])
    with pytest.raises(ValueError, match="not a class index"):
        prep.decode_labels([0.5])


# --- features --------------------------------------------------------------------------------


def test_standardised_with_the_training_rows_like_standard_scaler(tmp_path):
    rs = np.random.RandomState(0)
    X = rs.normal(loc=[3.0, -200.0, 5.0], scale=[2.0, 50.0, 0.0], size=(40, 3))
    y = rs.randint(0, 2, size=40)
    table = Table.from_arrays(X, y)
    train, test = data.split_indices(40, 0.25, seed=1)
    prep = Preprocessor(label="target").fit(table, rows=train)
    ref = preprocessing.StandardScaler().fit(X[train])  # the constant column: scale 1
    got = prep.transform(table)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref.transform(X), rtol=1e-12, atol=1e-12)
    plain = Preprocessor(label="target", standardize=False).fit(table, rows=train)
    np.testing.assert_array_equal(plain.transform(table), X)


def test_huge_and_tiny_columns_standardise_without_overflow():
    X = np.array([[1e308, 1e-300], [-1e308, 3e-300], [1e308, 2e-300]])
    prep = Preprocessor(label=None).fit(Table.from_arrays(X))
    got = prep.transform(Table.from_arrays(X))
    assert np.all(np.isfinite(got))
    ref = (X - X.mean(axis=0, dtype=np.longdouble)) / X.std(axis=0, dtype=np.longdouble)
    np.testing.assert_allclose(got[:, 1], ref[:, 1].astype(float), rtol=1e-9, atol=1e-12)
    # a, -a, a: mean a/3, standard deviation a*sqrt(8)/3, so 1/sqrt(2) and -sqrt(2)
    h = 2**-0.5
    np.testing.assert_allclose(got[:, 0], [h, -2 * h, h], rtol=1e-12)


def test_text_features_are_one_hot_like_one_hot_encoder(tmp_path):
    text = "size,colour,n,y\n1,red,3,a\n2,blue,1,b\n3,red,2,a\n4,green,5,b\n5,blue,4,a\n"
    table = read_table(write(tmp_path, text))
    train = [0, 1, 2, 4]  # 'green' only in the held-out row
    prep = Preprocessor(label="y", standardize=False).fit(table, rows=train)
    assert prep.output_names == ["size", "colour=blue", "colour=red", "n"]
    assert prep.n_inputs == 4
    colours = np.array(table.column("colour"), dtype=object).reshape(-1, 1)
    ref = preprocessing.OneHotEncoder(handle_unknown="ignore").fit(colours[train])
    got = prep.transform(table)
    np.testing.assert_array_equal(got[:, 1:3], ref.transform(colours).toarray())
    assert got[3, 1:3].tolist() == [0.0, 0.0]  # unseen category: all zero
    with pytest.raises(DataError, match=r"line 5, column 2 \('colour'\): 'green' is not one of"):
        prep.transform(table, unknown="error")
    assert "'colour' one-hot over 2 categories" in prep.describe()


def test_numeric_codes_as_categories_on_request(tmp_path):
    text = "zip,y\n1010,a\n2020,b\n1010,a\n"
    table = read_table(write(tmp_path, text))
    prep = Preprocessor(label="y", categorical=["zip"]).fit(table)
    assert prep.output_names == ["zip=1010", "zip=2020"]
    np.testing.assert_array_equal(prep.transform(table), [[1, 0], [0, 1], [1, 0]])


def test_a_column_of_identifiers_names_the_way_to_drop_it(tmp_path):
    rows = "".join(f"{i},person {i},{i % 2}\n" for i in range(MAX_CATEGORIES + 1))
    table = read_table(write(tmp_path, "age,name,y\n" + rows))
    msg = (
        rf"t\.csv: column 2 \('name'\) holds {MAX_CATEGORIES + 1} different text values, too "
        r"many.*drop=\['name'\] \(--drop name\)"
    )
    with pytest.raises(DataError, match=msg):
        Preprocessor(label="y").fit(table)
    dropped = read_table(tmp_path / "t.csv", drop=["name"])
    assert Preprocessor(label="y").fit(dropped).feature_names == ["age"]


def test_a_stray_word_in_a_numeric_column_names_cell_and_fix(tmp_path):
    table = read_table(write(tmp_path, "a,b,y\n1,2,0\n3,oops,1\n4,5,0\n"))
    with pytest.raises(
        DataError,
        match=r"t\.csv: line 3, column 2 \('b'\): 'oops' is not a finite number \(the column's "
        r"other cells are numbers; .*categorical=\['b'\]",
    ):
        Preprocessor(label="y").fit(table)


def test_predict_tables_are_matched_by_name_or_position(tmp_path):
    prep = Preprocessor(label="y").fit(read_table(write(tmp_path, "a,b,y\n1,2,p\n3,6,q\n")))
    swapped = read_table(write(tmp_path, "b,extra,a\n2,x,1\n6,y,3\n", name="s.csv"))
    np.testing.assert_allclose(prep.transform(swapped), [[-1, -1], [1, 1]])
    headless = read_table(write(tmp_path, "1,2\n3,6\n", name="h.csv"), header=False)
    np.testing.assert_allclose(prep.transform(headless), [[-1, -1], [1, 1]])
    with pytest.raises(DataError, match=r"s\.csv: no label column 'y'"):
        prep.encode_labels(swapped)
    short = read_table(write(tmp_path, "a,c\n1,2\n", name="c.csv"))
    with pytest.raises(DataError, match=r"c\.csv: no column named 'b'; the model was trained"):
        prep.transform(short)
    # a headerless training file, label first: a predict file with or without the label
    prep = Preprocessor(label=0).fit(read_table(write(tmp_path, "p,1,2\nq,3,6\n", name="n.csv")))
    features_only = read_table(write(tmp_path, "1,2\n3,6\n", name="f.csv"))
    np.testing.assert_allclose(prep.transform(features_only), [[-1, -1], [1, 1]])
    with_label = read_table(tmp_path / "n.csv")
    np.testing.assert_allclose(prep.transform(with_label), [[-1, -1], [1, 1]])
    assert prep.decode_labels(prep.encode_labels(with_label)) == ["p", "q"]


# --- missing cells ---------------------------------------------------------------------------


def test_missing_cells_are_imputed_or_dropped_and_a_missing_label_is_named(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,p\n3,,q\n4,NA,p\n5,?,q\n6,7,p\n8,9,q\n")
    prep = Preprocessor(label="y", standardize=False).fit(read_table(path))
    assert prep.output_names == ["a", "b", "b missing"]  # b's indicator only: a has no gap
    np.testing.assert_array_equal(prep.transform(read_table(path))[1:3], [[3, 7, 1], [4, 7, 1]])
    kept = read_table(path, drop_missing=True)
    assert len(kept) == 3 and kept.dropped == 3 and kept.lines == [2, 6, 7]
    prep = Preprocessor(label="y").fit(kept)
    assert prep.classes == ["p", "q"] and prep.output_names == ["a", "b"]
    missing_label = write(tmp_path, "a,y\n1,p\n2,\n3,q\n", name="m.csv")
    with pytest.raises(
        DataError, match=r"m\.csv: column 2 \('y'\), the label, has 1 missing cell \(first"
    ):
        Preprocessor(label="y").fit(read_table(missing_label))
    gap = prep.transform(read_table(write(tmp_path, "a,b\n1,\n", name="m.csv")))
    np.testing.assert_allclose(gap[0, 1], (7 - prep.features[1].mean) / prep.features[1].scale)


# --- bad tables: one line naming file, line and column ---------------------------------------


@pytest.mark.parametrize(
    "content, kwargs, pattern",
    [
        (b"a,b,y\n1,2,p\n3,4\n", {}, r"^t\.csv: line 3: expected 3 columns, found 2$"),
        (b"", {}, r"^t\.csv: the file is empty \(no rows of data\)$"),
        (b"\n \n", {}, r"^t\.csv: the file is empty"),
        (b"a,b,y\n", {}, r"^t\.csv: line 1: a header but no rows of data$"),
        (
            "a,b,y\n1,2,setosa\n3,4,caf\u00e9\n".encode("latin-1"),
            {},
            r"^t\.csv: line 3, column 3: byte 0xe9 is not UTF-8; the file must be encoded as "
            r"UTF-8",
        ),
        (b"a,b\xff,y\n1,2,p\n", {}, r"^t\.csv: line 1, column 2: byte 0xff is not UTF-8"),
        (b'a,"b\x07",y\n1,2,p\n', {}, r"^t\.csv: line 1, column 2: the column name 'b\\x07' "),
        (b"a,b,a\n1,2,p\n", {}, r"^t\.csv: line 1, column 3: the column name 'a' is also column 1"),
        (b'a,b\n1,"2\n', {}, r"^t\.csv: line 2: unexpected end of data"),
        (b"a,b\n1,2\n", {"drop": ["c"]}, r"^t\.csv: no column named 'c'; the columns are 'a', 'b'"),
    ],
)
def test_bad_files_get_one_line_naming_file_and_line(tmp_path, content, kwargs, pattern):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=pattern) as err:
        read_table(path, **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text, label, pattern",
    [
        ("a,b\n1,p\n2,q\n", "species", r"^t\.csv: no column named 'species'; the columns are"),
        ("1,p\n2,q\n", "species", r"^t\.csv: label column 'species' asked for by name, but"),
        ("a,b\n1,p\n2,q\n", 5, r"^t\.csv: label column 5 is out of range: the file has 2"),
        ("y\np\nq\n", "y", r"^t\.csv: no feature columns \(the file has 1 column\(s\)\)"),
        ("a,y\n1,p\n2,\u0007\n", "y", r"^t\.csv: line 3, column 2 \('y'\): the class name "),
    ],
)
def test_bad_label_columns_get_one_line(tmp_path, text, label, pattern):
    with pytest.raises(DataError, match=pattern):
        Preprocessor(label=label).fit(read_table(write(tmp_path, text)))


def test_header_is_inferred_from_names_over_numbers_or_text(tmp_path):
    assert read_table(write(tmp_path, "5.1,3.5,setosa\n4.9,3.0,setosa\n")).header is False
    assert read_table(write(tmp_path, "a,b,species\n5.1,3.5,setosa\n")).header is True
    assert read_table(write(tmp_path, "colour,size\nred,big\nblue,big\n")).header is True
    assert read_table(write(tmp_path, "red,big\nblue,big\n")).header is False
    unnamed = read_table(write(tmp_path, ",a\n0,1\n"))  # pandas' index column has no name
    assert unnamed.columns == ["x0", "a"]


# --- stored form -----------------------------------------------------------------------------


def fitted(tmp_path):
    text = "n,colour,y\n1,red,a\n2,blue,b\n4,red,c\n"
    table = read_table(write(tmp_path, text))
    return Preprocessor(label="y").fit(table), table


def test_to_dict_is_plain_json_and_round_trips(tmp_path):
    prep, table = fitted(tmp_path)
    d = json.loads(json.dumps(prep.to_dict(), allow_nan=False))
    again = Preprocessor.from_dict(d)
    np.testing.assert_array_equal(again.transform(table), prep.transform(table))
    np.testing.assert_array_equal(again.encode_labels(table), prep.encode_labels(table))
    assert again.to_dict() == d and again.describe() == prep.describe()
    numeric, _ = labels_of(tmp_path, [3, 1, 2])
    back = Preprocessor.from_dict(json.loads(json.dumps(numeric.to_dict())))
    np.testing.assert_array_equal(back.encode_labels([1, 3]), [0, 2])


def broken(d, **change):
    d = json.loads(json.dumps(d))
    for path, value in change.items():
        *keys, last = path.split("__")
        target = d
        for k in keys:
            target = target[int(k)] if k.isdigit() else target[k]
        target[int(last) if last.isdigit() else last] = value
    return d


@pytest.mark.parametrize(
    "change, pattern",
    [
        ({"format": "x"}, "expected format 'tapegrad-table' version 1"),
        ({"extra": 1}, "unknown field 'extra'"),
        ({"task": "clustering"}, "task must be"),
        ({"width": 10**30}, r"width must be a whole number in \[1, 10001\]"),
        ({"width": True}, "width must be a whole number"),
        ({"classes": ["a"]}, r"classes has 1 entries \(at least 2\)"),
        ({"classes": ["a"] * (MAX_CLASSES + 1)}, rf"classes has {MAX_CLASSES + 1} entries"),
        ({"classes": ["b", "a", "c"]}, "classes must be in sorted order"),
        ({"classes": ["a", "a", "c"]}, "classes repeats a name"),
        ({"classes": ["a", "b", "c\x00"]}, "holds a control character"),
        ({"classes": ["a", "b", 3]}, r"classes\[2\] must be a string, got int"),
        ({"features": [{}] * (MAX_COLUMNS + 1)}, rf"features has {MAX_COLUMNS + 1} entries"),
        ({"features__0__mean": float("nan")}, r"features\[0\]\.mean must be a finite number"),
        ({"features__0__scale": 0}, r"features\[0\]\.scale must be > 0"),
        ({"features__0__position": 2}, r"features\[0\] repeats a column"),
        ({"features__1__categories": ["red", "blue"]}, "categories must be in sorted order"),
        ({"features__1__categories": ["x" * 1001]}, "1001 characters long"),
        ({"features__1": {"name": "colour"}}, r"features\[1\]\.position must be"),
        ({"features": []}, "features is empty"),
        ({"label": None}, "a classifier needs a label column"),
        ({"numeric_classes": True}, "a class name is not a number"),
        ({"standardize": "yes"}, "standardize must be true or false"),
        ({"target": [0.0, 0.0]}, r"target\[1\] \(the scale\) must be > 0"),
        ({"target": [0.0]}, r"target must be \[mean, scale\]"),
        ({"target": [0.0, 1.0] * 10**3}, "target has 2000 entries"),
    ],
)
def test_from_dict_checks_every_field_before_building(tmp_path, change, pattern):
    prep, _ = fitted(tmp_path)
    with pytest.raises(DataError, match="the stored preprocessing is invalid: .*" + pattern):
        Preprocessor.from_dict(broken(prep.to_dict(), **change))


def test_from_dict_rejects_what_is_not_an_object():
    with pytest.raises(DataError, match="expected a JSON object, got list"):
        Preprocessor.from_dict([])


def test_fit_rows_must_be_rows_of_the_table(tmp_path):
    table = read_table(write(tmp_path, "a,y\n1,p\n2,q\n"))
    with pytest.raises(ValueError, match=r"rows must be row positions in 0\.\.1"):
        Preprocessor(label="y").fit(table, rows=[0, 2])
    with pytest.raises(DataError, match="no training rows"):
        Preprocessor(label="y").fit(table, rows=[])


def test_unfitted_preprocessor_says_so():
    prep = Preprocessor()
    with pytest.raises(RuntimeError, match=r"not been fitted: call fit\(table\) first"):
        prep.transform(Table("x", ["a"], [["1"]], [1]))
    with pytest.raises(ValueError, match="task must be one of auto, classification, regression"):
        Preprocessor(task="ranking")


# --- digits-like data ------------------------------------------------------------------------


def test_digits_as_a_csv_of_numbers(tmp_path):
    X, y = data.digits()
    table = Table.from_arrays(X * 16, y, [f"pixel{i}" for i in range(64)], label="digit")
    train, _ = data.split_indices(len(table), 0.2, seed=0)
    prep = Preprocessor(label="digit").fit(table, rows=train)
    assert prep.classes == [str(d) for d in range(10)]  # numbers 0-9: ten classes, not values
    Z = prep.transform(table)
    assert np.all(np.isfinite(Z))  # pixel0 is 0 everywhere: centred, not divided by zero
    ref = preprocessing.StandardScaler().fit(X[train] * 16)
    np.testing.assert_allclose(Z, ref.transform(X * 16), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(prep.encode_labels(table), y)


# --- fit_table: the table workflow as one library call --------------------------------------

FAST = {"epochs": 3, "progress": False, "hidden": (8,)}


def test_fit_table_on_a_csv_trains_evaluates_and_matches_the_command_line(tmp_path, capsys):
    from tapegrad import cli
    from tapegrad.tables import TableModel, fit_table

    path, X, names = write_bundled(tmp_path, "iris")
    lines = []
    result = fit_table(path, "class", log=lines.append, **FAST)
    assert result.preprocessor.classes == ["setosa", "versicolor", "virginica"]
    # 20 % of the 120 training rows are held out to validate on (early stopping)
    assert (len(result.train), len(result.validation), len(result.test)) == (96, 24, 30)
    assert sorted([*result.train, *result.validation, *result.test]) == list(range(150))
    assert len(result.history) == 3 and result.history.unit == "epoch"
    assert set(result.metrics) == {"train", "valid", "test"}
    assert result.metrics["test"]["rows"] == 30
    assert result.metrics["train"]["l2_term"] > 0 and result.diverged is None
    assert result.model.nouts == [8, 3] and result.loss == "softmax_ce"
    assert result.folder is None and result.files == []  # nothing written unless asked
    assert lines[0].startswith(f"{path}: 150 rows; 3 classes from column 'class'")
    assert lines[-1].startswith("test  (30 rows): loss") and "accuracy" in lines[-1]
    # `tapegrad train` is this call: the same options give the same run, number for number.
    argv = ["train", "--data", str(path), "--label", "class", "--epochs", "3", "--hidden", "8"]
    assert cli.main([*argv, "--no-progress", "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out.splitlines()
    timed = 1  # the model's line ends with the seconds the run took
    assert printed[:timed] + printed[timed + 1 : len(lines)] == lines[:timed] + lines[timed + 1 :]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["loss"] == result.history.loss
    assert history["val_loss"] == result.history.val_loss
    saved = TableModel.load(tmp_path / "run" / "model.json")
    assert saved.preprocessor.to_dict() == result.preprocessor.to_dict()


def test_fit_table_on_arrays_a_table_and_a_dataframe_agree(tmp_path):
    from tapegrad.tables import fit_table

    path, X, names = write_bundled(tmp_path, "iris")
    from_csv = fit_table(path, "class", **FAST)
    from_arrays = fit_table(X, names, **FAST)  # y as class names; numbers work too
    assert from_arrays.table.name == "arrays" and from_arrays.preprocessor.label_name == "target"
    assert from_arrays.history.loss == from_csv.history.loss
    assert from_arrays.metrics == from_csv.metrics
    table = read_table(path)
    assert fit_table(table, "class", **FAST).history.loss == from_csv.history.loss
    coded = fit_table(X, np.asarray([sorted(set(names)).index(n) for n in names]), **FAST)
    assert coded.preprocessor.classes == ["0", "1", "2"]
    assert coded.history.loss == from_csv.history.loss  # the same classes, in the same order


def test_fit_table_on_a_pandas_dataframe(tmp_path):
    from tapegrad.tables import fit_table

    pd = require("pandas")
    path, X, names = write_bundled(tmp_path, "iris")
    frame = pd.read_csv(path)
    result = fit_table(frame, "class", **FAST)
    assert result.table.name == "DataFrame" and len(result.table) == 150
    assert result.history.loss == fit_table(path, "class", **FAST).history.loss


def test_a_dataframe_is_read_through_its_csv_text_without_importing_pandas(tmp_path):
    from tapegrad.tables import fit_table

    class Frame:  # what fit_table asks of a DataFrame: to_csv(index=False)
        def __init__(self, text):
            self.text = text

        def to_csv(self, index=True):
            assert index is False  # the index is not a column
            return self.text

    path, _, _ = write_bundled(tmp_path, "iris")
    text = path.read_text(encoding="utf-8")
    table = Table.from_frame(Frame(text))
    assert table.columns == read_table(path).columns and table.rows == read_table(path).rows
    result = fit_table(Frame(text), "class", **FAST)
    assert result.history.loss == fit_table(path, "class", **FAST).history.loss
    unlabelled = fit_table(Frame("a,y\n1,p\n2,\n3,q\n4,p\n5,q\n"), "y", **FAST)
    assert len(unlabelled.table) == 4 and unlabelled.table.dropped == 1
    assert len(fit_table(Frame("a,y\n1,p\n,q\n3,q\n2,p\n"), drop_missing=True, **FAST).table) == 3


def test_fit_table_saves_the_run_and_the_model_predicts(tmp_path):
    from tapegrad.tables import TableModel, fit_table

    path, _, names = write_bundled(tmp_path, "iris")
    result = fit_table(path, "class", out=tmp_path / "run", **FAST)
    files = [os.path.basename(f) for f in result.files]
    assert files == ["model.json", "history.json", "run.json"]
    assert result.folder == str(tmp_path / "run")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["settings"]["data"] == str(path) and run["settings"]["hidden"] == [8]
    assert run["outcome"]["status"] == "done" and run["outcome"]["test"]["rows"] == 30
    assert run["data"] == {"rows": 150, "train_rows": 96, "validation_rows": 24, "test_rows": 30,
                           "dropped_rows": 0,
                           "inferred": result.preprocessor.describe()}  # fmt: skip
    model = TableModel.load(tmp_path / "run" / "model.json")
    assert model.predict(read_table(path)) == result.table_model.predict(read_table(path))
    # an extra writer (the command line's pictures and report) goes in before run.json
    written = result.save(tmp_path / "again", extras=lambda r, folder: [f"{folder}/x.png"])
    assert [os.path.basename(f) for f in written][2:] == ["x.png", "run.json"]


def test_fit_table_resumes_a_saved_run(tmp_path):
    from tapegrad.checkpoint import CheckpointError
    from tapegrad.tables import fit_table

    path, _, _ = write_bundled(tmp_path, "iris")
    first = fit_table(path, "class", out=tmp_path / "a", **FAST)
    again = fit_table(path, "class", resume=tmp_path / "a", **{**FAST, "epochs": 1})
    assert again.preprocessor.to_dict() == first.preprocessor.to_dict()
    assert again.settings["resume"] == str(tmp_path / "a")
    assert again.history.loss[0] < first.history.loss[0]  # it went on from the trained weights
    with pytest.raises(CheckpointError, match="cannot resume: .*no such file"):
        fit_table(path, "class", resume=tmp_path / "nowhere.json", **FAST)


def test_fit_table_says_what_it_cannot_do(tmp_path):
    from tapegrad.tables import fit_table

    path, X, names = write_bundled(tmp_path, "iris")
    with pytest.raises(ValueError, match=r"an array X needs its labels: fit_table\(X, y\)"):
        fit_table(X)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        fit_table(path, "class", epoch=3)
    with pytest.raises(ValueError, match="optim must be 'adam' or 'sgd'"):
        fit_table(path, "class", optim="rmsprop")
    with pytest.raises(ValueError, match=r"mse trains a regression, but column 'class' holds"):
        fit_table(path, "class", loss="mse", task="classification", **FAST)
    with pytest.raises(ValueError, match=r"hinge needs two classes, column 'class' has 3"):
        fit_table(path, "class", loss="hinge", **FAST)
    with pytest.raises(DataError, match="no column named 'species'"):
        fit_table(path, "species", **FAST)


def test_fit_split_learns_once_what_two_fits_learnt(tmp_path):
    path, _, _ = write_bundled(tmp_path, "wine")
    table = read_table(path)
    once = Preprocessor(label="class")
    train, test = once.fit_split(table, 0.25, seed=7)
    labels = Preprocessor(label="class").fit(table).encode_labels(table)  # the old way: fit,
    ref_train, ref_test = data.split_indices(len(table), 0.25, 7, stratify=labels)  # split,
    twice = Preprocessor(label="class").fit(table, rows=ref_train)  # and fit again
    np.testing.assert_array_equal(train, ref_train)
    np.testing.assert_array_equal(test, ref_test)
    assert once.to_dict() == twice.to_dict()


# --- big tables: compact columns, bounded memory (issue 19) ----------------------------------


def mixed_csv(tmp_path, rows=300, name="mixed.csv"):
    """Numbers spelt many ways, a text feature, numeric class labels spelt two ways."""
    rs = np.random.RandomState(3)
    lines = ["a,b,colour,label"]
    for i in range(rows):
        a, b = rs.normal(size=2).tolist()
        label = ["1", "2.0", "3", "2"][i % 4]
        lines.append(f"{a:.3f},{b!r},{['red', 'green', 'blue'][i % 3]},{label}")
    return write(tmp_path, "\n".join(lines) + "\n", name)


def test_columns_kept_as_blocks_encode_and_train_exactly_as_a_dictionary(tmp_path, monkeypatch):
    from tapegrad.tables import fit_table

    path = mixed_csv(tmp_path)
    runs = []
    for dictionary, chunk in ((data.DICTIONARY, data.CHUNK_ROWS), (0, 7)):
        monkeypatch.setattr(data, "DICTIONARY", dictionary)  # 0: every column in blocks
        monkeypatch.setattr(data, "CHUNK_ROWS", chunk)
        table = read_table(path)
        assert all((col.blocks is None) == (dictionary > 0) for col in table.data)
        runs.append((table, fit_table(table, "label", seed=5, **FAST)))
    (plain, a), (blocks, b) = runs
    assert plain.rows == blocks.rows and plain.lines == blocks.lines
    assert a.preprocessor.to_dict() == b.preprocessor.to_dict()
    assert a.preprocessor.classes == ["1", "2.0", "3"]  # named as first spelt
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.metrics == b.metrics and a.history.loss == b.history.loss


@pytest.mark.parametrize("dictionary", [1_024, 0])
def test_errors_name_the_same_cell_in_a_dictionary_or_blocks(tmp_path, monkeypatch, dictionary):
    monkeypatch.setattr(data, "DICTIONARY", dictionary)
    monkeypatch.setattr(data, "CHUNK_ROWS", 3)
    cases = [
        ("a,y\n1,0\n2,1\nx,0\n4,1\n5,0\n", {}, r"line 4, column 1 \('a'\): 'x' is not a finite"),
        ("a,y\n1,0\n2,1\n1e999,0\n", {}, r"line 4, column 1 \('a'\): '1e999' is beyond"),
        ("a,y\n1,0\n2,NA\n3,0\n", {}, r"column 2 \('y'\), the label, has 1 missing cell \(first"),
        ("a,y\n1,0\n2,1\n3,z\n", {"task": "regression"}, r"line 4, column 2 \('y'\): 'z' is not a"),
    ]
    for text, kwargs, pattern in cases:
        with pytest.raises(DataError, match=pattern):
            Preprocessor(**kwargs).fit(read_table(write(tmp_path, text)))
    table = read_table(write(tmp_path, "a,y\n1,0\n2,1\n3,0\n"))
    prep = Preprocessor().fit(table)
    with pytest.raises(DataError, match=r"label 2: '7' is not one of the 2 classes"):
        prep.encode_labels(["0", "1", "7"])
    cells = "\n".join(f"{i},id{i}" for i in range(MAX_CATEGORIES + 5))
    with pytest.raises(DataError, match=rf"holds {MAX_CATEGORIES + 5} different text values"):
        Preprocessor(label="y").fit(read_table(write(tmp_path, f"y,name\n{cells}\n")))
    fitted = Preprocessor(label="y").fit(read_table(tmp_path / "t.csv"), rows=[0, 1, 2])
    assert fitted.features[0].categories == ["id0", "id1", "id2"]  # the training rows' only


def test_a_table_too_big_for_memory_is_refused_before_it_is_read(tmp_path, monkeypatch, capsys):
    from tapegrad import cli

    lines = ["a,b,label"] + [f"{i * 0.37:.4f},{i % 7},{i % 2}" for i in range(20_000)]
    path = write(tmp_path, "\n".join(lines) + "\n1,2\n")  # a short row at the very end
    with pytest.raises(DataError, match="line 20002: expected 3 columns"):
        read_table(path)  # read to the end: the short row is found
    pattern = (
        r"t\.csv: this table would need about \d+ MiB of memory \(20,\d+ rows of 3 columns, "
        r".*\); the limit is 1 MiB \(tapegrad\.data\.MAX_TABLE_MEMORY\)"
    )
    with pytest.raises(DataError, match=pattern):
        read_table(path, memory_limit=2**20)  # refused from its head: the short row is unseen
    cost = data.estimate_table_memory(path)
    assert 19_000 < cost.rows < 21_000
    assert cost.need([0]) < cost.need()  # a column left out (--drop) is not counted
    monkeypatch.setattr(data, "MAX_TABLE_MEMORY", 2**20)
    assert cli.main(["train", "--data", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "this table would need about" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.json").exists()


MEASURE = """
import re, sys
from tapegrad.tables import fit_table, read_table
from tapegrad.pages.report import report

def peak():  # this process's peak RSS (ru_maxrss would count the parent's, from before exec)
    with open("/proc/self/status") as fh:
        return int(re.search(r"VmHWM:\\s*(\\d+) kB", fh.read()).group(1)) * 1024

table = read_table(sys.argv[1])
read = peak()
r = fit_table(table, "label", steps=2, batch_size=256, progress=False)
report(r.history, r.model, r.X, r.y, loss=r.loss, l2=1e-4)
print(read, peak())
"""


def numbers_csv(path, rows: int, seed: int = 0) -> None:
    """A table of 10 numeric features of about 9 characters and a 3-class text label."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(rows, 10))
    y = np.where(X[:, 0] + X[:, 1] > 0.5, "high", np.where(X[:, 2] > 0, "mid", "low"))
    with open(path, "w", encoding="ascii") as fh:
        fh.write(",".join([f"f{i}" for i in range(10)] + ["label"]) + "\n")
        for row, label in zip(X.tolist(), y.tolist(), strict=True):
            fh.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
def test_a_big_table_reads_and_trains_in_memory_bounded_by_its_size(tmp_path):
    import subprocess
    import sys

    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    numbers_csv(big, 110_000)  # 10.5 MiB
    numbers_csv(small, 25_000)  # 2.4 MiB: enough rows for every fixed buffer (EVAL_ROWS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # The same run on both tables, at once: the difference of their peaks is what rows cost
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", MEASURE, str(path)], stdout=subprocess.PIPE, text=True, env=env
        )
        for path in (big, small)
    ]
    (read, run), (read0, run0) = [tuple(map(int, p.communicate()[0].split())) for p in runs]
    assert all(p.returncode == 0 for p in runs)
    size = big.stat().st_size - small.stat().st_size
    assert read - read0 < 2 * size  # 1.1 here; on main (lists of str per row) 16
    # reading, encoding, splitting, training and the report: 4.1 here (a 256 MiB file's whole
    # run peaks at 3.4 times its size, benchmarks/table_memory.py); on main 36
    assert run - run0 < 5 * size
