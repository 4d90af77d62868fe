"""deploy_target kubernetes: the Kustomize tree in k8s/ and deploy/kubernetes.py.

No cluster runs here, so the manifests are checked as a cluster would read them:
`kubectl kustomize` (the kustomize built into kubectl) renders each overlay, and the
release's kustomization that deploy/kubernetes.py writes, exactly as `kubectl apply -k`
would; kubernetes-validate --strict checks the base and every rendered output against the
Kubernetes API schemas, and checkov scans what a release applies. deploy/kubernetes.py runs
against a stand-in kubectl that records its calls and renders what it is asked to apply.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import run, tool

ANSWERS = {"deploy_target": "kubernetes", "project_name": "Fraud Model"}
NAME = "fraud-model"  # the slug of the project name
ENVIRONMENTS = ("staging", "production")
IMAGE = "ghcr.io/acme/fraud-model:0123456789ab"
# The oldest and the newest Kubernetes API that kubernetes-validate carries schemas for.
API_VERSIONS = ("1.25.0", "1.37.0")
KUBECTL = shutil.which("kubectl")


@pytest.fixture(scope="module")
def project(render) -> Path:
    return render(ANSWERS)


def kubectl_kustomize(directory: Path) -> list[dict]:
    if KUBECTL is None:
        pytest.fail("kubectl is not on PATH: its `kubectl kustomize` renders the overlays")
    result = run([KUBECTL, "kustomize", str(directory)], directory)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_module(project: Path):
    spec = importlib.util.spec_from_file_location(
        "kubernetes_deploy", project / "deploy" / "kubernetes.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(project: Path) -> dict[str, list[dict]]:
    """Each overlay, rendered."""
    return {env: kubectl_kustomize(project / "k8s" / "overlays" / env) for env in ENVIRONMENTS}


@pytest.fixture(scope="module")
def released(project: Path, tmp_path_factory) -> dict[str, Path]:
    """What `make deploy ENV=<env>` applies: the kustomization deploy/kubernetes.py writes
    for IMAGE, rendered to a file per environment."""
    module = load_module(project)
    out = tmp_path_factory.mktemp("released")
    files = {}
    for env in ENVIRONMENTS:
        where = tmp_path_factory.mktemp(f"release-{env}")
        (where / "kustomization.yaml").write_text(module.kustomization(env, IMAGE, where))
        files[env] = out / f"{env}.yaml"
        files[env].write_text(yaml.safe_dump_all(kubectl_kustomize(where), sort_keys=False))
    return files


def by_kind(docs: list[dict]) -> dict[str, dict]:
    kinds = [doc["kind"] for doc in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {doc["kind"]: doc for doc in docs}


def validate(*paths: Path) -> None:
    for version in API_VERSIONS:
        result = run(
            [tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, *map(str, paths)],
            paths[0].parent,
        )
        assert "ERROR" not in result.stdout + result.stderr


# ---------------------------------------------------------------- the manifests


def test_only_kubernetes_renders_k8s(render, project: Path) -> None:
    assert (project / "deploy" / "kubernetes.py").is_file()
    assert not (render({}) / "k8s").exists()
    tree = sorted(str(p.relative_to(project / "k8s")) for p in (project / "k8s").rglob("*.yaml"))
    assert tree == [
        "base/deployment.yaml",
        "base/hpa.yaml",
        "base/kustomization.yaml",
        "base/networkpolicy.yaml",
        "base/pdb.yaml",
        "base/service.yaml",
        "overlays/production/deployment.yaml",
        "overlays/production/hpa.yaml",
        "overlays/production/kustomization.yaml",
        "overlays/staging/deployment.yaml",
        "overlays/staging/hpa.yaml",
        "overlays/staging/kustomization.yaml",
    ]


def test_base_manifests_pass_kubernetes_validate_strict(project: Path) -> None:
    base = project / "k8s" / "base"
    listed = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in base.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    validate(*(base / name for name in listed))


def test_overlays_render_and_pass_kubernetes_validate_strict(built, tmp_path: Path) -> None:
    for env, docs in built.items():
        path = tmp_path / f"{env}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        validate(path)
        assert set(by_kind(docs)) == {
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
        }


def test_each_overlay_has_its_namespace_size_and_scale(built) -> None:
    sizes = {}
    for env, docs in built.items():
        assert {doc["metadata"]["namespace"] for doc in docs} == {f"{NAME}-{env}"}
        kinds = by_kind(docs)
        (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
        hpa = kinds["HorizontalPodAutoscaler"]["spec"]
        sizes[env] = (hpa["minReplicas"], hpa["maxReplicas"], container["resources"])
        # The autoscaler owns the replica count: an apply must not reset it.
        assert "replicas" not in kinds["Deployment"]["spec"]
        # A drain keeps a pod serving, and the budget never blocks a drain.
        assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] < hpa["minReplicas"]
    assert sizes["staging"][0] < sizes["production"][0]
    assert sizes["staging"][1] < sizes["production"][1]
    assert sizes["staging"][2] != sizes["production"][2]


def test_every_container_is_probed_limited_and_locked_down(built) -> None:
    for docs in built.values():
        pod = by_kind(docs)["Deployment"]["spec"]["template"]
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the image's user
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports == {"http": 8000}
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            # The only writable paths: /tmp and the input log that `make drift` reads.
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert set(mounts) == {"/tmp", "/app/logs"}
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert all("emptyDir" in volumes[name] for name in mounts.values())
            env = {e["name"]: e for e in container["env"]}
            assert env["INPUT_LOG"]["value"].startswith("/app/logs/")
            # The serving token comes from a Secret when there is one, and only from there.
            assert env["SERVING_API_TOKEN"]["valueFrom"] == {
                "secretKeyRef": {
                    "name": f"{NAME}-serving-token",
                    "key": "token",
                    "optional": True,
                }
            }
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert annotations["prometheus.io/port"] == "8000"


def test_labels_selectors_and_targets_agree(built) -> None:
    for docs in built.values():
        kinds = by_kind(docs)
        deployment = kinds["Deployment"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert kinds["Service"]["spec"]["selector"] == selector
        assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
        assert kinds["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"] == selector
        assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        (port,) = kinds["Service"]["spec"]["ports"]
        assert port["targetPort"] == "http"
        for doc in docs:
            assert doc["metadata"]["name"] == NAME


# ------------------------------------------------------------------ a release


def test_a_release_changes_only_the_image(built, released) -> None:
    for env, path in released.items():
        docs = list(yaml.safe_load_all(path.read_text()))
        validate(path)
        (container,) = by_kind(docs)["Deployment"]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == IMAGE
        container["image"] = NAME
        assert by_kind(docs) == by_kind(built[env])


def test_checkov_finds_nothing_in_what_a_release_applies(released) -> None:
    """Every finding is fixed or skipped inline, with its reason, as a checkov.io/skip
    annotation."""
    checkov = os.environ.get("CHECKOV") or shutil.which("checkov")
    if checkov is None:
        pytest.skip("checkov is not installed (set CHECKOV to its path)")
    folder = released["staging"].parent
    result = subprocess.run(
        [checkov, "-d", str(folder), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0
    assert not failed, failed
    for check in report["results"].get("skipped_checks", []):
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


# ---------------------------------------------------- deploy/kubernetes.py's commands

# Stands in for kubectl: appends its arguments to $KUBECTL_LOG; `get` prints
# $KUBECTL_IMAGE; `apply --kustomize DIR` renders DIR with the real kubectl into
# $KUBECTL_APPLIED; `port-forward ... LOCAL:80` serves HTTP on 127.0.0.1:LOCAL.
FAKE_KUBECTL = f"""\
#!{sys.executable}
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if "get" in args:
    print(os.environ.get("KUBECTL_IMAGE", ""), end="")
