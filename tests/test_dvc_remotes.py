"""Each rendered DVC remote really round-trips: push, lose the local copies, pull back,
and `dvc status -c` reports the cache and the remote in sync. Against emulators on loopback."""

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import git_commit_all, run
from servers import moto_s3

pytestmark = pytest.mark.e2e

TRACKED = ["data/raw/dataset.csv", "data/processed/train.csv", "models/model.joblib"]
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def digest(project: Path) -> dict[str, str]:
    return {f: hashlib.sha256((project / f).read_bytes()).hexdigest() for f in TRACKED}


def round_trip(project: Path, **env: str) -> None:
    dvc = ["uv", "run", "--frozen", "dvc"]
    run(dvc + ["repro"], project, **env)
    before = digest(project)
    run(["make", "push"], project, **env)
    shutil.rmtree(project / ".dvc" / "cache")
    for tracked in TRACKED:
        (project / tracked).unlink()
    run(dvc + ["pull"], project, **env)
    assert digest(project) == before
    status = run(dvc + ["status", "--cloud"], project, **env).stdout
    assert "in sync" in status, status


@pytest.fixture
def installed(render, tmp_path: Path):
    def _installed(answers: dict) -> Path:
        project = tmp_path / "project"
        shutil.copytree(render(answers), project)
        git_commit_all(project, "Start from copier-mlops")
        run(["make", "install"], project)
        return project

    return _installed


def test_local_remote_round_trip(installed) -> None:
    project = installed({})
    round_trip(project)
    assert any((project.parent / "dvc-storage").rglob("*")), "the local remote holds the data"


def test_s3_remote_round_trip_against_an_emulator(installed) -> None:
    project = installed({"data_store": "s3", "s3_bucket": "ml-project-dvc"})
    with moto_s3("ml-project-dvc") as (endpoint, s3):
        # The committed config names the real bucket; the emulator is a --local override.
        run(
            [
                "uv",
                "run",
                "--frozen",
                "dvc",
                "remote",
                "modify",
                "--local",
                "storage",
                "endpointurl",
                endpoint,
            ],
            project,
        )
        round_trip(project, **FAKE_AWS)
        stored = s3.list_objects_v2(Bucket="ml-project-dvc", Prefix="dvc/")
        assert stored["KeyCount"] > 0
