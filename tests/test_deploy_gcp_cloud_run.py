"""deploy/gcp_cloud_run.py of a rendered gcp_cloud_run project, with rollout.py's real flow,
against a fake Cloud Run Admin API v2 on 127.0.0.1: the services infra/gcp creates, each
revision's and tag's URL answered by a stand-in of the serving app. A healthy release is
smoke-tested at its candidate tag while it has 10% of the traffic, then promoted; a release
that fails its smoke test, or never becomes ready, gives all the traffic back to the
revision that served before. `login` pipes an access token to `docker login`.

The deploy module runs in the rendered project's own environment (`make install`), as
`make deploy` runs it: the smoke test needs the project's data, the module google-auth.
Credentials are the module's session seam, replaced by a plain requests.Session.
"""

import copy
import itertools
import json
import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import clean_env, git_commit_all, run
from fake_http import JsonHandler, serve

pytestmark = pytest.mark.e2e

PROJECT_ID = "acme-fraud"
REGION = "europe-west4"
PARENT = f"projects/{PROJECT_ID}/locations/{REGION}"
REGISTRY = f"{REGION}-docker.pkg.dev/{PROJECT_ID}/fraud-model"
BOOTSTRAP = "us-docker.pkg.dev/cloudrun/container/hello"
ANSWERS = {
    "project_name": "Fraud Model",
    "deploy_target": "gcp_cloud_run",
    "gcp_project_id": PROJECT_ID,
    "gcp_region": REGION,
}
# Images the stand-in app treats as broken: its /predict fails, or it never starts.
FAILS_SMOKE = "broken"
NEVER_READY = "crash"

# Runs inside the rendered project's environment: rollout.py's own main flow, with the
# deploy module's credentials replaced by a plain session (no Google account involved).
DRIVER = """
import json, sys
sys.path.insert(0, "deploy")
import requests
import gcp_cloud_run, rollout
gcp_cloud_run._session = requests.Session
# The identity token the smoke test presents: the audience it was minted for, checked by
# the stand-in of Cloud Run's invoker check.
gcp_cloud_run._identity_token = lambda audience: "id-token-for " + audience
gcp_cloud_run.POLL_SECONDS = 0.05
command, env, *rest = sys.argv[1:]
if command == "rollout":
    sys.exit(0 if rollout.rollout(env, rest[0]) else 1)
try:
    print(json.dumps(getattr(gcp_cloud_run, command)(env, *rest)))
except RuntimeError as error:
    print(json.dumps({"error": str(error)}))
"""


class FakeCloudRun:
    """The part of the Cloud Run Admin API v2 the deploy module uses: GET and PATCH of a
    service (a PATCH answers with a long-running operation and leaves the service
    reconciling until the next GET), GET of a revision and of an operation. Each revision's
    URL, and each tag's, is the stand-in app under /<revision>/."""

    def __init__(self) -> None:
        self.services: dict[str, dict] = {}
        self.revisions: dict[str, dict] = {}  # full revision name -> its template
        self.patches: list[dict] = []
        self.app_url = ""
        self.numbers = itertools.count(1)

    def add_service(self, env: str) -> dict:
        """A service as infra/gcp creates it: the bootstrap image, all traffic to latest."""
        name = f"{PARENT}/services/fraud-model-{env}"
        service = {
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "etag": '"1"',
            "template": {
                "serviceAccount": f"fraud-model-run-stg@{PROJECT_ID}.iam.gserviceaccount.com",
                "containers": [{"image": BOOTSTRAP, "ports": [{"containerPort": 8000}]}],
            },
            "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
        }
        self.services[name] = service
        self._reconcile(service)
        return service

    def _reconcile(self, service: dict) -> None:
        template = service["template"]
        short = service["name"].rsplit("/", 1)[-1]
        revision = template.get("revision") or f"{short}-{next(self.numbers):05d}-abc"
        full = f"{service['name']}/revisions/{revision}"
        known = self.revisions.get(full)
        spec = {k: v for k, v in template.items() if k != "revision"}
        if known is None:
            self.revisions[full] = copy.deepcopy(spec)
        image = template["containers"][0]["image"]
        service["latestCreatedRevision"] = revision
        if NEVER_READY in image:
            service["terminalCondition"] = {
                "type": "Ready",
                "state": "CONDITION_FAILED",
                "message": f"Revision '{revision}' is not ready: the container did not start",
            }
        else:
            service["latestReadyRevision"] = revision
            service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_SUCCEEDED"}
        statuses = []
        for target in service["traffic"]:
            served = target.get("revision") or service["latestReadyRevision"]
            status = {**target, "revision": served, "percent": target.get("percent", 0)}
            if target.get("tag"):
                status["uri"] = f"{self.app_url}/{served}"
            statuses.append(status)
        service["trafficStatuses"] = statuses
        service["uri"] = f"{self.app_url}/{short}"
        service["observedGeneration"] = service["generation"]
        service["reconciling"] = False

    def patch(self, name: str, body: dict) -> tuple[int, dict]:
        service = self.services.get(name)
        if service is None:
            return 404, {"error": {"code": 404, "status": "NOT_FOUND"}}
        if body.get("etag") != service["etag"]:
            return 409, {"error": {"code": 409, "status": "ABORTED", "message": "etag"}}
        revision = body["template"].get("revision")
        full = f"{name}/revisions/{revision}"
        spec = {k: v for k, v in body["template"].items() if k != "revision"}
        if revision and full in self.revisions and self.revisions[full] != spec:
            message = f"Revision named '{revision}' with different configuration already exists."
            return 409, {"error": {"code": 409, "status": "ALREADY_EXISTS", "message": message}}
        self.patches.append(copy.deepcopy(body))
        generation = int(service["generation"]) + 1
        # Output-only fields in the body are ignored; the spec replaces the old one.
        service.update(template=body["template"], traffic=body["traffic"])
        service.update(generation=str(generation), etag=f'"{generation}"', reconciling=True)
        operation = {"name": f"{PARENT}/operations/{uuid.uuid4()}", "metadata": service}
        return 200, operation

    def get(self, path: str) -> tuple[int, dict]:
        if path in self.services:
            service = self.services[path]
            answer = copy.deepcopy(service)
            if service["reconciling"]:  # this answer still shows the change under way
                self._reconcile(service)
            return 200, answer
        if path in self.revisions:
            return 200, {"name": path, **self.revisions[path]}
        if "/operations/" in path:
            return 200, {"name": path, "done": True}
        return 404, {"error": {"code": 404, "status": "NOT_FOUND"}}

    def served(self, env: str) -> dict[str, int]:
        service = self.services[f"{PARENT}/services/fraud-model-{env}"]
        return {s["revision"]: s["percent"] for s in service["trafficStatuses"] if s["percent"]}

    def image_of(self, env: str, revision: str) -> str:
        template = self.revisions[f"{PARENT}/services/fraud-model-{env}/revisions/{revision}"]
        return template["containers"][0]["image"]


