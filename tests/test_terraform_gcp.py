"""The Google Cloud Terraform of the rendered repository: infra/gcp exists exactly when an
answer needs Google Cloud, is formatted, parses, documents and validates its variables,
keeps its state in a GCS bucket, and holds the promises of the README: a private,
versioned DVC bucket, an Artifact Registry repository, and a CI service account that only
this repository's CI can act as (workload identity federation where the CI vendor has
OIDC, a hand-made key otherwise), with rights on those two resources only.

Provider schemas cannot be downloaded here, so `terraform validate` cannot run: resource
types are checked against a list taken from the Google provider (7.x) documentation,
website/docs/r/<type>.html.markdown.
"""

import re
from pathlib import Path

import pytest
import yaml

from conftest import PLAN, offered
from terraform_hcl import Module, plan, variables_module

VENDORS = offered("ci_provider")
KEY_VENDORS = {v for v in VENDORS if not PLAN["vendors"][v]["oidc"]["gcp"]}
# One answer set per CI vendor: the same dicts as tests/test_render.py's, so the session's
# render cache renders each once.
ANSWER_SETS = {
    vendor: {"ci_provider": vendor, "data_store": "gcs", "deploy_target": "docker_compose"}
    for vendor in VENDORS
}
CUSTOM = {
    "ci_provider": "gitlab_ci",
    "data_store": "gcs",
    "deploy_target": "docker_compose",
    "project_name": "Fraud Model",
    "gcp_project_id": "acme-fraud-prod",
    "gcp_region": "us-central1",
    "gcs_bucket": "acme-fraud-dvc",
    "terraform_state_bucket": "acme-tfstate",
    "repository_path": "acme/ml/fraud-model",
    "gitlab_url": "https://gitlab.acme.example",
}

DOCUMENTED_TYPES = {
    "google_artifact_registry_repository",
    "google_artifact_registry_repository_iam_member",
    "google_iam_workload_identity_pool",
    "google_iam_workload_identity_pool_provider",
    "google_project_service",
    "google_service_account",
    "google_service_account_iam_member",
    "google_storage_bucket",
    "google_storage_bucket_iam_member",
}


def issuer(vendor: str) -> str:
    """The issuer the plan's trust table gives the vendor, as Terraform prints it."""
    value = PLAN["vendors"][vendor]["trust"]["issuer"]
    return "${var." + value["var"] + "}" if isinstance(value, dict) else value


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def vendor_project(request, render) -> tuple[str, Path]:
    return request.param, render(ANSWER_SETS[request.param])


@pytest.fixture(scope="module")
def custom_project(render) -> Path:
    return render(CUSTOM)


def gcp(project: Path) -> Module:
    return Module(project / "infra" / "gcp")


# ------------------------------------------------------------------ which files exist


def test_one_module_for_google_cloud_and_one_ci_identity_file(vendor_project):
    vendor, project = vendor_project
    assert sorted(p.name for p in (project / "infra").iterdir()) == ["bootstrap", "gcp"]
    assert sorted(p.name for p in (project / "infra" / "bootstrap").iterdir()) == ["gcp"]
    files = set(gcp(project).names)
    assert {"versions.tf", "variables.tf", "outputs.tf", "main.tf", "ci.tf"} <= files
    assert {"dvc_bucket.tf", "registry.tf"} <= files
    assert {f for f in files if f.startswith("ci")} == {"ci.tf"}


def test_no_google_cloud_module_without_google_cloud(render):
    for answers in ({}, {"data_store": "s3"}, {"data_store": "ssh"}):
        assert not (render(answers) / "infra" / "gcp").exists()


# ------------------------------------------------------------- format, parse, types


def test_only_documented_google_types(vendor_project):
    _, project = vendor_project
    module = gcp(project)
    assert {type_ for type_, _ in module.resources()} <= DOCUMENTED_TYPES
    assert not module.blocks.get("data"), "no data sources: everything is created here"


def test_every_variable_and_output_is_documented_and_free_values_validated(vendor_project):
    _, project = vendor_project
    module = gcp(project)
    for kind in ("variable", "output"):
        for name, body in module.named(kind).items():
            assert body.get("description", "").strip(), f"{kind} {name}"
    for name, body in module.named("variable").items():
        assert body.get("validation"), f"variable {name} has no validation block"


def test_variable_defaults_are_the_answers(custom_project):
    given = yaml.safe_load((custom_project / ".copier-answers.yml").read_text())
    variables = gcp(custom_project).named("variable")
    assert variables["project"]["default"] == "fraud-model"
    assert variables["project_id"]["default"] == given["gcp_project_id"]
    assert variables["region"]["default"] == given["gcp_region"]
    assert variables["repository_path"]["default"] == given["repository_path"]
    assert variables["dvc_bucket_name"]["default"] == given["gcs_bucket"]
    assert variables["gitlab_url"]["default"] == given["gitlab_url"]


BAD_VALUES = {
    "project": "Fraud_Model",
    "project_id": "My_Project",
    "region": "europe",
    "repository_path": "fraud-model",
    "dvc_bucket_name": "google-data",
    "dvc_soft_delete_days": "3",
    "registry_keep_images": "0",
    "gitlab_url": "http://gitlab.example.com/",
}


@pytest.fixture(scope="module")
def variables_only(custom_project, tmp_path_factory) -> Path:
    """The variables of the custom render (its vendor's inputs included) alone."""
    module = custom_project / "infra" / "gcp"
    return variables_module(tmp_path_factory.mktemp("gcp-variables"), module / "variables.tf")


def test_default_variables_are_valid(variables_only):
    result = plan(variables_only)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", BAD_VALUES)
