"""The Travis CI adapter: the rendered .travis.yml passes Travis's schema, and its stages run
the targets of includes/pipeline.jinja under the right conditions: pull requests and main,
releases on pushes to main, production only in a build started by hand, the monitor (drift
check, retraining on drift) in cron builds; full history, caches, and no secret in the file."""

import re
from pathlib import Path

import pytest
import yaml

from conftest import (
    STAGES,
    stored_answers,
    vendor_answer_sets,
)

ANSWER_SETS = vendor_answer_sets("travis_ci", retrain_schedule="15 4 1 * *")
MAKE = re.compile(r"^make ([a-z-]+)(.*?)(?: \|\| travis_terminate 1)?$")
ON_MAIN = "branch = main AND type = push"
# The variable that turns releases and the monitor on, by the service's cloud.
CLOUD_SWITCH = {
    "aws": "AWS_ROLE_ARN",
    "gcp": "GCP_SERVICE_ACCOUNT_KEY_BASE64",
    "azure": "AZURE_CLIENT_SECRET",
}
REGISTRY_LOGIN = 'make registry-login REGISTRY="$REGISTRY" || travis_terminate 1'
# Travis offers these cron intervals only; the README maps the answer to the nearest.
INTERVALS = {
    "0 3 * * 1": "weekly",
    "*/30 2-4 1,15 * 1-5": "monthly",
    "15 4 1 * *": "monthly",
    "0 2 * * *": "daily",
}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


def travis(project: Path) -> dict:
    return yaml.safe_load((project / ".travis.yml").read_text())


def jobs(project: Path) -> list[dict]:
    return travis(project)["jobs"]["include"]


def make_calls(job: dict) -> list[tuple[str, str]]:
    """(target, variables) of each stage target: docker's registry login is setup."""
    calls = [MAKE.match(command) for command in job["script"] if command != REGISTRY_LOGIN]
    return [(m[1], m[2].strip()) for m in calls if m]


def test_travis_accepts_the_schema(project: Path, schema_errors) -> None:
    assert schema_errors(("--builtin-schema", "vendor.travis"), project, ".travis.yml") == []


def test_python_full_history_and_caches(project: Path) -> None:
    config = travis(project)
    assert config["language"] == "python"
    assert config["python"] == stored_answers(project)["python_version"]
    assert config["git"] == {"depth": False}
    assert "UV_CACHE_DIR=$HOME/.cache/uv" in config["env"]["global"]
    assert config["cache"] == {"directories": ["$HOME/.cache/uv", ".dvc/cache"]}
    assert config["before_cache"] == ["uv cache prune --ci"]
    assert config["install"][-1] == "make install"
    # Pushes to branches other than main build only as pull requests.
    assert config["if"] == "type IN (pull_request, cron, api) OR branch = main"


def test_stages_and_their_conditions(project: Path) -> None:
    pr_stage = ", ".join(stage["name"] for stage in STAGES.pr_stages)
    expected = [{"name": pr_stage, "if": f"type = pull_request OR ({ON_MAIN})"}]
    for stage in STAGES.release_stages:
        approval = "branch = main AND type = api AND env(RETRAIN) != true"
        expected.append({"name": stage["name"], "if": approval if stage["approval"] else ON_MAIN})
    for stage in STAGES.retrain_stages:
        condition = "branch = main AND (type = cron OR env(RETRAIN) = true)"
        expected.append({"name": stage["name"], "if": condition})
    for stage in STAGES.update_stages:
        expected.append({"name": stage["name"], "if": "branch = main AND type = cron"})
    assert travis(project)["stages"] == expected
    assert [job["stage"] for job in jobs(project)] == [stage["name"] for stage in expected]


def test_jobs_run_the_stage_list_in_order_and_stop_at_the_first_failure(project: Path) -> None:
    ci, *release, retrain, update = jobs(project)
    assert [target for target, _ in make_calls(ci)] == STAGES.pr_targets
    for job, stage in zip(release, STAGES.release_stages, strict=True):
        env = f"ENV={stage['env']} " if stage["env"] else ""
        image = f'{env}REGISTRY="$REGISTRY" TAG="$TRAVIS_COMMIT"'
        expected = [(t, image if t in ("build", "deploy") else "") for t in stage["targets"]]
        assert make_calls(job) == expected, job["stage"]
        assert job["services"] == "docker"
    assert [target for target, _ in make_calls(retrain)] == STAGES.retrain_targets
    assert [target for target, _ in make_calls(update)] == STAGES.update_targets
    # Travis runs every command of `script`; each make but the last stops the job on failure.
    for job in jobs(project):
        makes = [c for c in job["script"] if c.startswith("make ")]
        assert all(c.endswith(" || travis_terminate 1") for c in makes[:-1]), job["stage"]
        assert not makes[-1].endswith("travis_terminate 1")


