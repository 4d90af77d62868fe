"""The Bitbucket Pipelines adapter: bitbucket-pipelines.yml passes Bitbucket's (loose) schema
and the structure it promises: pull requests and main run the Makefile targets of
includes/pipeline.jinja step by step, main deploys to staging then to production behind a
manual step, the custom pipeline `monitor` (drift check, retraining on drift) is left for a
schedule, caches are keyed on the lock files, the clone is full, and AWS and Google Cloud
are reached through OIDC with a Terraform trust scoped to this repository."""

import re
from pathlib import Path

import pytest
import yaml

from conftest import (
    KEY_SCOPES,
    PLAN,
    STAGES,
    made_identities,
    secret_identities,
    stored_answers,
    vendor_answer_sets,
)

VENDOR = {"ci_provider": "bitbucket_pipelines"}
ANSWER_SETS = vendor_answer_sets(
    VENDOR["ci_provider"],
    data_store="s3",
    retrain_schedule="*/30 2-4 1,15 * 1-5",
    repository_path="acme/fraud-model",
    bitbucket_workspace_uuid="3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718",
)
MAKE = re.compile(r"^make ([\w-]+)(.*)$")
# The variable that turns releases and the monitor on, by the service's cloud.
CLOUD_SWITCH = {
    "aws": "AWS_ROLE_ARN",
    "gcp": "GCP_WORKLOAD_IDENTITY_PROVIDER",
    "azure": "AZURE_CLIENT_ID",
}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


def config(project: Path) -> dict:
    return yaml.safe_load((project / "bitbucket-pipelines.yml").read_text())


def make_calls(step: dict) -> list[tuple[str, str]]:
    calls = [MAKE.match(item) for item in step["script"]]
    return [(m[1], m[2].strip()) for m in calls if m and m[1] != "install"]


def test_bitbucket_accepts_the_schema(project: Path, schema_errors) -> None:
    schema = ("--builtin-schema", "vendor.bitbucket-pipelines")
    assert schema_errors(schema, project, "bitbucket-pipelines.yml") == []


def test_clone_is_full_and_every_step_fetches_main(project: Path) -> None:
    cfg = config(project)
    assert cfg["clone"] == {"depth": "full"}
    python = stored_answers(project)["python_version"]
    image = rf"python:{re.escape(python)}\.\d+-bookworm(@sha256:[0-9a-f]{{64}})?"
    assert re.fullmatch(image, cfg["image"])
    for step in all_steps(cfg):
        setup = next(item for item in step["script"] if "make install" in item)
        assert "git fetch --no-tags origin +refs/heads/main:refs/remotes/origin/main" in setup
        assert "make install" in setup.splitlines()


def all_steps(cfg: dict) -> list[dict]:
    pipelines = cfg["pipelines"]
    groups = [pipelines["pull-requests"]["**"], pipelines["branches"]["main"]]
    # The custom pipelines that run the project (the template update runs Copier alone).
    groups += [pipelines["custom"][stage["name"]] for stage in STAGES.retrain_stages]
    return [item["step"] for group in groups for item in group]


def test_pull_requests_and_main_run_the_pr_stages_step_by_step(project: Path) -> None:
    cfg = config(project)
    pr = [item["step"] for item in cfg["pipelines"]["pull-requests"]["**"]]
    main = [item["step"] for item in cfg["pipelines"]["branches"]["main"]]
    assert [s["name"] for s in pr] == [st["name"].capitalize() for st in STAGES.pr_stages]
    for step, stage in zip(pr, STAGES.pr_stages, strict=True):
        assert make_calls(step) == [(t, "") for t in stage["targets"]]
    # main runs the very same steps (YAML aliases), then the release.
    assert main[: len(pr)] == pr
    train = pr[[s["name"] for s in STAGES.pr_stages].index("train")]
    assert train["artifacts"] == ["dvc.lock", "data/**", "models/**", "reports/**"]
    assert pr[-1]["artifacts"] == ["reports/**"]


def test_the_report_is_posted_on_the_pull_request_when_a_token_is_set(project: Path) -> None:
    gate = config(project)["pipelines"]["pull-requests"]["**"][-1]["step"]
    post = gate["script"][-1]
    assert 'if [ -z "${BITBUCKET_PR_ID:-}" ]' in post
    assert 'elif [ -z "${PR_COMMENT_TOKEN:-}" ]' in post
    assert (
        "/2.0/repositories/$BITBUCKET_REPO_FULL_NAME/pullrequests/$BITBUCKET_PR_ID/comments" in post
    )
    assert '-H "Authorization: Bearer $PR_COMMENT_TOKEN"' in post
    assert "< reports/report.md" in post


