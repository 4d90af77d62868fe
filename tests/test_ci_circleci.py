"""The CircleCI adapter: .circleci/config.yml passes CircleCI's schema, runs the Makefile
targets of includes/pipeline.jinja job by job, gates production behind an approval job,
runs the monitor (drift check, retraining on drift) only on the scheduled pipeline, caches
uv and DVC, and reaches AWS and Google Cloud through OIDC with a Terraform trust scoped to
this repository."""

import re
from pathlib import Path

import hcl2
import pytest
import yaml

from conftest import (
    KEY_SCOPES,
    PLAN,
    STAGES,
    secret_identities,
    stored_answers,
    vendor_answer_sets,
)

ANSWER_SETS = vendor_answer_sets(
    "circleci",
    data_store="s3",
    retrain_schedule="*/30 2-4 1,15 * 1-5",
    repository_path="acme/fraud-model",
    circleci_org_id="3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718",
)
MAKE = re.compile(r"^make ([\w-]+)(.*)$")
# The variable that turns releases and the monitor on, by the service's cloud.
CLOUD_SWITCH = {
    "aws": "AWS_ROLE_ARN",
    "gcp": "GCP_WORKLOAD_IDENTITY_PROVIDER",
    "azure": "AZURE_CLIENT_ID",
}
RETRAINING = {
    "or": [
        "<< pipeline.parameters.retrain >>",
        {"equal": ["scheduled_pipeline", "<< pipeline.trigger_source >>"]},
    ]
}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


def config(project: Path) -> dict:
    return yaml.safe_load((project / ".circleci" / "config.yml").read_text())


def steps(job: dict) -> list:
    return job["steps"]


def runs(job: dict) -> list[str]:
    """The command of every `run` step, in order."""
    commands = []
    for step in steps(job):
        if isinstance(step, dict) and "run" in step:
            run_ = step["run"]
            commands.append(run_["command"] if isinstance(run_, dict) else run_)
    return commands


def make_calls(job: dict) -> list[tuple[str, str]]:
    calls = [MAKE.match(command) for command in runs(job)]
    return [(m[1], m[2].strip()) for m in calls if m and m[1] != "install"]


def setup_of(job: dict) -> dict | None:
    """The parameters of the job's `setup` command (an empty dict for a bare `setup`)."""
    for step in steps(job):
        if step == "setup":
            return {}
        if isinstance(step, dict) and "setup" in step:
            return step["setup"] or {}
    return None


def halted_until(job: dict) -> str:
    """The variable that the job's first step, the command `halt-unless`, waits for."""
    first = steps(job)[0]
    assert isinstance(first, dict) and "halt-unless" in first, first
    return first["halt-unless"]["variable"]


def command_runs(cfg: dict, name: str) -> list[str]:
    """The `run` commands of one of the config's commands."""
    return runs({"steps": cfg["commands"][name]["steps"]})


def test_circleci_accepts_the_config_schema(project: Path, schema_errors) -> None:
    schema = ("--builtin-schema", "vendor.circle-ci")
    assert schema_errors(schema, project, ".circleci/config.yml") == []


def test_only_the_config_is_rendered(project: Path) -> None:
    assert [p.name for p in (project / ".circleci").iterdir()] == ["config.yml"]
    assert not (project / ".github").exists()


def test_pr_workflow_runs_the_pr_stages_job_by_job(project: Path) -> None:
    cfg = config(project)
    workflow = cfg["workflows"]["ci"]
    assert workflow["unless"] == RETRAINING and "when" not in workflow
    names = [stage["name"] for stage in STAGES.pr_stages]
    invocations = workflow["jobs"]
    assert invocations[0] == names[0]
    for previous, (name, invocation) in zip(
        names, [next(iter(i.items())) for i in invocations[1:]], strict=False
    ):
        assert invocation == {"requires": [previous]}, name
    assert [next(iter(i)) if isinstance(i, dict) else i for i in invocations] == names
    for stage in STAGES.pr_stages:
        assert make_calls(cfg["jobs"][stage["name"]]) == [(t, "") for t in stage["targets"]]
    # The stage that trains hands its outputs to the gate, which keeps the report.
    train = cfg["jobs"]["train"]
    assert {
        "persist_to_workspace": {
            "root": "~/project",
            "paths": ["dvc.lock", "data", "models", "reports"],
        }
    } in steps(train)
    gate = cfg["jobs"][names[-1]]
    assert {"attach_workspace": {"at": "~/project"}} in steps(gate)
    assert {"store_artifacts": {"path": "reports"}} in steps(gate)


