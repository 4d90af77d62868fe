"""The Azure Pipelines adapter: azure-pipelines.yml passes Azure's schema, triggers on main
and its pull requests, retrains on the answered schedule, runs the Makefile targets of
includes/pipeline.jinja stage by stage, deploys through the environments `staging` and
`production` (whose approvals live in Azure DevOps), caches uv and DVC, fetches all
history, posts the report on the pull request with the pipeline's own token, and takes AWS
credentials from secret variables only."""

import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import (
    KEY_SCOPES,
    PLAN,
    STAGES,
    identity_of,
    run,
    stored_answers,
    vendor_answer_sets,
)

VENDOR = {"ci_provider": "azure_pipelines"}
ANSWER_SETS = vendor_answer_sets(VENDOR["ci_provider"], retrain_schedule="*/30 2-4 1,15 * 1-5")
MAKE = re.compile(r"^make ([\w-]+)(.*)$")
DEPLOY_TEMPLATE = ".azure-pipelines/deploy.yml"
PARAMETER = re.compile(r"\$\{\{ parameters\.(\w+) \}\}")
NOT_RETRAINING = "and(ne(variables['Build.Reason'], 'Schedule'), not(${{ parameters.retrain }}))"
AWS_ENV = {"AWS_PROFILE": "ci"}
KEYS_ENV = {
    "AWS_ACCESS_KEY_ID": "$(AWS_ACCESS_KEY_ID)",
    "AWS_SECRET_ACCESS_KEY": "$(AWS_SECRET_ACCESS_KEY)",
}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


def config(project: Path) -> dict:
    """azure-pipelines.yml as Azure Pipelines compiles it: each `template:` stage replaced by
    the stages of its file, with the parameters it is given."""
    cfg = yaml.safe_load((project / "azure-pipelines.yml").read_text())
    stages = []
    for stage in cfg["stages"]:
        if "template" not in stage:
            stages.append(stage)
            continue
        text = (project / stage["template"]).read_text()
        text = PARAMETER.sub(lambda m, given=stage["parameters"]: given[m[1]], text)
        stages += yaml.safe_load(text)["stages"]
    cfg["stages"] = stages
    return cfg


def stages(project: Path) -> dict:
    return {stage["stage"]: stage for stage in config(project)["stages"]}


def steps(job: dict) -> list[dict]:
    if "strategy" in job:
        return job["strategy"]["runOnce"]["deploy"]["steps"]
    return job["steps"]


def command(step: dict) -> str:
    """What a step runs: its script, or the inline script of AzureCLI@2 (signed in to Azure)."""
    if step.get("task") == "AzureCLI@2":
        return step["inputs"]["inlineScript"]
    return step.get("script", "")


def make_steps(job: dict) -> list[dict]:
    """The steps that run a stage's target: not `make install` nor docker's registry login."""
    setup = ("make install", "make registry-login")
    return [s for s in steps(job) if MAKE.match(command(s)) and not command(s).startswith(setup)]


def registry_logins(job: dict) -> list[dict]:
    return [s for s in steps(job) if command(s).startswith("make registry-login")]


def make_calls(job: dict) -> list[tuple[str, str]]:
    return [(m[1], m[2].strip()) for m in (MAKE.match(command(s)) for s in make_steps(job))]


@pytest.mark.parametrize("name", ["azure-pipelines.yml", DEPLOY_TEMPLATE])
def test_azure_accepts_the_pipeline_schema(project: Path, schema_errors, name: str) -> None:
    schema = ("--builtin-schema", "vendor.azure-pipelines", "--regex-variant", "nonunicode")
    assert schema_errors((*schema, "--data-transform", "azure-pipelines"), project, name) == []


