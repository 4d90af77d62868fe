"""Every task renders a project that fits it: its schema names the task and the classes of
its bundled sample (none for regression), it is asked only its own gate thresholds, its
Python passes ruff, its alert rules pass promtool and watch one of its classes (a
regression's, the mean predicted value), its dashboard is JSON; and a project of each task
other than the default (the default's are tests/test_default_project.py and the README run)
passes `make ci` and answers a record of its sample with a label of its classes, or a
regression's with a value."""

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

import linters
from conftest import PLAN, git_commit_all, run, tool
from test_monitoring import USED, exported_series

TASKS = list(PLAN["tasks"])
DEFAULT = "binary_classification"
REGRESSION = "regression"
# The gate thresholds each kind of task is asked for (copier.yml), and the metrics its
# `evaluate` writes.
THRESHOLDS = {"classification": {"min_accuracy", "min_f1"}, REGRESSION: {"max_rmse", "min_r2"}}
METRICS = {
    "classification": {"accuracy", "f1", "precision", "recall", "roc_auc"},
    REGRESSION: {"rmse", "mae", "r2"},
}


def kind(task: str) -> str:
    return REGRESSION if task == REGRESSION else "classification"


def answers(task: str) -> dict:
    """The default answers for the default task, so that its render is the shared one."""
    return {} if task == DEFAULT else {"task": task}


@pytest.fixture(scope="module")
def projects(render) -> dict[str, Path]:
    return {task: render(answers(task)) for task in TASKS}


@pytest.mark.parametrize("task", TASKS)
def test_schema_names_the_task_and_its_sample(projects: dict[str, Path], task: str) -> None:
    schema = yaml.safe_load((projects[task] / "data" / "schema.yaml").read_text())
    facts = PLAN["tasks"][task]
    assert schema["task"] == task
    assert schema["target"].get("classes", []) == facts["classes"]
    assert [feature["name"] for feature in schema["features"]] == facts["features"]
    params = (projects[task] / "params.yaml").read_text()
    assert f"`sample`, the {facts['sample']} data" in params


@pytest.mark.parametrize("task", TASKS)
def test_only_the_gate_thresholds_of_the_task_are_asked(
    projects: dict[str, Path], task: str
) -> None:
    answers = yaml.safe_load((projects[task] / ".copier-answers.yml").read_text())
    asked = {name for names in THRESHOLDS.values() for name in names} & set(answers)
    assert asked == THRESHOLDS[kind(task)]
    gate = yaml.safe_load((projects[task] / "params.yaml").read_text())["gate"]
    gated = set(gate["min"]) | set(gate.get("max", {}))
    assert gated <= METRICS[kind(task)]


