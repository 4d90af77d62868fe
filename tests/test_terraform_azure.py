"""The Azure Terraform of the rendered repository (data_store azure_blob): infra/azure
exists exactly when an answer needs Azure, is formatted, parses, documents and validates
every variable, keeps its state in the azurerm backend with Entra ID, and holds the
README's promises: a private, versioned storage account that takes no shared key, a
registry without an admin user, and a CI identity that only this repository's CI can use,
through OIDC where the vendor allows it, with least-privilege roles.

Provider schemas cannot be downloaded here, so `terraform validate` cannot run: resource
types are checked against a list taken from the azurerm 5.x and azuread 3.x documentation.
"""

from pathlib import Path

import pytest

from terraform_hcl import Module, plan, variables_module

COMBOS = {
    "github": {"data_store": "azure_blob"},
    "pipelines": {
        "data_store": "azure_blob",
        "ci_provider": "azure_pipelines",
        "project_name": "Fraud Model",
        "azure_location": "northeurope",
        "azure_storage_account": "acmefrauddvc",
        "azure_container": "fraud-data",
        "azure_state_storage_account": "acmetfstate",
        "repository_path": "acme/fraud-model",
    },
    "gitlab": {"data_store": "azure_blob", "ci_provider": "gitlab_ci"},
    "jenkins": {"data_store": "azure_blob", "ci_provider": "jenkins"},
}
OIDC = {"github": "github_actions", "pipelines": "azure_pipelines", "gitlab": "gitlab_ci"}

# Every resource and data source type the module may use, each checked against
# website/docs/{r,d}/<type>.html.markdown of azurerm 5.x and docs/ of azuread 3.x.
DOCUMENTED_TYPES = {
    "resource": {
        "azurerm_container_registry",
        "azurerm_federated_identity_credential",
        "azurerm_resource_group",
        "azurerm_role_assignment",
        "azurerm_storage_account",
        "azurerm_storage_container",
        "azurerm_storage_management_policy",
        "azurerm_user_assigned_identity",
        "azuread_application",
        "azuread_service_principal",
    },
    "data": {"azurerm_client_config", "azuread_client_config"},
}


@pytest.fixture(scope="module")
def rendered(render) -> dict[str, Path]:
    return {name: render(data) for name, data in COMBOS.items()}


def azure(project: Path) -> Module:
    return Module(project / "infra" / "azure")


@pytest.mark.parametrize("combo", COMBOS)
def test_only_azure_infra_is_rendered(rendered, combo):
    assert (rendered[combo] / "infra" / "azure" / "versions.tf").is_file()
    assert not (rendered[combo] / "infra" / "aws").exists()
    assert not (rendered[combo] / "infra" / "gcp").exists()


@pytest.mark.parametrize("combo", COMBOS)
def test_only_documented_types(rendered, combo):
    module = azure(rendered[combo])
    for kind, documented in DOCUMENTED_TYPES.items():
        used = {type_ for type_, _ in module.typed(kind)}
        assert used <= documented, f"undocumented {kind} {used - documented}"


@pytest.mark.parametrize("combo", COMBOS)
def test_every_variable_and_output_is_documented_and_validated(rendered, combo):
    module = azure(rendered[combo])
    for kind in ("variable", "output"):
        for name, body in module.named(kind).items():
            assert body.get("description", "").strip(), f"{kind} {name}"
    for name, body in module.named("variable").items():
        assert body.get("validation"), f"variable {name} has no validation block"


def test_answers_reach_the_terraform(rendered):
    module = azure(rendered["pipelines"])
    variables = module.named("variable")
    assert variables["project"]["default"] == "fraud-model"
    assert variables["location"]["default"] == "northeurope"
    assert variables["dvc_storage_account_name"]["default"] == "acmefrauddvc"
    assert variables["dvc_container_name"]["default"] == "fraud-data"
    assert variables["repository_path"]["default"] == "acme/fraud-model"
    assert variables["azure_devops_organization"]["default"] == "acme"
    assert variables["azure_devops_project"]["default"] == "fraud-model"
    assert variables["azure_devops_service_connection"]["default"] == "fraud-model-azure"
    assert "default" not in variables["subscription_id"]


@pytest.mark.parametrize("combo", COMBOS)
def test_state_is_in_azure_storage_with_entra_id_and_providers_are_pinned(rendered, combo):
    module = azure(rendered[combo])
    (terraform,) = module.blocks["terraform"]
    (backend,) = terraform["backend"]
    state = backend["azurerm"]
    expected = COMBOS[combo].get("azure_state_storage_account")
    assert state["storage_account_name"] == (expected or "mlprojecttfstate")
    assert state["container_name"] == "tfstate"
    assert state["key"].endswith("azure.tfstate")
    assert state["use_azuread_auth"] is True
    assert "access_key" not in state and "sas_token" not in state
    (providers,) = terraform["required_providers"]
    assert providers["azurerm"] == {"source": "hashicorp/azurerm", "version": "~> 5.0"}
    (provider,) = [p["azurerm"] for p in module.blocks["provider"] if "azurerm" in p]
    assert provider["storage_use_azuread"] is True