def test_credentials_come_from_the_repository_settings(project: Path) -> None:
    given = stored_answers(project)
    config = travis(project)
    on_aws = given["on_s3"]
    service_on_aws = given["deploy_cloud"] == "aws"
    uses_aws = on_aws or service_on_aws
    assert (f"AWS_REGION={given.get('aws_region')}" in config["env"]["global"]) == uses_aws
    for job in jobs(project):
        script = job["script"]
        assume = [c for c in script if "aws sts assume-role" in c]
        targets = [t for t, _ in make_calls(job)]
        needs_role = (
            (on_aws and {"pipeline", "push"} & set(targets))
            or (service_on_aws and {"build", "deploy"} & set(targets))
            or (uses_aws and "monitor" in targets)
        )
        assert len(assume) == bool(needs_role), job["stage"]
        if assume:
            # The role's credentials are assumed right before the first command that needs them.
            first = next(
                i
                for i, c in enumerate(script)
                if (m := MAKE.match(c))
                and (
                    (on_aws and m[1] in ("pipeline", "push"))
                    or (service_on_aws and m[1] in ("build", "deploy"))
                    or m[1] == "monitor"
                )
            )
            assert script.index(assume[0]) < first
            assert '"$CI_AWS_ACCESS_KEY_ID"' in assume[0] and '"$AWS_ROLE_ARN"' in assume[0]
        if service_on_aws:
            # Only the build pushes to ECR: ECS and SageMaker pull the image themselves.
            assert (REGISTRY_LOGIN in script) == ("build" in targets), job["stage"]
        if given["deploy_cloud"]:
            # Docker logs in with the Makefile's registry-login just before the build only.
            if "build" in targets:
                assert script[script.index(REGISTRY_LOGIN) + 1].startswith("make build ")
            else:
                assert REGISTRY_LOGIN not in script
    if given["deploy_cloud"] == "gcp":
        # The service account key, for every job (the Google client libraries read it).
        install = "\n".join(config["install"])
        assert "export GOOGLE_APPLICATION_CREDENTIALS=/tmp/gcp-ci-key.json" in install
    release = jobs(project)[1 : 1 + len(STAGES.release_stages)]
    if given["deploy_target"] == "docker_compose":
        for job, stage in zip(release, STAGES.release_stages, strict=True):
            assert any("REGISTRY_PASSWORD" in c and "--password-stdin" in c for c in job["script"])
            if stage["env"]:
                assert 'export DOCKER_HOST="ssh://$DEPLOY_HOST"' in job["before_script"]


def test_release_jobs_and_the_monitor_skip_until_their_settings_exist(project: Path) -> None:
    given = stored_answers(project)
    target = given["deploy_target"]
    guarded = [*STAGES.release_stages, *STAGES.retrain_stages]
    release = zip(jobs(project)[1 : 1 + len(guarded)], guarded, strict=True)
    for job, stage in release:
        # The monitor reads production: it needs what a production deploy needs.
        env = stage.get("env")
        variable = {
            "docker_compose": "DEPLOY_HOST" if env else "REGISTRY",
            "kubernetes": "KUBECONFIG_DATA" if env else "REGISTRY",
        }.get(target) or CLOUD_SWITCH[given["deploy_cloud"]]
        assert job["before_script"][0].startswith(f'test -n "${variable}" || ')
        assert job["before_script"][0].endswith("travis_terminate 0; }")
    monitor = jobs(project)[len(guarded)]
    if target == "docker_compose":
        assert 'export DOCKER_HOST="ssh://$DEPLOY_HOST"' in monitor["before_script"]
    elif target == "kubernetes":
        assert "export KUBECONFIG=/tmp/kubeconfig" in monitor["before_script"]
    elif given["deploy_cloud"] == "aws" and given.get("s3_endpoint_url"):
        # The remote's keys go to DVC's local config before the role replaces them.
        assert any("dvc remote modify --local" in c for c in monitor["before_script"])


def test_shared_steps_are_written_once_and_named_by_alias(project: Path) -> None:
    """The role's and the DVC remote's SSH key's steps are anchors under the private key
    `_shared`, which Travis ignores; jobs run them through aliases. A production deploy
    reaches the service as staging does: one before_script, by alias."""
    given = stored_answers(project)
    text = (project / ".travis.yml").read_text()
    config = travis(project)
    shared = config.get("_shared", [])
    for anchor, fragment, used in [
        ("assume-ci-role", "aws sts assume-role", given["uses_aws"]),
        ("load-dvc-ssh-key", "base64 --decode > ~/.ssh/dvc_key", given["data_store"] == "ssh"),
    ]:
        assert text.count(fragment) == int(used), anchor
        assert (f"- &{anchor} |" in text) == used
        assert sum(fragment in step for step in shared) == int(used)
        if used:
            assert f"- *{anchor}" in text
    environments = {stage["name"] for stage in STAGES.release_stages if stage["env"]}
    deploys = [job for job in jobs(project) if job["stage"] in environments]
    assert len(deploys) == 2 and deploys[0]["before_script"] == deploys[1]["before_script"]
    assert "before_script: *reach-service" in text


def test_no_secret_is_in_the_file(project: Path) -> None:
    text = (project / ".travis.yml").read_text()
    assert "secure:" not in text  # not even encrypted: secrets live in the settings
    assert not re.search(r"AKIA[0-9A-Z]{16}", text) and "PRIVATE KEY" not in text
    for name in re.findall(r"\b([A-Z_]*(?:KEY|SECRET|TOKEN|PASSWORD)[A-Z_0-9]*)=", text):
        # Assigned only from another variable, as in AWS_ACCESS_KEY_ID="$CI_AWS_ACCESS_KEY_ID".
        assert re.search(rf'\b{name}="\$[A-Z_]+"', text), name


def test_readme_maps_the_schedule_to_a_travis_cron_interval(project: Path) -> None:
    schedule = stored_answers(project)["retrain_schedule"]
    readme = (project / "README.md").read_text()
    section = readme[readme.index("## CI/CD on Travis CI") :]
    assert f"interval **{INTERVALS[schedule]}**" in section
    assert f"`{schedule}`" in section
    assert "Production has no approval step, because Travis has none." in section