def test_every_environment_deploys_with_the_one_stage_template(project: Path) -> None:
    """staging and production are the same stage, written once: .azure-pipelines/deploy.yml."""
    raw = yaml.safe_load((project / "azure-pipelines.yml").read_text())["stages"]
    deploys = [stage for stage in raw if "template" in stage]
    environments = [stage for stage in STAGES.release_stages if stage["env"]]
    previous = STAGES.release_stages[0]["name"]
    for stage, deploy in zip(environments, deploys, strict=True):
        assert deploy["template"] == DEPLOY_TEMPLATE
        assert deploy["parameters"]["environment"] == stage["env"]
        assert deploy["parameters"]["dependsOn"] == previous
        previous = stage["name"]
    template = yaml.safe_load((project / DEPLOY_TEMPLATE).read_text())
    # Each environment deploys as its own CI identity: on Azure with its service connection,
    # elsewhere with its key (AWS: its variable group and role; Google Cloud: its key file).
    identity = {
        "azure": ["serviceConnection"],
        "aws": ["variableGroup", "roleVariable"],
        "gcp": ["keyFile"],
        "": [],
    }[stored_answers(project)["deploy_cloud"]]
    assert [p["name"] for p in template["parameters"]] == [
        "environment",
        "dependsOn",
        "script",
        *identity,
    ]
    (stage,) = template["stages"]
    (job,) = stage["jobs"]
    assert job["environment"] == "${{ parameters.environment }}"


def test_triggers_are_main_its_pull_requests_and_the_answered_schedule(project: Path) -> None:
    cfg = config(project)
    assert cfg["trigger"] == {"branches": {"include": ["main"]}}
    assert cfg["pr"] == {"branches": {"include": ["main"]}}
    (schedule,) = cfg["schedules"]
    assert schedule["cron"] == stored_answers(project)["retrain_schedule"]
    assert schedule["branches"] == {"include": ["main"]}
    assert schedule["always"] == "true"  # monitor even when no commit came in
    assert cfg["parameters"] == [
        {
            "name": "retrain",
            "displayName": "Monitor, retrain on drift (instead of CI/CD)",
            "type": "boolean",
            "default": "false",
        }
    ]


def test_pr_stages_run_in_order_and_hand_the_pipeline_outputs_on(project: Path) -> None:
    by_name = stages(project)
    names = [stage["name"] for stage in STAGES.pr_stages]
    assert list(by_name)[: len(names)] == names
    assert by_name[names[0]]["condition"] == NOT_RETRAINING
    for previous, name in zip(names, names[1:], strict=False):
        assert by_name[name]["dependsOn"] == previous
    for stage in STAGES.pr_stages:
        (job, *_) = by_name[stage["name"]]["jobs"]
        assert make_calls(job) == [(t, "") for t in stage["targets"]]
    train = by_name["train"]["jobs"][0]
    assert {
        "publish": "$(Build.ArtifactStagingDirectory)/pipeline",
        "artifact": "pipeline",
    } in steps(train)
    gate = by_name[names[-1]]["jobs"][0]
    assert {"download": "current", "artifact": "pipeline"} in steps(gate)
    assert {
        "publish": "reports",
        "artifact": "reports",
        "condition": "succeededOrFailed()",
    } in steps(gate)


def test_the_report_is_posted_by_a_job_that_runs_no_project_code(project: Path) -> None:
    jobs = stages(project)[STAGES.pr_stages[-1]["name"]]["jobs"]
    comment = next(job for job in jobs if job["job"] == "comment")
    assert "eq(variables['Build.Reason'], 'PullRequest')" in comment["condition"]
    assert steps(comment)[0] == {"checkout": "none"}
    assert not make_steps(comment)
    post = steps(comment)[-1]
    assert post["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    assert (
        "/pullRequests/$(System.PullRequest.PullRequestId)/threads?api-version=7.1"
        in post["script"]
    )
    assert "reports/report.md" in post["script"]


