"""Drift inputs travel for real: a cloud service's app ships the records it is asked about to
its bucket (S3, GCS, Azure Blob emulators on loopback), and `make inputs ENV=production`
reads back exactly those records; `make monitor` retrains on drift, and only on drift."""

import csv
import json
import re
import shutil
import statistics
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import git_commit_all, run
from servers import azurite, gcs_emulator, moto_s3

pytestmark = pytest.mark.e2e

RUN = ["uv", "run", "--frozen", "python"]
# Small chunks, so that a few requests already ship several chunk objects.
CHUNK_RECORDS = 25
# The bucket (container on Azure) that deploy/inputs.py reads by default.
DEFAULT_INPUTS_URL = re.compile(r'environ\.get\("INPUTS_URL", "(\w+)://([^"/]+)"\)')
CHUNK_NAME = re.compile(r"\d{8}T\d{12}-[0-9a-f]{12}\.jsonl")

# Run inside the rendered project: serve COUNT records of the project's dataset through
# ROUTE of the real app, write what was posted to POSTED, and print the names of the chunk
# objects then under INPUT_LOG_URL.
SERVE_AND_POST = """
import importlib, json, os, sys
from pathlib import Path

import fsspec
from fastapi.testclient import TestClient

package, route, posted, count = sys.argv[1:5]
config = importlib.import_module(f"{package}.config")
data = importlib.import_module(f"{package}.data")
export = importlib.import_module(f"{package}.export")
train = importlib.import_module(f"{package}.train")
model_path = Path(os.environ["MODEL_PATH"])
if not model_path.exists():
    # A project that has not run its pipeline: fit and export its model, as the stages do.
    params = config.load_params()
    raw = data.load_raw()
    model = train.fit(raw, params["train"], params["seed"])
    onnx, manifest = export.export_model(model, raw, params["serving"]["bounds_margin"])
    model_path.write_bytes(onnx)
    manifest.write(model_path.with_name(config.MANIFEST.name))
serve = importlib.import_module(f"{package}.serve")  # reads MODEL_PATH when imported
features = data.load_raw()[list(data.FEATURES)]
records = features.sample(int(count), random_state=0).to_dict("records")
with TestClient(serve.app) as client:  # leaving it shuts the app down: the log is flushed
    for start in range(0, len(records), 20):
        response = client.post(route, json={"records": records[start : start + 20]})
        response.raise_for_status()
Path(posted).write_text(json.dumps(records))
fs, root = fsspec.core.url_to_fs(os.environ["INPUT_LOG_URL"])
print(json.dumps([path.rsplit("/", 1)[-1] for path in fs.ls(root, detail=False)]))
"""

# Creates a blob container with the Azure SDK that adlfs brings into the project.
CREATE_CONTAINER = """
import sys
from azure.storage.blob import BlobServiceClient
BlobServiceClient.from_connection_string(sys.argv[1]).create_container(sys.argv[2])
"""


def package_of(project: Path) -> str:
    return next(p.name for p in (project / "src").iterdir() if (p / "serve.py").exists())


def serve_and_post(project: Path, route: str, count: int, **env: str):
    """Post `count` records to the app; returns (the records posted, the app's stdout)."""
    posted = project / "posted.json"
    args = [package_of(project), route, str(posted), str(count)]
    result = run([*RUN, "-c", SERVE_AND_POST, *args], project, **env)
    return json.loads(posted.read_text()), result


@contextmanager
def s3_bucket(project: Path, bucket: str):
    with moto_s3(bucket) as (endpoint, _):
        # botocore (under s3fs) takes the endpoint from AWS_ENDPOINT_URL.
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


@contextmanager
def gcs_bucket(project: Path, bucket: str):
    with gcs_emulator(bucket) as endpoint:
        # gcsfs takes the endpoint from STORAGE_EMULATOR_HOST. The emulator needs no token:
        # fsspec's FSSPEC_GS_TOKEN makes gcsfs anonymous instead of looking for credentials
        # (on the metadata server); gcsfs probes for hierarchical-namespace buckets unless
        # told not to, which the emulator never answers.
        yield {
            "STORAGE_EMULATOR_HOST": endpoint,
            "FSSPEC_GS_TOKEN": "anon",
            "NO_GCE_CHECK": "true",
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }


@contextmanager
def azure_container(project: Path, container: str):
    with azurite() as connection_string:
        run([*RUN, "-c", CREATE_CONTAINER, connection_string, container], project)
        # adlfs takes the account, its key and the endpoint from the connection string.
        yield {"AZURE_STORAGE_CONNECTION_STRING": connection_string}


STORES = {"s3": s3_bucket, "gs": gcs_bucket, "az": azure_container}
# The route each target's traffic comes in on: SageMaker sends /invocations.
CLOUD_TARGETS = {
    "aws_sagemaker": "/invocations",
    "gcp_cloud_run": "/predict",
    "azure_container_apps": "/predict",
}