@pytest.mark.parametrize("combo", COMBOS)
def test_dvc_storage_is_private_versioned_and_entra_id_only(rendered, combo):
    module = azure(rendered[combo])
    account = module.resource("azurerm_storage_account", "dvc")
    assert account["account_kind"] == "StorageV2"
    assert account["min_tls_version"] == "TLS1_2"
    assert account["https_traffic_only_enabled"] is True
    assert account["allow_nested_items_to_be_public"] is False
    assert account["shared_access_key_enabled"] is False
    (blob,) = account["blob_properties"]
    assert blob["versioning_enabled"] is True
    assert blob["delete_retention_policy"][0]["days"] == "${var.dvc_soft_delete_days}"
    container = module.resource("azurerm_storage_container", "dvc")
    assert container["container_access_type"] == "private"
    assert container["storage_account_id"] == "${azurerm_storage_account.dvc.id}"
    (rule,) = module.resource("azurerm_storage_management_policy", "dvc")["rule"]
    version = rule["actions"][0]["version"][0]
    assert version["delete_after_days_since_creation"] == "${var.dvc_noncurrent_version_days}"


@pytest.mark.parametrize("combo", COMBOS)
def test_ci_roles_are_least_privilege(rendered, combo):
    module = azure(rendered[combo])
    assignments = {
        name: body
        for (type_, name), body in module.typed("resource").items()
        if type_ == "azurerm_role_assignment"
    }
    expected = {
        "ci_dvc": ("Storage Blob Data Contributor", "${azurerm_storage_container.dvc.id}"),
        "ci_acr": ("AcrPush", "${azurerm_container_registry.this.id}"),
    }
    # The pull-request identity (federated, or an app registration with a secret of its
    # own) reads the DVC remote, and nothing else.
    expected["ci_pr_dvc"] = ("Storage Blob Data Reader", "${azurerm_storage_container.dvc.id}")
    assert {n: (a["role_definition_name"], a["scope"]) for n, a in assignments.items()} == expected
    registry = module.resource("azurerm_container_registry", "this")
    assert registry["admin_enabled"] is False
    assert registry["anonymous_pull_enabled"] is False


@pytest.mark.parametrize("combo", OIDC)
def test_oidc_vendors_federate_a_managed_identity_with_exact_subjects(rendered, combo):
    module = azure(rendered[combo])
    assert ("azurerm_user_assigned_identity", "ci") in module.typed("resource")
    assert "azuread_application" not in module.text
    credentials = [
        body
        for (type_, _), body in module.typed("resource").items()
        if type_ == "azurerm_federated_identity_credential"
    ]
    assert credentials
    for credential in credentials:
        # The production identity's, on GitLab, takes the production job's own audience.
        production = "${var.production_oidc_audience}"
        assert credential["audience"] in ("${local.federated_audience}", [production])
    text = module.text
    assert "*" not in "".join(str(c["subject"]) for c in credentials)
    if combo == "github":
        assert "https://token.actions.githubusercontent.com" in text
        assert "repo:${var.repository_path}:ref:refs/heads/main" in text
        assert "repo:${var.repository_path}:pull_request" in text
    elif combo == "gitlab":
        assert "project_path:${var.repository_path}:ref_type:branch:ref:${each.value}" in text
    else:
        # One service connection per identity, when the DVC remote is on Azure.
        for credential in credentials:
            assert credential["issuer"].startswith("https://vstoken.dev.azure.com/")
            assert credential["subject"].startswith("sc://")


def test_ci_without_oidc_gets_an_app_registration_without_a_secret(rendered):
    module = azure(rendered["jenkins"])
    resources = {type_ for type_, _ in module.typed("resource")}
    assert {"azuread_application", "azuread_service_principal"} <= resources
    assert "azurerm_user_assigned_identity" not in resources
    assert not {"azuread_application_password", "azuread_service_principal_password"} & resources
    assert "password" not in module.resource("azuread_application", "ci")


@pytest.mark.parametrize("combo", COMBOS)
def test_outputs_give_the_ci_settings(rendered, combo):
    outputs = azure(rendered[combo]).named("output")
    ci_variables = outputs["ci_variables"]["value"]
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID", "REGISTRY"):
        assert name in ci_variables


@pytest.fixture(scope="module")
def variables_only(rendered, tmp_path_factory) -> Path:
    """variables.tf (the vendor's inputs included) alone."""
    module = rendered["pipelines"] / "infra" / "azure"
    return variables_module(tmp_path_factory.mktemp("azure-variables"), module / "variables.tf")


GOOD = [
    "-var",
    "subscription_id=3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718",
    "-var",
    "azure_devops_organization_id=3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718",
]
BAD_VALUES = {
    "subscription_id": "my-subscription",
    "location": "West Europe",
    "dvc_storage_account_name": "Fraud-Data",
    "dvc_container_name": "a--b",
    "registry_name": "acr",
    "dvc_soft_delete_days": "400",
    "azure_devops_organization_id": "{abc}",
}


def test_default_variables_are_valid(variables_only):
    result = plan(variables_only, *GOOD)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", BAD_VALUES)
def test_validation_refuses_wrong_values(variables_only, name):
    result = plan(variables_only, *GOOD, "-var", f"{name}={BAD_VALUES[name]}")
    assert result.returncode != 0
    assert "Invalid value for variable" in result.stderr
    assert f'variable "{name}"' in result.stderr
