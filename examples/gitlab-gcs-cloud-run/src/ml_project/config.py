"""Paths and parameters shared by the pipeline stages, the tests and the serving app."""

from pathlib import Path
from typing import Any

import yaml

# The data's schema: features, types, ranges, categories, the target and the task.
SCHEMA = Path("data/schema.yaml")
# Where the files that params.yaml's data.source may name live: the `fetch` stage depends on
# this folder, so a new version of one runs the pipeline again.
SOURCES = Path("data/source")
RAW_DATA = Path("data/raw/dataset.csv")
TRAIN_DATA = Path("data/processed/train.csv")
TEST_DATA = Path("data/processed/test.csv")
# The fitted scikit-learn pipeline: a pickle, read only by the `export` stage, never shipped.
SKLEARN_MODEL = Path("models/model.joblib")
# What ships and serves: the ONNX export, and its manifest (sha256, features, classes, the
# bounds requests are held to, and a golden prediction), both written by `export`.
MODEL = Path("models/model.onnx")
MANIFEST = Path("models/manifest.json")
METRICS = Path("reports/metrics.json")
PLOTS = Path("reports/plots")
PARAMS = Path("params.yaml")


def load_params(path: Path = PARAMS) -> dict[str, Any]:
    """Read params.yaml, the single source of seeds, hyperparameters and gate thresholds."""
    return yaml.safe_load(path.read_text())


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as the dotted names DVC gives them: train.C, gate.min.f1 ..."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
