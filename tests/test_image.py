"""The default project's image builds offline, runs as a non-root user, becomes healthy,
answers /health, /predict and /metrics, and holds the ONNX model and onnxruntime but no
pickle, scikit-learn or pandas. Built on a local Debian base image."""

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import run
from docker_engine import build, engine, run_container

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def image(ci_project: Path) -> str:
    with engine():
        tag = "copier-mlops-test/ml-project:latest"
        build(ci_project, tag)
        yield tag
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)


@pytest.fixture(scope="module")
def container(image: str):
    with run_container(image, 8000) as running:
        yield running


def test_image_runs_as_a_non_root_user(container) -> None:
    name, _ = container
    uid = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True)
    assert uid.stdout.strip() not in {"", "0"}


# Which of these modules the image's Python can import: the tracking client (the project's
# `tracking` group) stays out, as the pipeline's group does.
IMPORTABLE = (
    "import importlib.util as u; "
    "print(*[m for m in ('onnxruntime', 'sklearn', 'pandas', 'joblib', 'mlflow') "
    "if u.find_spec(m)])"
)


def test_image_holds_onnxruntime_and_no_pickle_sklearn_pandas_or_mlflow(container) -> None:
    name, _ = container
    found = subprocess.run(
        ["docker", "exec", name, "python", "-c", IMPORTABLE], capture_output=True, text=True
    )
    assert found.stdout.split() == ["onnxruntime"], found.stderr
    models = subprocess.run(
        ["docker", "exec", name, "ls", "/app/models"], capture_output=True, text=True
    )
    assert models.stdout.split() == ["manifest.json", "model.onnx"]


def test_container_answers_health_predict_and_metrics(ci_project: Path, container) -> None:
    name, url = container
    package = yaml.safe_load((ci_project / ".copier-answers.yml").read_text())["package_name"]
    run(["uv", "run", "--frozen", "python", "-m", f"{package}.smoke", url], ci_project)
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert 'predictions_total{label="' in response.read().decode()
    manifest = json.loads((ci_project / "models" / "manifest.json").read_text())
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
        assert json.load(response) == {"status": "ok", "model_sha256": manifest["sha256"]}


def test_docker_health_check_reports_healthy(container) -> None:
    name, _ = container
    deadline = time.monotonic() + 90
    status = ""
    while time.monotonic() < deadline:
        status = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Health.Status}}", name],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if status == "healthy":
            break
        time.sleep(3)
    assert status == "healthy"
