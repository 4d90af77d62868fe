"""Deploying to Google Cloud Run: the commands rollout.py runs for `make deploy`.

Terraform (infra/gcp) creates one service per environment, SERVICE-<env>. A release
creates a revision named <service>-<image tag> that gets CANARY percent of the traffic
under the tag `candidate`, while the revision that served before keeps the rest. smoke
tests the candidate at its own URL with an identity token (the services admit their
invokers only, unless infra/gcp's public_endpoint says otherwise); promote then gives it all
the traffic, and restore gives all of it back to the previous revision (dropping the tag).

`python deploy/gcp_cloud_run.py login REGISTRY` (`make registry-login`) logs docker in to
the Artifact Registry host of REGISTRY with this shell's Google credentials.

It calls the Cloud Run Admin API v2 with the application default credentials (a CI's
workload identity federation, or `gcloud auth application-default login`).
"""

import functools
import os
import re
import subprocess
import sys
import time
import urllib.request

import google.auth
from google.auth.transport.requests import AuthorizedSession, Request

from ml_project.smoke import smoke_test

PROJECT_ID = os.environ.get("GCP_PROJECT_ID") or "ml-project-prod"
REGION = os.environ.get("GCP_REGION") or "europe-west1"
# var.project in infra/gcp: the services are SERVICE-<env>.
SERVICE = "ml-project"
# The API's base URL: only tests point it elsewhere.
API = os.environ.get("CLOUD_RUN_API_URL", "https://run.googleapis.com").rstrip("/")
# The IAM Credentials API, which mints the smoke test's identity token.
IAM_CREDENTIALS_API = os.environ.get(
    "IAM_CREDENTIALS_API_URL", "https://iamcredentials.googleapis.com"
).rstrip("/")
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
CANARY = 10  # percent of the traffic a new revision gets until it passed the smoke test
TAG = "candidate"
BY_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
# How long an update may take to reconcile (a new revision starting included).
WAIT_SECONDS = 600
POLL_SECONDS = 5


@functools.cache
def _session():
    """An HTTP session that adds (and refreshes) this shell's Google access token."""
    credentials, _ = google.auth.default(scopes=SCOPES)
    return AuthorizedSession(credentials)


def _path(env: str) -> str:
    return f"projects/{PROJECT_ID}/locations/{REGION}/services/{SERVICE}-{env}"


def _get(path: str) -> dict | None:
    response = _session().get(f"{API}/v2/{path}", timeout=30)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def _service(env: str) -> dict:
    service = _get(_path(env))
    if service is None:
        raise RuntimeError(f"no Cloud Run service {_path(env)}: apply infra/gcp first")
    return service


def _shares(service: dict) -> dict[str, int]:
    """Percent of the traffic each revision serves now, by revision name."""
    shares: dict[str, int] = {}
    for status in service.get("trafficStatuses", []):
        revision = status.get("revision")
        if not revision and status.get("type") == LATEST:
            revision = service.get("latestReadyRevision")
        if revision:
            shares[revision] = shares.get(revision, 0) + status.get("percent", 0)
    return shares


def _tagged(service: dict) -> str:
    """The revision that the `candidate` tag points at."""
    for target in service.get("traffic", []):
        if target.get("tag") == TAG and target.get("revision"):
            return target["revision"]
    raise RuntimeError(f"{service['name']} has no revision tagged {TAG}: release first")


def _update(service: dict) -> dict:
    """Replace the service with `service` (fields Cloud Run sets itself are ignored) and
    wait until Cloud Run has reconciled the change. The service, not the long-running
    operation, is polled: the deploy role CI holds on the service covers reading it, while
    operations belong to the project."""
    before = int(service.get("generation", 0))
    response = _session().patch(f"{API}/v2/{service['name']}", json=service, timeout=60)
    response.raise_for_status()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        updated = _get(service["name"]) or {}
        if not updated.get("reconciling") and int(updated.get("observedGeneration", 0)) > before:
            return updated
        if time.monotonic() > deadline:
            raise RuntimeError(f"{service['name']} still reconciling after {WAIT_SECONDS}s")
        time.sleep(POLL_SECONDS)


def _route_all(env: str, revision: str) -> None:
    """Send all of the environment's traffic to `revision`, with no tag left."""
    service = _service(env)
    service["traffic"] = [{"type": BY_REVISION, "revision": revision, "percent": 100}]
    updated = _update(service)
    if _shares(updated).get(revision) != 100:
        raise RuntimeError(f"{revision} does not serve all traffic: {_shares(updated)}")


