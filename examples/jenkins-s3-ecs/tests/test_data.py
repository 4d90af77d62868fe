"""Data validation: the data matches its schema (data/schema.yaml), a file that does not is
refused with the column and the rows at fault, and the train/test split."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from ml_project import data, schema
from ml_project.data import FEATURES, SCHEMA, TARGET


def test_raw_data_has_exactly_the_schemas_columns(raw: pd.DataFrame) -> None:
    assert list(raw.columns) == [*FEATURES, TARGET]


def test_every_value_has_its_type_and_lies_in_its_range(raw: pd.DataFrame) -> None:
    for feature in SCHEMA.features:
        column = raw[feature.name]
        assert column.notna().all(), f"missing values in {feature.name}"
        if feature.is_category:
            assert set(column) <= set(feature.categories), feature.name
            continue
        assert pd.api.types.is_numeric_dtype(column), feature.name
        if feature.type == "integer":
            assert (column % 1 == 0).all(), feature.name
        assert feature.min is None or column.min() >= feature.min, feature.name
        assert feature.max is None or column.max() <= feature.max, feature.name


def test_the_target_fits_the_task(raw: pd.DataFrame) -> None:
    """Every class is there, none almost vanished; a regression target is a number with
    many distinct values."""
    if SCHEMA.is_regression:
        assert pd.api.types.is_numeric_dtype(raw[TARGET])
        assert raw[TARGET].nunique() > schema.MAX_CLASSES
        return
    shares = raw[TARGET].value_counts(normalize=True)
    assert set(shares.index) == set(SCHEMA.classes)
    assert shares.min() > 0.05, "a class almost vanished"


def test_no_row_is_in_both_train_and_test(train_test) -> None:
    train, test = train_test
    overlap = train.merge(test, how="inner", on=[*FEATURES, TARGET])
    assert overlap.empty


def test_split_sizes_follow_params(train_test, params: dict) -> None:
    train, test = train_test
    assert len(test) / (len(train) + len(test)) == pytest.approx(
        params["data"]["test_size"], abs=0.01
    )


def test_split_keeps_the_target_distribution(train_test) -> None:
    """Each class keeps its share (a stratified split); a regression target, its mean
    within a quarter of its standard deviation (a random one)."""
    train, test = train_test
    if SCHEMA.is_regression:
        spread = train[TARGET].std()
        assert abs(train[TARGET].mean() - test[TARGET].mean()) < spread / 4
        return
    for name in SCHEMA.classes:
        assert (train[TARGET] == name).mean() == pytest.approx(
            (test[TARGET] == name).mean(), abs=0.02
        )


# A small schema of each kind of feature, and a file that matches it.
SMALL = schema.Schema.from_dict(
    {
        "task": "binary_classification",
        "target": {"name": "churned", "classes": ["no", "yes"]},
        "features": [
            {"name": "tenure", "type": "integer", "min": 0, "max": 600},
            {"name": "spend", "type": "float", "min": 0},
            {"name": "plan", "type": "category", "categories": ["basic", "pro"]},
        ],
    }
)
GOOD = pd.DataFrame(
    {
        "tenure": ["1", "24", "7", "3"],
        "spend": ["10.5", "99", "0", "12.25"],
        "plan": ["basic", "pro", "pro", "basic"],
        "churned": ["yes", "no", "no", "yes"],
    }
)


def test_a_file_that_matches_is_read_with_its_types() -> None:
    frame = SMALL.validated(GOOD, "good.csv")
    assert frame["tenure"].dtype == "int64" and frame["spend"].dtype == "float64"
    assert frame["plan"].tolist() == ["basic", "pro", "pro", "basic"]
    assert SMALL.class_ids(frame).tolist() == [1, 0, 0, 1]
    assert SMALL.encoded(frame)["plan"].tolist() == [0.0, 1.0, 1.0, 0.0]


def changed(column: str, rows: dict[int, str]) -> pd.DataFrame:
    """GOOD with `column`'s values replaced at the given 0-based rows."""
    frame = GOOD.copy()
    for row, value in rows.items():
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (GOOD.drop(columns=["spend"]), "bad.csv has no column 'spend'"),
        (GOOD.head(0), "bad.csv has no rows"),
        (changed("spend", {1: "lots", 3: "?"}), 'column "spend": values that are not float'),
        (changed("tenure", {2: "2.5"}), 'column "tenure": values that are not whole numbers'),
        (changed("tenure", {0: "-1", 3: "601"}), 'column "tenure": values beyond its min 0'),
        (changed("tenure", {3: "601"}), 'column "tenure": values beyond its max 600 in 1 row: 4'),
        (changed("plan", {1: "gold"}), "column \"plan\": values not in its categories ('gold')"),
        (changed("churned", {0: "maybe"}), 'column "churned": values not in its classes'),
        (changed("spend", {2: ""}), 'column "spend": missing values'),
    ],
    ids=["column", "empty", "type", "integer", "min", "max", "category", "class", "missing"],
)
def test_a_bad_file_is_refused_naming_the_column_and_rows(table, message) -> None:
    with pytest.raises(schema.DataError) as refused:
        SMALL.validated(table, "bad.csv")
    assert message in str(refused.value)