def test_main_builds_once_then_deploys_to_staging_then_production_manually(project: Path) -> None:
    given = stored_answers(project)
    main = [item["step"] for item in config(project)["pipelines"]["branches"]["main"]]
    release = main[len(STAGES.pr_stages) :]
    assert len(release) == len(STAGES.release_stages)
    for step, stage in zip(release, STAGES.release_stages, strict=True):
        # A step that signs in without deploying runs in the release environment, the
        # only kind of step the release identity admits (OIDC), or whose deployment
        # variables hold its secret.
        cloud = given["dvc_cloud"] or given["deploy_cloud"]
        assert step.get("deployment") == stage["env"] or (
            not stage["env"]
            and cloud
            and step.get("oidc", False) == PLAN["vendors"]["bitbucket_pipelines"]["oidc"][cloud]
            and step["deployment"] == PLAN["vendors"]["bitbucket_pipelines"]["release_environment"]
        )
        assert (step.get("trigger") == "manual") == stage["approval"]
        env = f"ENV={stage['env']} " if stage["env"] else ""
        assert make_calls(step) == [
            (t, f'{env}REGISTRY="$REGISTRY" TAG="$BITBUCKET_COMMIT"') for t in stage["targets"]
        ]
        if not stage["env"]:
            assert step["services"] == ["docker"]
        script = "\n".join(step["script"])
        if given["deploy_target"] == "docker_compose":
            assert 'docker login "${REGISTRY%%/*}"' in script
            if stage["env"]:
                assert step["script"][0].startswith('if [ -z "${DEPLOY_HOST:-}" ]')
                assert 'export DOCKER_HOST="ssh://$DEPLOY_HOST"' in step["script"]
                assert "docker-compose-plugin" in script
        elif given["deploy_target"] == "kubernetes":
            # The cluster pulls the image: only the package step logs in.
            assert ('docker login "${REGISTRY%%/*}"' in script) == (stage["env"] is None)
            if stage["env"]:
                assert step["script"][0].startswith('if [ -z "${KUBECONFIG_DATA:-}" ]')
                assert "export KUBECONFIG=/tmp/kubeconfig" in script
                # Held to the repository's minor (tests/test_pins.py).
                assert "apt-get install -qq -y --no-install-recommends 'kubectl=" in script
        elif given["deploy_cloud"] == "aws":
            assert step["script"][0].startswith('if [ -z "${AWS_ROLE_ARN:-}" ]')
            # The Makefile's registry-login as the CI role, which the DVC remote's access
            # keys would shadow.
            keys = "env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY " * given["on_keys"]
            login = f'{keys}make registry-login REGISTRY="$REGISTRY"'
            assert (login in script) == (stage["env"] is None)
            if login in script:
                assert script.index(login) < script.index("make build")
        else:
            switch = CLOUD_SWITCH[given["deploy_cloud"]]
            assert step["script"][0].startswith(f'if [ -z "${{{switch}:-}}" ]')
            login = 'make registry-login REGISTRY="$REGISTRY"'
            assert (login in script) == (stage["env"] is None)
            if login in script:
                assert script.index(login) < script.index("make build")
            if given["deploy_cloud"] == "gcp":
                # The Google client libraries read the credential configuration of the token.
                assert step["oidc"] is True
                assert script.index("GOOGLE_APPLICATION_CREDENTIALS") < script.index(
                    f"make {stage['targets'][0]}"
                )


def test_monitor_is_a_custom_pipeline_and_the_readme_says_how_to_schedule_it(
    project: Path,
) -> None:
    given = stored_answers(project)
    custom = config(project)["pipelines"]["custom"]
    scheduled = STAGES.retrain_stages + STAGES.update_stages
    assert list(custom) == [stage["name"] for stage in scheduled]
    switch = {"docker_compose": "DEPLOY_HOST", "kubernetes": "KUBECONFIG_DATA"}.get(
        given["deploy_target"]
    ) or CLOUD_SWITCH[given["deploy_cloud"]]
    for stage in STAGES.retrain_stages:
        (item,) = custom[stage["name"]]
        step = item["step"]
        assert make_calls(step) == [(t, "") for t in stage["targets"]]
        assert step["caches"] == ["uv", "dvc"]
        assert step["artifacts"] == ["reports/**"]  # reports/drift.json
        # It reads production as a production deploy does, and stops while there is none.
        assert step["script"][0].startswith(f'if [ -z "${{{switch}:-}}" ]')
        assert step["script"][0].endswith("exit 0; fi")
        script = "\n".join(step["script"])
        if given["deploy_target"] == "docker_compose":
            assert 'export DOCKER_HOST="ssh://$DEPLOY_HOST"' in step["script"]
        elif given["deploy_target"] == "kubernetes":
            assert "export KUBECONFIG=/tmp/kubeconfig" in script
        if given["deploy_cloud"] == "aws" and given.get("s3_endpoint_url"):
            # The remote's keys go to DVC's local config, out of the role's way.
            assert "dvc remote modify --local storage access_key_id" in script
            assert script.index("unset AWS_ACCESS_KEY_ID") < script.index("aws-web-identity")
    readme = (project / "README.md").read_text()
    assert (
        "**Pipelines > Schedules > New schedule**: branch `main`, pipeline `custom: monitor`"
        in readme
    )
    assert f"`{stored_answers(project)['retrain_schedule']}`" in readme


