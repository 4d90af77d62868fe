"""Fixtures that build a small, real pipeline run in a temporary directory, and the
Hypothesis profiles of the property-based tests."""

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

from ml_project import config
from ml_project.data import fetch, read
from ml_project.export import export_model
from ml_project.prepare import split
from ml_project.train import fit

# "thorough" (the default, and what CI runs) tries 100 examples per property; "quick" tries
# 10, for a fast loop while editing: `HYPOTHESIS_PROFILE=quick make test`. derandomize: the
# same examples on every run, so a red build replays as it failed.
settings.register_profile(
    "thorough",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile("quick", settings.get_profile("thorough"), max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "thorough"))


@pytest.fixture(autouse=True)
def open_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Predictions are open unless a test configures a token: a serving token in the shell
    that runs the tests changes nothing."""
    monkeypatch.delenv("SERVING_API_TOKEN", raising=False)
    monkeypatch.delenv("SERVING_API_TOKEN_FILE", raising=False)


@pytest.fixture(scope="session")
def params() -> dict:
    return config.load_params()


@pytest.fixture(scope="session")
def raw(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return read(fetch(tmp_path_factory.mktemp("raw") / "dataset.csv"))


@pytest.fixture(scope="session")
def train_test(raw: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split(raw, params["data"]["test_size"], params["seed"])


@pytest.fixture(scope="session")
def sklearn_model(train_test, params: dict):
    return fit(train_test[0], params["train"], params["seed"])


@pytest.fixture(scope="session")
def model_path(sklearn_model, train_test, params, tmp_path_factory) -> Path:
    """The ONNX export of the fitted model, with its manifest beside it, as `export` writes
    them: what the service loads."""
    data, manifest = export_model(sklearn_model, train_test[0], params["serving"]["bounds_margin"])
    path = tmp_path_factory.mktemp("models") / config.MODEL.name
    path.write_bytes(data)
    manifest.write(path.with_name(config.MANIFEST.name))
    return path
