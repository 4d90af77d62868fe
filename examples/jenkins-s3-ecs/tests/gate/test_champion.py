"""Gate 2, champion/challenger, against the champion, the metrics committed on BASELINE_REF
(main by default): no score under gate.min drops by more than gate.max_regression, and no
error under gate.max (lower is better) rises by more than gate.max_regression times the
champion's value."""

import json
import os
import subprocess

import pytest

from ml_project import config

pytestmark = pytest.mark.gate

BASELINE_REF = os.environ.get("BASELINE_REF", "main")


def champion_metrics() -> dict[str, float]:
    """`dvc metrics diff` gives the baseline's value of every metric as `old`."""
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{BASELINE_REF}^{{commit}}"],
        capture_output=True,
    )
    if known.returncode != 0:
        pytest.skip(f"no champion: {BASELINE_REF} does not exist yet")
    diff = subprocess.run(
        ["dvc", "metrics", "diff", "--json", "--all", BASELINE_REF],
        capture_output=True,
        text=True,
        check=True,
    )
    changes = json.loads(diff.stdout or "{}").get(config.METRICS.as_posix(), {})
    old = {name: change["old"] for name, change in changes.items() if change.get("old") is not None}
    if not old:
        pytest.skip(f"no champion: {BASELINE_REF} has no {config.METRICS} yet")
    return old


GATE = config.load_params()["gate"]


@pytest.mark.parametrize("name", sorted(GATE.get("min", {})))
def test_challenger_does_not_regress(name: str, metrics: dict[str, float], gate: dict) -> None:
    champion = champion_metrics()
    if name not in champion:
        pytest.skip(f"the champion on {BASELINE_REF} has no {name}")
    drop = champion[name] - metrics[name]
    assert drop <= gate["max_regression"], (
        f"{name} fell from {champion[name]} on {BASELINE_REF} to {metrics[name]}, "
        f"more than max_regression = {gate['max_regression']}"
    )


@pytest.mark.parametrize("name", sorted(GATE.get("max", {})))
def test_challenger_error_does_not_grow(name: str, metrics: dict[str, float], gate: dict) -> None:
    champion = champion_metrics()
    if name not in champion:
        pytest.skip(f"the champion on {BASELINE_REF} has no {name}")
    allowed = champion[name] * (1 + gate["max_regression"])
    assert metrics[name] <= allowed, (
        f"{name} rose from {champion[name]} on {BASELINE_REF} to {metrics[name]}, more than "
        f"max_regression = {gate['max_regression']} of it"
    )