def test_caches_are_keyed_on_the_lock_files(project: Path) -> None:
    cfg = config(project)
    assert cfg["definitions"]["caches"] == {
        "uv": {"key": {"files": ["uv.lock"]}, "path": "~/.cache/uv"},
        "dvc": {"key": {"files": ["dvc.lock"]}, "path": ".dvc/cache"},
    }
    for step in all_steps(cfg):
        assert "uv" in step["caches"]
        if any(t in ("pipeline", "push", "monitor") for t, _ in make_calls(step)):
            assert "dvc" in step["caches"]


def test_aws_is_reached_through_oidc_where_an_answer_needs_it(project: Path) -> None:
    given = stored_answers(project)
    for step in all_steps(config(project)):
        targets = {t for t, _ in make_calls(step)}
        # The monitor reads the service's inputs and may push: the cloud of either.
        needs_aws = (
            (given["on_s3"] and bool(targets & {"pipeline", "push"}))
            or (given["deploy_cloud"] == "aws" and bool(targets & {"build", "deploy"}))
            or (given["uses_aws"] and "monitor" in targets)
        )
        # A DVC remote on GCS is reached with the same token (tests/test_gcs.py).
        needs_gcp = (
            (given["data_store"] == "gcs" and bool(targets & {"pipeline", "push"}))
            or (given["deploy_cloud"] == "gcp" and bool(targets & {"build", "deploy"}))
            or (given["uses_gcp"] and "monitor" in targets)
        )
        assert step.get("oidc", False) == (needs_aws or needs_gcp), step["name"]
        login = [item for item in step["script"] if "aws-web-identity-token" in item]
        assert bool(login) == needs_aws, step["name"]
        if login:
            assert "export AWS_WEB_IDENTITY_TOKEN_FILE=/tmp/aws-web-identity-token" in login[0]
            assert f"AWS_REGION={given['aws_region']}" in login[0]
            order = step["script"]
            first_make = next(i for i, s in enumerate(order) if MAKE.match(s))
            assert order.index(login[0]) < first_make


def test_no_secret_value_is_rendered(project: Path) -> None:
    for line in (project / "bitbucket-pipelines.yml").read_text().splitlines():
        if re.search(r"\b[A-Z_]*(KEY|SECRET|TOKEN|PASSWORD)(_ID)?\s*[:=]\s*\S", line):
            assert "$" in line, line


def test_terraform_trusts_the_workspace_for_this_repository_only(project: Path) -> None:
    given = stored_answers(project)
    path = project / "infra" / "aws" / "ci.tf"
    assert path.exists() == given["uses_aws"]
    if not path.exists():
        return
    text = path.read_text()
    variables = (project / "infra" / "aws" / "variables.tf").read_text()
    workspace = given["repository_path"].split("/")[0]
    assert f'default     = "{workspace}"' in variables
    assert f'default     = "{given["bitbucket_workspace_uuid"]}"' in variables
    issuer = (
        "api.bitbucket.org/2.0/workspaces/${var.bitbucket_workspace}/pipelines-config/identity/oidc"
    )
    assert f'url            = "https://{issuer}"' in text
    audience = '["ari:cloud:bitbucket::workspace/${var.bitbucket_workspace_uuid}"]'
    assert f"client_id_list = {audience}" in text
    assert f'variable = "{issuer}:aud"' in text
    assert f'variable = "{issuer}:sub"' in text
    # The release role: deployment steps ({repository}:{environment}:{step}) only.
    assert 'values   = ["{${var.bitbucket_repository_uuid}}:{*}:{*}"]' in text
    # The repository UUID has no default: Terraform asks for it.
    block = variables[variables.index('variable "bitbucket_repository_uuid"') :]
    assert "default" not in block[: block.index("\n}\n")]


