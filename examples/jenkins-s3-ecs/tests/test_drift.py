"""The drift check: quiet on data like the training data, loud on a shifted feature."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ml_project import drift
from ml_project.data import FEATURES, SCHEMA

# The schema's first number: the feature these tests shift.
NUMBER = next(f.name for f in SCHEMA.features if not f.is_category)


@pytest.fixture
def reference(train_test, tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    train_test[0].to_csv(path, index=False)
    return path


@pytest.fixture
def serving_like(train_test) -> pd.DataFrame:
    """Records like the training data: the whole sample, train and test (the test set
    alone of a small sample, the wine data's 36 rows, is fewer than drift.min_records)."""
    return pd.concat(train_test, ignore_index=True)


def write_inputs(frame: pd.DataFrame, path: Path) -> Path:
    frame[list(FEATURES)].to_json(path, orient="records", lines=True)
    return path


def run_check(reference: Path, recent: Path, tmp_path: Path) -> int:
    arguments = ["--reference", reference, "--recent", recent, "--report", tmp_path / "d.json"]
    return drift.main([str(argument) for argument in arguments])


def test_inputs_like_the_training_data_do_not_drift(serving_like, reference, tmp_path) -> None:
    recent = write_inputs(serving_like, tmp_path / "inputs.jsonl")
    assert run_check(reference, recent, tmp_path) == 0
    report = json.loads((tmp_path / "d.json").read_text())
    assert set(report) == set(FEATURES)
    assert not any(result["drifted"] for result in report.values())


def test_a_shifted_feature_is_reported_as_drift(serving_like, reference, tmp_path) -> None:
    shifted = serving_like.copy()
    shifted[NUMBER] = shifted[NUMBER] + 2 * shifted[NUMBER].std()
    recent = write_inputs(shifted, tmp_path / "inputs.jsonl")
    assert run_check(reference, recent, tmp_path) == drift.DRIFT_FOUND
    report = json.loads((tmp_path / "d.json").read_text())
    assert report[NUMBER]["drifted"]
    assert report[NUMBER]["psi"] > 0.25
    assert sum(result["drifted"] for result in report.values()) <= 3, "only what was shifted"


@pytest.mark.skipif(not SCHEMA.categorical, reason="the schema has no category feature")
def test_a_category_whose_frequencies_change_is_reported_as_drift(
    train_test, serving_like, reference, tmp_path
) -> None:
    name = SCHEMA.categorical[0].name
    shifted = serving_like.copy()
    # Every record takes the training data's rarest category.
    shifted[name] = train_test[0][name].value_counts().idxmin()
    recent = write_inputs(shifted, tmp_path / "inputs.jsonl")
    assert run_check(reference, recent, tmp_path) == drift.DRIFT_FOUND
    report = json.loads((tmp_path / "d.json").read_text())
    assert report[name]["drifted"] and report[name]["chi2_p_value"] < 0.01


def test_too_few_inputs_are_not_judged(train_test, reference, tmp_path) -> None:
    recent = write_inputs(train_test[1].head(5), tmp_path / "inputs.jsonl")
    assert run_check(reference, recent, tmp_path) == 0
    assert not (tmp_path / "d.json").exists()


def test_an_empty_inputs_file_is_not_judged(reference, tmp_path) -> None:
    """`make inputs` writes an empty file when the service has recorded nothing yet."""
    recent = tmp_path / "inputs.jsonl"
    recent.write_text("")
    assert run_check(reference, recent, tmp_path) == 0


def test_a_broken_inputs_file_is_an_error_not_drift(serving_like, reference, tmp_path) -> None:
    """`make monitor` retrains on DRIFT_FOUND only: a crash must not look like drift."""
    recent = tmp_path / "inputs.jsonl"
    serving_like.drop(columns=[NUMBER]).to_json(recent, orient="records", lines=True)
    with pytest.raises(KeyError):
        run_check(reference, recent, tmp_path)
