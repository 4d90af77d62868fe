"""`make verify-model`'s comparison: a model that is not byte-identical to the reproduction
passes only when it answers the validation set alike and its manifest is the same."""

import dataclasses

import pytest

from ml_project.data import SCHEMA
from ml_project.export import export_model, to_onnx_bytes
from ml_project.model import OnnxModel
from ml_project.train import fit
from ml_project.verify import differences, manifest_differences


@pytest.fixture(scope="module")
def limits(params: dict) -> dict:
    return params["verify"]


def exported(train_test, params: dict, **hyperparameters) -> OnnxModel:
    model = fit(train_test[0], {**params["train"], **hyperparameters}, params["seed"])
    return OnnxModel(to_onnx_bytes(model))


def test_the_same_model_exports_to_the_same_bytes(sklearn_model) -> None:
    assert to_onnx_bytes(sklearn_model) == to_onnx_bytes(sklearn_model)


def test_a_model_that_answers_alike_passes(train_test, params: dict, limits: dict) -> None:
    reproduced = exported(train_test, params)
    nudged = exported(train_test, params, C=params["train"]["C"] * 1.0001)
    assert differences(nudged, reproduced, train_test[1], limits) == []


def test_another_model_is_refused_by_metric_and_answers(
    train_test, params: dict, limits: dict
) -> None:
    reproduced = exported(train_test, params)
    other = exported(train_test, params, C=params["train"]["C"] / 1000)
    problems = differences(other, reproduced, train_test[1], limits)
    regression = SCHEMA.is_regression
    answers, metric = ("predicted values", "rmse") if regression else ("probabilities", "accuracy")
    assert any(f"{answers} on the validation set differ" in p for p in problems), problems
    assert any(p.startswith(f"{metric} is") for p in problems), problems


def test_a_manifest_with_other_bounds_is_refused(sklearn_model, train_test, params) -> None:
    _, manifest = export_model(sklearn_model, train_test[0], params["serving"]["bounds_margin"])
    widened = dict.fromkeys(manifest.bounds, (-1e6, 1e6))
    tampered = dataclasses.replace(manifest, bounds=widened)
    assert manifest_differences(manifest, manifest) == []
    assert manifest_differences(tampered, manifest) == [
        "its manifest's bounds differ from the reproduction's"
    ]