def test_release_deploys_through_environments_after_the_gate_on_main(project: Path) -> None:
    given = stored_answers(project)
    by_name = stages(project)
    previous = STAGES.pr_stages[-1]["name"]
    for stage in STAGES.release_stages:
        azure = by_name[stage["name"]]
        assert azure["dependsOn"] == previous
        (job,) = azure["jobs"]
        if stage["env"]:
            assert job["deployment"] == stage["name"] and job["environment"] == stage["env"]
        else:
            assert job["job"] == stage["name"]
            assert "eq(variables['Build.SourceBranch'], 'refs/heads/main')" in azure["condition"]
        env = f"ENV={stage['env']} " if stage["env"] else ""
        assert make_calls(job) == [
            (t, f'{env}REGISTRY="$REGISTRY" TAG="$TAG"') for t in stage["targets"]
        ]
        if given["deploy_target"] == "docker_compose":
            if stage["env"]:
                assert job["condition"] == "ne(variables['DEPLOY_HOST'], '')"
                assert any(s.get("task") == "InstallSSHKey@0" for s in steps(job))
                assert make_steps(job)[0]["env"] == {"DOCKER_HOST": "ssh://$(DEPLOY_HOST)"}
        elif given["deploy_target"] == "kubernetes":
            if stage["env"]:
                assert job["condition"] == "ne(variables['REGISTRY'], '')"
                (download,) = [s for s in steps(job) if s.get("task") == "DownloadSecureFile@1"]
                assert download["inputs"] == {"secureFile": "kubeconfig"}
                kubeconfig = f"$({download['name']}.secureFilePath)"
                assert make_steps(job)[0]["env"] == {"KUBECONFIG": kubeconfig}
        elif given["deploy_cloud"] == "aws":
            assert job["condition"] == "ne(variables['AWS_ROLE_ARN'], '')"
            if stage["env"]:
                assert make_steps(job)[0]["env"] == AWS_ENV
            # ECR: the Makefile's registry-login as the CI role, just before the build.
            logins = registry_logins(job)
            assert [login["env"] for login in logins] == ([] if stage["env"] else [AWS_ENV])
            if logins:
                targets = [command(s) for s in steps(job) if command(s).startswith("make ")]
                build = next(i for i, c in enumerate(targets) if c.startswith("make build"))
                assert targets[build - 1] == 'make registry-login REGISTRY="$REGISTRY"'
        else:
            assert job["condition"] == "ne(variables['REGISTRY'], '')"
            # Docker logs in with the Makefile's registry-login just before the build.
            logins = registry_logins(job)
            assert len(logins) == (0 if stage["env"] else 1)
            if logins:
                targets = [command(s) for s in steps(job) if command(s).startswith("make ")]
                build = next(i for i, c in enumerate(targets) if c.startswith("make build"))
                assert targets[build - 1] == 'make registry-login REGISTRY="$REGISTRY"'
            if given["deploy_cloud"] == "azure":
                # Every make call of a release runs signed in to Azure: production with the
                # production identity's service connection, the others with the release one.
                suffix = "-production" if stage["name"] == "production" else ""
                for step in make_steps(job) + logins:
                    assert step["task"] == "AzureCLI@2"
                    assert step["inputs"]["azureSubscription"] == f"ml-project-azure{suffix}"
            else:
                # Google Cloud's key: the release identity's, production's for production.
                suffix = "-production" if stage["name"] == "production" else ""
                key = [s for s in steps(job) if s.get("task") == "DownloadSecureFile@1"]
                assert key[0]["inputs"] == {"secureFile": f"gcp-ci{suffix}-key.json"}
        previous = stage["name"]
    assert config(project)["variables"]["TAG"] == "$(Build.SourceVersion)"


def test_the_template_update_runs_on_the_schedule_with_the_jobs_token(project: Path) -> None:
    by_name = stages(project)
    for stage in STAGES.update_stages:
        azure = by_name[stage["name"]]
        assert azure["dependsOn"] == []
        assert azure["condition"] == "eq(variables['Build.Reason'], 'Schedule')"
        (job,) = azure["jobs"]
        assert make_calls(job) == [(t, "") for t in stage["targets"]]
        (step,) = make_steps(job)
        assert step["env"] == {"TEMPLATE_UPDATE_TOKEN": "$(System.AccessToken)"}
    readme = (project / "README.md").read_text()
    assert "*Contribute*, *Create branch* and *Contribute to pull requests*" in readme