def test_release_runs_on_main_and_production_waits_for_an_approval(project: Path) -> None:
    cfg = config(project)
    workflow = cfg["workflows"]["release"]
    assert workflow["when"] == {
        "and": [{"equal": ["main", "<< pipeline.git.branch >>"]}, {"not": RETRAINING}]
    }
    invocations = {}
    for item in workflow["jobs"]:
        name, body = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        invocations[name] = body
    assert invocations["approve-production"] == {"type": "approval", "requires": ["staging"]}
    given = stored_answers(project)
    production = {"requires": ["approve-production"]}
    staging = {"requires": ["package"]}
    if given["deploy_cloud"]:
        # The production identity's variable (or secret) is in the restricted production
        # context.
        production["context"] = "ml-project-production"
    if not PLAN["vendors"]["circleci"]["oidc"].get(given["dvc_cloud"] or given["deploy_cloud"], 1):
        # Without OIDC, the release identity's secret is in the context restricted to main.
        assert invocations["package"] == {"context": "ml-project-release"}
        if given["deploy_cloud"]:
            staging["context"] = "ml-project-release"
    else:
        assert invocations["package"] == {}
    assert invocations["production"] == production
    assert invocations["staging"] == staging
    for stage in STAGES.release_stages:
        job = cfg["jobs"][stage["name"]]
        assert job["environment"]["TAG"] == "<< pipeline.git.revision >>"
        env = f"ENV={stage['env']} " if stage["env"] else ""
        assert make_calls(job) == [
            (target, f'{env}REGISTRY="$REGISTRY" TAG="$TAG"') for target in stage["targets"]
        ]
    # Docker builds need a remote Docker engine.
    assert "setup_remote_docker" in steps(cfg["jobs"]["package"])


def test_release_uses_the_registry_and_host_of_the_deploy_target(project: Path) -> None:
    given = stored_answers(project)
    cfg = config(project)
    login = runs({"steps": cfg["commands"]["registry-login"]["steps"]})[0]
    for stage in STAGES.release_stages:
        job = cfg["jobs"][stage["name"]]
        if given["deploy_target"] == "docker_compose":
            assert 'docker login "${REGISTRY%%/*}"' in login
            assert "registry-login" in steps(job)
            if stage["env"]:
                assert halted_until(job) == "DEPLOY_HOST"
                assert "docker-host" in steps(job)
                assert "add_ssh_keys" in cfg["commands"]["docker-host"]["steps"]
                host = command_runs(cfg, "docker-host")
                assert any("DOCKER_HOST=ssh://$DEPLOY_HOST" in c for c in host)
        elif given["deploy_target"] == "kubernetes":
            assert 'docker login "${REGISTRY%%/*}"' in login
            # The cluster pulls the image: only the package job logs in.
            assert ("registry-login" in steps(job)) == (stage["env"] is None)
            if stage["env"]:
                assert halted_until(job) == "KUBECONFIG_DATA"
                assert job["environment"]["KUBECONFIG"] == "/tmp/kubeconfig"
                assert "cluster-credentials" in steps(job)
                kubectl = command_runs(cfg, "cluster-credentials")
                assert any("apt-get install" in c and "kubectl" in c for c in kubectl)
        elif given["deploy_cloud"] == "aws":
            # The Makefile's registry-login as the CI role, which the DVC remote's access
            # keys would shadow.
            keys = "env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY " * given["on_keys"]
            assert login == f'{keys}make registry-login REGISTRY="$REGISTRY"'
            assert halted_until(job) == "AWS_ROLE_ARN"
            assert setup_of(job)["aws"] is True
            assert ("registry-login" in steps(job)) == (stage["env"] is None)
        else:
            # Docker logs in with the Makefile's registry-login, as the CI identity.
            assert login == 'make registry-login REGISTRY="$REGISTRY"'
            assert ("registry-login" in steps(job)) == (stage["env"] is None)
            assert halted_until(job) == CLOUD_SWITCH[given["deploy_cloud"]]
            if given["deploy_cloud"] == "gcp":
                # Google credentials: with the DVC remote's (package on GCS) or on their own.
                setup = setup_of(job)
                assert setup.get("gcp") or (setup.get("dvc") and given["data_store"] == "gcs")


