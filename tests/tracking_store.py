"""Read a rendered project's MLflow store back, with the project's own MLflow client."""

import json
from pathlib import Path

from conftest import run

# Runs in the project's environment: argv[1] is what to read, the answer one JSON line.
READ = r"""
import hashlib, json, sys
from pathlib import Path
import mlflow
from mlflow.artifacts import download_artifacts

mlflow.set_tracking_uri(sys.argv[2])
client = mlflow.MlflowClient()
what, arg = sys.argv[1], sys.argv[3]
if what == "run":
    run = client.get_run(arg)
    model = Path(download_artifacts(run_id=arg, artifact_path="model/model.onnx"))
    print(json.dumps({
        "tags": run.data.tags,
        "params": run.data.params,
        "metrics": run.data.metrics,
        "artifacts": sorted(a.path for a in client.list_artifacts(arg)),
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
    }))
elif what == "champion":
    version = client.get_model_version_by_alias(arg, "champion")
    model = Path(download_artifacts(f"{version.source}/model.onnx"))
    print(json.dumps({
        "version": version.version,
        "run_id": version.run_id,
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
    }))
elif what == "experiments":
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.`dvc.exp.name` != ''",
    )
    print(json.dumps({r.data.tags["dvc.exp.name"]: r.data.params for r in runs}))
"""


def store(project: Path) -> str:
    return f"sqlite:///{project / 'mlflow.db'}"


def read(project: Path, what: str, arg: str) -> dict:
    """what: `run` (arg: a run ID), `champion` (arg: the registered model's name) or
    `experiments` (the params of each DVC experiment's run, by experiment name)."""
    cmd = ["uv", "run", "--frozen", "python", "-c", READ, what, store(project), arg]
    return json.loads(run(cmd, project).stdout.strip().splitlines()[-1])


def last_run(project: Path) -> dict:
    """reports/mlflow-run.json: where the workspace's last pipeline run was logged."""
    return json.loads((project / "reports" / "mlflow-run.json").read_text())
