"""Unit tests of training and evaluation."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ml_project import config, model
from ml_project.data import FEATURES, SCHEMA, TARGET
from ml_project.evaluate import evaluate, score
from ml_project.train import fit


def test_training_is_reproducible_with_the_same_seed(train_test, params: dict) -> None:
    train, test = train_test
    first = fit(train, params["train"], params["seed"])
    second = fit(train, params["train"], params["seed"])
    features = SCHEMA.encoded(test)
    assert (first.predict(features) == second.predict(features)).all()


def test_model_knows_its_feature_names(sklearn_model) -> None:
    assert list(sklearn_model.feature_names_in_) == list(FEATURES)


def test_model_beats_a_constant_answer(model_path: Path, train_test) -> None:
    """A classifier beats always answering the majority class; a regression, always
    answering the mean (an R squared above 0)."""
    _, test = train_test
    metrics = score(model.load(model_path, model_path.with_name(config.MANIFEST.name)), test)
    if SCHEMA.is_regression:
        assert metrics["r2"] > 0
        assert metrics["rmse"] < test[TARGET].std()
        return
    majority = test[TARGET].value_counts(normalize=True).max()
    assert metrics["accuracy"] > majority


def test_evaluate_writes_metrics_and_plots(model_path: Path, train_test, tmp_path: Path) -> None:
    _, test = train_test
    test_path = tmp_path / "test.csv"
    test.to_csv(test_path, index=False)
    manifest_path = model_path.with_name(config.MANIFEST.name)
    metrics = evaluate(
        model_path, manifest_path, test_path, tmp_path / "metrics.json", tmp_path / "plots"
    )
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    if SCHEMA.is_regression:
        assert set(metrics) == {"rmse", "mae", "r2"}
        assert 0 < metrics["mae"] <= metrics["rmse"]
        plot = pd.read_csv(tmp_path / "plots" / "predicted.csv")
        assert list(plot.columns) == ["actual", "predicted"] and len(plot) == len(test)
        assert plot["actual"].tolist() == test[TARGET].tolist()
        return
    assert set(metrics) == {"accuracy", "f1", "precision", "recall", "roc_auc"}
    assert all(0 <= value <= 1 for value in metrics.values())
    confusion = pd.read_csv(tmp_path / "plots" / "confusion.csv")
    assert len(confusion) == len(test)
    roc = pd.read_csv(tmp_path / "plots" / "roc.csv")
    assert roc["fpr"].is_monotonic_increasing
    assert roc.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