def test_the_template_update_runs_only_on_the_scheduled_pipeline(project: Path) -> None:
    cfg = config(project)
    scheduled = {"equal": ["scheduled_pipeline", "<< pipeline.trigger_source >>"]}
    for stage in STAGES.update_stages:
        assert cfg["workflows"][stage["name"]] == {"when": scheduled, "jobs": [stage["name"]]}
        assert make_calls(cfg["jobs"][stage["name"]]) == [(t, "") for t in stage["targets"]]
    # CircleCI's git host is unknown: the job fails with the command to run.
    assert "--api none" in (project / "Makefile").read_text()


def test_monitor_runs_only_on_the_scheduled_pipeline(project: Path) -> None:
    given = stored_answers(project)
    cfg = config(project)
    for stage in STAGES.retrain_stages:
        cloud = given["dvc_cloud"] or given["deploy_cloud"]
        if cloud and not PLAN["vendors"]["circleci"]["oidc"][cloud]:
            # The release identity's secret is in the context restricted to main.
            job = {stage["name"]: {"context": "ml-project-release"}}
        else:
            job = stage["name"]
        assert cfg["workflows"][stage["name"]] == {"when": RETRAINING, "jobs": [job]}
        job = cfg["jobs"][stage["name"]]
        assert make_calls(job) == [(t, "") for t in stage["targets"]]
        assert "save-dvc-cache" in steps(job)
        assert {"store_artifacts": {"path": "reports"}} in steps(job)  # reports/drift.json
        # It reads production as a production deploy does, and stops while there is none.
        switch = {"docker_compose": "DEPLOY_HOST", "kubernetes": "KUBECONFIG_DATA"}.get(
            given["deploy_target"]
        ) or CLOUD_SWITCH[given["deploy_cloud"]]
        assert halted_until(job) == switch
        # ... and may retrain and push: the DVC remote's credentials too.
        assert setup_of(job)["dvc"] is True
        assert bool(setup_of(job).get("aws")) == given["uses_aws"]
        if given["deploy_target"] == "docker_compose":
            assert "docker-host" in steps(job)
        if given["deploy_target"] == "kubernetes":
            assert job["environment"]["KUBECONFIG"] == "/tmp/kubeconfig"
            assert "cluster-credentials" in steps(job)
        if given["deploy_cloud"] == "gcp":
            assert setup_of(job).get("gcp") or given["data_store"] == "gcs"
        if given["deploy_cloud"] == "aws" and given.get("s3_endpoint_url"):
            # The remote's keys go to DVC's local config, out of the role's way.
            keys = next(c for c in runs(job) if "dvc remote modify --local" in c)
            assert "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY" in keys
    assert cfg["parameters"]["retrain"] == {"type": "boolean", "default": False}
    # The schedule itself is set in Project Settings > Triggers: the README gives it.
    readme = (project / "README.md").read_text()
    assert "Project Settings > Triggers" in readme
    assert f"`{stored_answers(project)['retrain_schedule']}`" in readme