@pytest.mark.parametrize("target", CLOUD_TARGETS)
def test_what_a_cloud_service_ships_is_what_make_inputs_reads(
    render, tmp_path: Path, target: str
) -> None:
    project = tmp_path / "project"
    shutil.copytree(render({"deploy_target": target}), project)
    git_commit_all(project, "Start from copier-mlops")
    run(["make", "install"], project)
    inputs_py = (project / "deploy" / "inputs.py").read_text()
    scheme, bucket = DEFAULT_INPUTS_URL.search(inputs_py).groups()
    with STORES[scheme](project, bucket) as store_env:
        # What infra/ sets on the production service: <bucket>/<env>/.
        serving_env = {
            "INPUT_LOG_URL": f"{scheme}://{bucket}/production/",
            "INPUT_LOG_CHUNK_RECORDS": str(CHUNK_RECORDS),
            "MODEL_PATH": str(tmp_path / "model.onnx"),
        }
        posted, served = serve_and_post(
            project, CLOUD_TARGETS[target], 60, **store_env, **serving_env
        )
        chunks = json.loads(served.stdout.splitlines()[-1])
        assert len(chunks) > 1, f"60 records in chunks of {CHUNK_RECORDS}: {served.stderr}"
        assert all(CHUNK_NAME.fullmatch(name) for name in chunks), chunks
        # `make inputs` finds the bucket by itself: its default is the one infra/ creates.
        fetched = run(["make", "inputs", "ENV=production"], project, **store_env)
    assert "production: wrote 60 recorded inputs" in fetched.stdout, fetched.stdout
    records = [
        json.loads(line) for line in (project / "logs" / "inputs.jsonl").read_text().splitlines()
    ]
    # No serving token is configured: each record says it was not authenticated.
    assert [record.pop("authenticated") for record in records] == [False] * len(posted)
    # Chunks shipped within one second may come back in either order: compare sorted.
    assert sorted(map(json.dumps, records)) == sorted(map(json.dumps, posted))


def drifted_chunk(train_csv: Path, count: int) -> str:
    """`count` training records with every feature moved by two standard deviations, as
    one chunk of JSON lines the way the serving app ships them."""
    with train_csv.open() as table:
        rows = list(csv.DictReader(table))
    features = [name for name in rows[0] if name != "target"]
    shift = {name: 2 * statistics.stdev(float(row[name]) for row in rows) for name in features}
    drifted = [{name: float(row[name]) + shift[name] for name in features} for row in rows]
    return "".join(json.dumps(record) + "\n" for record in drifted[:count])


def test_monitor_retrains_on_drift_only(ci_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    # A virtualenv does not survive a move (its scripts name their interpreter's path).
    shutil.copytree(ci_project, project, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    run(["make", "install"], project)
    # No service anywhere (no Docker host answers): nothing to judge, nothing to retrain.
    quiet = run(["make", "monitor"], project, DOCKER_HOST="")
    assert "production: no recorded inputs to read" in quiet.stdout, quiet.stdout
    assert "monitor: no drift, nothing to retrain" in quiet.stdout, quiet.stdout
    # `make ci` left the pipeline up to date: no stage runs but `track`, which logs every
    # pipeline run to MLflow (always_changed).
    ran = set(re.findall(r"Running stage '([\w-]+)'", quiet.stdout))
    assert ran <= {"track"}, f"`make ci` left the pipeline out of date: {ran}"
    assert not (project / "reports" / "drift.json").exists()

    # Compose services ship their log under INPUTS_URL when it is set (INPUT_LOG_URL):
    # production's has seen inputs far from the training data.
    shipped = tmp_path / "shipped" / "production"
    shipped.mkdir(parents=True)
    chunk = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.jsonl"
    (shipped / chunk).write_text(drifted_chunk(project / "data" / "processed" / "train.csv", 150))
    drifted = run(["make", "monitor"], project, DOCKER_HOST="", INPUTS_URL=shipped.parent.as_uri())
    assert "production: wrote 150 recorded inputs" in drifted.stdout, drifted.stdout
    report = json.loads((project / "reports" / "drift.json").read_text())
    assert all(feature["drifted"] for feature in report.values()), report
    retraining = drifted.stdout.split("monitor: drift found, retraining", 1)
    assert len(retraining) == 2, drifted.stdout
    # dvc repro --force re-runs every stage, then the gate passes and the model is pushed.
    assert "Running stage 'fetch'" in retraining[1], drifted.stdout
    assert "Running stage 'train'" in retraining[1], drifted.stdout
    assert any((project.parent / "dvc-storage").rglob("*")), "the retrained model is pushed"
