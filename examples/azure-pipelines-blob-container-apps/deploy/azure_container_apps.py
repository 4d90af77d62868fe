"""Deploying to Azure Container Apps: the commands rollout.py runs for `make deploy`.

Terraform (infra/azure) creates one container app per environment, named like
app_name(env), in multiple-revision mode, in the resource group RESOURCE_GROUP. A release
is a new revision: the app's template with the new image and a revision suffix made from
the image tag. It gets CANARY percent of the traffic and the label `candidate`, whose own
URL the smoke test calls; promote then gives it all the traffic, restore gives all of it
back to the revision that had the most before.

Every call goes to the Azure Resource Manager REST API with a token from azure-identity's
DefaultAzureCredential (CI's identity, or `az login` on a laptop).

Run as a script, `python deploy/azure_container_apps.py login REGISTRY` logs docker in to
the registry with the same credentials (`make registry-login`).
"""

import copy
import functools
import os
import re
import subprocess
import sys
import time

import requests
from azure.identity import DefaultAzureCredential

PROJECT = "ml-project"  # var.project in infra/azure
RESOURCE_GROUP = os.environ.get("AZURE_RESOURCE_GROUP") or PROJECT
CONTAINER = "app"  # the container name in infra/azure/container_apps.tf
LABEL = "candidate"
# The share of the traffic a new revision gets while the smoke test runs.
CANARY = int(os.environ.get("CANARY_PERCENT", "10"))
# Overridable so that tests can point it at a fake on 127.0.0.1.
ARM_URL = os.environ.get("AZURE_RESOURCE_MANAGER_URL", "https://management.azure.com").rstrip("/")
ARM_SCOPE = "https://management.azure.com/.default"
API_VERSION = "2025-07-01"
# How long a change may take to be provisioned: 60 x 10 s = 10 minutes.
POLL_SECONDS = 10.0
POLL_ATTEMPTS = 60
# The user name ACR expects with a refresh token from its token exchange.
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"


@functools.cache
def _credential() -> DefaultAzureCredential:
    return DefaultAzureCredential()


def _token() -> str:
    """An Entra ID access token for Azure Resource Manager."""
    return _credential().get_token(ARM_SCOPE).token


def app_name(env: str) -> str:
    """The container app of `env`: <project>-<env>, within Azure's 32 characters (the
    same shortening as local.app_names in infra/azure/container_apps.tf)."""
    return f"{PROJECT[: 31 - len(env)].rstrip('-')}-{env}"


def _app_path(env: str) -> str:
    subscription = os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not subscription:
        raise RuntimeError("AZURE_SUBSCRIPTION_ID is not set (terraform output ci_variables)")
    return (
        f"/subscriptions/{subscription}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.App/containerApps/{app_name(env)}"
    )


def _arm(method: str, path: str, body: dict | None = None) -> requests.Response:
    """One ARM request; a path is a resource ID, or a whole URL (a nextLink)."""
    url = path if path.startswith(("https://", "http://")) else f"{ARM_URL}{path}"
    response = requests.request(
        method,
        url,
        params=None if "api-version=" in url else {"api-version": API_VERSION},
        json=body,
        headers={"Authorization": f"Bearer {_token()}"},
        timeout=60,
    )
    if response.status_code >= 400 and response.status_code != 404:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response


def _app(env: str) -> dict | None:
    response = _arm("GET", _app_path(env))
    return None if response.status_code == 404 else response.json()


def _existing_app(env: str) -> dict:
    app = _app(env)
    if app is None:
        name = app_name(env)
        raise RuntimeError(f"no container app {name} in {RESOURCE_GROUP}: apply infra/azure")
    return app


def _revision_name(app: dict, weight: dict) -> str | None:
    """The revision a traffic weight points at; `latestRevision` means the latest ready one."""
    if weight.get("revisionName"):
        return weight["revisionName"]
    properties = app["properties"]
    return properties.get("latestReadyRevisionName") or properties.get("latestRevisionName")


def _weights(app: dict) -> dict[str, int]:
    """Revision name -> traffic weight, as the app's ingress has them."""
    weights: dict[str, int] = {}
    for weight in app["properties"]["configuration"]["ingress"].get("traffic") or []:
        name = _revision_name(app, weight)
        if name:
            weights[name] = weights.get(name, 0) + weight.get("weight", 0)
    return weights


def _labelled(app: dict) -> str | None:
    for weight in app["properties"]["configuration"]["ingress"].get("traffic") or []:
        if weight.get("label") == LABEL:
            return _revision_name(app, weight)
    return None


def _revisions(env: str) -> list[dict]:
    revisions, page = [], f"{_app_path(env)}/revisions"
    while page:
        listing = _arm("GET", page).json()
        revisions += listing.get("value", [])
        page = listing.get("nextLink")
    return revisions


def revision_suffix(image: str, taken: set[str], app: str) -> str:
    """A revision suffix from the image tag (lowercase letters, digits and single dashes),
    made unique: a tag deployed again (after a rollback) gets -2, -3 ..."""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", tag.lower())).strip("-")[:40] or "release"
    suffix, number = base, 1
    while f"{app}--{suffix}" in taken:
        number += 1
        suffix = f"{base}-{number}"
    return suffix


def _wait(env: str, done, what: str) -> dict:
    """Poll the app until its provisioning succeeded and done(app) holds."""
    for _ in range(POLL_ATTEMPTS):
        app = _existing_app(env)
        state = app["properties"].get("provisioningState")
        if state in ("Failed", "Canceled"):
            raise RuntimeError(f"{app_name(env)}: {what} ended {state}")
        if state == "Succeeded" and done(app):
            return app
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{app_name(env)}: {what} not done after {POLL_ATTEMPTS * POLL_SECONDS}s")


