"""The ONNX export: what serves answers what scikit-learn answers, and nothing else loads."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ml_project import config, export, model
from ml_project.data import FEATURES, SCHEMA


def test_onnx_agrees_with_scikit_learn_on_the_whole_test_set(
    sklearn_model, model_path: Path, train_test
) -> None:
    _, test = train_test
    onnx_model = model.load(model_path, model_path.with_name(config.MANIFEST.name))
    rows = SCHEMA.encoded(test)
    answered = onnx_model.predict(rows.to_numpy())
    if SCHEMA.is_regression:
        # float32 in the graph: the same value to about seven significant digits.
        expected = sklearn_model.predict(rows).reshape(-1, 1)
        assert np.abs(answered - expected).max() <= 1e-5 * np.abs(expected).max()
        return
    expected = sklearn_model.predict_proba(rows)
    assert (answered.argmax(axis=1) == sklearn_model.predict(rows)).all(), "labels differ"
    assert np.abs(answered - expected).max() <= 1e-5


def test_the_manifest_records_hash_features_classes_and_bounds(
    model_path: Path, train_test
) -> None:
    manifest = model.Manifest.read(model_path.with_name(config.MANIFEST.name))
    assert manifest.sha256 == model.sha256(model_path.read_bytes())
    assert manifest.task == SCHEMA.task
    assert manifest.features == FEATURES
    assert manifest.classes == SCHEMA.classes
    assert manifest.types == {feature.name: feature.type for feature in SCHEMA.features}
    assert manifest.categories == {f.name: f.categories for f in SCHEMA.categorical}
    train, test = train_test
    for name in manifest.bounds:
        low, high = manifest.bounds[name]
        assert low <= train[name].min() and train[name].max() <= high, name
        assert low <= test[name].min() and test[name].max() <= high, name
        assert high < 1e6, "the bounds keep far-out values from reaching the scaler"


@pytest.fixture
def copy_of(model_path: Path, tmp_path: Path):
    """A copy of the exported model and its manifest, free to damage."""
    manifest = model_path.with_name(config.MANIFEST.name)
    shutil.copy(model_path, tmp_path / model_path.name)
    shutil.copy(manifest, tmp_path / manifest.name)
    return tmp_path / model_path.name, tmp_path / manifest.name


def test_a_changed_byte_is_refused(copy_of) -> None:
    onnx_path, manifest_path = copy_of
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(model.ModelIntegrityError, match="sha256"):
        model.load(onnx_path, manifest_path)


def test_a_model_that_misses_its_golden_prediction_is_refused(copy_of) -> None:
    onnx_path, manifest_path = copy_of
    raw = json.loads(manifest_path.read_text())
    output = model.Manifest.read(manifest_path).output
    raw["golden"][output] = [0.5] * len(raw["golden"][output])
    manifest_path.write_text(json.dumps(raw))
    with pytest.raises(model.ModelIntegrityError, match="golden"):
        model.load(onnx_path, manifest_path)


def test_export_refuses_a_graph_that_disagrees(sklearn_model, train_test, monkeypatch) -> None:
    """The stage itself checks the export: a wrong graph never reaches evaluate."""
    real = model.OnnxModel.predict
    monkeypatch.setattr(model.OnnxModel, "predict", lambda self, rows: real(self, rows) * 1.5)
    with pytest.raises(ValueError, match="disagrees with scikit-learn"):
        export.export_model(sklearn_model, train_test[0], margin=1.0)