def test_halt_unless_stops_the_job_green_while_its_variable_is_empty(project: Path) -> None:
    cfg = config(project)
    command = cfg["commands"]["halt-unless"]
    assert command["parameters"]["variable"] == {"type": "env_var_name"}
    (check,) = command_runs(cfg, "halt-unless")
    assert 'if [ -z "${<< parameters.variable >>:-}" ]; then' in check
    assert "circleci-agent step halt" in check and "exit" not in check
    # Every job that releases or reads production starts with it, the pull request jobs
    # never do; nor does the package job of a target outside the clouds (registry-login
    # skips by itself while REGISTRY is unset).
    unguarded = {stage["name"] for stage in STAGES.pr_stages + STAGES.update_stages}
    if stored_answers(project)["deploy_target"] in ("docker_compose", "kubernetes"):
        unguarded.add(STAGES.release_stages[0]["name"])
    for name, job in cfg["jobs"].items():
        first = steps(job)[0]
        assert (isinstance(first, dict) and "halt-unless" in first) == (name not in unguarded)


def test_caches_are_keyed_on_the_lock_files_and_history_is_complete(project: Path) -> None:
    cfg = config(project)
    setup = cfg["commands"]["setup"]["steps"]
    assert setup[0] == "checkout"
    assert "git fetch --no-tags origin +refs/heads/main:refs/remotes/origin/main" in runs(
        {"steps": setup}
    )
    restore = setup[3]["restore_cache"]["keys"]
    assert restore == ['uv-v1-{{ checksum "uv.lock" }}', "uv-v1-"]
    assert setup[-1]["save_cache"]["paths"] == ["/home/circleci/.cache/uv"]
    assert cfg["executors"]["python"]["environment"]["UV_CACHE_DIR"] == "/home/circleci/.cache/uv"
    save_dvc = cfg["commands"]["save-dvc-cache"]["steps"][0]["save_cache"]
    assert save_dvc == {"key": 'dvc-v1-{{ checksum "dvc.lock" }}', "paths": [".dvc/cache"]}
    # Every job that runs the pipeline restores and saves the DVC cache.
    for job in cfg["jobs"].values():
        if any(target == "pipeline" for target, _ in make_calls(job)):
            assert setup_of(job)["dvc"] is True and "save-dvc-cache" in steps(job)
    python = stored_answers(project)["python_version"]
    image = PLAN["images"]["circleci_python"][python]
    assert cfg["executors"]["python"]["docker"] == [{"image": image}]


def test_aws_is_reached_through_oidc_where_an_answer_needs_it(project: Path) -> None:
    given = stored_answers(project)
    cfg = config(project)
    text = (project / ".circleci" / "config.yml").read_text()
    assert ("aws-oidc" in cfg["commands"]) == given["uses_aws"]
    if not given["uses_aws"]:
        assert "AWS_REGION" not in cfg["executors"]["python"]["environment"]
        return
    oidc = runs({"steps": cfg["commands"]["aws-oidc"]["steps"]})[0]
    assert '"$CIRCLE_OIDC_TOKEN_V2" > /tmp/aws-web-identity-token' in oidc
    assert "export AWS_WEB_IDENTITY_TOKEN_FILE=/tmp/aws-web-identity-token" in oidc
    assert cfg["executors"]["python"]["environment"]["AWS_REGION"] == given["aws_region"]
    on_s3 = given["on_s3"]
    for name, job in cfg["jobs"].items():
        targets = {target for target, _ in make_calls(job)}
        needs_aws = (
            (on_s3 and bool(targets & {"pipeline", "push"}))
            or (given["deploy_cloud"] == "aws" and bool(targets & {"build", "deploy"}))
            or "monitor" in targets
        )
        assert bool((setup_of(job) or {}).get("aws")) == needs_aws, name
    assert "AWS_SECRET_ACCESS_KEY:" not in text


def test_no_secret_value_is_rendered(project: Path) -> None:
    for line in (project / ".circleci" / "config.yml").read_text().splitlines():
        if re.search(r"\b[A-Z_]*(KEY|SECRET|TOKEN|PASSWORD)(_ID)?\s*[:=]\s*\S", line):
            assert "$" in line, line


