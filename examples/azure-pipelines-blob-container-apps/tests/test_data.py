"""Data validation: the schema, value ranges and the train/test split."""

import pandas as pd
import pytest

from ml_project.data import FEATURES, TARGET


def test_raw_data_has_exactly_the_expected_columns(raw: pd.DataFrame) -> None:
    assert list(raw.columns) == [*FEATURES, TARGET]


def test_features_are_finite_and_non_negative(raw: pd.DataFrame) -> None:
    features = raw[list(FEATURES)]
    assert features.notna().all().all(), "missing values"
    assert (features.dtypes == "float64").all()
    assert (features >= 0).all().all(), "the measurements are sizes and counts, never negative"


def test_target_is_binary_with_both_classes(raw: pd.DataFrame) -> None:
    assert set(raw[TARGET].unique()) == {0, 1}
    assert raw[TARGET].value_counts(normalize=True).min() > 0.2, "a class almost vanished"


def test_no_row_is_in_both_train_and_test(train_test) -> None:
    train, test = train_test
    overlap = train.merge(test, how="inner", on=[*FEATURES, TARGET])
    assert overlap.empty


def test_split_sizes_follow_params(train_test, params: dict) -> None:
    train, test = train_test
    assert len(test) / (len(train) + len(test)) == pytest.approx(
        params["data"]["test_size"], abs=0.01
    )


def test_split_keeps_the_class_balance(train_test) -> None:
    train, test = train_test
    assert train[TARGET].mean() == pytest.approx(test[TARGET].mean(), abs=0.02)
