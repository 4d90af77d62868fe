"""A DVC remote on Google Cloud Storage: .dvc/config names the bucket (no credential), the
project depends on dvc[gs], and every CI vendor gives exactly the jobs that reach the
remote (the ones that run `make pipeline` or `make push`) Google credentials: workload
identity federation where the vendor has OIDC, the service account key from the vendor's
secret store otherwise. Nothing secret is rendered."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import PLAN, ci_text, offered

VENDORS = offered("ci_provider")
ANSWER_SETS = {
    vendor: {"ci_provider": vendor, "data_store": "gcs", "deploy_target": "docker_compose"}
    for vendor in VENDORS
}
AUTH_ACTION = re.compile(r"uses: google-github-actions/auth@[0-9a-f]{40}  # v\d+\.\d+\.\d+")


@pytest.fixture(scope="module", params=VENDORS)
def vendor_project(request, render) -> tuple[str, Path]:
    return request.param, render(ANSWER_SETS[request.param])


def test_dvc_config_names_the_bucket_and_no_credential(vendor_project):
    _, project = vendor_project
    config = (project / ".dvc" / "config").read_text()
    assert "url = gs://ml-project-dvc/dvc" in config
    assert "projectname = ml-project-prod" in config
    for secret in ("credentialpath", "allow_anonymous_login", "endpointurl"):
        assert secret not in config
    assert '"dvc[gs]>=' in (project / "pyproject.toml").read_text()


def test_no_aws_wiring_for_a_gcs_remote(vendor_project):
    vendor, project = vendor_project
    text = ci_text(project, vendor)
    for aws in ("AWS_ROLE_ARN", "aws-actions/", "AWS_WEB_IDENTITY_TOKEN_FILE", "sts assume-role"):
        assert aws not in text, aws


def test_github_actions_log_in_by_oidc_where_the_remote_is_used(render):
    workflows = render(ANSWER_SETS["github_actions"]) / ".github" / "workflows"
    for name in ("ci.yml", "cd.yml", "retrain.yml"):
        for job_name, job in yaml.safe_load((workflows / name).read_text())["jobs"].items():
            steps = job.get("steps", [])
            runs = " ".join(s.get("run", "") for s in steps)
            auth = [s for s in steps if s.get("uses", "").startswith("google-github-actions/")]
            reaches_remote = any(f"make {t}" in runs for t in ("pipeline", "push", "monitor"))
            assert bool(auth) == reaches_remote, (name, job_name)
            if auth:
                # Pull requests (ci.yml) act as the pull-request service account.
                account = "GCP_PR_SERVICE_ACCOUNT" if name == "ci.yml" else "GCP_SERVICE_ACCOUNT"
                assert auth[0]["with"] == {
                    "workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
                    "service_account": f"${{{{ vars.{account} }}}}",
                }
                assert job["permissions"]["id-token"] == "write"
                # The action writes its credential file into the workspace: after checkout.
                uses = [s.get("uses", "") for s in steps]
                assert uses.index(auth[0]["uses"]) > 0
                assert uses[0].startswith("actions/checkout@")
        text = (workflows / name).read_text()
        # Pinned by the commit of a release tag, the tag in the comment.
        assert text.count("google-github-actions/auth@") == len(AUTH_ACTION.findall(text)) > 0


def test_gitlab_jobs_that_reach_the_remote_trade_an_id_token(render):
    config = yaml.safe_load(
        (render(ANSWER_SETS["gitlab_ci"]) / ".gitlab-ci.yml").read_text().replace("!reference", "")
    )
    gcp = config[".gcp"]
    assert gcp["id_tokens"] == {"GCP_ID_TOKEN": {"aud": "https://gitlab.com"}}
    assert gcp["variables"]["GOOGLE_APPLICATION_CREDENTIALS"] == "/tmp/gcp-credentials.json"

    def bases(job: str) -> set[str]:
        extends = config[job].get("extends", [])
        names = {extends} if isinstance(extends, str) else set(extends)
        return names | {base for name in names for base in bases(name)}

    for job in ("train", "package", "monitor"):
        assert ".gcp" in bases(job), job


def test_circleci_jobs_that_run_the_pipeline_use_the_oidc_token(render):
    config = yaml.safe_load(
        (render(ANSWER_SETS["circleci"]) / ".circleci" / "config.yml").read_text()
    )
    command = config["commands"]["gcp-oidc"]["steps"][0]["run"]["command"]
    assert "$CIRCLE_OIDC_TOKEN_V2" in command
    assert "GOOGLE_APPLICATION_CREDENTIALS=/tmp/gcp-credentials.json" in command
    dvc_steps = config["commands"]["setup"]["steps"]
    (when,) = [s["when"] for s in dvc_steps if isinstance(s, dict) and "when" in s]
    assert when["condition"] == "<< parameters.dvc >>"
    assert "gcp-oidc" in when["steps"]
    for name, job in config["jobs"].items():
        runs = [s["run"] for s in job["steps"] if isinstance(s, dict) and "run" in s]
        if any(str(r).startswith("make pipeline") for r in runs):
            setup = next(s for s in job["steps"] if isinstance(s, dict) and "setup" in s)
            assert setup["setup"]["dvc"] is True, name


def bitbucket_steps(project: Path) -> list[dict]:
    config = yaml.safe_load((project / "bitbucket-pipelines.yml").read_text())
    pipelines = config["pipelines"]
    groups = [pipelines["pull-requests"]["**"], pipelines["branches"]["main"]]
    groups += list(pipelines["custom"].values())
    return [item["step"] for group in groups for item in group]


def test_bitbucket_steps_that_reach_the_remote_have_oidc(render):
    for step in bitbucket_steps(render(ANSWER_SETS["bitbucket_pipelines"])):
        script = "\n".join(step["script"])
        calls = [script.find(f"make {t}") for t in ("pipeline", "push", "monitor")]
        reaches_remote = max(calls) >= 0
        assert step.get("oidc", False) == reaches_remote, step["name"]
        assert ("$BITBUCKET_STEP_OIDC_TOKEN" in script) == reaches_remote, step["name"]
        if reaches_remote:
            first = min(call for call in calls if call >= 0)
            assert script.index("GOOGLE_APPLICATION_CREDENTIALS") < first


def test_credential_configuration_is_an_external_account_without_secret(render, tmp_path):
    """Run the shell lines the OIDC vendors render, with fake values, and read the result."""
    step = next(
        s
        for s in bitbucket_steps(render(ANSWER_SETS["bitbucket_pipelines"]))
        if "make pipeline" in "\n".join(s["script"])
    )
    script = next(line for line in step["script"] if "gcp-credentials.json" in line)
    script = script.replace("/tmp/", f"{tmp_path}/")
    provider = "projects/123/locations/global/workloadIdentityPools/p/providers/bitbucket"
    env = {
        "PATH": "/usr/bin:/bin",
        "BITBUCKET_STEP_OIDC_TOKEN": "header.payload.signature",
        "GCP_WORKLOAD_IDENTITY_PROVIDER": provider,
        "GCP_SERVICE_ACCOUNT": "ml-project-ci@ml-project-prod.iam.gserviceaccount.com",
    }
    subprocess.run(["bash", "-euc", script], env=env, check=True)
    config = json.loads((tmp_path / "gcp-credentials.json").read_text())
    assert config["type"] == "external_account"
    assert config["audience"] == f"//iam.googleapis.com/{provider}"
    assert config["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    assert config["token_url"] == "https://sts.googleapis.com/v1/token"
    assert config["credential_source"] == {"file": f"{tmp_path}/gcp-oidc-token"}
    assert config["service_account_impersonation_url"] == (
        "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
        "ml-project-ci@ml-project-prod.iam.gserviceaccount.com:generateAccessToken"
    )
    assert (tmp_path / "gcp-oidc-token").read_text() == "header.payload.signature"


def test_vendors_without_oidc_take_the_key_from_their_secret_store(render):
    jenkinsfile = (render(ANSWER_SETS["jenkins"]) / "Jenkinsfile").read_text()
    # The release key: the package stage and the retraining (the PR stages hold the
    # pull-request identity's own key, where CI has one: tests/test_ci_jenkins.py).
    assert jenkinsfile.count("GOOGLE_APPLICATION_CREDENTIALS = credentials('gcp-ci-key')") == 2
    travis = yaml.safe_load((render(ANSWER_SETS["travis_ci"]) / ".travis.yml").read_text())
    # The release key, decoded by the jobs that act as the release identity (the package
    # job and the monitor) before the DVC remote is reached.
    release = [step for step in travis["_shared"] if "$GCP_SERVICE_ACCOUNT_KEY_BASE64" in step]
    assert len(release) == 1 and "export GOOGLE_APPLICATION_CREDENTIALS=" in release[0]
    scripts = [job["script"] for job in travis["jobs"]["include"]]
    assert sum(release[0] in script for script in scripts) == 2
    azure = (render(ANSWER_SETS["azure_pipelines"]) / "azure-pipelines.yml").read_text()
    # The release key: the package stage and the retraining; the train stage of pull
    # requests takes the pull-request identity's.
    assert azure.count("secureFile: gcp-ci-key.json") == 2
    assert azure.count("secureFile: gcp-ci-pr-key.json") == 1
    assert azure.count("variable=GOOGLE_APPLICATION_CREDENTIALS]$(gcpKey.secureFilePath)") == 3


def test_readme_tells_the_one_time_setup_and_the_ci_variables(vendor_project):
    vendor, project = vendor_project
    readme = (project / "README.md").read_text()
    assert "gs://ml-project-dvc/dvc" in readme
    # The state bucket comes from the bootstrap module, not from hand-typed commands.
    assert "terraform -chdir=infra/bootstrap/gcp apply" in readme
    assert "cd infra/gcp" in readme and "terraform output ci_variables" in readme
    assert "One-time cloud setup (AWS)" not in readme
    if not PLAN["vendors"][vendor]["oidc"]["gcp"]:
        assert "gcloud iam service-accounts keys create" in readme
    else:
        assert "GCP_WORKLOAD_IDENTITY_PROVIDER" in readme and "GCP_SERVICE_ACCOUNT" in readme
