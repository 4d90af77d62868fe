"""Paths and parameters shared by the pipeline stages, the tests and the serving app."""

from pathlib import Path
from typing import Any

import yaml

RAW_DATA = Path("data/raw/dataset.csv")
TRAIN_DATA = Path("data/processed/train.csv")
TEST_DATA = Path("data/processed/test.csv")
MODEL = Path("models/model.joblib")
METRICS = Path("reports/metrics.json")
PLOTS = Path("reports/plots")
PARAMS = Path("params.yaml")


def load_params(path: Path = PARAMS) -> dict[str, Any]:
    """Read params.yaml, the single source of seeds, hyperparameters and gate thresholds."""
    return yaml.safe_load(path.read_text())
