"""Gate 1: every metric named under gate.min in params.yaml reaches its threshold."""

import pytest

from ml_project import config

pytestmark = pytest.mark.gate

THRESHOLDS = config.load_params()["gate"]["min"]


@pytest.mark.parametrize("name", sorted(THRESHOLDS))
def test_metric_reaches_its_threshold(name: str, metrics: dict[str, float]) -> None:
    assert name in metrics, f"{config.METRICS} has no metric {name!r}"
    assert metrics[name] >= THRESHOLDS[name], (
        f"{name} = {metrics[name]} is below the threshold {THRESHOLDS[name]} in params.yaml"
    )
