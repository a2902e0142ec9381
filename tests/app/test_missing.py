"""Missing cells, as scikit-learn's pipeline handles them: a number takes the training rows'
median with a missing-indicator input (SimpleImputer(strategy="median", add_indicator=True)),
text gets a category of its own, and the model's preprocessing keeps what training learnt."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tapegrad.data import DataError
from tapegrad.tables import Preprocessor, TableModel, fit_table, read_table

FAST = {"epochs": 2, "progress": False, "hidden": (4,)}

GAPS = (
    "a,b,color,y\n"
    "1,10,red,p\n"
    "2,,blue,q\n"
    "NA,30,,p\n"
    "4,40,red,q\n"
    "5,nan,blue,p\n"
    "6,60,red,q\n"
    "7,70,?,p\n"
    "100,80,blue,q\n"
)


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_table_with_missing_numbers_and_text_trains_without_options(tmp_path):
    result = fit_table(write(tmp_path, GAPS), "y", **FAST)
    prep = result.preprocessor
    assert len(result.table) == 8 and result.table.dropped == 0
    assert prep.output_names == [
        "a", "a missing", "b", "b missing", "color=(missing)", "color=blue", "color=red",
    ]  # fmt: skip
    assert np.all(np.isfinite(result.X))
    assert "missing numbers imputed (median, with an indicator) in 'a', 'b'" in prep.describe()


def test_medians_come_from_the_training_rows_only(tmp_path):
    table = read_table(write(tmp_path, GAPS))
    prep = Preprocessor(label="y", standardize=False).fit(table, rows=[0, 1, 2, 3])
    # a: 1, 2, NA, 4 -> median 2 (the 5, 6, 7, 100 of the other rows count for nothing)
    assert prep.features[0].median == 2.0 and prep.features[0].indicator
    # b: 10, -, 30, 40 -> 30
    assert prep.features[1].median == 30.0
    X = prep.transform(table)
    np.testing.assert_array_equal(X[2, :2], [2.0, 1.0])  # a's gap: the median, flagged
    np.testing.assert_array_equal(X[4, 2:4], [30.0, 1.0])  # 'nan' is a missing cell too
    np.testing.assert_array_equal(X[7, :4], [100.0, 0.0, 80.0, 0.0])


def test_indicators_only_for_columns_with_missing_training_cells(tmp_path):
    table = read_table(write(tmp_path, GAPS))
    prep = Preprocessor(label="y", standardize=False).fit(table, rows=[0, 1, 3, 5])
    assert [f.indicator for f in prep.features[:2]] == [False, True]  # a has no gap in these
    assert prep.features[2].categories == ["blue", "red"]  # no gap either: no (missing)
    X = prep.transform(table)
    assert X.shape == (8, 1 + 2 + 2)
    np.testing.assert_array_equal(X[2], [3.0, 30.0, 0.0, 0.0, 0.0])  # a imputed, no flag
    np.testing.assert_array_equal(X[6, 3:], [0.0, 0.0])  # a missing text: none of the known


def test_unseen_categories_are_counted_per_column(tmp_path):
    prep = Preprocessor(label="y").fit(read_table(write(tmp_path, GAPS)))
    new = read_table(write(tmp_path, "a,b,color,y\n1,2,green,p\n1,2,green,\n3,4,,q\n", "n.csv"))
    assert prep.unseen(new) == {"color": 2}  # a missing cell is not an unseen category
    X = prep.transform(new)
    np.testing.assert_array_equal(X[:2, 4:], 0.0)
    np.testing.assert_array_equal(X[2, 4:], [1.0, 0.0, 0.0])  # (missing) was seen
    with pytest.raises(DataError, match=r"line 2, column 3 \('color'\): 'green' is not one"):
        prep.transform(new, unknown="error")


def test_a_row_without_its_label_is_dropped_with_a_note(tmp_path):
    lines = []
    result = fit_table(write(tmp_path, GAPS + "3,3,red,\n9,9,blue,NA\n"), "y", log=lines.append,
                       **FAST)  # fmt: skip
    assert len(result.table) == 8 and result.table.dropped == 2
    assert lines[0].startswith(f"{tmp_path / 't.csv'}: 8 rows (after dropping 2 with a missing ")
    assert "in 'y'" in lines[0]


def test_the_imputation_round_trips_through_model_json(tmp_path):
    result = fit_table(write(tmp_path, GAPS), "y", out=tmp_path / "o", **FAST)
    loaded = TableModel.load(tmp_path / "o" / "model.json")
    assert loaded.preprocessor.to_dict() == result.preprocessor.to_dict()
    stored = json.loads((tmp_path / "o" / "model.json").read_text())["preprocessing"]
    columns = np.array([[1, 2, np.nan, 4, 5, 6, 7, 100], [10, np.nan, 30, 40, np.nan, 60, 70, 80]])
    medians = [float(np.nanmedian(c[result.train])) for c in columns]  # the training rows'
    assert [f["median"] for f in stored["features"][:2]] == medians
    table = read_table(tmp_path / "t.csv")
    np.testing.assert_array_equal(loaded.preprocessor.transform(table), result.X)
    assert len(loaded.predict(table)) == 8


def test_an_old_model_without_imputation_fields_loads_and_imputes_the_mean(tmp_path):
    path = write(tmp_path, "a,b,y\n1,10,p\n2,20,q\n3,30,p\n10,40,q\n")
    fit_table(path, "y", out=tmp_path / "o", **FAST)
    model = tmp_path / "o" / "model.json"
    doc = json.loads(model.read_text())
    doc.pop("checksum")  # an old file, or one edited by hand: no checksum
    for f in doc["preprocessing"]["features"]:
        del f["median"], f["indicator"]  # as saved before imputation
    model.write_text(json.dumps(doc))
    tm = TableModel.load(model)
    assert [f.median for f in tm.preprocessor.features] == [None, None]
    X = tm.preprocessor.transform(read_table(write(tmp_path, "a,b\n,20\n", "n.csv")))
    a, b = tm.preprocessor.features
    np.testing.assert_allclose(X, [[0.0, (20 - b.mean) / b.scale]])  # a's gap: its mean
    assert len(tm.predict(read_table(tmp_path / "n.csv"))) == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"median": float("nan")}, r"features\[0\]\.median must be a finite number"),
        ({"median": "2"}, r"features\[0\]\.median must be a finite number"),
        ({"indicator": 1}, r"features\[0\]\.indicator must be true or false"),
        ({"median": None, "indicator": None, "extra": 1}, r"features\[0\] must hold name"),
    ],
)
def test_stored_imputation_is_checked_on_load(tmp_path, change, message):
    prep = Preprocessor(label="y").fit(read_table(write(tmp_path, GAPS)))
    d = prep.to_dict()
    d["features"][0].update(change)
    with pytest.raises(DataError, match=message):
        Preprocessor.from_dict(d)
    only_median = prep.to_dict()
    del only_median["features"][0]["indicator"]
    with pytest.raises(DataError, match=r"features\[0\] must hold name"):
        Preprocessor.from_dict(only_median)


def test_a_column_with_no_training_value_is_refused_by_name(tmp_path):
    path = write(tmp_path, "a,b,y\n1,,p\n2,NA,q\n3,,p\n")
    with pytest.raises(DataError, match=r"column 2 \('b'\) has no value in the training rows"):
        Preprocessor(label="y").fit(read_table(path))


def test_the_same_numbers_as_scikit_learns_simple_imputer(tmp_path, sklearn):
    from sklearn.impute import SimpleImputer

    text = "a,b,c,y\n1.5,2,7,p\n,4,8,q\n3.25,NA,9,p\n8,16,10,q\n?,32,11,p\n-2,64,12,q\n"
    table = read_table(write(tmp_path, text))
    train = [0, 1, 2, 3, 4]
    prep = Preprocessor(label="y", standardize=False).fit(table, rows=train)
    raw = np.array(
        [[np.nan if c in ("", "NA", "?") else float(c) for c in row[:3]] for row in table.rows]
    )
    imputer = SimpleImputer(strategy="median", add_indicator=True).fit(raw[train])
    theirs = imputer.transform(raw)  # the imputed columns, then an indicator per gap column
    ours = prep.transform(table)
    assert prep.output_names == ["a", "a missing", "b", "b missing", "c"]
    np.testing.assert_allclose(ours[:, [0, 2, 4]], theirs[:, :3], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ours[:, [1, 3]], theirs[:, 3:])
    np.testing.assert_allclose(
        [f.median for f in prep.features], imputer.statistics_, rtol=0, atol=1e-15
    )
