"""Each rendered DVC remote really round-trips: push, lose the local copies, pull back,
and `dvc status -c` reports the cache and the remote in sync. Against emulators on loopback."""

import hashlib
import json
import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import S3_BUCKET, git_commit_all, run
from servers import azurite, gcs_emulator, moto_s3, throwaway_sshd

pytestmark = pytest.mark.e2e

TRACKED = ["data/raw/dataset.csv", "data/processed/train.csv", "models/model.onnx"]
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


def test_s3_remote_round_trip_against_an_emulator(s3_project: Path) -> None:
    project = s3_project
    with moto_s3(S3_BUCKET) as (endpoint, s3):
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
        stored = s3.list_objects_v2(Bucket=S3_BUCKET, Prefix="dvc/")
        assert stored["KeyCount"] > 0


def test_ssh_remote_round_trip_against_a_throwaway_sshd(installed, tmp_path: Path) -> None:
    project = installed({"data_store": "ssh"})
    with throwaway_sshd(tmp_path) as sshd:
        # The committed config names the real server; the throwaway one is a --local override,
        # with the key as `keyfile` (a developer's key comes from the agent or ~/.ssh/config).
        store = tmp_path / "dvc-store"
        url = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{store}"
        modify = ["uv", "run", "--frozen", "dvc", "remote", "modify", "--local", "storage"]
        run(modify + ["url", url], project)
        run(modify + ["keyfile", str(sshd.keyfile)], project)
        round_trip(project)
        assert any((store / "files").rglob("*")), "the server holds the data"
        assert any((store / "runs").rglob("*")), "the server holds the run cache"
        # CI's way: no keyfile; the rendered workflow step writes the key, the known_hosts
        # line and ~/.ssh/config, which DVC reads (asyncssh), in a HOME of its own.
        run(modify + ["--unset", "keyfile"], project)
        workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
        (step,) = [s for s in workflow["jobs"]["ci"]["steps"] if "DVC_SSH_KEY" in s.get("env", {})]
        home = {"HOME": str(tmp_path / "ci-home"), "SSH_AUTH_SOCK": ""}
        secrets = {
            "DVC_SSH_KEY": sshd.keyfile.read_text(),
            "DVC_SSH_KNOWN_HOSTS": sshd.known_hosts.read_text().strip(),
        }
        run(["bash", "-eu", "-c", step["run"]], project, **home, **secrets)
        dvc = str(project / ".venv" / "bin" / "dvc")
        assert "in sync" in run([dvc, "status", "--cloud"], project, **home).stdout


def test_gcs_remote_round_trip_against_an_emulator(installed) -> None:
    project = installed({"data_store": "gcs", "gcs_bucket": "ml-project-dvc"})
    with gcs_emulator("ml-project-dvc") as endpoint:
        # The committed config names the real bucket; the emulator is a --local override
        # that needs no credentials.
        modify = ["uv", "run", "--frozen", "dvc", "remote", "modify", "--local", "storage"]
        run(modify + ["endpointurl", endpoint], project)
        run(modify + ["allow_anonymous_login", "true"], project)
        # gcsfs probes for hierarchical-namespace buckets, which the emulator never answers.
        round_trip(project, GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false")
        query = f"{endpoint}/storage/v1/b/ml-project-dvc/o?prefix=dvc/"
        with urllib.request.urlopen(query, timeout=30) as response:
            stored = [item["name"] for item in json.load(response).get("items", [])]
        assert any(name.startswith("dvc/files/md5/") for name in stored), stored


# Creates the container and counts what the remote holds, with the Azure SDK that dvc[azure]
# installs into the rendered project.
AZURE_CHECK = """
import sys
from azure.storage.blob import BlobServiceClient
container = BlobServiceClient.from_connection_string(sys.argv[1]).get_container_client(sys.argv[2])
if sys.argv[3] == "create":
    container.create_container()
else:
    print(sum(1 for _ in container.list_blobs(name_starts_with="dvc/")))
"""


def test_azure_remote_round_trip_against_azurite(installed) -> None:
    project = installed({"data_store": "azure_blob", "azure_container": "ml-data"})
    python = ["uv", "run", "--frozen", "python", "-c", AZURE_CHECK]
    with azurite() as connection_string:
        run(python + [connection_string, "ml-data", "create"], project)
        # The committed config names the real account; the emulator's connection string is
        # a --local setting, as a user's key would be.
        run(
            ["uv", "run", "--frozen", "dvc", "remote", "modify", "--local", "storage"]
            + ["connection_string", connection_string],
            project,
        )
        assert "connection_string" not in (project / ".dvc" / "config").read_text()
        round_trip(project)
        stored = run(python + [connection_string, "ml-data", "count"], project).stdout
        assert int(stored) > 0
