"""The metric gate reads what `make pipeline` wrote; it never trains on its own."""

import json

import pytest

from ml_project import config


@pytest.fixture(scope="session")
def metrics() -> dict[str, float]:
    if not config.METRICS.exists():
        pytest.fail(f"{config.METRICS} is missing: run `make pipeline` before `make validate`")
    return json.loads(config.METRICS.read_text())


@pytest.fixture(scope="session")
def gate() -> dict:
    return config.load_params()["gate"]
