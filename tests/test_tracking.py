"""Experiment tracking. With MLflow (the default) every pipeline run is logged with its
params, metrics, plots, lineage (the git commit, dvc.lock's md5 of data and model) and
model, to the project's SQLite store; the client stays out of the serving image. With
`none`, nothing of MLflow renders. (The README test runs `make experiment`, `make ui` and
`make register` as the rendered README writes them, and reads their runs back.)"""

import hashlib
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import run
from tracking_store import last_run, read


def test_none_renders_nothing_of_mlflow(render) -> None:
    project = render({"experiment_tracking": "none"})
    mentions = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and path.name != ".copier-answers.yml"
        and "mlflow" in path.read_text().lower()
    ]
    assert mentions == []
    assert not list(project.glob("src/*/tracking.py"))
    assert "track" not in yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    # The Makefile still parses, and `register` (which every CI vendor's release runs) says
    # there is no registry instead of registering.
    run(["make", "-n", "ci", "report", "register", "experiment", "promote"], project)
    assert "experiment_tracking: none" in run(["make", "register"], project).stdout


def test_the_mlflow_client_is_a_group_of_its_own_out_of_the_image(default_project) -> None:
    pyproject = tomllib.loads((default_project / "pyproject.toml").read_text())
    tracking = pyproject["dependency-groups"]["tracking"]
    assert any(d.startswith("mlflow-skinny") for d in tracking)
    assert not any("mlflow" in d for d in pyproject["project"]["dependencies"])
    assert "tracking" in pyproject["tool"]["uv"]["default-groups"]
    dockerfile = (default_project / "Dockerfile").read_text()
    assert dockerfile.count("uv sync --frozen --no-default-groups") == 2
    stages = yaml.safe_load((default_project / "dvc.yaml").read_text())["stages"]
    assert list(stages)[-1] == "track" and stages["track"]["always_changed"] is True


@pytest.mark.e2e
def test_every_pipeline_run_is_logged_with_its_lineage(ci_project: Path) -> None:
    before = last_run(ci_project)["run_id"]
    # Nothing changed: every stage comes from the cache, and the run is logged again.
    assert "Running stage 'track'" in run(["make", "pipeline"], ci_project).stdout
    record = last_run(ci_project)
    assert record["run_id"] != before
    logged = read(ci_project, "run", record["run_id"])

    assert (
        logged["tags"]["mlflow.source.git.commit"]
        == run(["git", "rev-parse", "HEAD"], ci_project).stdout.strip()
    )
    lock = yaml.safe_load((ci_project / "dvc.lock").read_text())["stages"]
    assert logged["tags"]["dvc.md5.data/raw/dataset.csv"] == lock["fetch"]["outs"][0]["md5"]
    model_md5 = next(o["md5"] for o in lock["export"]["outs"] if o["path"] == "models/model.onnx")
    assert logged["tags"]["dvc.md5.models/model.onnx"] == model_md5
    manifest = json.loads((ci_project / "models" / "manifest.json").read_text())
    onnx = (ci_project / "models" / "model.onnx").read_bytes()
    assert logged["tags"]["model.sha256"] == manifest["sha256"] == logged["model_sha256"]
    assert hashlib.md5(onnx).hexdigest() == model_md5

    metrics = json.loads((ci_project / "reports" / "metrics.json").read_text())
    assert logged["metrics"] == pytest.approx(metrics)
    params = yaml.safe_load((ci_project / "params.yaml").read_text())
    assert float(logged["params"]["train.C"]) == params["train"]["C"]
    assert logged["params"]["seed"] == str(params["seed"])
    assert logged["artifacts"] == ["dvc.lock", "model", "plots"]

    report = run(["make", "report"], ci_project).stdout
    assert f"MLflow run `{record['run_name']}` (`{record['run_id']}`)" in report


def test_the_release_signs_in_to_the_tracking_server_where_secrets_need_mapping(render) -> None:
    """Jenkins binds the token credential only when a server is named; Azure Pipelines maps
    its secret variables into the env of the steps that log and register (pull requests
    get neither)."""
    jenkinsfile = (render({"ci_provider": "jenkins"}) / "Jenkinsfile").read_text()
    binding = "credentialsId: 'mlflow-tracking-token', variable: 'MLFLOW_TRACKING_TOKEN'"
    assert jenkinsfile.count(binding) == 1
    package = jenkinsfile[jenkinsfile.index("withTracking {") :]
    assert package.index("sh 'make pipeline'") < package.index("sh 'make register'")
    assert package.index("sh 'make register'") < package.index("\n                            }")

    azure = yaml.safe_load(
        (render({"ci_provider": "azure_pipelines"}) / "azure-pipelines.yml").read_text()
    )
    for stage in azure["stages"]:
        steps = [step for job in stage.get("jobs", []) for step in job.get("steps", [])]
        mapped = [
            step["script"].split()[1]
            for step in steps
            if "MLFLOW_TRACKING_TOKEN" in step.get("env", {})
        ]
        assert mapped == (["pipeline", "register"] if stage.get("stage") == "package" else [])