def api_handler(fake: FakeCloudRun):
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            self.answer(*fake.get(self.path.removeprefix("/v2/")))

        def do_PATCH(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.answer(*fake.patch(self.path.removeprefix("/v2/"), body))

    return Handler


def app_handler(fake: FakeCloudRun):
    """The serving app's answers, per revision: /<revision>/health and /<revision>/predict."""

    class Handler(JsonHandler):
        def _invoker(self) -> bool:
            """Cloud Run's invoker check: an identity token for the service's URL."""
            token = self.headers.get("X-Serverless-Authorization", "")
            service = token.removeprefix(f"Bearer id-token-for {fake.app_url}/")
            return service != token and self.path.strip("/").startswith(f"{service}-")

        def _image(self) -> str:
            revision = self.path.strip("/").split("/")[0]
            for full, template in fake.revisions.items():
                if full.endswith(f"/revisions/{revision}"):
                    return template["containers"][0]["image"]
            return ""

        def do_GET(self) -> None:
            if not self._invoker():
                self.answer(403, {"detail": "Forbidden"})
            elif self.path.endswith("/health") and self._image():
                self.answer(200, {"status": "ok", "model_loaded": True})
            else:
                self.answer(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            records = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["records"]
            if not self._invoker():
                self.answer(403, {"detail": "Forbidden"})
            elif not self.path.endswith("/predict") or FAILS_SMOKE in self._image():
                self.answer(500, {"detail": "Internal Server Error"})
            else:
                predictions = [{"label": "benign", "probability": 0.9} for _ in records]
                self.answer(200, {"predictions": predictions})

    return Handler


@pytest.fixture(scope="module")
def project(render, tmp_path_factory) -> Path:
    """The rendered project, installed (its uv.lock written by `make install`)."""
    project = tmp_path_factory.mktemp("gcp_cloud_run") / "fraud-model"
    shutil.copytree(render(ANSWERS), project)
    git_commit_all(project, "Start from copier-mlops")
    run(["make", "install"], project)
    (project / "driver.py").write_text(DRIVER)
    return project


@pytest.fixture
def cloud_run():
    fake = FakeCloudRun()
    api, api_url = serve(api_handler(fake))
    app, fake.app_url = serve(app_handler(fake))
    fake.api_url = api_url
    yield fake
    api.shutdown()
    app.shutdown()
    api.server_close()
    app.server_close()


def deploy(project: Path, fake: FakeCloudRun, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "driver.py", *args],
        cwd=project,
        env=clean_env(CLOUD_RUN_API_URL=fake.api_url, GCP_PROJECT_ID="", GCP_REGION=""),
        capture_output=True,
        text=True,
        timeout=300,
    )


def call(project: Path, fake: FakeCloudRun, *args: str):
    result = deploy(project, fake, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_healthy_release_is_smoke_tested_at_its_tag_then_promoted(project, cloud_run):
    cloud_run.add_service("staging")
    (bootstrap,) = cloud_run.served("staging")
    image = f"{REGISTRY}/fraud-model:0123456789ab"

    result = deploy(project, cloud_run, "rollout", "staging", image)

    assert result.returncode == 0, result.stdout + result.stderr
    revision = "fraud-model-staging-0123456789ab"
    split, promoted = cloud_run.patches
    assert split["template"]["revision"] == revision
    assert split["template"]["containers"][0]["image"] == image
    assert split["traffic"] == [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": bootstrap, "percent": 90},
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": revision,
            "tag": "candidate",
            "percent": 10,
        },
    ]
    assert promoted["traffic"] == [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": revision, "percent": 100}
    ]
    assert cloud_run.served("staging") == {revision: 100}
    assert cloud_run.image_of("staging", revision) == image
    # Everything else of the template is kept: the runtime identity, the port.
    assert split["template"]["serviceAccount"].startswith("fraud-model-run-stg@")
    assert split["template"]["containers"][0]["ports"] == [{"containerPort": 8000}]


def test_a_failed_smoke_test_gives_all_traffic_back_to_the_previous_revision(project, cloud_run):
    cloud_run.add_service("production")
    good, serving = f"{REGISTRY}/fraud-model:aaaaaaaaaaaa", "fraud-model-production-aaaaaaaaaaaa"
    assert deploy(project, cloud_run, "rollout", "production", good).returncode == 0
    assert call(project, cloud_run, "current", "production") == serving

    result = deploy(project, cloud_run, "rollout", "production", f"{REGISTRY}/fraud-model:broken1")

    assert result.returncode == 1
    assert f"rolled back to {serving}" in result.stderr
    assert cloud_run.served("production") == {serving: 100}
    # The tag is gone with the traffic.
    assert not any(t.get("tag") for t in cloud_run.patches[-1]["traffic"])


def test_a_revision_that_never_becomes_ready_is_rolled_back(project, cloud_run):
    cloud_run.add_service("staging")
    (bootstrap,) = cloud_run.served("staging")

    crashing = f"{REGISTRY}/fraud-model:crash0000000"
    result = deploy(project, cloud_run, "rollout", "staging", crashing)

    assert result.returncode == 1
    assert "did not become ready: Revision 'fraud-model-staging-crash0000000' is not ready" in (
        result.stderr
    )
    assert cloud_run.served("staging") == {bootstrap: 100}


def test_releasing_the_same_image_again_names_a_new_revision(project, cloud_run):
    cloud_run.add_service("staging")
    image = f"{REGISTRY}/fraud-model:feedbeef0000"
    assert deploy(project, cloud_run, "rollout", "staging", image).returncode == 0
    assert deploy(project, cloud_run, "rollout", "staging", image).returncode == 0
    assert cloud_run.served("staging") == {"fraud-model-staging-feedbeef0000-2": 100}


def test_without_a_service_there_is_nothing_running_and_release_says_apply(project, cloud_run):
    assert call(project, cloud_run, "current", "staging") is None
    answer = call(project, cloud_run, "release", "staging", f"{REGISTRY}/fraud-model:abc")
    assert "apply infra/gcp first" in answer["error"]


def test_the_answers_name_the_project_and_region(project):
    source = (project / "deploy" / "gcp_cloud_run.py").read_text()
    assert f'"{PROJECT_ID}"' in source
    assert f'"{REGION}"' in source
    assert 'SERVICE = "fraud-model"' in source


def test_login_pipes_an_access_token_to_docker_login(project, tmp_path):
    """`make registry-login`: the token comes from the application default credentials
    (here those of a Compute Engine metadata server, as on a GCE-hosted CI runner, served
    on loopback), and reaches docker on its stdin only."""
    asked: list[str] = []

    class MetadataServer(JsonHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if "/token" in self.path:
                body = {"access_token": "ya29.test-token", "expires_in": 3600}
                data, kind = json.dumps({**body, "token_type": "Bearer"}), "application/json"
            elif "/service-accounts/default" in self.path:
                account = {"email": f"ci@{PROJECT_ID}.iam.gserviceaccount.com"}
                data, kind = json.dumps({**account, "aliases": ["default"]}), "application/json"
            elif "/project-id" in self.path:
                data, kind = PROJECT_ID, "text/plain"
            else:
                data, kind = "", "text/plain"
            self.send_response(200)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data.encode())))
            self.end_headers()
            self.wfile.write(data.encode())

    server, url = serve(MetadataServer)
    try:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        docker = bin_dir / "docker"
        docker.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/stdin\n')
        docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
        host = url.removeprefix("http://")
        env = clean_env(GCE_METADATA_HOST=host, GCE_METADATA_IP=host)
        # No credentials file and no gcloud configuration: only the metadata server is left.
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        env["CLOUDSDK_CONFIG"] = str(tmp_path / "gcloud")
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
        result = subprocess.run(
            [str(project / ".venv" / "bin" / "python"), "deploy/gcp_cloud_run.py", "login"]
            + [REGISTRY],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert any("/token" in path for path in asked), asked
    args = (tmp_path / "args").read_text().split()
    assert args == ["login", f"{REGION}-docker.pkg.dev", "--username", "oauth2accesstoken"] + [
        "--password-stdin"
    ]
    assert (tmp_path / "stdin").read_text() == "ya29.test-token"