def test_terraform_trusts_the_organization_for_this_repository_only(project: Path) -> None:
    given = stored_answers(project)
    path = project / "infra" / "aws" / "ci.tf"
    assert path.exists() == given["uses_aws"]
    if not path.exists():
        return
    parsed = hcl2.loads(path.read_text())
    text = path.read_text()
    assert 'url            = "https://oidc.circleci.com/org/${var.circleci_org_id}"' in text
    assert 'variable = "oidc.circleci.com/org/${var.circleci_org_id}:sub"' in text
    # With a service on AWS, the production role's audience too (the trust table).
    production = given["deploy_cloud"] == "aws"
    clients = (
        "[var.circleci_org_id, var.production_oidc_audience]"
        if production
        else "[var.circleci_org_id]"
    )
    assert f"client_id_list = {clients}" in text
    variables = (project / "infra" / "aws" / "variables.tf").read_text()
    assert f'default     = "{given["circleci_org_id"]}"' in variables
    # The release role: jobs on main only (the pull-request role, where the DVC remote is
    # on S3, any ref; test_ci_policy.py checks what each may do).
    assert (
        '"org/${var.circleci_org_id}/project/*/user/*/vcs-origin/*/${var.repository_path}'
        '/vcs-ref/refs/heads/main"' in text
    )
    assert 'data "aws_iam_policy_document" "ci_trust"' in text
    (provider,) = [r for r in parsed["resource"] if '"aws_iam_openid_connect_provider"' in r]
    assert list(provider['"aws_iam_openid_connect_provider"']) == ['"circleci"']
    assert f'default     = "{given["repository_path"]}"' in variables


# --- The OIDC tokens of this vendor's runs, which tests/test_ci_policy.py tries on every
# identity the rendered Terraform trusts (their claims, from the vendor's documentation).
# Test values of the Terraform inputs this vendor's trust needs and has no default for.
TERRAFORM_INPUTS = {
    "circleci_production_context_id": "9c8b7a6f-5e4d-4c3b-a291-0f1e2d3c4b5a",
    "production_oidc_audience": "5f0c6a1d9e2b47c3a8d1f06e4b9c2a7d5e3f1b0c",
}

CIRCLECI_PROJECT = {"oidc.circleci.com/project-id": "5b1c"}
CONTEXTS = "oidc.circleci.com/context-ids"


def circleci_token(values: dict, ref: str) -> dict:
    origin = f"github.com/{values['repository_path']}"
    return {
        "sub": f"org/{values['circleci_org_id']}/project/5b1c/user/9a7e"
        f"/vcs-origin/{origin}/vcs-ref/{ref}",
        **CIRCLECI_PROJECT,
        "oidc.circleci.com/vcs-origin": origin,
        "oidc.circleci.com/vcs-ref": ref,
    }


def oidc_pull_request_tokens(values: dict, project: Path) -> list[dict]:
    """A pipeline of another branch (a pull request's)."""
    if "circleci_org_id" not in values:
        return []
    return [circleci_token(values, "refs/heads/feature")]


def oidc_release_tokens(values: dict) -> list[dict]:
    """main's pipeline, in a context that is not production's."""
    if "circleci_org_id" not in values:
        return []
    other_context = ["1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"]
    return [{**circleci_token(values, "refs/heads/main"), CONTEXTS: other_context}]


def oidc_production_token(values: dict, main: dict) -> dict:
    return {**main, CONTEXTS: [values["circleci_production_context_id"]]}


def reads_production_audience(token: dict, values: dict) -> bool:
    """The production audience is a variable of the production context: only the runs in
    that context can read it, and ask for a token of it."""
    return values.get("circleci_production_context_id") in token.get(CONTEXTS, [])