def test_the_refusal_lists_the_first_rows_and_counts_the_rest() -> None:
    table = changed("plan", dict.fromkeys(range(4), "gold"))
    table = pd.concat([table] * 2, ignore_index=True)
    with pytest.raises(schema.DataError, match=r"in 8 rows: 1, 2, 3, 4, 5 and 3 more"):
        SMALL.validated(table, "bad.csv")


def test_a_source_outside_data_source_is_refused(tmp_path: Path) -> None:
    """The fetch stage depends on data/source/: a file elsewhere would not run it again."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"source": "elsewhere/customers.csv"}}))
    with pytest.raises(schema.DataError, match="lives in data/source/"):
        data.load_raw(params)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(schema.DataError, match="empty.csv is empty"):
        schema.read_table(empty)


def test_an_unquoted_yes_or_no_in_the_schema_is_refused() -> None:
    written = yaml.safe_load("target: {name: churned, classes: [no, yes]}")
    with pytest.raises(schema.SchemaError, match="quote"):
        schema.Schema.from_dict({**SMALL.to_dict(), **written})


def test_make_schema_infers_a_schema_that_accepts_its_file(tmp_path: Path) -> None:
    source, out = tmp_path / "data.csv", tmp_path / "schema.yaml"
    GOOD.to_csv(source, index=False)
    assert schema.main([str(source), "--out", str(out)]) == 0
    written = yaml.safe_load(out.read_text())
    assert written["target"] == {"name": "churned", "classes": ["no", "yes"]}
    assert written["features"] == [
        {"name": "tenure", "type": "integer", "min": 1, "max": 24},
        {"name": "spend", "type": "float", "min": 0.0, "max": 99.0},
        {"name": "plan", "type": "category", "categories": ["basic", "pro"]},
    ]
    inferred = schema.Schema.read(out)
    assert inferred.validated(schema.read_table(source), "data.csv").shape == (4, 4)


def test_the_number_of_classes_fits_the_task() -> None:
    two = SMALL.to_dict()
    with pytest.raises(schema.SchemaError, match="with two, the task is binary"):
        schema.Schema.from_dict({**two, "task": "multiclass_classification"})
    three = {**two, "target": {"name": "churned", "classes": ["no", "yes", "later"]}}
    with pytest.raises(schema.SchemaError, match="a binary target has two classes"):
        schema.Schema.from_dict(three)
    multiclass = schema.Schema.from_dict({**three, "task": "multiclass_classification"})
    assert multiclass.classes == ("no", "yes", "later")
    with pytest.raises(schema.SchemaError, match="this project trains"):
        schema.Schema.from_dict({**two, "task": "ranking"})


def test_make_schema_picks_the_task_from_the_classes() -> None:
    assert schema.infer(GOOD, "churned").task == "binary_classification"
    plans = schema.infer(GOOD, "plan")
    assert (plans.task, plans.classes) == ("binary_classification", ("basic", "pro"))
    three = GOOD.assign(churned=["yes", "no", "later", "yes"])
    assert schema.infer(three, "churned").task == "multiclass_classification"
    with pytest.raises(schema.DataError, match="a classification needs two"):
        schema.infer(GOOD.assign(churned="yes"), "churned")


def test_a_regression_target_is_a_number_without_classes() -> None:
    regression = {**SMALL.to_dict(), "task": "regression", "target": {"name": "value"}}
    assert schema.Schema.from_dict(regression).classes == ()
    with_classes = {**regression, "target": {"name": "value", "classes": ["no", "yes"]}}
    with pytest.raises(schema.SchemaError, match="a regression target is a number"):
        schema.Schema.from_dict(with_classes)
    with pytest.raises(schema.SchemaError, match="target lists its classes"):
        schema.Schema.from_dict({**regression, "task": "binary_classification"})


def test_make_schema_picks_regression_for_a_number_of_many_values() -> None:
    many = pd.DataFrame(
        {"tenure": [str(n) for n in range(40)], "spend": [f"{n * 1.5:.1f}" for n in range(40)]}
    )
    inferred = schema.infer(many, "spend")
    assert (inferred.task, inferred.classes) == ("regression", ())
    assert "classes" not in inferred.to_dict()["target"]
    # A number of few values is a class label: 40 records of 0, 1 and 2 are three classes.
    few = many.assign(spend=[str(n % 3) for n in range(40)])
    assert schema.infer(few, "spend").task == "multiclass_classification"


def test_make_schema_keeps_an_existing_schema_unless_forced(tmp_path: Path) -> None:
    source, out = tmp_path / "data.csv", tmp_path / "schema.yaml"
    GOOD.to_csv(source, index=False)
    out.write_text("# reviewed\n")
    assert schema.main([str(source), "--out", str(out)]) == 1
    assert out.read_text() == "# reviewed\n"
    assert schema.main([str(source), "--out", str(out), "--force"]) == 0
    assert out.read_text() != "# reviewed\n"
