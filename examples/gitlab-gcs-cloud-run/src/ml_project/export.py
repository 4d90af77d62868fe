"""Stage `export`: convert the trained pipeline to ONNX, the only form of the model that is
evaluated, gated and served, and record its manifest.

The manifest (models/manifest.json) holds the model's sha256 (the service refuses to start
on any other bytes), the task, the feature order, the class names, each feature's type,
the bounds each number of a request is held to (the training range widened by
serving.bounds_margin times that range on each side, within the schema's range: wide
enough for drift to show, narrow enough that no value can overflow the scaler), the
categories of each category feature, a golden record with the probabilities (or, for
regression, the value) it must get, and for regression the buckets of the service's
histogram of predicted values.
"""

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.pipeline import Pipeline

from . import config
from .data import CLASS_NAMES, FEATURES, SCHEMA, read
from .model import INPUT, PROBABILITIES, VALUES, Manifest, OnnxModel, close, sha256

# The graph's name. skl2onnx would name it with a random UUID, and then no two exports of
# the same model would have the same bytes: `make verify-model` compares hashes.
GRAPH_NAME = "model"


def to_onnx_bytes(model: Pipeline) -> bytes:
    """A float32 graph with one input row per record, and the probabilities as a plain
    tensor (no ZipMap of dictionaries), or a regressor's values, a column of one: all the
    service reads. The same model always gives the same bytes."""
    if SCHEMA.is_regression:
        output = VALUES
        settings = {"final_types": [(VALUES, FloatTensorType([None, 1]))]}
    else:
        output, settings = PROBABILITIES, {"options": {"zipmap": False}}
    onnx_model = convert_sklearn(
        model,
        name=GRAPH_NAME,
        initial_types=[(INPUT, FloatTensorType([None, len(FEATURES)]))],
        **settings,
    )
    outputs = [output.name for output in onnx_model.graph.output]
    if output not in outputs:
        raise ValueError(f"the ONNX graph has outputs {outputs}, no {output!r}")
    return onnx_model.SerializeToString()


def feature_bounds(train: pd.DataFrame, margin: float) -> dict[str, tuple[float, float]]:
    bounds = {}
    for feature in SCHEMA.features:
        if feature.is_category:
            continue
        low, high = float(train[feature.name].min()), float(train[feature.name].max())
        width = (high - low) or 1.0
        low, high = round(low - margin * width, 6), round(high + margin * width, 6)
        if feature.min is not None:
            low = max(low, float(feature.min))
        if feature.max is not None:
            high = min(high, float(feature.max))
        bounds[feature.name] = (low, high)
    return bounds


def disagreement(model: Pipeline, onnx_model: OnnxModel, rows: pd.DataFrame) -> str | None:
    """None when scikit-learn and ONNX answer `rows` alike (the same labels, and the same
    probabilities or values within GOLDEN_TOLERANCE), else how they differ."""
    features = SCHEMA.encoded(rows)
    answered = onnx_model.predict(features.to_numpy())
    if SCHEMA.is_regression:
        expected = model.predict(features).reshape(-1, 1)
        labels = 0
    else:
        expected = model.predict_proba(features)
        labels = int((expected.argmax(axis=1) != answered.argmax(axis=1)).sum())
    if labels == 0 and close(answered, expected):
        return None
    largest = float(np.abs(expected - answered).max())
    what = "values" if SCHEMA.is_regression else f"{labels} labels differ, probabilities"
    return f"{what} by up to {largest:.2g}"


def value_buckets(train: pd.DataFrame) -> tuple[float, ...]:
    """Regression: the training target's deciles, distinct, as histogram bucket bounds."""
    if not SCHEMA.is_regression:
        return ()
    deciles = np.quantile(SCHEMA.targets(train), np.linspace(0.1, 0.9, 9))
    return tuple(sorted({round(float(value), 4) for value in deciles}))


def export_model(model: Pipeline, train: pd.DataFrame, margin: float) -> tuple[bytes, Manifest]:
    """The ONNX bytes of `model` and their manifest; refuses an export that disagrees with
    scikit-learn on the training data."""
    data = to_onnx_bytes(model)
    onnx_model = OnnxModel(data)
    if problem := disagreement(model, onnx_model, train):
        raise ValueError(
            f"the ONNX export disagrees with scikit-learn on the training data: {problem}"
        )
    # The median of each number and the most frequent category: a record typical of the
    # data, so the golden check exercises the usual path through the graph.
    encoded = SCHEMA.encoded(train)
    typical = [
        encoded[f.name].mode()[0] if f.is_category else encoded[f.name].median()
        for f in SCHEMA.features
    ]
    golden = np.asarray([typical], dtype=np.float32)
    manifest = Manifest(
        sha256=sha256(data),
        task=SCHEMA.task,
        features=FEATURES,
        classes=CLASS_NAMES,
        bounds=feature_bounds(train, margin),
        types={feature.name: feature.type for feature in SCHEMA.features},
        categories={feature.name: feature.categories for feature in SCHEMA.categorical},
        golden_record=tuple(golden[0].tolist()),
        golden_output=tuple(onnx_model.predict(golden)[0].tolist()),
        value_buckets=value_buckets(train),
    )
    return data, manifest


def export(
    sklearn_path: Path = config.SKLEARN_MODEL,
    train_path: Path = config.TRAIN_DATA,
    model_path: Path = config.MODEL,
    manifest_path: Path = config.MANIFEST,
    params_path: Path = config.PARAMS,
) -> Path:
    margin = config.load_params(params_path)["serving"]["bounds_margin"]
    data, manifest = export_model(joblib.load(sklearn_path), read(train_path), margin)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(data)
    manifest.write(manifest_path)
    return model_path


if __name__ == "__main__":
    print(f"wrote {export()} and {config.MANIFEST}")
