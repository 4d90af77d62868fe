"""data_store=ssh: the DVC remote is a directory on a server over SSH. The committed config
names the server and never a key; every CI vendor loads the key from its own secret store
before the jobs that pull or push, and nowhere else; the README says where each secret goes.
(The real round trip against an sshd is tests/test_dvc_remotes.py.)"""

import configparser
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import CI_FILES, PLAN, ci_text, offered

VENDORS = offered("ci_provider")
# What names the DVC remote's key in each vendor's file: its secret store entries.
KEY_NAMES = {v: PLAN["vendors"][v]["dvc_ssh_secrets"] for v in VENDORS}
SERVER = {
    "ssh_host": "data.internal.example",
    "ssh_port": 2222,
    "ssh_user": "mlops",
    "ssh_path": "/data/dvc/churn",
}
# The same answer sets as the CI tests (conftest.COMBINATIONS), so the renders are shared.
SSH = {
    v: {"ci_provider": v, "data_store": "ssh", "deploy_target": "docker_compose"} for v in VENDORS
}
LOCAL = {v: {**SSH[v], "data_store": "local"} for v in VENDORS}
TRAINS = re.compile(r"\bmake (pipeline|push|monitor)\b")


class Loader(yaml.SafeLoader):
    """Safe YAML plus GitLab's `!reference [job, key]`."""


Loader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


def dvc_remote(project: Path) -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read_string((project / ".dvc" / "config").read_text())
    return dict(config["'remote \"storage\"'"])


def test_the_committed_remote_is_the_answered_server_and_holds_no_secret(render) -> None:
    project = render({"data_store": "ssh", **SERVER})
    assert dvc_remote(project) == {"url": "ssh://mlops@data.internal.example:2222/data/dvc/churn"}
    assert dvc_remote(render(SSH["github_actions"])) == {
        "url": "ssh://dvc@dvc.example.com:22/srv/dvc/ml-project"
    }
    dev = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    assert any(re.fullmatch(r"dvc\[ssh\]>=[\d.]+", d) for d in dev), dev
    assert not (project / "infra").exists(), "a server over SSH needs no Terraform"


def test_the_readme_sets_the_server_up_for_the_answers(render) -> None:
    readme = (render({"data_store": "ssh", **SERVER}) / "README.md").read_text()
    assert "useradd --create-home --shell /bin/sh mlops" in readme
    assert "install -d -o mlops -g mlops -m 750 /data/dvc/churn" in readme
    assert "~mlops/.ssh/authorized_keys" in readme
    # A known_hosts line names a port other than 22 as [host]:port.
    assert 'echo "[data.internal.example]:2222 $(cut' in readme
    assert "dvc remote modify --local storage keyfile" in readme


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_readme_names_every_secret_the_ci_file_reads(render, vendor: str) -> None:
    project = render(SSH[vendor])
    text = ci_text(project, vendor)
    section = (project / "README.md").read_text().split("## Data and models")[1].split("\n## ")[0]
    for name in KEY_NAMES[vendor]:
        assert name in text, name
        assert name in section, name
    assert set(re.findall(r"DVC_SSH_[A-Z_]+", text)) == set(re.findall(r"DVC_SSH_[A-Z_]+", section))


@pytest.mark.parametrize("vendor", VENDORS)
def test_without_the_ssh_store_no_ci_file_mentions_its_key(render, vendor: str) -> None:
    text = ci_text(render(LOCAL[vendor]), vendor)
    assert not re.search(r"DVC_SSH|dvc-ssh|dvc_ssh|dvc_key", text)


@pytest.mark.parametrize("vendor", VENDORS)
def test_no_key_material_is_rendered(render, vendor: str) -> None:
    project = render(SSH[vendor])
    for path in [project / ".dvc" / "config", *(project / n for n in CI_FILES[vendor])]:
        text = path.read_text()
        assert "PRIVATE KEY" not in text and "ssh-ed25519 AAAA" not in text, path
    assert set(dvc_remote(project)) == {"url"}  # no keyfile, password or passphrase


def loads_key_first(items: list, loads_key) -> int:
    """In a list of steps, the key is loaded before the first step that pulls or pushes,
    and only in lists that pull or push. Returns 1 for a list that pulls or pushes."""
    texts = [json.dumps(item) for item in items]
    trains = [i for i, t in enumerate(texts) if TRAINS.search(t)]
    loads = [i for i, item in enumerate(items) if loads_key(item)]
    if trains:
        assert loads and loads[0] < trains[0], texts
    else:
        assert not loads, texts
    return int(bool(trains))


def strict(text: str) -> bool:
    return "StrictHostKeyChecking yes" in text and "~/.ssh/dvc_key" in text


def test_github_actions_writes_the_key_before_the_pipeline(render) -> None:
    project = render(SSH["github_actions"])
    trained = 0
    for name in CI_FILES["github_actions"]:
        for job in yaml.safe_load((project / name).read_text())["jobs"].values():

            def loads_key(step: dict) -> bool:
                if "DVC_SSH_KEY" not in json.dumps(step):
                    return False
                assert step["env"] == {
                    "DVC_SSH_KEY": "${{ secrets.DVC_SSH_KEY }}",
                    "DVC_SSH_KNOWN_HOSTS": "${{ vars.DVC_SSH_KNOWN_HOSTS }}",
                }
                assert strict(step["run"]) and "umask 077" in step["run"]
                return True

            trained += loads_key_first(job.get("steps", []), loads_key)
    assert trained == 3  # ci, package, monitor