def _wait_for_revision(env: str, revision: str) -> None:
    """Poll the revision until it is provisioned; fail when it cannot be."""
    for _ in range(POLL_ATTEMPTS):
        response = _arm("GET", f"{_app_path(env)}/revisions/{revision}")
        if response.status_code != 404:
            properties = response.json()["properties"]
            if "Failed" in (properties.get("provisioningState"), properties.get("runningState")):
                error = properties.get("provisioningError") or "no error message"
                raise RuntimeError(f"revision {revision} failed: {error}")
            if properties.get("provisioningState") == "Provisioned":
                return
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"revision {revision} not provisioned after {POLL_ATTEMPTS * POLL_SECONDS}s")


def _patch(env: str, app: dict, traffic: list[dict], template: dict | None = None) -> None:
    """PATCH (JSON merge patch) the app's traffic, and its template when given."""
    ingress = dict(app["properties"]["configuration"]["ingress"])
    ingress.pop("fqdn", None)  # read-only
    properties: dict = {"configuration": {"ingress": {**ingress, "traffic": traffic}}}
    if template is not None:
        properties["template"] = template
    _arm("PATCH", _app_path(env), {"properties": properties})


def _deactivate(env: str, revisions: list[str]) -> None:
    """Deactivate revisions without traffic: they would keep their replicas running. A
    failure here leaves the deploy as it is, only an idle revision running."""
    for revision in revisions:
        try:
            _arm("POST", f"{_app_path(env)}/revisions/{revision}/deactivate")
        except RuntimeError as error:
            print(f"{env}: could not deactivate {revision}: {error}", file=sys.stderr)


def _route_all_to(env: str, revision: str) -> None:
    app = _existing_app(env)
    replaced = [name for name in _weights(app) if name != revision]
    labelled = _labelled(app)
    if labelled and labelled != revision:
        replaced.append(labelled)
    _patch(env, app, [{"revisionName": revision, "weight": 100}])
    _wait(env, lambda a: _weights(a) == {revision: 100}, f"sending all traffic to {revision}")
    _deactivate(env, sorted(set(replaced)))


def current(env: str) -> str | None:
    """The revision with the most traffic in `env`, None without an app."""
    app = _app(env)
    weights = _weights(app) if app else {}
    return max(weights, key=weights.__getitem__) if weights else None


def release(env: str, image: str) -> None:
    """Run `image` in `env` as a new revision with CANARY percent of the traffic and the
    label `candidate`; the revision that had the most traffic keeps the rest."""
    if not 0 <= CANARY <= 100:
        raise ValueError(f"CANARY_PERCENT is {CANARY}: give a share from 0 to 100")
    app = _existing_app(env)
    previous = current(env)
    template = copy.deepcopy(app["properties"]["template"])
    containers = [c for c in template["containers"] if c["name"] == CONTAINER]
    if not containers:
        raise RuntimeError(f"{app['name']} has no container named {CONTAINER}")
    containers[0]["image"] = image
    taken = {revision["name"] for revision in _revisions(env)}
    template["revisionSuffix"] = revision_suffix(image, taken, app["name"])
    revision = f"{app['name']}--{template['revisionSuffix']}"
    traffic = [{"revisionName": revision, "weight": CANARY, "label": LABEL}]
    if previous:
        traffic.insert(0, {"revisionName": previous, "weight": 100 - CANARY})
    else:
        traffic[0]["weight"] = 100
    _patch(env, app, traffic, template)
    expected = {w["revisionName"]: w["weight"] for w in traffic}
    _wait(
        env,
        lambda a: a["properties"].get("latestRevisionName") == revision and _weights(a) == expected,
        f"releasing {revision}",
    )
    _wait_for_revision(env, revision)
    print(f"{env}: {revision} runs {image} with {traffic[-1]['weight']}% of the traffic")


def endpoint(env: str) -> str:
    """URL of the `candidate` label: the released revision only, whatever its weight."""
    app = _existing_app(env)
    properties = app["properties"]
    environment = _arm("GET", properties.get("environmentId") or properties["managedEnvironmentId"])
    domain = environment.json()["properties"]["defaultDomain"]
    return f"https://{app['name']}---{LABEL}.{domain}"


def promote(env: str) -> None:
    """Give the `candidate` revision all the traffic; deactivate the ones it replaces."""
    candidate = _labelled(_existing_app(env))
    if candidate is None:
        raise RuntimeError(f"{app_name(env)}: no revision has the label {LABEL}")
    _route_all_to(env, candidate)


def restore(env: str, previous: str) -> None:
    """Give the revision `previous` all the traffic again; deactivate the candidate."""
    _route_all_to(env, previous)


def login(registry: str) -> None:
    """docker login to an Azure Container Registry: the Entra ID token is exchanged for an
    ACR refresh token, which docker reads from stdin (it never appears in a command line)."""
    host = registry.split("/", 1)[0]
    form = {"grant_type": "access_token", "service": host, "access_token": _token()}
    if os.environ.get("AZURE_TENANT_ID"):
        form["tenant"] = os.environ["AZURE_TENANT_ID"]
    response = requests.post(f"https://{host}/oauth2/exchange", data=form, timeout=60)
    if not response.ok:
        raise RuntimeError(f"{host} refused the token: {response.status_code} {response.text}")
    subprocess.run(
        ["docker", "login", host, "--username", ACR_TOKEN_USER, "--password-stdin"],
        input=response.json()["refresh_token"],
        text=True,
        check=True,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "login":
        sys.exit("usage: python deploy/azure_container_apps.py login REGISTRY")
    login(sys.argv[2])