def test_monitor_runs_on_the_schedule_or_by_hand_only(project: Path) -> None:
    given = stored_answers(project)
    by_name = stages(project)
    switch = {"docker_compose": "DEPLOY_HOST", "aws": "AWS_ROLE_ARN"}.get(
        given["deploy_target"], {"aws": "AWS_ROLE_ARN"}.get(given["deploy_cloud"], "REGISTRY")
    )
    for stage in STAGES.retrain_stages:
        azure = by_name[stage["name"]]
        assert azure["dependsOn"] == []
        assert azure["condition"] == (
            "or(eq(variables['Build.Reason'], 'Schedule'), ${{ parameters.retrain }})"
        )
        (job,) = azure["jobs"]
        assert make_calls(job) == [(t, "") for t in stage["targets"]]
        # It reads production as its deploy does, skipped while there is none.
        assert job["condition"] == f"ne(variables['{switch}'], '')"
        (monitor,) = make_steps(job)
        env = monitor.get("env", {})
        if given["deploy_target"] == "docker_compose":
            assert env["DOCKER_HOST"] == "ssh://$(DEPLOY_HOST)"
            assert any(s.get("task") == "InstallSSHKey@0" for s in steps(job))
        elif given["deploy_target"] == "kubernetes":
            assert env["KUBECONFIG"] == "$(kubeconfig.secureFilePath)"
        # ... and what the DVC remote needs, for a retraining.
        if given["uses_aws"]:
            assert {k: env[k] for k in AWS_ENV} == AWS_ENV
        elif given["on_keys"]:
            assert {k: env[k] for k in KEYS_ENV} == KEYS_ENV
        if given["data_store"] == "azure_blob" or given["deploy_cloud"] == "azure":
            assert monitor["task"] == "AzureCLI@2"
        if given["deploy_cloud"] == "aws" and given["on_keys"]:
            handover = next(s for s in steps(job) if "dvc remote modify --local" in command(s))
            assert handover["env"] == KEYS_ENV
        assert {
            "publish": "reports",
            "artifact": f"{stage['name']}-reports",
            "condition": "succeededOrFailed()",
        } in steps(job)


def test_caches_and_full_history(project: Path) -> None:
    cfg = config(project)
    assert cfg["variables"]["UV_CACHE_DIR"] == "$(Pipeline.Workspace)/.cache/uv"
    # The template update runs the pinned Copier through uvx: no project, no caches.
    updates = {stage["name"] for stage in STAGES.update_stages}
    for stage in cfg["stages"]:
        for job in stage["jobs"]:
            if not make_steps(job) or stage["stage"] in updates:
                continue
            caches = {
                s["inputs"]["key"]: s["inputs"] for s in steps(job) if s.get("task") == "Cache@2"
            }
            assert caches['uv | "$(Agent.OS)" | uv.lock']["path"] == "$(UV_CACHE_DIR)"
            targets = {t for t, _ in make_calls(job)}
            dvc = caches.get('dvc | "$(Agent.OS)" | dvc.lock')
            assert bool(dvc) == bool(targets & {"pipeline", "push", "monitor"})
            checkout = next(s for s in steps(job) if "checkout" in s)
            assert checkout["checkout"] == "self"
            if "deployment" not in job:
                assert checkout["fetchDepth"] == "0"


def test_aws_and_store_keys_come_from_secret_variables(project: Path) -> None:
    given = stored_answers(project)
    for stage in config(project)["stages"]:
        for job in stage["jobs"]:
            for step in make_steps(job):
                target = MAKE.match(command(step))[1]
                # The MLflow secrets of the release's logging steps: test_tracking.py.
                env = {k: v for k, v in step.get("env", {}).items() if "MLFLOW" not in k}
                if target in ("pipeline", "push") and given["on_s3"]:
                    assert env == AWS_ENV
                elif target in ("pipeline", "push") and given["on_keys"]:
                    assert env == KEYS_ENV
                elif target in ("deploy", "monitor") and given["deploy_cloud"] == "aws":
                    assert env == AWS_ENV
                elif target == "monitor" and given["on_s3"]:
                    assert {k: env[k] for k in AWS_ENV} == AWS_ENV
                elif target == "monitor" and given["on_keys"]:
                    assert {k: env[k] for k in KEYS_ENV} == KEYS_ENV
                else:
                    assert not set(env) & {"AWS_ACCESS_KEY_ID", "AWS_PROFILE"}
            profile = [s for s in steps(job) if s.get("displayName") == "AWS profile"]
            uses_role = any(s.get("env", {}).get("AWS_PROFILE") == "ci" for s in steps(job))
            assert bool(profile) == uses_role
            if profile:
                assert given["aws_region"] in profile[0]["script"]
                assert profile[0]["env"] == {
                    "AWS_CI_ACCESS_KEY_ID": "$(AWS_CI_ACCESS_KEY_ID)",
                    "AWS_CI_SECRET_ACCESS_KEY": "$(AWS_CI_SECRET_ACCESS_KEY)",
                    "CI_ROLE_ARN": profile[0]["env"]["CI_ROLE_ARN"],
                }
                roles = {f"$({name})" for name in PLAN["clouds"]["aws"]["identity"].values()}
                assert profile[0]["env"]["CI_ROLE_ARN"] in roles | {
                    "$(${{ parameters.roleVariable }})"
                }


