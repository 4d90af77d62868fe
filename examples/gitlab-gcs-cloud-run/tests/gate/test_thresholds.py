"""Gate 1: every metric named under gate.min in params.yaml reaches its threshold, and every
metric named under gate.max (an error, such as a regression's rmse) stays at or under it."""

import pytest

from ml_project import config

pytestmark = pytest.mark.gate

GATE = config.load_params()["gate"]
THRESHOLDS = [("min", name) for name in sorted(GATE.get("min", {}))] + [
    ("max", name) for name in sorted(GATE.get("max", {}))
]


@pytest.mark.parametrize(("bound", "name"), THRESHOLDS, ids=[name for _, name in THRESHOLDS])
def test_metric_reaches_its_threshold(bound: str, name: str, metrics: dict[str, float]) -> None:
    assert name in metrics, f"{config.METRICS} has no metric {name!r}"
    threshold = GATE[bound][name]
    if bound == "min":
        assert metrics[name] >= threshold, (
            f"{name} = {metrics[name]} is below the threshold {threshold} in params.yaml"
        )
    else:
        assert metrics[name] <= threshold, (
            f"{name} = {metrics[name]} is above the threshold {threshold} in params.yaml"
        )