def test_validation_refuses_wrong_values(variables_only, name):
    result = plan(variables_only, "-var", f"{name}={BAD_VALUES[name]}")
    assert result.returncode != 0
    assert "Invalid value for variable" in result.stderr
    assert f'variable "{name}"' in result.stderr


# ------------------------------------------------------------- state and providers


def test_state_is_in_the_gcs_bucket_and_the_provider_is_pinned(custom_project):
    module = gcp(custom_project)
    (block,) = module.blocks["terraform"]
    (backend,) = block["backend"]
    assert backend["gcs"] == {"bucket": "acme-tfstate", "prefix": "fraud-model/gcp"}
    assert re.fullmatch(r">= 1\.1[1-9]", block["required_version"])
    (providers,) = block["required_providers"]
    assert providers["google"]["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> 8\.\d+", providers["google"]["version"])
    (provider,) = module.blocks["provider"]
    assert provider["google"]["project"] == "${var.project_id}"


# ------------------------------------------------------------- bucket and registry


def test_dvc_bucket_is_private_versioned_cleaned_and_soft_deleting(custom_project):
    bucket = gcp(custom_project).resource("google_storage_bucket", "dvc")
    assert bucket["name"] == "${var.dvc_bucket_name}"
    assert bucket["location"] == "${var.region}"
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"] == [{"enabled": True}]
    assert "force_destroy" not in bucket
    rules = {rule["action"][0]["type"]: rule["condition"][0] for rule in bucket["lifecycle_rule"]}
    assert rules["Delete"]["with_state"] == "ARCHIVED"
    assert rules["Delete"]["days_since_noncurrent_time"] == "${var.dvc_noncurrent_version_days}"
    (soft_delete,) = bucket["soft_delete_policy"]
    assert soft_delete["retention_duration_seconds"] == "${var.dvc_soft_delete_days * 86400}"


def test_registry_is_docker_immutable_and_cleaned_up(custom_project):
    registry = gcp(custom_project).resource("google_artifact_registry_repository", "images")
    assert registry["format"] == "DOCKER"
    assert registry["docker_config"] == [{"immutable_tags": True}]
    assert registry["cleanup_policy_dry_run"] is False
    policies = {p["id"]: p for p in registry["cleanup_policies"]}
    assert policies["delete-untagged"]["condition"][0]["tag_state"] == "UNTAGGED"
    keep = policies["keep-newest"]
    assert keep["action"] == "KEEP"
    assert keep["most_recent_versions"][0]["keep_count"] == "${var.registry_keep_images}"


def test_ci_service_account_has_rights_on_the_bucket_and_the_registry_only(vendor_project):
    _, project = vendor_project
    resources = gcp(project).resources()
    grants = {
        type_: body
        for (type_, _), body in resources.items()
        if type_.endswith(("_iam_member", "_iam_binding", "_iam_policy"))
    }
    member = "${google_service_account.ci.member}"
    bucket = grants["google_storage_bucket_iam_member"]
    assert (bucket["bucket"], bucket["role"], bucket["member"]) == (
        "${google_storage_bucket.dvc.name}",
        "roles/storage.objectAdmin",
        member,
    )
    registry = grants["google_artifact_registry_repository_iam_member"]
    assert (registry["role"], registry["member"]) == ("roles/artifactregistry.writer", member)
    assert not any(t.startswith(("google_project_iam", "google_organization_iam")) for t in grants)


# --------------------------------------------------------------------- CI identity


def test_only_this_repository_can_act_as_the_ci_service_account(vendor_project):
    vendor, project = vendor_project
    resources = gcp(project).resources()
    if vendor in KEY_VENDORS:
        assert not any(t.startswith("google_iam_workload_identity") for t, _ in resources)
        assert "google_service_account_key" not in {t for t, _ in resources}
        return
    provider = resources[("google_iam_workload_identity_pool_provider", "ci")]
    (oidc,) = provider["oidc"]
    assert oidc["issuer_uri"] == issuer(vendor)
    assert "google.subject" in provider["attribute_mapping"]
    condition = provider["attribute_condition"]
    if vendor == "bitbucket_pipelines":
        assert "var.bitbucket_repository_uuid" in condition
    else:
        assert "${var.repository_path}" in condition
    binding = resources[("google_service_account_iam_member", "ci_workload_identity")]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["service_account_id"] == "${google_service_account.ci.name}"
    # The release service account: tokens whose mapped attribute.release is "true".
    assert binding["member"] == "${local.ci_pool}/attribute.release/true"
    assert "attribute.release" in provider["attribute_mapping"]
    (locals_,) = [b for b in gcp(project).blocks["locals"] if "ci_pool" in b]
    assert locals_["ci_pool"] == (
        "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.ci.name}"
    )


def test_outputs_give_the_ci_settings(vendor_project):
    vendor, project = vendor_project
    outputs = gcp(project).named("output")
    variables = outputs["ci_variables"]["value"]
    # The pull-request service account too (the remote is on GCS), whose key CI keeps
    # apart where it has no OIDC.
    expected = {"GCP_SERVICE_ACCOUNT", "GCP_PR_SERVICE_ACCOUNT", "GCP_PROJECT_ID", "REGISTRY"}
    if vendor not in KEY_VENDORS:
        # OIDC: the provider.
        expected |= {"GCP_WORKLOAD_IDENTITY_PROVIDER"}
    assert set(variables) == expected
    assert {"ci_service_account", "project_id", "dvc_bucket_name", "registry"} <= set(outputs)


def test_custom_answers_reach_the_terraform(custom_project):
    text = "\n".join(p.read_text() for p in (custom_project / "infra" / "gcp").glob("*.tf"))
    for value in (
        "acme-tfstate",
        "acme-fraud-prod",
        "us-central1",
        "acme-fraud-dvc",
        "acme/ml/fraud-model",
        "https://gitlab.acme.example",
    ):
        assert value in text, value
