"""Stage `export`: convert the trained pipeline to ONNX, the only form of the model that is
evaluated, gated and served, and record its manifest.

The manifest (models/manifest.json) holds the model's sha256 (the service refuses to start
on any other bytes), the feature order, the class names, the bounds each request value is
held to (the training range widened by serving.bounds_margin times that range on each
side: wide enough for drift to show, narrow enough that no value can overflow the scaler),
and a golden record with the probabilities it must get.
"""

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.pipeline import Pipeline

from . import config
from .data import CLASS_NAMES, FEATURES
from .model import GOLDEN_TOLERANCE, INPUT, PROBABILITIES, Manifest, OnnxModel, sha256

# The graph's name. skl2onnx would name it with a random UUID, and then no two exports of
# the same model would have the same bytes: `make verify-model` compares hashes.
GRAPH_NAME = "model"


def to_onnx_bytes(model: Pipeline) -> bytes:
    """A float32 graph with one input row per record, and the probabilities as a plain
    tensor (no ZipMap of dictionaries): all the service reads. The same model always gives
    the same bytes."""
    onnx_model = convert_sklearn(
        model,
        name=GRAPH_NAME,
        initial_types=[(INPUT, FloatTensorType([None, len(FEATURES)]))],
        options={"zipmap": False},
    )
    outputs = [output.name for output in onnx_model.graph.output]
    if PROBABILITIES not in outputs:
        raise ValueError(f"the ONNX graph has outputs {outputs}, no {PROBABILITIES!r}")
    return onnx_model.SerializeToString()


def feature_bounds(train: pd.DataFrame, margin: float) -> dict[str, tuple[float, float]]:
    bounds = {}
    for name in FEATURES:
        low, high = float(train[name].min()), float(train[name].max())
        width = (high - low) or 1.0
        bounds[name] = (round(low - margin * width, 6), round(high + margin * width, 6))
    return bounds


def disagreement(model: Pipeline, onnx_model: OnnxModel, rows: pd.DataFrame) -> tuple[int, float]:
    """(labels that differ, the largest probability difference) between scikit-learn and
    ONNX on `rows`."""
    expected = model.predict_proba(rows[list(FEATURES)])
    answered = onnx_model.probabilities(rows[list(FEATURES)].to_numpy())
    labels = int((expected.argmax(axis=1) != answered.argmax(axis=1)).sum())
    return labels, float(np.abs(expected - answered).max())


def export_model(model: Pipeline, train: pd.DataFrame, margin: float) -> tuple[bytes, Manifest]:
    """The ONNX bytes of `model` and their manifest; refuses an export that disagrees with
    scikit-learn on the training data."""
    data = to_onnx_bytes(model)
    onnx_model = OnnxModel(data)
    labels, largest = disagreement(model, onnx_model, train)
    if labels or largest > GOLDEN_TOLERANCE:
        raise ValueError(
            f"the ONNX export disagrees with scikit-learn on the training data: {labels} "
            f"labels differ, probabilities by up to {largest:.2g}"
        )
    # The median of each feature: a record typical of the data, so the golden check
    # exercises the usual path through the graph.
    golden = train[list(FEATURES)].median().to_numpy(dtype=np.float32).reshape(1, -1)
    manifest = Manifest(
        sha256=sha256(data),
        features=FEATURES,
        classes=CLASS_NAMES,
        bounds=feature_bounds(train, margin),
        golden_record=tuple(golden[0].tolist()),
        golden_probabilities=tuple(onnx_model.probabilities(golden)[0].tolist()),
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
    data, manifest = export_model(joblib.load(sklearn_path), pd.read_csv(train_path), margin)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(data)
    manifest.write(manifest_path)
    return model_path


if __name__ == "__main__":
    print(f"wrote {export()} and {config.MANIFEST}")