def test_rendered_python_of_every_task_passes_ruff(
    projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    scratch = tmp_path_factory.mktemp("ruff")
    findings = linters.ruff(tool("ruff"), projects.values(), scratch)
    assert not any(findings[project] for project in projects.values()), findings


@pytest.mark.parametrize("task", TASKS)
def test_alert_rules_and_dashboard_watch_what_the_task_predicts(
    projects: dict[str, Path], task: str
) -> None:
    monitoring = projects[task] / "monitoring"
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (.ci/run does)"
    run([promtool, "check", "rules", "alerts.yml"], monitoring)
    tested = run([promtool, "test", "rules", "alerts.test.yml"], monitoring).stdout
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    alerts = (monitoring / "alerts.yml").read_text()
    used = {name for text in [alerts, *expressions] for name in USED.findall(text)}
    assert used <= exported_series(projects[task]), "only metrics the app exports"
    if task == REGRESSION:
        # The mean predicted value, its band from the plan, and a test where it fires.
        band = PLAN["tasks"][task]["predicted"]
        assert f") > {band['high']}\n" in alerts and f") < {band['low']}\n" in alerts
        assert "prediction_value_sum" in alerts and "predictions_total" not in alerts
        assert (
            "alertname: PredictedValueShifted\n        exp_alerts:\n          - "
            in (monitoring / "alerts.test.yml").read_text()
        )
        assert "SUCCESS" in tested
        assert any("prediction_value_bucket" in expr for expr in expressions)
        assert not any("predictions_total" in expr for expr in expressions)
        return
    watched = PLAN["tasks"][task]["watched"]
    assert {watched["class"], watched["other"]} <= set(PLAN["tasks"][task]["classes"])
    assert f'label="{watched["class"]}"' in alerts
    assert any(f'label="{watched["class"]}"' in expr for expr in expressions)


# In the project's own environment: a record of the test split through the app in-process,
# and the answer the OpenAPI schema documents for /predict.
PREDICT = """
import json
from fastapi.testclient import TestClient
from {package}.data import FEATURES, read
from {package}.serve import app

record = read("data/processed/test.csv")[list(FEATURES)].iloc[0].to_dict()
with TestClient(app) as client:
    response = client.post("/predict", json={{"records": [record]}})
    documented = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
answer = documented["200"]["content"]["application/json"]["schema"]["$ref"]
print(json.dumps({{"status": response.status_code, "body": response.json(), "answer": answer}}))
"""


@pytest.fixture(scope="module")
def task_runs(render, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each task other than the default: a git repository of its render, `make install`
    and `make ci` run once (their times recorded), and one in-process prediction."""
    runs = {}
    for task in TASKS:
        if task == DEFAULT:
            continue
        project = tmp_path_factory.mktemp(task) / "ml-project"
        shutil.copytree(render(answers(task)), project)
        git_commit_all(project, "Start from copier-mlops")
        times = {}
        for target in ("install", "ci"):
            start = time.monotonic()
            # Hypothesis's quick profile: the thorough fuzzing is the default project's.
            output = run(["make", target], project, HYPOTHESIS_PROFILE="quick").stdout
            times[target] = round(time.monotonic() - start, 1)
        package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
        script = PREDICT.format(package=package)
        answer = run(["uv", "run", "--frozen", "python", "-c", script], project).stdout
        runs[task] = {
            "project": project,
            "times": times,
            "ci_output": output,
            "prediction": json.loads(answer.strip().splitlines()[-1]),
        }
        print(f"{task}: make install {times['install']} s, make ci {times['ci']} s")
    return runs


@pytest.mark.e2e
@pytest.mark.parametrize("task", [task for task in TASKS if task != DEFAULT])
def test_a_project_of_the_task_passes_make_ci(task_runs: dict[str, dict], task: str) -> None:
    done = task_runs[task]
    metrics = json.loads((done["project"] / "reports" / "metrics.json").read_text())
    assert set(metrics) == METRICS[kind(task)]
    gate = yaml.safe_load((done["project"] / "params.yaml").read_text())["gate"]
    assert all(metrics[name] >= threshold for name, threshold in gate["min"].items())
    assert all(metrics[name] <= threshold for name, threshold in gate.get("max", {}).items())
    assert "tests/gate/test_thresholds.py .." in done["ci_output"]
    plots = {path.name for path in (done["project"] / "reports" / "plots").iterdir()}
    assert plots == ({"predicted.csv"} if task == REGRESSION else {"confusion.csv", "roc.csv"})


@pytest.mark.e2e
@pytest.mark.parametrize("task", [task for task in TASKS if task != DEFAULT])
def test_the_service_answers_a_record_of_the_task(task_runs: dict[str, dict], task: str) -> None:
    prediction = task_runs[task]["prediction"]
    assert prediction["status"] == 200, prediction
    (answer,) = prediction["body"]["predictions"]
    if task == REGRESSION:
        # A value in the range of the sample's target (diabetes: 25 to 346), nothing else.
        assert set(answer) == {"value"} and 25 <= answer["value"] <= 346, answer
        assert prediction["answer"] == "#/components/schemas/ValueResponse"
        return
    assert prediction["answer"] == "#/components/schemas/PredictResponse"
    classes = PLAN["tasks"][task]["classes"]
    assert answer["label"] == classes[answer["class_id"]]
    assert 1 / len(classes) <= answer["probability"] <= 1