def test_gitlab_loads_the_file_variable_in_every_job_that_pulls_or_pushes(render) -> None:
    config = yaml.load((render(SSH["gitlab_ci"]) / ".gitlab-ci.yml").read_text(), Loader=Loader)
    before = config[".pipeline"]["before_script"]
    assert any('install -m 600 "$DVC_SSH_KEY" ~/.ssh/dvc_key' in str(s) for s in before)
    assert any(strict(str(s)) for s in before)

    def bases(job: dict) -> set[str]:
        extends = job.get("extends", [])
        names = {extends} if isinstance(extends, str) else set(extends)
        return names | {b for name in names for b in bases(config[name])}

    trains = [
        name
        for name, job in config.items()
        if isinstance(job, dict) and TRAINS.search(json.dumps(job.get("script", [])))
    ]
    assert trains == ["train", "package", "monitor"]
    for name in trains:
        assert ".pipeline" in bases(config[name]), name
        if "before_script" in config[name]:  # its own list must still include .pipeline's
            assert [".pipeline", "before_script"] in config[name]["before_script"], name


def test_jenkins_holds_the_credential_in_an_agent_around_each_pull_or_push(render) -> None:
    lines = (render(SSH["jenkins"]) / "Jenkinsfile").read_text().splitlines()
    calls = [
        i
        for i, line in enumerate(lines)
        if TRAINS.search(line) and not line.strip().startswith("//")
    ]
    assert calls
    for i in calls:
        # The monitor also reaches production's Docker host: its agent holds both keys.
        assert lines[i - 1].strip() in (
            "sshagent(credentials: ['dvc-ssh-key']) {",
            "sshagent(credentials: ['dvc-ssh-key', 'deploy-ssh-key']) {",
        ), lines[i]
        assert lines[i + 1].strip() == "}"
    agents = [line for line in lines if "dvc-ssh-key" in line]
    assert len(agents) == len(calls)


def test_circleci_adds_the_key_in_the_setup_of_the_jobs_that_train(render) -> None:
    config = yaml.safe_load((render(SSH["circleci"]) / ".circleci" / "config.yml").read_text())
    (dvc_steps,) = [
        s["when"]["steps"]
        for s in config["commands"]["setup"]["steps"]
        if isinstance(s, dict) and s.get("when", {}).get("condition") == "<< parameters.dvc >>"
    ]
    assert "add_ssh_keys" in dvc_steps
    assert any("$DVC_SSH_KNOWN_HOSTS" in json.dumps(s) for s in dvc_steps)
    trains = [name for name, job in config["jobs"].items() if TRAINS.search(json.dumps(job))]
    assert trains == ["train", "package", "monitor"]
    for name in trains:
        assert {"setup": {"dvc": True}} in config["jobs"][name]["steps"], name


def test_azure_installs_the_secure_file_before_the_pipeline(render) -> None:
    project = render(SSH["azure_pipelines"])
    config = yaml.safe_load((project / "azure-pipelines.yml").read_text())
    # The deploy stages are `template:` entries: their jobs are in the template's file.
    stages = [stage for stage in config["stages"] if "template" not in stage]
    stages += yaml.safe_load((project / ".azure-pipelines/deploy.yml").read_text())["stages"]

    def loads_key(step: dict) -> bool:
        if step.get("task") != "InstallSSHKey@0" or "dvc_ssh_key" not in json.dumps(step):
            return False
        assert step["inputs"] == {
            "knownHostsEntry": "$(DVC_SSH_KNOWN_HOSTS)",
            "sshKeySecureFile": "dvc_ssh_key",
        }
        return True

    trained = 0
    for stage in stages:
        for job in stage["jobs"]:
            strategy = job.get("strategy", {}).get("runOnce", {}).get("deploy", {})
            steps = job.get("steps") or strategy.get("steps", [])
            trained += loads_key_first(steps, loads_key)
    assert trained == 3  # train, package, monitor


def test_bitbucket_decodes_the_secured_variable_before_the_pipeline(render) -> None:
    config = yaml.safe_load(
        (render(SSH["bitbucket_pipelines"]) / "bitbucket-pipelines.yml").read_text()
    )
    steps = [
        item["step"]
        for group in config["pipelines"].values()
        for pipeline in group.values()
        for item in pipeline
    ]
    trained = 0
    for step in steps:
        trained += loads_key_first(
            step["script"],
            lambda s: "DVC_SSH_KEY_BASE64" in str(s) and strict(str(s)) and "base64 -d" in str(s),
        )
    assert trained == 4  # train on pull requests and on main, package, monitor


def test_travis_decodes_the_variables_before_the_pipeline(render) -> None:
    config = yaml.safe_load((render(SSH["travis_ci"]) / ".travis.yml").read_text())
    trained = 0
    for job in config["jobs"]["include"]:
        trained += loads_key_first(
            job["script"],
            lambda s: "DVC_SSH_KEY_BASE64" in str(s) and strict(str(s)) and "base64 --decode" in s,
        )
    assert trained == 3  # the pull request checks, package, retrain
