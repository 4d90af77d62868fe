"""deploy/azure_container_apps.py of a rendered project, driven by rollout.py's real flow,
against a fake Azure Resource Manager on 127.0.0.1 that speaks the Container Apps REST
shapes (api-version 2025-07-01): a release is a new revision with a share of the traffic
and the label `candidate`; the smoke test calls the label's URL; a healthy release gets all
the traffic, a failing one is rolled back to the revision before.

The label URLs (https://<app>---candidate.<environment domain>) lead to a stand-in of the
serving app over TLS on 127.0.0.1: the driver, run in the project's own environment,
resolves the fake domain to loopback and trusts the test's certificate. The same stand-in
plays the registry's token exchange for `login`.
"""

import datetime
import json
import os
import ssl
import subprocess
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import copier
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import TEMPLATE, run
from fake_http import JsonHandler

pytestmark = pytest.mark.e2e

SUBSCRIPTION = "3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718"
RESOURCE_GROUP = "fraud-model"  # the slug of the project name below
DOMAIN = "kindsky-1a2b3c4d.westeurope.azurecontainerapps.io"
REGISTRY = "fraudmodelacr.azurecr.io"
TOKEN = "fake-arm-token"
API_VERSION = "2025-07-01"
ENVIRONMENT_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    "/providers/Microsoft.App/managedEnvironments/fraud-model"
)
APPS = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    "/providers/Microsoft.App/containerApps/"
)

# Run by the project's Python: loopback for the fake domain, the module's token seam
# patched, then rollout.rollout or login.
DRIVER = """
import socket
import sys

domain, registry, port, mode, *args = sys.argv[1:]
resolve = socket.getaddrinfo


def loopback(host, port_, *rest, **kwargs):
    if isinstance(host, str) and (host.endswith("." + domain) or host == registry):
        return resolve("127.0.0.1", int(port), *rest, **kwargs)
    return resolve(host, port_, *rest, **kwargs)


socket.getaddrinfo = loopback
sys.path.insert(0, "deploy")
import azure_container_apps  # noqa: E402
import rollout  # noqa: E402

azure_container_apps._token = lambda: "fake-arm-token"
azure_container_apps.POLL_SECONDS = 0.05
if mode == "deploy":
    sys.exit(0 if rollout.rollout(*args) else 1)
azure_container_apps.login(*args)
"""


