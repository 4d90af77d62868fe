"""Stage `track`, and `make register`: every pipeline run is recorded in MLflow.

The last stage of dvc.yaml, which runs on every `dvc repro` and every `dvc exp run`, logs
one MLflow run: the params of params.yaml, the metrics of `evaluate`, its plots, the
lineage (the git commit, and the md5 that dvc.lock records for every file of data/ and
models/) and the model itself: models/model.onnx and its manifest as artifacts, byte for
byte, so that the sha256 the manifest and the service check holds for what the registry
hands out. The run's ID goes to reports/mlflow-run.json for `make report` and `make
register`.

The store is the server that MLFLOW_TRACKING_URI names (MLFLOW_TRACKING_TOKEN, or
MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, authenticate to it), else the SQLite
file mlflow.db at the project's root. A relative sqlite path means the project's root too:
DVC runs a queued experiment in a copy of the workspace under .dvc/tmp/exps/, and its runs
belong in the project's store, not in that copy.

`make register`, which the release runs after the gate, registers the model of this
workspace's run as the registered model MODEL_NAME and moves the alias `champion` to it,
in the store that MLFLOW_TRACKING_URI names. Without that variable there is no server to
register in: it says so and registers nothing (a CI job's local mlflow.db is thrown away
with the job).
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from . import config

EXPERIMENT = "ml-project"
MODEL_NAME = "ml-project"
CHAMPION = "champion"
RUN_FILE = Path("reports/mlflow-run.json")
LOCK = Path("dvc.lock")
# The path of GitLab's MLflow-compatible API in a tracking URI.
GITLAB_API = "/api/v4/projects/"
# The files whose dvc.lock md5 a run records as its lineage: the data and the model.
LINEAGE = ("data/", "models/")
# A CI variable that is not defined can reach a step's env as its own reference: Azure
# Pipelines passes "$(MLFLOW_TRACKING_TOKEN)" as is. Such a value is no setting.
UNDEFINED_REFERENCE = re.compile(r"\$\(\w+\)")
SETTINGS = ("URI", "TOKEN", "USERNAME", "PASSWORD")


def drop_undefined_settings(environ=os.environ) -> list[str]:
    """Removes the MLFLOW_TRACKING_* variables whose value is an undefined CI variable's
    reference, so that MLflow never sends one as a credential; returns their names."""
    names = [f"MLFLOW_TRACKING_{setting}" for setting in SETTINGS]
    dropped = [name for name in names if UNDEFINED_REFERENCE.fullmatch(environ.get(name, ""))]
    for name in dropped:
        del environ[name]
    return dropped


def project_root(cwd: Path | None = None) -> Path:
    """The project's root, also from the copy of it that DVC runs a queued experiment in
    (<root>/.dvc/tmp/exps/<tmp>/)."""
    cwd = (cwd or Path.cwd()).resolve()
    parts = cwd.parts
    return Path(*parts[: parts.index(".dvc")]) if ".dvc" in parts else cwd


def tracking_uri(root: Path | None = None) -> str:
    """MLFLOW_TRACKING_URI, a relative sqlite path taken from the project's root; or the
    project's mlflow.db."""
    root = root or project_root()
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        return f"sqlite:///{root / 'mlflow.db'}"
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.removeprefix(prefix).startswith("/"):
        return f"{prefix}{root / uri.removeprefix(prefix)}"
    return uri


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def lineage(lock_path: Path = LOCK) -> dict[str, str]:
    """The md5 that dvc.lock records for each file of data/ and models/ (what a stage read
    or wrote), by path."""
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.exists() else {}
    hashes: dict[str, str] = {}
    for stage in (lock or {}).get("stages", {}).values():
        for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
            if entry["path"].startswith(LINEAGE) and "md5" in entry:
                hashes[entry["path"]] = entry["md5"]
    return dict(sorted(hashes.items()))


def run_tags(hashes: dict[str, str]) -> dict[str, str]:
    """Where the run comes from: the commit, and whether the tree had changes on top; in a
    DVC experiment, its name and baseline commit; the dvc.lock md5 of its data and model."""
    tags = {
        "mlflow.source.git.commit": git("rev-parse", "HEAD"),
        "mlflow.source.git.branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "git.dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower(),
        "model.sha256": json.loads(config.MANIFEST.read_text())["sha256"],
    }
    experiment = {"dvc.exp.name": "DVC_EXP_NAME", "dvc.exp.baseline": "DVC_EXP_BASELINE_REV"}
    tags |= {tag: os.environ[name] for tag, name in experiment.items() if os.environ.get(name)}
    return tags | {f"dvc.md5.{path}": md5 for path, md5 in hashes.items()}