def test_steps_with_the_ci_profile_act_as_the_role_not_as_the_user(render, tmp_path) -> None:
    """The AWS profile step run as written (its secret variables given), then the SDK in a
    step's env: the credentials it resolves are the role's (assume-role), not the IAM user's
    key, whose only right is to assume that role."""
    answers = next(
        a
        for a in ANSWER_SETS.values()
        if (a.get("data_store"), a.get("deploy_target")) == ("s3", "aws_ecs")
    )
    project = render(answers)
    (profile,) = {
        s["script"]: s
        for stage in config(project)["stages"]
        for job in stage["jobs"]
        for s in steps(job)
        if s.get("displayName") == "AWS profile"
    }.values()
    secrets = {"AWS_CI_ACCESS_KEY_ID": "AKIAUSERKEY", "AWS_CI_SECRET_ACCESS_KEY": "user-secret"}
    role = "arn:aws:iam::123456789012:role/ml-project-ci"
    run(
        ["bash", "-c", profile["script"]],
        tmp_path,
        HOME=str(tmp_path),
        CI_ROLE_ARN=role,
        **secrets,
    )
    assert oct((tmp_path / ".aws" / "credentials").stat().st_mode & 0o777) == "0o600"
    resolve = (
        "import boto3; c = boto3.Session().get_credentials(); "
        "print(c.method, boto3.Session()._session.get_scoped_config()['role_arn'])"
    )
    step_env = {"HOME": str(tmp_path), **AWS_ENV}
    found = run([sys.executable, "-c", resolve], tmp_path, **step_env).stdout.split()
    assert found == ["assume-role", role]


def test_no_secret_value_is_rendered(project: Path) -> None:
    for line in (project / "azure-pipelines.yml").read_text().splitlines():
        if re.search(r"\b[A-Z_]*(KEY|SECRET|TOKEN|PASSWORD)(_ID)?\s*[:=]\s*\S", line):
            assert "$(" in line, line


def test_readme_says_where_approvals_and_permissions_are_set(project: Path) -> None:
    readme = (project / "README.md").read_text()
    assert "*Approvals and checks*" in readme
    assert "*Contribute to pull requests*" in readme
    assert f"`{stored_answers(project)['retrain_schedule']}`" in readme


# --- The OIDC tokens of this vendor's runs, which tests/test_ci_policy.py tries on every
# identity the rendered Terraform trusts (their claims, from the vendor's documentation).
# Test values of the Terraform inputs this vendor's trust needs and has no default for.
TERRAFORM_INPUTS = {"azure_devops_organization_id": "7e0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"}


def service_connection_token(values: dict, connection: str) -> dict:
    """The subject of a service connection's token: sc://<organization>/<project>/<name>."""
    org, devops_project = values["azure_devops_organization"], values["azure_devops_project"]
    return {"sub": f"sc://{org}/{devops_project}/{connection}"}


def pr_service_connections(project: Path) -> set[str]:
    """azureSubscription of every step of the stages before the first main-only stage."""
    pipeline = yaml.safe_load((project / "azure-pipelines.yml").read_text())
    names: set[str] = set()
    for stage in pipeline["stages"]:
        if "template" in stage or "refs/heads/main" in str(stage.get("condition", "")):
            break
        for job in stage["jobs"]:
            for step in job.get("steps", []):
                if "azureSubscription" in step.get("inputs", {}):
                    names.add(step["inputs"]["azureSubscription"])
    return names


