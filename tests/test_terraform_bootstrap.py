"""infra/bootstrap/<cloud>: the one-time module that creates the store of Terraform's state
before the cloud's own module, which names it in its backend. Read with python-hcl2: the
store is the one the backend names, private, encrypted, versioned and kept from deletion
(AWS: public access blocked, TLS-only bucket policy, the S3 lock file needs Terraform
1.11); the rendered README creates it with this module instead of hand-typed commands.
test_infra_every_combination runs fmt, python-hcl2 and checkov over it in every combination,
test_terraform_schema checks it against the provider schemas."""

import re
from pathlib import Path

import pytest

from terraform_hcl import Module

# Answer sets other tests render too (one per cloud).
ANSWERS = {
    "aws": {"data_store": "s3", "deploy_target": "docker_compose"},
    "gcp": {"deploy_target": "gcp_cloud_run"},
    "azure": {"deploy_target": "azure_container_apps"},
}
# What creating a state store by hand looked like: the README runs the module instead.
HAND_TYPED = ("s3api create-bucket", "gcloud storage buckets create", "az storage account create")


@pytest.fixture(scope="module", params=sorted(ANSWERS))
def cloud_project(request, render) -> tuple[str, Path]:
    return request.param, render(ANSWERS[request.param])


def modules(cloud_project) -> tuple[dict, Module]:
    """The backend block of infra/<cloud>, and the bootstrap module."""
    cloud, project = cloud_project
    versions = Module(project / "infra" / cloud).blocks["terraform"][0]
    (backend,) = versions["backend"]
    return next(iter(backend.values())), Module(project / "infra" / "bootstrap" / cloud)


def test_only_the_clouds_own_state_module_renders(cloud_project):
    cloud, project = cloud_project
    assert sorted(p.name for p in (project / "infra" / "bootstrap").iterdir()) == [cloud]


def test_the_store_is_the_one_the_backend_names_and_survives_destroy(cloud_project):
    cloud, _ = cloud_project
    backend, bootstrap = modules(cloud_project)
    variables = bootstrap.named("variable")
    if cloud == "aws":
        assert variables["state_bucket"]["default"] == backend["bucket"]
        assert variables["aws_region"]["default"] == backend["region"]
        store = bootstrap.resource("aws_s3_bucket", "state")
        assert store["bucket"] == "${var.state_bucket}"
    elif cloud == "gcp":
        assert variables["state_bucket"]["default"] == backend["bucket"]
        store = bootstrap.resource("google_storage_bucket", "state")
        assert store["name"] == "${var.state_bucket}"
    else:
        assert variables["state_storage_account"]["default"] == backend["storage_account_name"]
        group = bootstrap.resource("azurerm_resource_group", "state")
        assert group["name"] == backend["resource_group_name"]
        container = bootstrap.resource("azurerm_storage_container", "tfstate")
        assert container["name"] == backend["container_name"]
        assert container["container_access_type"] == "private"
        store = bootstrap.resource("azurerm_storage_account", "state")
    assert store["lifecycle"] == [{"prevent_destroy": True}]
    (terraform,) = bootstrap.blocks["terraform"]
    assert "backend" not in terraform, "the state module keeps its own small state locally"
    assert re.fullmatch(r">= 1\.1[1-9]", terraform["required_version"])


def test_the_store_is_private_encrypted_and_versioned(cloud_project):
    cloud, _ = cloud_project
    _, bootstrap = modules(cloud_project)
    if cloud == "aws":
        block = bootstrap.resource("aws_s3_bucket_public_access_block", "state")
        flags = ("block_public_acls", "block_public_policy", "ignore_public_acls")
        assert all(block[flag] is True for flag in (*flags, "restrict_public_buckets"))
        sse = bootstrap.resource("aws_s3_bucket_server_side_encryption_configuration", "state")
        (rule,) = sse["rule"]
        assert rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
        versioning = bootstrap.resource("aws_s3_bucket_versioning", "state")
        assert versioning["versioning_configuration"] == [{"status": "Enabled"}]
        (statement,) = bootstrap.typed("data")[("aws_iam_policy_document", "state")]["statement"]
        assert (statement["effect"], statement["actions"]) == ("Deny", ["s3:*"])
        assert statement["condition"] == [
            {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
        ]
        ownership = bootstrap.resource("aws_s3_bucket_ownership_controls", "state")
        assert ownership["rule"] == [{"object_ownership": "BucketOwnerEnforced"}]
    elif cloud == "gcp":
        bucket = bootstrap.resource("google_storage_bucket", "state")
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["versioning"] == [{"enabled": True}]
    else:
        account = bootstrap.resource("azurerm_storage_account", "state")
        assert account["shared_access_key_enabled"] is False
        assert account["allow_nested_items_to_be_public"] is False
        assert account["min_tls_version"] == "TLS1_2"
        assert account["https_traffic_only_enabled"] is True
        (blob,) = account["blob_properties"]
        assert blob["versioning_enabled"] is True
        owner = bootstrap.resource("azurerm_role_assignment", "state_owner")
        assert owner["role_definition_name"] == "Storage Blob Data Owner"
        assert owner["scope"] == "${azurerm_storage_account.state.id}"


def test_the_readme_creates_the_store_with_the_module(cloud_project):
    cloud, project = cloud_project
    readme = (project / "README.md").read_text()
    for step in ("init", "apply"):
        assert f"terraform -chdir=infra/bootstrap/{cloud} {step}" in readme
    assert not [command for command in HAND_TYPED if command in readme]
    # The module is applied before the cloud's own one.
    assert readme.index(f"infra/bootstrap/{cloud} apply") < readme.index(f"cd infra/{cloud}")