# --- The keys of this vendor's jobs, where it has no OIDC to a cloud (Azure), which
# tests/test_ci_policy.py checks against what each identity may do.
def job_text(cfg: dict, job: dict) -> str:
    """A job's steps with the commands they call written out (what runs in it)."""
    text, called = yaml.safe_dump(job), set()
    commands = cfg.get("commands", {})
    while new := {
        name
        for name in commands
        if name not in called and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
    }:
        called |= new
        text += "".join(yaml.safe_dump(commands[name]) for name in sorted(new))
    return text


def key_scopes(project: Path, cloud: str) -> dict[str, set[str]]:
    """Per run scope, the CI identities whose secret its jobs are given: the restricted
    contexts they use (<project>-<context>, plan's vendors.circleci.contexts) and the secret
    variables their steps name. The workflow `ci` runs on every branch and pull request;
    the others on main or the schedule (release), but the job that deploys production."""
    cfg = config(project)
    contexts = {
        f"-{context}": PLAN["identities"][kind]["name"]
        for kind, context in PLAN["vendors"]["circleci"]["contexts"].items()
    }
    scopes: dict[str, set[str]] = {scope: set() for scope in KEY_SCOPES}
    for workflow in cfg["workflows"].values():
        if not isinstance(workflow, dict) or "jobs" not in workflow:
            continue
        for item in workflow["jobs"]:
            name, body = (item, {}) if isinstance(item, str) else next(iter(item.items()))
            if body.get("type") == "approval":
                continue
            job = cfg["jobs"][name]
            if "when" not in workflow:
                scope = "pull_request"
            elif any(t == "deploy" and "ENV=production" in a.split() for t, a in make_calls(job)):
                scope = "production"
            else:
                scope = "release"
            used = body.get("context", [])
            for context in [used] if isinstance(used, str) else used:
                scopes[scope] |= {
                    identity for end, identity in contexts.items() if context.endswith(end)
                }
            scopes[scope] |= secret_identities(job_text(cfg, job), cloud)
    return scopes


def test_the_readme_says_where_each_secret_is_kept(project: Path) -> None:
    """Every context the workflows use, and every secret variable the jobs read, is in the
    README; the contexts restricted to main."""
    cfg, readme = config(project), (project / "README.md").read_text()
    cloud = stored_answers(project)["dvc_cloud"] or stored_answers(project)["deploy_cloud"]
    for workflow in cfg["workflows"].values():
        for item in workflow.get("jobs", []) if isinstance(workflow, dict) else []:
            body = {} if isinstance(item, str) else next(iter(item.values()))
            if "context" in body:
                # The bullet that says what goes in it (the README names it elsewhere too).
                bullets = [
                    " ".join(re.split(r"\n *- ", readme[m.start() :])[0].split())
                    for m in re.finditer(re.escape(f"`{body['context']}`"), readme)
                ]
                assert any('pipeline.git.branch == "main"' in b for b in bullets), bullets
    if cloud:
        for name in secret_identities(yaml.safe_dump(cfg), cloud):
            kind = next(k for k, i in PLAN["identities"].items() if i["name"] == name)
            assert f"`{PLAN['clouds'][cloud]['secret'][kind]}`" in readme


def test_only_the_production_job_reads_and_asks_for_the_production_audience(render) -> None:
    """The variable of the production audience is in the production context, which only
    the production job uses; only that job asks for a token of it."""
    project = render({"ci_provider": "circleci", "data_store": "s3", "deploy_target": "aws_ecs"})
    cfg = yaml.safe_load((project / ".circleci" / "config.yml").read_text())
    variable = "$" + PLAN["identities"]["production"]["audience_variable"]
    context = f"ml-project-{PLAN['vendors']['circleci']['contexts']['production']}"
    in_context = {
        name
        for workflow in cfg["workflows"].values()
        if isinstance(workflow, dict)
        for entry in workflow.get("jobs", [])
        if isinstance(entry, dict)
        for name, options in entry.items()
        if context in [options.get("context")] + list(options.get("context") or [])
    }
    asking = {name for name, job in cfg["jobs"].items() if variable in job_text(cfg, job)}
    assert asking == in_context == {"production"}
