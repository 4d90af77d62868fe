"""The Travis CI adapter: the rendered .travis.yml passes Travis's schema, and its stages run
the targets of includes/pipeline.jinja under the right conditions: pull requests and main,
releases on pushes to main, production only in a build started by hand, the monitor (drift
check, retraining on drift) in cron builds; full history, caches, and no secret in the file."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import (
    PLAN,
    STAGES,
    assert_keys_are_split,
    clouds,
    made_identities,
    stored_answers,
    vendor_answer_sets,
)
from servers import moto_s3

ANSWER_SETS = vendor_answer_sets("travis_ci", retrain_schedule="15 4 1 * *")
MAKE = re.compile(r"^make ([a-z-]+)(.*?)(?: \|\| travis_terminate 1)?$")
ON_MAIN = "branch = main AND type = push"
# The variable that turns releases and the monitor on, by the service's cloud: the release
# identity's name, which no job drops.
CLOUD_SWITCH = {
    "aws": "AWS_ROLE_ARN",
    "gcp": "GCP_SERVICE_ACCOUNT",
    "azure": "AZURE_CLIENT_ID",
}
# The repository settings' variables holding each CI identity's secret, by cloud.
SECRETS = PLAN["vendors"]["travis_ci"]["secrets"]
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


def commands(config: dict, job: dict) -> list[str]:
    """Every command a job runs, in order: its own phases, or the global ones it keeps."""
    return [
        command
        for phase in ("before_install", "install", "before_script", "script")
        for command in job.get(phase, config.get(phase)) or []
    ]


def given_identities(config: dict, job: dict, cloud: str) -> set[str]:
    """The CI identities of `cloud` whose secret a job is given: Travis hands every job the
    settings' variables of its branch, so an identity's secret is the job's unless the job
    drops all of its variables (`unset`) and never reads one."""
    run = commands(config, job)
    dropped = {name for c in run if c.startswith("unset ") for name in c.split()[1:]}
    read = {n for c in run if not c.startswith("unset ") for n in re.findall(r"\$\{?(\w+)", c)}
    return {
        PLAN["identities"][kind]["name"]
        for kind, names in SECRETS[cloud].items()
        if set(names) & read or not set(names) <= dropped
    }


def key_scopes(project: Path, cloud: str) -> dict[str, set[str]]:
    """For each run scope, the CI identities of `cloud` whose secret the jobs of that scope
    are given (given_identities): 'pull_request' (a job whose stage admits pull requests,
    or has no condition), 'production' (a job that deploys production), 'release' (any
    other job whose stage admits main, or has no condition)."""
    config = travis(project)
    conditions = {stage["name"]: stage.get("if", "") for stage in config.get("stages", [])}
    scopes: dict[str, set[str]] = {"pull_request": set(), "release": set(), "production": set()}
    for job in config["jobs"]["include"]:
        condition = conditions.get(job.get("stage"), "")
        given = given_identities(config, job, cloud)
        if not condition or "pull_request" in condition:
            scopes["pull_request"] |= given
        if any(c.startswith("make deploy ENV=production") for c in commands(config, job)):
            scopes["production"] |= given
        elif not condition or "branch = main" in condition:
            scopes["release"] |= given
    return scopes


def test_each_scope_is_given_only_the_secret_of_its_identity(project: Path) -> None:
    assert_keys_are_split(key_scopes, project)


def test_the_aws_identities_need_no_cli(project: Path) -> None:
    """The AWS identities are profiles (role_arn and source_profile), which boto3 and DVC
    read: nothing is installed with pip but the hashed uv requirements."""
    text = (project / ".travis.yml").read_text()
    for line in text.splitlines():
        if "pip install" in line:
            assert "--require-hashes" in line, line
    assert "aws sts" not in text and "awscli" not in text


def test_the_aws_profile_assumes_the_identitys_role_through_boto3(render, tmp_path) -> None:
    """The pull request job's AWS step, run as written against an AWS API on loopback (moto):
    boto3 reads the profile, trades the IAM user's key for the role's credentials, and acts
    as that role; the release identity's key, dropped first, is nowhere in the files."""
    config = travis(render(ANSWER_SETS["travis_ci-s3-aws_ecs"]))
    job = config["jobs"]["include"][0]
    steps = [c for c in job["before_install"] + job["script"] if not c.startswith("make ")]
    role = "arn:aws:iam::123456789012:role/ml-project-ci-pr"
    check = (
        "import boto3; "
        "print(boto3.client('sts').get_caller_identity()['Arn']); "
        "print(boto3.client('s3').list_objects_v2(Bucket='dvc')['KeyCount'])"
    )
    with moto_s3("dvc") as (endpoint, _):
        env = {
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "AWS_ENDPOINT_URL": endpoint,
            "TRAVIS_JOB_NUMBER": "7.1",
            "AWS_PR_ROLE_ARN": role,
            "CI_AWS_PR_ACCESS_KEY_ID": "AKIAPULLREQUEST",
            "CI_AWS_PR_SECRET_ACCESS_KEY": "pull-request-secret",
            "CI_AWS_ACCESS_KEY_ID": "AKIARELEASE",
            "CI_AWS_SECRET_ACCESS_KEY": "release-secret",
        }
        script = "set -e\n" + "\n".join(steps) + f'\n"{sys.executable}" -c "{check}"\n'
        result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "arn:aws:sts::123456789012:assumed-role/ml-project-ci-pr/travis-7.1",
        "0",
    ]
    files = "".join(path.read_text() for path in (tmp_path / ".aws").iterdir())
    assert "AKIAPULLREQUEST" in files and "AKIARELEASE" not in files
    assert oct((tmp_path / ".aws" / "credentials").stat().st_mode & 0o777) == "0o600"


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
    # The identity steps, by the anchor the template gives them (<cloud>-<suffix>).
    suffixes = {identity["suffix"]: kind for kind, identity in PLAN["identities"].items()}
    for index, job in enumerate(jobs(project)):
        script = job["script"]
        logins = [
            c for c in script if re.search(r"AWS_PROFILE=|GOOGLE_APPLICATION_CREDENTIALS=", c)
        ]
        targets = [t for t, _ in make_calls(job)]
        reaches_cloud = (given["dvc_cloud"] and {"pipeline", "push", "monitor"} & set(targets)) or (
            given["deploy_cloud"] and {"build", "deploy", "monitor"} & set(targets)
        )
        # The pull request stages act as no identity where CI has no pull-request one.
        acts = index > 0 or any(
            "ci_pr" in made_identities(project, cloud) for cloud in clouds(given)
        )
        expected = int(bool(reaches_cloud) and acts and "azure" not in clouds(given))
        assert len(logins) == expected, job["stage"]
        for login in logins:
            # The identity is made right before the first command that reaches the cloud.
            cloud_targets = (["pipeline", "push", "monitor"] if given["dvc_cloud"] else []) + (
                ["build", "deploy", "monitor"] if given["deploy_cloud"] else []
            )
            first = next(
                i for i, c in enumerate(script) if (m := MAKE.match(c)) and m[1] in cloud_targets
            )
            assert script.index(login) < first
            between = script[script.index(login) + 1 : first]
            assert not any(MAKE.match(c) for c in between if c != REGISTRY_LOGIN)
            cloud = "aws" if "AWS_PROFILE" in login else "gcp"
            kinds = [k for k, names in SECRETS[cloud].items() if f'"${names[0]}"' in login]
            assert len(kinds) == 1, login
            if cloud == "aws":
                role = PLAN["clouds"]["aws"]["identity"][kinds[0]]
                suffix = PLAN["identities"][kinds[0]]["suffix"]
                assert f'"${role}"' in login and f"export AWS_PROFILE={suffix}" in login
                assert (
                    f"[profile {suffix}]\\nrole_arn = %s\\nsource_profile = {suffix}-user" in login
                )
                assert suffixes[suffix] == kinds[0]
        if service_on_aws:
            # Only the build pushes to ECR: ECS and SageMaker pull the image themselves.
            assert (REGISTRY_LOGIN in script) == ("build" in targets), job["stage"]
        if given["deploy_cloud"]:
            # Docker logs in with the Makefile's registry-login just before the build only.
            if "build" in targets:
                assert script[script.index(REGISTRY_LOGIN) + 1].startswith("make build ")
            else:
                assert REGISTRY_LOGIN not in script
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
    anchors = [
        ("load-dvc-ssh-key", "base64 --decode > ~/.ssh/dvc_key", given["data_store"] == "ssh")
    ]
    for identity in PLAN["identities"].values():
        made = given["uses_aws"] and identity["name"] in made_identities(project, "aws")
        anchors.append(
            (f"aws-{identity['suffix']}", f"export AWS_PROFILE={identity['suffix']}\n", made)
        )
    for anchor, fragment, used in anchors:
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
