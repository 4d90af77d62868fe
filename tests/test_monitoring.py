"""monitoring/ ships alert rules that promtool accepts and unit-tests, and a Grafana
dashboard; both use only metrics the serving app really exports."""

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import run

EXPORTED = re.compile(r'(?:Counter|Histogram)\(\s*"(\w+)"')
USED = re.compile(r"\b(http_\w+|predictions?_\w+|up)\b(?=\{)")


def exported_series(project: Path) -> set[str]:
    """Series names a prometheus_client Counter/Histogram produces, plus `up` (Prometheus)."""
    package = next((project / "src").iterdir())
    names = EXPORTED.findall((package / "monitoring.py").read_text())
    suffixes = {"", "_total", "_bucket", "_count", "_sum", "_created"}
    series = {name + suffix for name in names for suffix in suffixes}
    return series | {"up"}


@pytest.fixture(scope="module")
def monitoring(default_project: Path) -> Path:
    return default_project / "monitoring"


def test_alert_rules_pass_promtool_check_and_their_unit_tests(monitoring: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (.ci/run does)"
    run([promtool, "check", "rules", "alerts.yml"], monitoring)
    run([promtool, "test", "rules", "alerts.test.yml"], monitoring)


def test_dashboard_is_grafana_json_over_exported_metrics(
    default_project: Path, monitoring: Path
) -> None:
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    assert dashboard["panels"] and len(dashboard["uid"]) <= 40
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for expr in expressions for name in USED.findall(expr)}
    assert used and used <= exported_series(default_project)


def test_alert_rules_use_only_exported_metrics(default_project: Path, monitoring: Path) -> None:
    used = set(USED.findall((monitoring / "alerts.yml").read_text()))
    assert {"up", "http_requests_total", "predictions_total"} <= used
    assert used <= exported_series(default_project)
