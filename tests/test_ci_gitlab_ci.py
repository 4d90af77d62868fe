"""The GitLab CI/CD adapter: the rendered .gitlab-ci.yml passes GitLab's schema, is read by
gitlab-ci-local (a real implementation of extends, !reference and rules) the way the README
promises, and its merge request jobs really run lint, tests, the pipeline and the gate."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import (
    DATA_CLOUDS,
    PLAN,
    STAGES,
    TEMPLATE,
    TOOLS,
    git_commit_all,
    run,
    stored_answers,
    tool,
    vendor_answer_sets,
)

GCL = TEMPLATE / ".ci" / "tools" / "gitlab-ci-local"
VENDOR = {"ci_provider": "gitlab_ci"}
ANSWER_SETS = vendor_answer_sets("gitlab_ci", retrain_schedule="*/30 2-4 1,15 * 1-5")
PR_JOBS = [stage["name"] for stage in STAGES.pr_stages]
RELEASE_JOBS = [stage["name"] for stage in STAGES.release_stages]
RETRAIN_JOBS = [stage["name"] for stage in STAGES.retrain_stages]
UPDATE_JOBS = [stage["name"] for stage in STAGES.update_stages]
ON_MAIN = '$CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE != "schedule"'
# gitlab-ci-local warns when a predefined variable is set; these are set on purpose.
PREDEFINED = "CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_IID,CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
MR = [
    "--variable=CI_PIPELINE_SOURCE=merge_request_event",
    "--variable=CI_MERGE_REQUEST_IID=1",
    "--variable=CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main",
    # Merge request pipelines run on the merge request's ref, not on a branch.
    "--unset-variable=CI_COMMIT_BRANCH",
]
# The CI/CD variable that turns on the jobs reaching the service, once it is configured.
SWITCH = {
    "docker_compose": "DEPLOY_HOST=deploy@example.com",
    "kubernetes": "KUBECONFIG_DATA=YXBpVmVyc2lvbjogdjEK",
    "aws_ecs": "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ml-project-ci",
    "aws_sagemaker": "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ml-project-ci",
    "gcp_cloud_run": "GCP_WORKLOAD_IDENTITY_PROVIDER=projects/1/locations/global/"
    "workloadIdentityPools/ci/providers/gitlab",
    "azure_container_apps": "AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000001",
}
# The hidden job that logs in to each cloud.
CLOUD_JOB = {"aws": ".aws", "gcp": ".gcp", "azure": ".azure"}


def gcl_env(**extra: str) -> dict[str, str]:
    """gitlab-ci-local's Node 22 first, then the test environment's tools (uv)."""
    if not (GCL / "node_modules" / ".bin" / "gitlab-ci-local").exists():
        pytest.fail(f"install gitlab-ci-local first: npm ci --prefix {GCL.relative_to(TEMPLATE)}")
    path = os.pathsep.join([str(GCL / "node_modules" / ".bin"), str(TOOLS), os.environ["PATH"]])
    return {"PATH": path, "DVC_NO_ANALYTICS": "1", "GCL_IGNORE_PREDEFINED_VARS": PREDEFINED}


def gcl(repo: Path, *args: str, **env: str):
    return run(["gitlab-ci-local", "--no-color", *args], repo, **gcl_env(**env))


def make_repo(project: Path, work: Path) -> Path:
    """The rendered project as a git repository whose `origin` is a local bare repository
    holding main (jobs fetch it), and whose `gcl-origin` names a GitLab project for
    gitlab-ci-local's predefined variables."""
    repo = work / "project"
    shutil.copytree(project, repo)
    git_commit_all(repo, "Start from copier-mlops")
    run(["git", "init", "-q", "--bare", str(work / "origin.git")], work)
    run(["git", "remote", "add", "origin", str(work / "origin.git")], repo)
    run(["git", "push", "-q", "origin", "main"], repo)
    run(["git", "remote", "set-head", "origin", "main"], repo)
    run(["git", "remote", "add", "gcl-origin", "https://gitlab.example.com/my-org/ml.git"], repo)
    return repo


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


