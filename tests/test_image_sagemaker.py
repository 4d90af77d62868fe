"""A SageMaker project's image, run the way SageMaker runs it (`docker run <image> serve`):
a non-root process answers GET /ping and POST /invocations on port 8080, and its plain CMD
serves the same. Built offline on the local Debian base image, like tests/test_image.py."""

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import git_commit_all, run
from docker_engine import build, engine, run_container

pytestmark = pytest.mark.e2e

ANSWERS = {"deploy_target": "aws_sagemaker"}
TAG = "copier-mlops-test/sagemaker:latest"


@pytest.fixture(scope="module")
def project(render, tmp_path_factory) -> Path:
    """The rendered project after `make ci`: its own tests (/ping and /invocations among
    them) pass, and the model the image carries is trained and gated. Its fuzzing runs
    Hypothesis's quick profile (10 examples per case, /ping and /invocations included): the
    thorough run of the same fuzzing is the default project's (README command 1)."""
    project = tmp_path_factory.mktemp("sagemaker") / "project"
    shutil.copytree(render(ANSWERS), project)
    git_commit_all(project, "Start from copier-mlops")
    run(["make", "install"], project)
    run(["make", "ci"], project, HYPOTHESIS_PROFILE="quick")
    return project


@pytest.fixture(scope="module")
def image(project: Path):
    with engine():
        build(project, TAG)
        yield TAG
        subprocess.run(["docker", "image", "rm", "-f", TAG], capture_output=True)


def record(project: Path) -> dict:
    """One real record of the dataset, as the smoke test sends it."""
    package = next(p.name for p in (project / "src").iterdir() if p.is_dir())
    code = f"import json, {package}.smoke as s; print(json.dumps(s.sample_record()))"
    return json.loads(run(["uv", "run", "--frozen", "python", "-c", code], project).stdout)


def invoke(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_for_ping(url: str) -> None:
    for _ in range(60):
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url}/ping never answered 200")


@pytest.mark.parametrize("command", [("serve",), ()], ids=["serve", "cmd"])
def test_the_image_answers_ping_and_invocations_on_8080(project, image, command) -> None:
    with run_container(image, 8080, *command) as (name, url):
        wait_for_ping(url)
        answer = invoke(url, {"records": [record(project)]})
        assert len(answer["predictions"]) == 1
        assert answer["predictions"][0]["label"] in {"malignant", "benign"}
        uid = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True)
        assert uid.stdout.strip() not in {"", "0"}