def test_the_template_update_is_a_custom_pipeline_with_its_token(project: Path) -> None:
    for stage in STAGES.update_stages:
        (item,) = config(project)["pipelines"]["custom"][stage["name"]]
        makes = [line for line in item["step"]["script"] if line.startswith("make ")]
        assert makes == [f"make {target}" for target in stage["targets"]]
    readme = (project / "README.md").read_text()
    assert "pipeline `custom: update`" in readme and "`TEMPLATE_UPDATE_TOKEN`" in readme


# --- The OIDC tokens of this vendor's runs, which tests/test_ci_policy.py tries on every
# identity the rendered Terraform trusts (their claims, from the vendor's documentation).
# Test values of the Terraform inputs this vendor's trust needs and has no default for.
TERRAFORM_INPUTS = {
    "bitbucket_repository_uuid": "0c6f2a1e-8d4b-4e6f-a1b2-c3d4e5f60718",
    "bitbucket_production_environment_uuid": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
}

STEP = "{3d5e7f90-1a2b-4c3d-8e9f-0a1b2c3d4e5f}"


def oidc_pull_request_tokens(values: dict, project: Path) -> list[dict]:
    """A step outside any deployment environment: {repository}:{step}."""
    return [{"sub": f"{{{values['bitbucket_repository_uuid']}}}:{STEP}"}]


def oidc_release_tokens(values: dict) -> list[dict]:
    """A step of the staging deployment environment: {repository}:{environment}:{step}."""
    staging = "{7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}"
    return [{"sub": f"{{{values['bitbucket_repository_uuid']}}}:{staging}:{STEP}"}]


def oidc_production_token(values: dict, main: dict) -> dict:
    repository = values["bitbucket_repository_uuid"]
    production = values["bitbucket_production_environment_uuid"]
    return {"sub": f"{{{repository}}}:{{{production}}}:{STEP}"}


# --- The keys of this vendor's steps, where it has no OIDC to a cloud (Azure), which
# tests/test_ci_policy.py checks against what each identity may do.
def key_scopes(project: Path, cloud: str) -> dict[str, set[str]]:
    """Per run scope, the CI identities whose secret its steps are given: the deployment
    variables of the deployment environment a step runs in (the release environment's and
    staging's hold the release identity's, production's the production one's: README), and
    the secret variables its script names (repository variables reach every step). Pull
    requests run `pull-requests`; main, and the custom pipelines run on its schedule,
    release, but the step that deploys production. An environment's deployment variables
    hold an identity's secret only where the Terraform makes that identity."""
    cfg = config(project)
    made = made_identities(project, cloud)
    vendor = PLAN["vendors"]["bitbucket_pipelines"]
    environments = {vendor["release_environment"]: "release"} | {
        stage["env"]: stage["identity"] for stage in STAGES.release_stages if stage["env"]
    }
    pipelines = cfg["pipelines"]
    runs = [
        ("pull_request", item["step"])
        for steps in pipelines["pull-requests"].values()
        for item in steps
    ]
    runs += [
        ("release", item["step"])
        for group in ("branches", "custom")
        for steps in pipelines.get(group, {}).values()
        for item in steps
    ]
    scopes: dict[str, set[str]] = {scope: set() for scope in KEY_SCOPES}
    for scope, step in runs:
        if any(t == "deploy" and "ENV=production" in a.split() for t, a in make_calls(step)):
            scope = "production"
        if step.get("deployment"):
            scopes[scope] |= {PLAN["identities"][environments[step["deployment"]]]["name"]} & made
        scopes[scope] |= secret_identities("\n".join(step["script"]), cloud)
    return scopes


def test_the_readme_says_where_each_secret_is_kept(project: Path) -> None:
    """Every secret variable the steps read is in the README, the release and production
    ones as deployment variables."""
    given = stored_answers(project)
    cloud = given["dvc_cloud"] or given["deploy_cloud"]
    if not cloud or PLAN["vendors"]["bitbucket_pipelines"]["oidc"][cloud]:
        return
    readme = " ".join((project / "README.md").read_text().split())
    secrets = PLAN["clouds"][cloud]["secret"]
    release = f"*secured* deployment variable `{secrets['release']}`"
    assert release in readme
    if given["deploy_cloud"]:
        assert f"*secured* deployment variable `{secrets['production']}` of `production`" in readme
    if given["dvc_cloud"]:
        assert f"*secured* repository variable `{secrets['pull_request']}`" in readme