def oidc_pull_request_tokens(values: dict, project: Path) -> list[dict]:
    """The service connections the pull request stages sign in with."""
    if "azure_devops_organization" not in values:
        return []
    return [service_connection_token(values, name) for name in pr_service_connections(project)]


def oidc_release_tokens(values: dict) -> list[dict]:
    if "azure_devops_organization" not in values:
        return []
    return [service_connection_token(values, values["azure_devops_service_connection"])]


def oidc_production_token(values: dict, main: dict) -> dict:
    return service_connection_token(values, values["azure_devops_production_service_connection"])


# --- The keys of this vendor's runs, where it has no OIDC to a cloud (AWS, Google Cloud),
# which tests/test_ci_policy.py checks against what each identity may do.
def stage_scope(stage: dict) -> str:
    """The runs a stage belongs to, from its conditions: main's or the schedule's (release),
    the production environment's deploy (production), or also pull requests'."""
    jobs = stage["jobs"]
    if any(job.get("environment") == "production" for job in jobs):
        return "production"
    condition = str(stage.get("condition", ""))
    protected = (
        "eq(variables['Build.SourceBranch'], 'refs/heads/main')",
        "eq(variables['Build.Reason'], 'Schedule')",
    )
    if any(job.get("deployment") for job in jobs) or any(c in condition for c in protected):
        return "release"
    return "pull_request"


def key_scopes(project: Path, cloud: str) -> dict[str, set[str]]:
    """Per run scope, the CI identities whose key its jobs are given: the variable groups
    they name (AWS: <project>-<suffix>), and the secure files they download (Google Cloud:
    gcp-<suffix>-key.json), read from the compiled pipeline (templates expanded). A stage
    runs in the scope of the stage it depends on, where its own condition does not say."""
    scopes: dict[str, set[str]] = {scope: set() for scope in KEY_SCOPES}
    by_name: dict[str, str] = {}
    for stage in config(project)["stages"]:
        scope = stage_scope(stage)
        if scope == "pull_request" and by_name.get(stage.get("dependsOn")) in (
            "release",
            "production",
        ):
            scope = by_name[stage["dependsOn"]]
        by_name[stage["stage"]] = scope
        for job in stage["jobs"]:
            variables = [*(stage.get("variables") or []), *(job.get("variables") or [])]
            named = [
                item["group"] for item in variables if isinstance(item, dict) and "group" in item
            ]
            strategy = job.get("strategy", {}).get("runOnce", {}).get("deploy", {})
            for step in job.get("steps", []) + strategy.get("steps", []):
                if step.get("task") == "DownloadSecureFile@1":
                    named.append(step["inputs"]["secureFile"])
            identities = {identity_of(n) for n in named} | {
                identity_of(n, "{suffix}-key.json") for n in named
            }
            scopes[scope] |= identities - {None}
    return scopes


def test_the_readme_says_where_each_key_is_kept(project: Path) -> None:
    """Every variable group and secure file the pipeline names is in the README, with the
    branch control that keeps it on main where it is not the pull-request one."""
    readme = (project / "README.md").read_text()
    named = {
        item["group"]
        for stage in config(project)["stages"]
        for job in stage["jobs"]
        for item in job.get("variables") or []
        if isinstance(item, dict) and "group" in item
    } | {
        step["inputs"]["secureFile"]
        for stage in config(project)["stages"]
        for job in stage["jobs"]
        for step in job.get("steps", [])
        + job.get("strategy", {}).get("runOnce", {}).get("deploy", {}).get("steps", [])
        if step.get("task") == "DownloadSecureFile@1"
        and step["inputs"]["secureFile"].startswith("gcp-")
    }
    keys = readme[readme.index("**CI keys**") :] if named else ""
    for name in named:
        assert f"`{name}`" in keys, name
        if identity_of(name) != "ci_pr" and identity_of(name, "{suffix}-key.json") != "ci_pr":
            line = keys[keys.index(f"`{name}`") :].split("\n  - ")[0]
            assert "*Branch control*" in line, line
