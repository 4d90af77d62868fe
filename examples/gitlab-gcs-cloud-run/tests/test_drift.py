"""The drift check: quiet on data like the training data, loud on a shifted feature."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ml_project import drift
from ml_project.data import FEATURES


@pytest.fixture
def reference(train_test, tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    train_test[0].to_csv(path, index=False)
    return path


def write_inputs(frame: pd.DataFrame, path: Path) -> Path:
    frame[list(FEATURES)].to_json(path, orient="records", lines=True)
    return path


def run_check(reference: Path, recent: Path, tmp_path: Path) -> int:
    arguments = ["--reference", reference, "--recent", recent, "--report", tmp_path / "d.json"]
    return drift.main([str(argument) for argument in arguments])


def test_inputs_like_the_training_data_do_not_drift(train_test, reference, tmp_path) -> None:
    recent = write_inputs(train_test[1], tmp_path / "inputs.jsonl")
    assert run_check(reference, recent, tmp_path) == 0
    report = json.loads((tmp_path / "d.json").read_text())
    assert set(report) == set(FEATURES)
    assert not any(result["drifted"] for result in report.values())


def test_a_shifted_feature_is_reported_as_drift(train_test, reference, tmp_path) -> None:
    shifted = train_test[1].copy()
    shifted["mean_radius"] = shifted["mean_radius"] * 1.5
    recent = write_inputs(shifted, tmp_path / "inputs.jsonl")
    assert run_check(reference, recent, tmp_path) == drift.DRIFT_FOUND
    report = json.loads((tmp_path / "d.json").read_text())
    assert report["mean_radius"]["drifted"]
    assert report["mean_radius"]["psi"] > 0.25
    assert sum(result["drifted"] for result in report.values()) <= 3, "only what was shifted"


def test_too_few_inputs_are_not_judged(train_test, reference, tmp_path) -> None:
    recent = write_inputs(train_test[1].head(5), tmp_path / "inputs.jsonl")
    assert run_check(reference, recent, tmp_path) == 0
    assert not (tmp_path / "d.json").exists()


def test_an_empty_inputs_file_is_not_judged(reference, tmp_path) -> None:
    """`make inputs` writes an empty file when the service has recorded nothing yet."""
    recent = tmp_path / "inputs.jsonl"
    recent.write_text("")
    assert run_check(reference, recent, tmp_path) == 0


def test_a_broken_inputs_file_is_an_error_not_drift(train_test, reference, tmp_path) -> None:
    """`make monitor` retrains on DRIFT_FOUND only: a crash must not look like drift."""
    recent = tmp_path / "inputs.jsonl"
    train_test[1].drop(columns=["mean_radius"]).to_json(recent, orient="records", lines=True)
    with pytest.raises(KeyError):
        run_check(reference, recent, tmp_path)