elif "apply" in args:
    folder = args[args.index("--kustomize") + 1]
    rendered = subprocess.run(
        [{KUBECTL!r}, "kustomize", folder], check=True, capture_output=True, text=True
    )
    with open(os.environ["KUBECTL_APPLIED"], "w") as out:
        out.write(rendered.stdout)
elif "port-forward" in args:
    port = args[-1].split(":")[0]
    os.execv(sys.executable, [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", port])
"""


@pytest.fixture
def kube(project: Path, tmp_path: Path, monkeypatch):
    """The rendered deploy/kubernetes.py with the stand-in kubectl first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("KUBECTL_APPLIED", str(tmp_path / "applied.yaml"))
    module = load_module(project)
    module.calls = lambda: [
        json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()
    ]
    module.applied = lambda: list(yaml.safe_load_all((tmp_path / "applied.yaml").read_text()))
    return module


def test_current_is_the_image_of_the_deployment_or_none(kube, monkeypatch) -> None:
    assert kube.current("staging") is None
    monkeypatch.setenv("KUBECTL_IMAGE", IMAGE)
    assert kube.current("staging") == IMAGE
    (call,) = kube.calls()[-1:]
    assert call[:4] == ["--namespace", f"{NAME}-staging", "get", f"deployment/{NAME}"]
    assert "--ignore-not-found" in call


def test_release_applies_the_overlay_with_the_image_then_waits(kube) -> None:
    if KUBECTL is None:
        pytest.fail("kubectl is not on PATH")
    kube.release("production", IMAGE)
    apply, status = kube.calls()
    assert apply[:3] == ["--namespace", f"{NAME}-production", "apply"]
    assert status == [
        "--namespace",
        f"{NAME}-production",
        "rollout",
        "status",
        f"deployment/{NAME}",
        "--timeout=300s",
    ]
    deployment = by_kind(kube.applied())["Deployment"]
    assert deployment["metadata"]["namespace"] == f"{NAME}-production"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


def test_restore_undoes_the_rollout_unless_nothing_changed(kube, monkeypatch) -> None:
    monkeypatch.setenv("KUBECTL_IMAGE", "previous:1")
    kube.restore("staging", "previous:1")
    assert [call[2] for call in kube.calls()] == ["get"]  # the release never applied
    monkeypatch.setenv("KUBECTL_IMAGE", IMAGE)
    with pytest.raises(RuntimeError, match="not previous:1"):
        kube.restore("staging", "previous:1")  # the stand-in's undo changes nothing
    assert [call[2:4] for call in kube.calls()[1:]] == [
        ["get", f"deployment/{NAME}"],
        ["rollout", "undo"],
        ["rollout", "status"],
        ["get", f"deployment/{NAME}"],
        ["get", f"deployment/{NAME}"],
    ]


def test_endpoint_is_a_port_forward_on_loopback(kube) -> None:
    url = kube.endpoint("staging")
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
    finally:
        kube.stop_port_forwards()
    assert not kube.FORWARDS
    (call,) = kube.calls()
    port = url.rsplit(":", 1)[1]
    assert call == [
        "--namespace",
        f"{NAME}-staging",
        "port-forward",
        "--address",
        "127.0.0.1",
        f"service/{NAME}",
        f"{port}:80",
    ]


def test_a_kubectl_error_becomes_the_release_error(kube, tmp_path: Path) -> None:
    failing = tmp_path / "bin" / "kubectl"
    failing.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        sys.exit("error: the server has asked for the client to provide credentials")
        """)
    )
    with pytest.raises(RuntimeError, match="provide credentials"):
        kube.release("staging", IMAGE)