def experiment_id(client, root: Path) -> str:
    """The project's experiment; created with its artifacts beside a local store."""
    import mlflow

    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    local = tracking_uri(root).startswith("sqlite:")
    location = (root / "mlartifacts").as_uri() if local else None
    try:
        return client.create_experiment(EXPERIMENT, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another run (a parallel queued experiment) created it first.
        return client.get_experiment_by_name(EXPERIMENT).experiment_id


def log_run() -> dict[str, str]:
    """Log this workspace's pipeline run; return (and write to RUN_FILE) where it is."""
    import mlflow

    root = project_root()
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    hashes = lineage()
    tags = run_tags(hashes)
    name = os.environ.get("DVC_EXP_NAME") or tags["mlflow.source.git.commit"][:12] or None
    with mlflow.start_run(experiment_id=experiment_id(client, root), run_name=name) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(config.flatten(config.load_params()))
        mlflow.log_metrics(json.loads(config.METRICS.read_text()))
        mlflow.log_artifacts(str(config.PLOTS), "plots")
        mlflow.log_artifact(str(config.MODEL), "model")
        mlflow.log_artifact(str(config.MANIFEST), "model")
        if LOCK.exists():
            mlflow.log_artifact(str(LOCK))
    record = {
        "tracking_uri": uri,
        "experiment_id": run.info.experiment_id,
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
    }
    RUN_FILE.parent.mkdir(parents=True, exist_ok=True)
    RUN_FILE.write_text(json.dumps(record, indent=2) + "\n")
    return record


def run_link(record: dict[str, str]) -> str:
    """The run, as a Markdown line: a link on an MLflow server, its name elsewhere."""
    uri, run = record["tracking_uri"], record["run_id"]
    if uri.startswith(("http://", "https://")) and GITLAB_API not in uri:
        url = f"{uri.rstrip('/')}/#/experiments/{record['experiment_id']}/runs/{run}"
        return f"MLflow run [{record['run_name']}]({url}) (`{run}`)"
    where = "GitLab's model experiments" if uri.startswith("http") else f"`{uri}`"
    return f"MLflow run `{record['run_name']}` (`{run}`) in {where}"


def register() -> str:
    """Register this workspace's run's model as MODEL_NAME and alias it CHAMPION."""
    if not os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        return (
            "MLFLOW_TRACKING_URI is not set: there is no tracking server to register the "
            f"model in, so nothing was registered and `{CHAMPION}` did not move. Set it to "
            "your server (README, Experiment tracking), or to sqlite:///mlflow.db for this "
            "project's local store."
        )
    import mlflow

    record = json.loads(RUN_FILE.read_text())
    uri = tracking_uri()
    if record["tracking_uri"] != uri:
        raise SystemExit(
            f"{RUN_FILE} names a run in {record['tracking_uri']}, not in {uri}: run "
            "`make pipeline` with this MLFLOW_TRACKING_URI first"
        )
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    run = client.get_run(record["run_id"])
    on_disk = json.loads(config.MANIFEST.read_text())["sha256"]
    if run.data.tags.get("model.sha256") != on_disk:
        raise SystemExit(
            f"run {record['run_id']} logged the model {run.data.tags.get('model.sha256')}, "
            f"but models/ holds {on_disk}: run `make pipeline` again before registering"
        )
    if not client.search_registered_models(f"name = '{MODEL_NAME}'"):
        client.create_registered_model(MODEL_NAME)
    versions = client.search_model_versions(
        f"name = '{MODEL_NAME}' and run_id = '{run.info.run_id}'"
    )
    version = (
        versions[0]
        if versions
        else client.create_model_version(
            MODEL_NAME,
            f"{run.info.artifact_uri}/model",
            run_id=run.info.run_id,
            tags={"mlflow.source.git.commit": run.data.tags.get("mlflow.source.git.commit", "")},
        )
    )
    registered = f"registered {MODEL_NAME} version {version.version} (run {run.info.run_id})"
    try:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version.version)
    except mlflow.exceptions.MlflowException as error:
        if GITLAB_API not in uri:
            raise
        # GitLab's MLflow-compatible API registers versions but has no aliases (yet).
        return (
            f"{registered} in {uri}; GitLab's model registry has no aliases, so there the "
            f"newest version is the champion (it answered: {error.message})"
        )
    return f"{registered} as `{CHAMPION}` in {uri}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="log", choices=["log", "register", "link"])
    command = parser.parse_args(argv).command
    drop_undefined_settings()
    if command == "log":
        record = log_run()
        print(f"logged {run_link(record)}")
    elif command == "register":
        print(register())
    elif RUN_FILE.exists():
        print(run_link(json.loads(RUN_FILE.read_text())))
    else:
        print(f"No MLflow run: {RUN_FILE} is written by `make pipeline`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