def revision_name(service: dict, image: str) -> str:
    """<service>-<image tag> (or the digest's start), unique among the service's revisions:
    a second release of the same image gets -2, -3 ..."""
    reference = image.rsplit("/", 1)[-1]
    tag = reference.split("@", 1)[1].split(":")[-1][:12] if "@" in reference else ""
    if not tag:
        tag = reference.rsplit(":", 1)[1] if ":" in reference else "latest"
    short = service["name"].rsplit("/", 1)[-1]
    base = re.sub(r"[^a-z0-9-]+", "-", f"{short}-{tag}".lower()).strip("-")
    name, number = base[:63].rstrip("-"), 1
    while _get(f"{service['name']}/revisions/{name}") is not None:
        number += 1
        name = f"{base[: 62 - len(str(number))].rstrip('-')}-{number}"
    return name


def current(env: str) -> str | None:
    """The revision serving most of the environment's traffic, None without a service."""
    service = _get(_path(env))
    shares = _shares(service) if service else {}
    return max(shares, key=shares.get) if shares else None


def release(env: str, image: str) -> None:
    """A new revision running `image` gets CANARY percent of the traffic under the tag
    `candidate`; the revision serving most of it now keeps the rest."""
    service = _service(env)
    shares = _shares(service)
    previous = max(shares, key=shares.get) if shares else None
    revision = revision_name(service, image)
    template = service["template"]
    template["revision"] = revision
    template["containers"][0]["image"] = image
    candidate = {"type": BY_REVISION, "revision": revision, "tag": TAG}
    if previous:
        service["traffic"] = [
            {"type": BY_REVISION, "revision": previous, "percent": 100 - CANARY},
            {**candidate, "percent": CANARY},
        ]
    else:
        service["traffic"] = [{**candidate, "percent": 100}]
    updated = _update(service)
    if updated.get("latestReadyRevision") != revision:
        condition = updated.get("terminalCondition", {})
        raise RuntimeError(f"{revision} did not become ready: {condition.get('message', '')}")


def endpoint(env: str) -> str:
    """The URL of the candidate revision alone (the tag's own URL)."""
    service = _service(env)
    for status in service.get("trafficStatuses", []):
        if status.get("tag") == TAG and status.get("uri"):
            return status["uri"]
    raise RuntimeError(f"{service['name']} has no URL for the tag {TAG}")


def _identity_token(audience: str) -> str:
    """A Google identity token for `audience`, of the service account this shell acts as
    (a CI's federated identity or key): Cloud Run admits callers with roles/run.invoker
    only, unless infra/gcp's public_endpoint is true. infra/gcp lets CI's account mint
    tokens for itself."""
    credentials, _ = google.auth.default(scopes=SCOPES)
    account = getattr(credentials, "service_account_email", None)
    if not account:
        raise RuntimeError(
            "the smoke test calls the service with a service account's identity token: "
            "act as one (CI does; locally: gcloud auth application-default login "
            "--impersonate-service-account=<terraform output ci_service_account>)"
        )
    response = _session().post(
        f"{IAM_CREDENTIALS_API}/v1/projects/-/serviceAccounts/{account}:generateIdToken",
        json={"audience": audience, "includeEmail": True},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["token"]


class _Invoker(urllib.request.BaseHandler):
    """Adds the identity token to each request of the smoke test. Cloud Run checks
    X-Serverless-Authorization and leaves Authorization to the app (its own bearer token)."""

    def __init__(self, token: str):
        self.token = token

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        request.add_unredirected_header("X-Serverless-Authorization", f"Bearer {self.token}")
        return request

    https_request = http_request


def smoke(env: str) -> None:
    """The smoke test of the candidate's own URL, as an invoker of the service (the token's
    audience is the service's URL, which Cloud Run accepts for its tagged URLs too)."""
    url = endpoint(env)
    token = _identity_token(_service(env)["uri"])
    urllib.request.install_opener(urllib.request.build_opener(_Invoker(token)))
    try:
        smoke_test(url)
    finally:
        urllib.request.install_opener(None)


def promote(env: str) -> None:
    """The candidate passed the smoke test: it gets all the traffic."""
    _route_all(env, _tagged(_service(env)))


def restore(env: str, previous: str) -> None:
    """All the traffic goes back to the revision `previous`."""
    _route_all(env, previous)


def login(registry: str) -> None:
    """docker login to REGISTRY's host (<region>-docker.pkg.dev) with an access token."""
    credentials, _ = google.auth.default(scopes=SCOPES)
    credentials.refresh(Request())
    host = registry.split("/", 1)[0]
    subprocess.run(
        ["docker", "login", host, "--username", "oauth2accesstoken", "--password-stdin"],
        input=credentials.token,
        text=True,
        check=True,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "login":
        sys.exit(f"usage: {sys.argv[0]} login REGISTRY")
    login(sys.argv[2])