@pytest.fixture(scope="module")
def repo(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(project, tmp_path_factory.mktemp("gitlab"))


@pytest.fixture(scope="module")
def expanded(repo: Path) -> dict:
    """The file as GitLab reads it: extends, !reference and anchors resolved."""
    return yaml.safe_load(gcl(repo, "--preview").stdout)


def jobs_when(repo: Path, *args: str) -> dict[str, str]:
    """Which jobs a pipeline of this kind creates: {job: when}, `never` left out."""
    listed = json.loads(gcl(repo, "--list-json", *args).stdout)
    return {job["name"]: job["when"] for job in listed if job["when"] != "never"}


def make_calls(job: dict) -> list[str]:
    """The stage's make calls; docker's login to the registry is setup, not a stage."""
    return [
        line
        for line in job["script"]
        if line.startswith("make ") and not line.startswith("make registry-login")
    ]


def switch(project: Path) -> str:
    return "--variable=" + SWITCH[stored_answers(project)["deploy_target"]]


def test_gitlab_accepts_the_schema(project: Path, schema_errors) -> None:
    schema = ("--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci")
    assert schema_errors(schema, project, ".gitlab-ci.yml") == []


def test_stages_are_the_stage_list(expanded: dict) -> None:
    stages = [*PR_JOBS, *RELEASE_JOBS, *RETRAIN_JOBS, *UPDATE_JOBS]
    assert expanded["stages"] == [".pre", *stages, ".post"]


def test_merge_requests_run_the_pr_stages_in_order(repo: Path, expanded: dict) -> None:
    assert list(jobs_when(repo, *MR)) == [*PR_JOBS, "comment"]
    calls = [call for name in PR_JOBS for call in make_calls(expanded[name])]
    assert calls == [f"make {target}" for target in STAGES.pr_targets]


def test_a_branch_runs_only_through_its_merge_request(repo: Path) -> None:
    run(["git", "checkout", "-q", "-b", "feature"], repo)
    try:
        assert jobs_when(repo) == {}
    finally:
        run(["git", "checkout", "-q", "main"], repo)


def test_main_checks_then_releases_with_production_by_hand(repo: Path, project: Path) -> None:
    expected = dict.fromkeys(PR_JOBS + RELEASE_JOBS, "on_success") | {
        stage["name"]: "manual" for stage in STAGES.release_stages if stage["approval"]
    }
    assert jobs_when(repo, switch(project)) == expected
    # Unconfigured, the release jobs that need a Docker host or AWS are left out.
    unconfigured = jobs_when(repo)
    assert set(PR_JOBS) <= set(unconfigured) and "staging" not in unconfigured


def test_the_environments_extend_one_deploy_job(project: Path) -> None:
    """Staging and production are one hidden job, `.deploy`, for another environment."""
    text = (project / ".gitlab-ci.yml").read_text()
    assert "\n.deploy:\n" in text
    for stage in STAGES.release_stages:
        if stage["env"]:
            job = f"\n{stage['name']}:\n  stage: {stage['name']}\n  extends: .deploy\n"
            assert job in text, stage["name"]


def test_the_schedule_only_monitors(repo: Path, project: Path, expanded: dict) -> None:
    source = "--variable=CI_PIPELINE_SOURCE=schedule"
    assert jobs_when(repo, source, switch(project)) == dict.fromkeys(RETRAIN_JOBS, "on_success")
    # Until the service is configured there is nothing to read: a schedule runs no job.
    assert jobs_when(repo, source) == {}
    calls = [call for name in RETRAIN_JOBS for call in make_calls(expanded[name])]
    assert calls == [f"make {target}" for target in STAGES.retrain_targets]
    cron = stored_answers(project)["retrain_schedule"]
    assert f'cron "{cron}", time zone UTC' in (project / ".gitlab-ci.yml").read_text()
    assert f"`{cron}`" in (project / "README.md").read_text()


def test_the_template_update_schedule_runs_the_update_alone(
    repo: Path, project: Path, expanded: dict
) -> None:
    update = ["--variable=CI_PIPELINE_SOURCE=schedule", "--variable=TEMPLATE_UPDATE=1"]
    expected = dict.fromkeys(UPDATE_JOBS, "on_success")
    assert jobs_when(repo, *update, switch(project)) == expected
    calls = [call for name in UPDATE_JOBS for call in make_calls(expanded[name])]
    assert calls == [f"make {target}" for target in STAGES.update_targets]
    # Copier updates a clean work tree only: uv's cache stays out of the checkout.
    assert all(
        expanded[name]["variables"]["UV_CACHE_DIR"] == "/tmp/uv-cache" for name in UPDATE_JOBS
    )
    readme = (project / "README.md").read_text()
    assert "the variable `TEMPLATE_UPDATE` = `1`" in readme and "`TEMPLATE_UPDATE_TOKEN`" in readme


def test_jobs_fetch_full_history_and_origin_main(expanded: dict) -> None:
    assert expanded["variables"]["GIT_DEPTH"] == "0"
    fetch = "git fetch --quiet origin +refs/heads/main:refs/remotes/origin/main"
    for name in [*PR_JOBS, RELEASE_JOBS[0], *RETRAIN_JOBS]:
        script = expanded[name]["before_script"]
        assert script.index(fetch) < script.index("make install"), name


def test_uv_and_dvc_caches_are_keyed_on_their_lock_files(expanded: dict) -> None:
    assert expanded["variables"]["UV_CACHE_DIR"] == ".uv-cache"
    for name in [*PR_JOBS, RELEASE_JOBS[0], *RETRAIN_JOBS]:
        caches = {c["key"]["prefix"]: c for c in expanded[name]["cache"]}
        assert caches["uv"]["key"]["files"] == ["uv.lock"], name
        assert caches["uv"]["paths"] == ["$UV_CACHE_DIR"], name
        assert caches["dvc"]["key"]["files"] == ["dvc.lock"], name
        assert caches["dvc"]["paths"] == [".dvc/cache"], name


def test_jobs_use_the_projects_python(expanded: dict, project: Path) -> None:
    version = stored_answers(project)["python_version"]
    for name in [*PR_JOBS, *RELEASE_JOBS, *RETRAIN_JOBS]:
        image = expanded[name]["image"]["name"]
        pinned = rf"python:{re.escape(version)}\.\d+-bookworm(@sha256:[0-9a-f]{{64}})?"
        assert re.fullmatch(pinned, image), image


def test_the_report_is_kept_and_posted_on_the_merge_request(expanded: dict) -> None:
    for name in PR_JOBS:
        assert expanded[name]["artifacts"]["paths"] == ["reports/"]
        assert expanded[name]["artifacts"]["when"] == "always"
    comment = expanded["comment"]
    assert [(need["job"], need["artifacts"]) for need in comment["needs"]] == [("gate", True)]
    assert comment["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    (script,) = comment["script"]
    # Without the token the job says so and succeeds: the pipeline stays green.
    assert 'if [ -z "${REPORT_TOKEN:-}" ]' in script
    assert '--header "PRIVATE-TOKEN: $REPORT_TOKEN"' in script
    assert '--data-urlencode "body@reports/report.md"' in script
    assert "/merge_requests/$CI_MERGE_REQUEST_IID/notes" in script


def test_releases_push_to_the_registry_of_the_deploy_target(expanded: dict, project: Path) -> None:
    deploy = stored_answers(project)["deploy_target"]
    # The project's container registry, as for compose; the cluster pulls from it itself.
    own_registry = deploy in ("docker_compose", "kubernetes")
    for stage in STAGES.release_stages:
        job = expanded[stage["name"]]
        assert job["interruptible"] is False
        assert job["variables"]["TAG"] == "$CI_COMMIT_SHA"
        env = f" ENV={stage['env']}" if stage["env"] else ""
        assert make_calls(job) == [
            f'make {target}{env} REGISTRY="$REGISTRY" TAG="$TAG"' for target in stage["targets"]
        ]
        condition = "$" + SWITCH[deploy].split("=")[0]
        condition = condition if stage["env"] or not own_registry else ""
        (rule,) = job["rules"]
        assert rule["if"] == " && ".join(filter(None, [ON_MAIN, condition]))
        assert rule.get("when", "on_success") == ("manual" if stage["approval"] else "on_success")
        if stage["env"]:
            assert job["environment"]["name"] == stage["env"]
            assert job["resource_group"] == stage["env"]
        else:
            assert [s["name"] for s in job["services"]] == [PLAN["images"]["dind"]]
            assert job["variables"]["DOCKER_HOST"] == "tcp://docker:2376"
        login = [line for line in job["before_script"] if "docker login" in line]
        if deploy == "kubernetes" and stage["env"]:
            assert job["variables"]["REGISTRY"] == "$CI_REGISTRY_IMAGE"
            assert login == []
            assert job["variables"]["KUBECONFIG"] == "/tmp/kubeconfig"
            script = job["before_script"]
            assert 'printf \'%s\' "$KUBECONFIG_DATA" | base64 --decode > "$KUBECONFIG"' in script
            assert script.index("make install") > script.index(
                'install -m 600 /dev/null "$KUBECONFIG"'
            )
        elif own_registry:
            assert job["variables"]["REGISTRY"] == "$CI_REGISTRY_IMAGE"
            assert login == [
                'echo "$CI_REGISTRY_PASSWORD" | docker login --username "$CI_REGISTRY_USER"'
                ' --password-stdin "$CI_REGISTRY"'
            ]
            if stage["env"]:
                assert job["variables"]["DOCKER_HOST"] == "ssh://$DEPLOY_HOST"
        else:
            # REGISTRY is a CI/CD variable from `terraform output ci_variables`.
            assert "REGISTRY" not in job["variables"]
            assert login == []
            # ECR, Artifact Registry and ACR: the project's own login, with the job's
            # credentials, just before the build.
            logins = [line for line in job["script"] if line.startswith("make registry-login")]
            if stage["env"]:
                assert logins == []
            else:
                assert logins == ['make registry-login REGISTRY="$REGISTRY"']
                script = job["script"]
                assert script.index(logins[0]) + 1 == script.index(
                    'make build REGISTRY="$REGISTRY" TAG="$TAG"'
                )


def test_aws_is_reached_through_gitlab_oidc_exactly_where_needed(
    expanded: dict, project: Path
) -> None:
    given = stored_answers(project)
    dvc_on_aws = given["on_s3"]
    for name in [*PR_JOBS, *RELEASE_JOBS, *RETRAIN_JOBS]:
        job = expanded[name]
        release = next((s for s in STAGES.release_stages if s["name"] == name), None)
        service_on_aws = given["deploy_cloud"] == "aws"
        # The scheduled job reads the service's inputs as well as the DVC remote.
        needs_aws = dvc_on_aws or (name in RETRAIN_JOBS and service_on_aws)
        if release:
            needs_aws = service_on_aws or (not release["env"] and dvc_on_aws)
        assert ("AWS_ID_TOKEN" in job.get("id_tokens", {})) == needs_aws, name
        if needs_aws:
            # The production job asks for the audience only the production role accepts.
            production = "$" + PLAN["identities"]["production"]["audience_variable"]
            audience = production if name == "production" else "sts.amazonaws.com"
            assert job["id_tokens"] == {"AWS_ID_TOKEN": {"aud": audience}}
            token_file = job["variables"]["AWS_WEB_IDENTITY_TOKEN_FILE"]
            write = 'printf \'%s\' "$AWS_ID_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE"'
            assert job["before_script"].index(write) < job["before_script"].index("make install")
            assert token_file.startswith("/tmp/")
            assert job["variables"]["AWS_REGION"] == given["aws_region"]
            assert "AWS_ROLE_ARN" not in job["variables"]  # a CI/CD variable, never rendered


def test_an_s3_compatible_remote_never_shadows_the_aws_role(expanded: dict, project: Path) -> None:
    """Static keys in AWS_ACCESS_KEY_ID win over the role's web identity: when the service
    runs on AWS, the store's keys have names of their own and go to DVC's config."""
    given = stored_answers(project)
    on_keys = given["on_keys"]
    service_on_aws = given["deploy_cloud"] == "aws"
    for name in [*PR_JOBS, *RELEASE_JOBS, *RETRAIN_JOBS]:
        script = "\n".join(expanded[name].get("before_script", []))
        moves_keys = "dvc remote modify --local storage access_key_id" in script
        pulls = "make install" in script and name not in ("staging", "production", "comment")
        assert moves_keys == (on_keys and service_on_aws and pulls), name
        if moves_keys:
            assert '"$DVC_ACCESS_KEY_ID"' in script and '"$DVC_SECRET_ACCESS_KEY"' in script


def test_google_cloud_and_azure_are_reached_through_gitlab_oidc_where_needed(
    expanded: dict, project: Path
) -> None:
    given = stored_answers(project)
    service = given["deploy_cloud"]
    dvc = "" if given.get("s3_endpoint_url") else DATA_CLOUDS.get(given["data_store"], "")
    tokens = {"gcp": "GCP_ID_TOKEN", "azure": "AZURE_ID_TOKEN"}
    for name in [*PR_JOBS, *RELEASE_JOBS, *RETRAIN_JOBS]:
        job = expanded[name]
        release = next((s for s in STAGES.release_stages if s["name"] == name), None)
        if release:
            cloud = service or ("" if release["env"] else dvc)
        else:
            # Merge requests reach the DVC remote; the schedule also reads the service.
            cloud = dvc or (service if name in RETRAIN_JOBS else "")
        for each, token in tokens.items():
            assert (token in job.get("id_tokens", {})) == (cloud == each), f"{name}: {each}"
        if cloud == "gcp":
            assert job["variables"]["GOOGLE_APPLICATION_CREDENTIALS"] == "/tmp/gcp-credentials.json"
        if cloud == "azure":
            # The production job asks for the audience only the production identity accepts.
            audience = "$" + PLAN["identities"]["production"]["audience_variable"]
            expected = audience if name == "production" else "api://AzureADTokenExchange"
            assert job["id_tokens"]["AZURE_ID_TOKEN"] == {"aud": expected}
            assert job["variables"]["AZURE_FEDERATED_TOKEN_FILE"].startswith("/tmp/")
        if cloud in tokens:
            script = job["before_script"]
            login = next(i for i, line in enumerate(script) if f"${tokens[cloud]}" in line)
            assert login < script.index("make install"), name


def test_the_schedule_accesses_production_without_deploying(expanded: dict, project: Path) -> None:
    deploy = stored_answers(project)["deploy_target"]
    for stage in STAGES.retrain_stages:
        job = expanded[stage["name"]]
        if PLAN["targets"][deploy]["cloud"]:
            # The release identity reads the service; production's scoped variables (the
            # production identity and its audience) are the production deploy's alone.
            assert "environment" not in job
        else:
            # Production's scoped variables (kubeconfig, Docker host), no deployment recorded.
            assert job["environment"] == {"name": stage["env"], "action": "access"}
        assert job["interruptible"] is False
        assert job["artifacts"]["paths"] == ["reports/"]  # reports/drift.json
        if deploy == "docker_compose":
            assert job["variables"]["DOCKER_HOST"] == "ssh://$DEPLOY_HOST"
            assert 'install -m 600 "$DEPLOY_SSH_KEY" ~/.ssh/deploy_key' in job["before_script"]
        if deploy == "kubernetes":
            assert job["variables"]["KUBECONFIG"] == "/tmp/kubeconfig"
            assert (
                'printf \'%s\' "$KUBECONFIG_DATA" | base64 --decode > "$KUBECONFIG"'
                in (job["before_script"])
            )


def test_no_secret_value_is_rendered(project: Path) -> None:
    for line in (project / ".gitlab-ci.yml").read_text().splitlines():
        if re.match(r"\s*[A-Z_]*(KEY|SECRET|TOKEN|PASSWORD)[A-Z_]*:", line):
            assert re.search(r":\s*(\$\w+|/tmp/\S+)?$", line), line.strip()


def test_gitlab_trusts_only_this_project_in_terraform(project: Path) -> None:
    given = stored_answers(project)
    infra = project / "infra" / "aws"
    # repository_path is asked exactly when a cloud is used; infra/aws when it is AWS.
    assert (project / "infra").is_dir() == ("repository_path" in given)
    if not infra.is_dir():
        return
    assert sorted(p.name for p in infra.glob("ci*.tf")) == ["ci.tf"]
    text = (infra / "ci.tf").read_text()
    assert 'default     = "https://gitlab.com"' in (infra / "variables.tf").read_text()
    production = ", var.production_oidc_audience" if given["deploy_cloud"] == "aws" else ""
    assert f'client_id_list = ["sts.amazonaws.com"{production}]' in text
    assert 'variable = "${trimprefix(var.gitlab_url, "https://")}:aud"' in text
    # The release role: pipelines of main only (test_ci_policy.py checks the rest).
    assert 'values   = ["project_path:${var.repository_path}:ref_type:branch:ref:main"]' in text
    # terraform fmt and checkov scan this file in every combination once, in one run each:
    # tests/test_infra_every_combination.py.


@pytest.mark.e2e
def test_merge_request_pipeline_runs_for_real(
    default_gitlab: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The merge request jobs of the default project in gitlab-ci-local's shell executor:
    lint, tests, the DVC pipeline, then the gate against the champion on origin/main."""
    work = tmp_path_factory.mktemp("gitlab-mr")
    repo = make_repo(default_gitlab, work)
    # The champion: main with a trained model and its metrics, as after a first merge.
    run(["make", "install"], repo)
    run(["make", "pipeline"], repo)
    git_commit_all(repo, "Train the first model")
    run(["git", "push", "-q", "origin", "main"], repo)
    run(["git", "checkout", "-q", "-b", "tune-model"], repo)
    params = repo / "params.yaml"
    # A change that changes the model: the exported ONNX holds no max_iter, so more iterations
    # on a solver that converged already give the same bytes and DVC rightly skips evaluate.
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.9"))
    git_commit_all(repo, "Tune the model")
    shutil.rmtree(repo / ".venv")
    # Each job gets its own hard-linked copy of the warm uv cache: jobs prune their cache
    # after `make install` as on GitLab, and nothing is downloaded.
    uv_cache = Path(run([tool("uv"), "cache", "dir"], repo).stdout.strip())
    for name in PR_JOBS:
        copy = work / f"uv-{name}"
        run(["cp", "-al", str(uv_cache), str(copy)], work)
        # A hard-linked lock file is the same inode, so the same flock: a uv anywhere on the
        # machine holding the real cache's lock would block the job. Each copy gets its own.
        for lock in copy.rglob(".lock"):
            lock.unlink()
    result = gcl(
        repo,
        "--force-shell-executor",
        "--shell-isolation",
        "--no-artifacts-to-source",
        *MR,
        f"--variable=UV_CACHE_DIR={work}/uv-$CI_JOB_NAME",
        "--variable=DVC_NO_ANALYTICS=1",
        # The thorough fuzzing is the default project's (README command 1); here the jobs.
        "--variable=HYPOTHESIS_PROFILE=quick",
    )
    log = result.stdout + result.stderr
    for name in [*PR_JOBS, "comment"]:
        assert re.search(rf"PASS .*\b{name}\b", log), name
    output = repo / ".gitlab-ci-local" / "output"
    logs = {name: (output / f"{name}.log").read_text() for name in [*PR_JOBS, "comment"]}
    assert "ruff format --check" in logs["verify"] and " passed" in logs["verify"]
    assert "Running stage 'evaluate'" in logs["train"]
    assert "Downloading" not in "".join(logs.values())
    # The champion/challenger gate compared with origin/main, and the report was written.
    assert re.search(r"test_champion\.py \.\.", logs["gate"])
    assert "## Model report against `origin/main`" in logs["gate"]
    assert "REPORT_TOKEN is not set" in logs["comment"]
    report = repo / ".gitlab-ci-local" / "artifacts" / "gate" / "reports" / "report.md"
    # The params diff: columns are padded to the longest parameter name, whatever it is.
    assert re.search(r"\| params\.yaml \| train\.C +\| 1\.0 +\| 0\.9", report.read_text())


@pytest.fixture(scope="module")
def default_gitlab(render) -> Path:
    return render(VENDOR)


# --- The OIDC tokens of this vendor's runs, which tests/test_ci_policy.py tries on every
# identity the rendered Terraform trusts (their claims, from the vendor's documentation).


def oidc_pull_request_tokens(values: dict, project: Path) -> list[dict]:
    """A merge request's pipeline on an unprotected branch."""
    repo = values["repository_path"]
    return [
        {
            "sub": f"project_path:{repo}:ref_type:branch:ref:feature",
            "project_path": repo,
            "ref": "feature",
            "ref_type": "branch",
            "ref_protected": "false",
        }
    ]


# Test values of the Terraform inputs this vendor's trust needs and has no default for.
TERRAFORM_INPUTS = {"production_oidc_audience": "0d9c4e7a2b6f41c8a5e3d1f0b7c6a9e2d4f8b1a3"}


def oidc_release_tokens(values: dict) -> list[dict]:
    """main's push, the staging deploy, and the scheduled monitor (outside the
    environments: these tokens reach the clouds of a service on a cloud)."""
    repo = values["repository_path"]
    claims = {
        "sub": f"project_path:{repo}:ref_type:branch:ref:main",
        "project_path": repo,
        "ref": "main",
        "ref_type": "branch",
        "ref_protected": "true",
        "pipeline_source": "push",
    }
    return [
        claims,
        {**claims, "environment": "staging", "environment_protected": "true"},
        # The scheduled monitor, outside the environments where the service is on a cloud.
        {**claims, "pipeline_source": "schedule"},
    ]


def oidc_production_token(values: dict, main: dict) -> dict:
    return {**main, "environment": "production", "environment_protected": "true"}


def reads_production_audience(token: dict, values: dict) -> bool:
    """The production audience is a CI/CD variable scoped to the environment production:
    only the jobs of that environment read it, the production deploy alone where the
    service is on a cloud."""
    return token.get("environment") == "production"