class FakeAzure:
    """What ARM keeps of the container apps, changed the way Container Apps changes it."""

    def __init__(self) -> None:
        self.apps: dict[str, dict] = {}
        self.revisions: dict[str, dict[str, dict]] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.smoke_hosts: list[str] = []
        self.exchanges: list[dict] = []
        self.lock = threading.Lock()
        # Where the servers listen, set by the fixture that starts them.
        self.arm_url = ""
        self.ingress_port = 0
        self.cert = Path()

    def add_app(self, name: str, image: str, suffix: str) -> None:
        """An app as Terraform creates it: one revision, all traffic to the latest one."""
        revision = f"{name}--{suffix}"
        self.apps[name] = {
            "id": APPS + name,
            "name": name,
            "type": "Microsoft.App/containerApps",
            "location": "West Europe",
            "properties": {
                "provisioningState": "Succeeded",
                "runningStatus": "Running",
                "environmentId": ENVIRONMENT_ID,
                "managedEnvironmentId": ENVIRONMENT_ID,
                "latestRevisionName": revision,
                "latestReadyRevisionName": revision,
                "latestRevisionFqdn": f"{revision}.{DOMAIN}",
                "configuration": {
                    "activeRevisionsMode": "Multiple",
                    "maxInactiveRevisions": 10,
                    "ingress": {
                        "fqdn": f"{name}.{DOMAIN}",
                        "external": True,
                        "targetPort": 8000,
                        "transport": "Auto",
                        "traffic": [{"latestRevision": True, "weight": 100}],
                    },
                    "registries": [{"server": REGISTRY, "identity": "/subscriptions/.../app"}],
                },
                "template": {
                    "revisionSuffix": suffix,
                    "containers": [
                        {"name": "app", "image": image, "resources": {"cpu": 0.5, "memory": "1Gi"}}
                    ],
                    "scale": {"minReplicas": 1, "maxReplicas": 1},
                },
            },
        }
        self.revisions[name] = {}
        self._new_revision(name, revision, image)

    def _new_revision(self, app: str, revision: str, image: str) -> None:
        self.revisions[app][revision] = {
            "id": f"{APPS}{app}/revisions/{revision}",
            "name": revision,
            "type": "Microsoft.App/containerApps/revisions",
            "properties": {
                "active": True,
                "fqdn": f"{revision}.{DOMAIN}",
                "healthState": "None",
                "provisioningState": "Provisioning",
                "runningState": "Processing",
                "template": {"containers": [{"name": "app", "image": image}]},
                "_polls": 0,
            },
        }

    def weights(self, app: str) -> dict[str, int]:
        properties = self.apps[app]["properties"]
        return {
            w.get("revisionName") or properties["latestReadyRevisionName"]: w["weight"]
            for w in properties["configuration"]["ingress"]["traffic"]
        }

    def labelled_image(self, host: str) -> str | None:
        """The image behind a label URL's host, <app>---<label>.<domain>."""
        name, _, label = host.split(".", 1)[0].partition("---")
        with self.lock:
            if name not in self.apps:
                return None
            for weight in self.apps[name]["properties"]["configuration"]["ingress"]["traffic"]:
                if weight.get("label") == label:
                    revision = self.revisions[name][weight["revisionName"]]["properties"]
                    return revision["template"]["containers"][0]["image"]
        return None

    # ------------------------------------------------------------------ ARM requests
    def handle(self, method: str, path: str, body: dict | None) -> tuple[int, dict, dict]:
        with self.lock:
            self.requests.append((method, path, body))
            if path == ENVIRONMENT_ID and method == "GET":
                return 200, {"id": ENVIRONMENT_ID, "properties": {"defaultDomain": DOMAIN}}, {}
            if not path.startswith(APPS):
                return 404, _error("ResourceNotFound", path), {}
            name, *rest = path[len(APPS) :].split("/")
            if name not in self.apps:
                return 404, _error("ResourceNotFound", f"container app {name}"), {}
            app = self.apps[name]
            if not rest and method == "GET":
                # The first look after a change finds it still in progress.
                in_progress = app["properties"].pop("_in_progress", False)
                shown = json.loads(json.dumps(app))
                if in_progress:
                    shown["properties"]["provisioningState"] = "InProgress"
                return 200, shown, {}
            if not rest and method == "PATCH":
                return self._patch(name, body or {})
            if rest == ["revisions"] and method == "GET":
                revisions = [self._shown(r) for r in self.revisions[name].values()]
                return 200, {"value": revisions}, {}
            if len(rest) == 2 and rest[0] == "revisions" and method == "GET":
                revision = self.revisions[name].get(rest[1])
                if revision is None:
                    return 404, _error("ContainerAppRevisionNotFound", rest[1]), {}
                return 200, self._poll(revision), {}
            if len(rest) == 3 and rest[2] == "deactivate" and method == "POST":
                if self.weights(name).get(rest[1], 0) > 0:
                    return 400, _error("RevisionHasTraffic", f"{rest[1]} has traffic"), {}
                self.revisions[name][rest[1]]["properties"]["active"] = False
                return 200, {}, {}
            return 405, _error("MethodNotAllowed", f"{method} {path}"), {}

    def _patch(self, name: str, body: dict) -> tuple[int, dict, dict]:
        app = self.apps[name]
        properties = body.get("properties", {})
        template = properties.get("template")
        known = set(self.revisions[name])
        new_revision = None
        if template is not None:
            new_revision = f"{name}--{template['revisionSuffix']}"
            if new_revision in known:
                return 400, _error("ContainerAppRevisionSuffixConflict", new_revision), {}
            known.add(new_revision)
        traffic = properties.get("configuration", {}).get("ingress", {}).get("traffic")
        if traffic is not None:
            if sum(w["weight"] for w in traffic) != 100:
                return 400, _error("ContainerAppInvalidTrafficWeights", str(traffic)), {}
            unknown = {w.get("revisionName") for w in traffic} - known - {None}
            if unknown:
                return 400, _error("ContainerAppRevisionNotFound", str(unknown)), {}
            labels = [w["label"] for w in traffic if w.get("label")]
            if len(labels) != len(set(labels)):
                return 400, _error("ContainerAppDuplicateLabel", str(labels)), {}
            app["properties"]["configuration"]["ingress"]["traffic"] = traffic
        if new_revision is not None:
            app["properties"]["template"] = template
            image = template["containers"][0]["image"]
            self._new_revision(name, new_revision, image)
            app["properties"]["latestRevisionName"] = new_revision
            app["properties"]["latestReadyRevisionName"] = new_revision
        app["properties"]["_in_progress"] = True
        operation = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.App/locations/westeurope"
        headers = {
            "Azure-AsyncOperation": f"{operation}/containerappOperationStatuses/op1",
            "Location": f"{operation}/containerappOperationResults/op1",
        }
        return 202, {}, headers

    @staticmethod
    def _poll(revision: dict) -> dict:
        """A revision is provisioned on the second look."""
        properties = revision["properties"]
        properties["_polls"] += 1
        if properties["_polls"] >= 2:
            properties.update(
                provisioningState="Provisioned", runningState="Running", healthState="Healthy"
            )
        return FakeAzure._shown(revision)

    @staticmethod
    def _shown(revision: dict) -> dict:
        shown = json.loads(json.dumps(revision))
        shown["properties"].pop("_polls")
        return shown


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def arm_handler(azure: FakeAzure):
    class Handler(JsonHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            if parse_qs(url.query).get("api-version") != [API_VERSION]:
                return self.answer(400, _error("MissingApiVersionParameter", self.path), {})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.answer(401, _error("AuthenticationFailed", "no token"), {})
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            self.answer(*azure.handle(self.command, url.path, body))

        do_GET = do_PATCH = do_POST = _serve

    return Handler


def ingress_handler(azure: FakeAzure):
    """The label URLs: a stand-in of the serving app per revision (an image tagged
    `broken` answers /health but cannot predict), and the registry's token exchange."""

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            host = self.headers["Host"].split(":")[0]
            azure.smoke_hosts.append(host)
            image = azure.labelled_image(host)
            if image is None or self.path != "/health":
                return self.answer(404, {"detail": "Not Found"})
            self.answer(200, {"status": "ok", "model": image})

        def do_POST(self) -> None:
            host = self.headers["Host"].split(":")[0]
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if host == REGISTRY and self.path == "/oauth2/exchange":
                form = {k: v[0] for k, v in parse_qs(data.decode()).items()}
                azure.exchanges.append(form)
                return self.answer(200, {"refresh_token": "acr-refresh-token"})
            azure.smoke_hosts.append(host)
            image = azure.labelled_image(host)
            if image is None or self.path != "/predict":
                return self.answer(404, {"detail": "Not Found"})
            if image.endswith(":broken"):
                return self.answer(500, {"detail": "Internal Server Error"})
            records = json.loads(data)["records"]
            self.answer(200, {"predictions": [1] * len(records), "model": image})

    return Handler


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the environment's domain and the registry."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(f"*.{DOMAIN}"), x509.DNSName(REGISTRY)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The rendered project, installed (its lock brings azure-identity and requests)."""
    project = tmp_path_factory.mktemp("azure_container_apps") / "project"
    copier.run_copy(
        str(TEMPLATE),
        project,
        data={"project_name": "Fraud Model", "deploy_target": "azure_container_apps"},
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",  # this commit, not the latest release tag
    )
    run(["make", "install"], project)
    return project


@pytest.fixture
def azure(tmp_path):
    """The fake ARM and the TLS ingress on loopback, stopped when the test ends."""
    fake = FakeAzure()
    arm = ThreadingHTTPServer(("127.0.0.1", 0), arm_handler(fake))
    ingress = ThreadingHTTPServer(("127.0.0.1", 0), ingress_handler(fake))
    cert, key = certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    ingress.socket = context.wrap_socket(ingress.socket, server_side=True)
    servers = [arm, ingress]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    fake.arm_url = f"http://127.0.0.1:{arm.server_address[1]}"
    fake.ingress_port = ingress.server_address[1]
    fake.cert = cert
    try:
        yield fake
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def drive(project: Path, azure: FakeAzure, tmp_path: Path, mode: str, *args: str, **env: str):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    command = [str(project / ".venv" / "bin" / "python"), str(driver), DOMAIN, REGISTRY]
    environment = {
        **{k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}},
        "AZURE_RESOURCE_MANAGER_URL": azure.arm_url,
        "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
        "SSL_CERT_FILE": str(azure.cert),  # urllib (the smoke test)
        "REQUESTS_CA_BUNDLE": str(azure.cert),  # requests (the token exchange)
        **env,
    }
    return subprocess.run(
        [*command, str(azure.ingress_port), mode, *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def patches(azure: FakeAzure) -> list[dict]:
    return [body for method, _, body in azure.requests if method == "PATCH"]


IMAGE = f"{REGISTRY}/fraud-model"


def test_a_healthy_release_gets_the_candidate_label_then_all_the_traffic(project, azure, tmp_path):
    azure.add_app("fraud-model-staging", f"{IMAGE}:bootstrap", "q1w2e3r")
    result = drive(project, azure, tmp_path, "deploy", "staging", f"{IMAGE}:0123456789ab")
    assert result.returncode == 0, result.stdout + result.stderr

    release, promote = patches(azure)
    template = release["properties"]["template"]
    assert template["revisionSuffix"] == "0123456789ab"
    assert template["containers"][0]["image"] == f"{IMAGE}:0123456789ab"
    # The running revision keeps 90%; the release gets 10% and the label the smoke test calls.
    assert release["properties"]["configuration"]["ingress"]["traffic"] == [
        {"revisionName": "fraud-model-staging--q1w2e3r", "weight": 90},
        {"revisionName": "fraud-model-staging--0123456789ab", "weight": 10, "label": "candidate"},
    ]
    assert release["properties"]["configuration"]["ingress"]["targetPort"] == 8000
    assert set(azure.smoke_hosts) == {f"fraud-model-staging---candidate.{DOMAIN}"}
    assert promote["properties"] == {
        "configuration": {
            "ingress": {
                **{
                    k: v
                    for k, v in azure.apps["fraud-model-staging"]["properties"]["configuration"][
                        "ingress"
                    ].items()
                    if k not in {"fqdn", "traffic"}
                },
                "traffic": [{"revisionName": "fraud-model-staging--0123456789ab", "weight": 100}],
            }
        }
    }
    assert azure.weights("fraud-model-staging") == {"fraud-model-staging--0123456789ab": 100}
    revisions = azure.revisions["fraud-model-staging"]
    assert not revisions["fraud-model-staging--q1w2e3r"]["properties"]["active"]
    assert revisions["fraud-model-staging--0123456789ab"]["properties"]["active"]


def test_a_release_that_fails_the_smoke_test_is_rolled_back(project, azure, tmp_path):
    azure.add_app("fraud-model-production", f"{IMAGE}:aaaabbbbcccc", "aaaabbbbcccc")
    result = drive(project, azure, tmp_path, "deploy", "production", f"{IMAGE}:broken")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rolled back to fraud-model-production--aaaabbbbcccc" in result.stderr

    assert azure.weights("fraud-model-production") == {"fraud-model-production--aaaabbbbcccc": 100}
    revisions = azure.revisions["fraud-model-production"]
    assert not revisions["fraud-model-production--broken"]["properties"]["active"]
    assert revisions["fraud-model-production--aaaabbbbcccc"]["properties"]["active"]
    # The smoke test reached the release through its label, never through the app's URL.
    assert set(azure.smoke_hosts) == {f"fraud-model-production---candidate.{DOMAIN}"}


def test_a_tag_released_again_gets_a_new_revision_suffix(project, azure, tmp_path):
    azure.add_app("fraud-model-staging", f"{IMAGE}:bootstrap", "q1w2e3r")
    for _ in range(2):
        result = drive(project, azure, tmp_path, "deploy", "staging", f"{IMAGE}:feedbeef")
        assert result.returncode == 0, result.stdout + result.stderr
    assert azure.weights("fraud-model-staging") == {"fraud-model-staging--feedbeef-2": 100}


def test_without_an_app_the_release_says_to_apply_the_terraform(project, azure, tmp_path):
    result = drive(project, azure, tmp_path, "deploy", "staging", f"{IMAGE}:0123456789ab")
    assert result.returncode == 1
    assert "nothing ran before" in result.stderr
    assert "apply infra/azure" in result.stderr
    assert not patches(azure)


def test_login_exchanges_the_entra_token_and_pipes_it_to_docker(project, azure, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    # A docker that records its arguments and what it read from stdin.
    docker.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/stdin\n')
    docker.chmod(0o755)
    result = drive(
        project,
        azure,
        tmp_path,
        "login",
        REGISTRY,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        AZURE_TENANT_ID="72f988bf-86f1-41af-91ab-2d7cd011db47",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert azure.exchanges == [
        {
            "grant_type": "access_token",
            "service": REGISTRY,
            "access_token": TOKEN,
            "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        }
    ]
    args = (tmp_path / "args").read_text().split()
    assert args == ["login", REGISTRY, "--username", "00000000-0000-0000-0000-000000000000"] + [
        "--password-stdin"
    ]
    assert (tmp_path / "stdin").read_text() == "acr-refresh-token"


def test_app_names_fit_azures_32_characters_without_a_double_dash(project):
    script = (
        "import sys; sys.path.insert(0, 'deploy'); import azure_container_apps as a;"
        "a.PROJECT = 'abcdefghijklmnopqrstuvw-xyzabc';"
        "print(a.app_name('staging'), a.app_name('production'))"
    )
    python = str(project / ".venv" / "bin" / "python")
    names = run([python, "-c", script], project).stdout.split()
    assert names == ["abcdefghijklmnopqrstuvw-staging", "abcdefghijklmnopqrstu-production"]
