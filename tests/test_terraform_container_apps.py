"""The Container Apps Terraform of the rendered repository (deploy_target
azure_container_apps), read with python-hcl2: one container app per environment in
multiple-revision mode, with an external ingress on the service port whose traffic deploys
own, probes on /health, a user-assigned identity that pulls the image and writes the
recorded inputs, and a CI role that may release revisions of these apps and nothing more.

Provider schemas cannot be downloaded here, so `terraform validate` cannot run: resource
types are checked against a list taken from the azurerm 5.x documentation, and
test_infra_every_combination runs fmt, python-hcl2 and checkov on every combination.
"""

from pathlib import Path

import pytest

from terraform_hcl import Module, plan, variables_module

COMBOS = {
    # A CI identity federated through OIDC (a user-assigned managed identity).
    "github": {"deploy_target": "azure_container_apps"},
    # A CI app registration, and the DVC remote on Azure too.
    "jenkins": {
        "deploy_target": "azure_container_apps",
        "data_store": "azure_blob",
        "ci_provider": "jenkins",
        "project_name": "Fraud Model",
    },
    # Azure for the data only: no container apps.
    "blob_only": {"data_store": "azure_blob"},
}
WITH_APPS = ["github", "jenkins"]
SLUGS = {"github": "ml-project", "jenkins": "fraud-model"}

# Every resource type this target adds, each checked against website/docs/r/<type>.html.markdown
# of azurerm 5.x.
TARGET_TYPES = {
    "azurerm_container_app",
    "azurerm_container_app_environment",
    "azurerm_log_analytics_workspace",
    "azurerm_key_vault",
    "azurerm_role_assignment",
    "azurerm_role_definition",
    "azurerm_user_assigned_identity",
}


@pytest.fixture(scope="module")
def rendered(render) -> dict[str, Path]:
    return {name: render(data) for name, data in COMBOS.items()}


def azure(project: Path) -> Module:
    return Module(project / "infra" / "azure")


def app(project: Path) -> dict:
    return azure(project).resource("azurerm_container_app", "this")


def test_container_apps_only_for_their_target(rendered):
    assert "container_apps.tf" in azure(rendered["github"]).names
    blob_only = azure(rendered["blob_only"])
    assert "container_apps.tf" not in blob_only.names
    assert "container_port" not in blob_only.named("variable")
    assert "service_urls" not in blob_only.named("output")


@pytest.mark.parametrize("combo", WITH_APPS)
def test_only_documented_types(rendered, combo):
    module = Module(rendered[combo] / "infra" / "azure")
    text = (module.directory / "container_apps.tf").read_text()
    added = {line.split('"')[1] for line in text.splitlines() if line.startswith("resource ")}
    assert added <= TARGET_TYPES, added - TARGET_TYPES


@pytest.mark.parametrize("combo", WITH_APPS)
def test_one_app_per_environment_in_multiple_revision_mode(rendered, combo):
    module = azure(rendered[combo])
    (locals_,) = [block for block in module.blocks["locals"] if "app_names" in block]
    assert locals_["environments"] == '${toset(["staging", "production"])}'
    # <project>-<env>, the project cut so that the name keeps to 32 characters, without a
    # dash before the environment's (deploy/azure_container_apps.py's app_name does the same).
    assert "trimsuffix(substr(var.project, 0, 31 - length(env))" in locals_["app_names"]
    container_app = app(rendered[combo])
    assert container_app["for_each"] == "${local.environments}"
    assert container_app["name"] == "${local.app_names[each.key]}"
    assert container_app["revision_mode"] == "Multiple"
    assert module.named("variable")["project"]["default"] == SLUGS[combo]


@pytest.mark.parametrize("combo", WITH_APPS)
def test_external_ingress_on_the_service_port_with_all_traffic_to_the_latest_at_first(
    rendered, combo
):
    (ingress,) = app(rendered[combo])["ingress"]
    assert ingress["external_enabled"] is True
    assert ingress["target_port"] == "${var.container_port}"
    assert ingress["traffic_weight"] == [{"latest_revision": True, "percentage": 100}]
    assert azure(rendered[combo]).named("variable")["container_port"]["default"] == 8000


@pytest.mark.parametrize("combo", WITH_APPS)
def test_ingress_admits_the_allowed_ranges_only_unless_public_endpoint(rendered, combo):
    (ingress,) = app(rendered[combo])["ingress"]
    assert ingress["allow_insecure_connections"] is False
    (dynamic,) = ingress["dynamic"]
    restriction = dynamic["ip_security_restriction"]
    assert restriction["for_each"] == "${var.public_endpoint ? [] : var.allowed_ip_ranges}"
    (content,) = restriction["content"]
    assert content["action"] == "Allow"
    assert content["ip_address_range"] == "${ip_security_restriction.value}"
    assert azure(rendered[combo]).named("variable")["public_endpoint"]["default"] is False


@pytest.fixture(scope="module")
def apps_variables(rendered, tmp_path_factory) -> Path:
    variables = rendered["github"] / "infra" / "azure" / "variables.tf"
    return variables_module(tmp_path_factory.mktemp("apps-variables"), variables)


SUBSCRIPTION = ["-var", "subscription_id=3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718"]


def test_a_private_app_needs_the_ranges_that_may_call_it(apps_variables):
    refused = plan(apps_variables, *SUBSCRIPTION)
    assert refused.returncode != 0 and 'variable "allowed_ip_ranges"' in refused.stderr
    assert "public_endpoint" in refused.stderr
    ranges = ["-var", 'allowed_ip_ranges=["203.0.113.0/24"]']
    assert plan(apps_variables, *SUBSCRIPTION, *ranges).returncode == 0
    assert plan(apps_variables, *SUBSCRIPTION, "-var", "public_endpoint=true").returncode == 0
    not_cidr = ["-var", 'allowed_ip_ranges=["office"]']
    assert 'variable "allowed_ip_ranges"' in plan(apps_variables, *SUBSCRIPTION, *not_cidr).stderr


@pytest.mark.parametrize("combo", WITH_APPS)
def test_the_container_is_probed_on_health_and_sized(rendered, combo):
    (template,) = app(rendered[combo])["template"]
    (container,) = template["container"]
    assert container["name"] == "${local.container_name}"
    assert container["cpu"] == "${var.app_cpu}"
    assert container["memory"] == "${var.app_memory}"
    for probe in ("liveness_probe", "readiness_probe"):
        (settings,) = container[probe]
        assert (settings["transport"], settings["path"], settings["port"]) == (
            "HTTP",
            "/health",
            "${var.container_port}",
        )
    assert container["image"].endswith("/${var.image_name}:bootstrap")


@pytest.mark.parametrize("combo", WITH_APPS)
def test_the_app_writes_its_inputs_with_its_own_identity(rendered, combo):
    container_app = app(rendered[combo])
    (container,) = container_app["template"][0]["container"]
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    assert env == {
        "INPUT_LOG_URL": "az://${azurerm_storage_container.inputs.name}/${each.key}/",
        "AZURE_STORAGE_ACCOUNT_NAME": "${azurerm_storage_account.inputs.name}",
        "AZURE_CLIENT_ID": "${azurerm_user_assigned_identity.app.client_id}",
    }
    (identity,) = container_app["identity"]
    assert identity == {
        "type": "UserAssigned",
        "identity_ids": ["${azurerm_user_assigned_identity.app.id}"],
    }
    (registry,) = container_app["registry"]
    assert registry["identity"] == "${azurerm_user_assigned_identity.app.id}"
    module = azure(rendered[combo])
    pull = module.resource("azurerm_role_assignment", "app_acr_pull")
    assert (pull["scope"], pull["role_definition_name"]) == (
        "${azurerm_container_registry.this.id}",
        "AcrPull",
    )
    inputs = module.resource("azurerm_role_assignment", "app_inputs")
    assert (inputs["scope"], inputs["role_definition_name"]) == (
        "${azurerm_storage_container.inputs.id}",
        "Storage Blob Data Contributor",
    )
    for assignment in (pull, inputs):
        assert assignment["principal_id"] == "${azurerm_user_assigned_identity.app.principal_id}"


@pytest.mark.parametrize("combo", WITH_APPS)
def test_terraform_leaves_what_deploys_change_alone(rendered, combo):
    (lifecycle,) = app(rendered[combo])["lifecycle"]
    assert set(lifecycle["ignore_changes"]) == {
        "${template[0].container[0].image}",
        "${template[0].revision_suffix}",
        "${ingress[0].traffic_weight}",
    }


@pytest.mark.parametrize("combo", WITH_APPS)
def test_ci_may_release_revisions_of_these_apps_and_nothing_more(rendered, combo):
    module = azure(rendered[combo])
    role = module.resource("azurerm_role_definition", "ci_container_apps")
    (permissions,) = role["permissions"]
    actions = set(permissions["actions"])
    (joins,) = module.resource("azurerm_role_definition", "ci_container_apps_environment")[
        "permissions"
    ]
    actions |= set(joins["actions"])
    # What deploy/azure_container_apps.py calls: GET/PATCH the app, GET its revisions and
    # their environment, deactivate replaced revisions.
    assert {
        "Microsoft.App/containerApps/read",
        "Microsoft.App/containerApps/write",
        "Microsoft.App/containerApps/revisions/read",
        "Microsoft.App/containerApps/revisions/deactivate/action",
        "Microsoft.App/managedEnvironments/read",
    } <= actions
    assert not any("*" in action or action.endswith("/delete") for action in actions)
    assert role["assignable_scopes"] == ["${azurerm_resource_group.this.id}"]
    # The release identity deploys the staging app and the production identity the
    # production app, whether they are federated (GitHub) or hold keys (Jenkins).
    deployers = {
        "ci": '${azurerm_container_app.this["staging"].id}',
        "ci_production": '${azurerm_container_app.this["production"].id}',
    }
    for identity, scope in deployers.items():
        assignment = module.resource("azurerm_role_assignment", f"{identity}_container_apps")
        assert assignment["principal_id"] == f"${{local.{identity}_principal_id}}"
        assert assignment["scope"] == scope
        assert assignment["role_definition_id"] == (
            "${azurerm_role_definition.ci_container_apps.role_definition_resource_id}"
        )
    push = module.resource("azurerm_role_assignment", "ci_acr")
    assert push["role_definition_name"] == "AcrPush"


@pytest.mark.parametrize("combo", WITH_APPS)
def test_every_new_variable_and_output_is_documented_and_validated(rendered, combo):
    module = azure(rendered[combo])
    variables, outputs = module.named("variable"), module.named("output")
    for name in (
        "image_name",
        "container_port",
        "app_cpu",
        "app_memory",
        "min_replicas",
        "max_replicas",
        "log_retention_days",
    ):
        assert variables[name]["description"].strip(), name
        assert variables[name]["validation"], name
    assert variables["image_name"]["default"] == SLUGS[combo]
    for name in ("container_app_names", "service_urls", "resource_group_name"):
        assert outputs[name]["description"].strip(), name


def test_the_environment_logs_to_its_workspace(rendered):
    module = azure(rendered["github"])
    environment = module.resource("azurerm_container_app_environment", "this")
    assert environment["logs_destination"] == "log-analytics"
    assert environment["log_analytics_workspace_id"] == (
        "${azurerm_log_analytics_workspace.apps.id}"
    )
    workspace = module.resource("azurerm_log_analytics_workspace", "apps")
    assert workspace["retention_in_days"] == "${var.log_retention_days}"


def test_github_deploy_jobs_reach_azure_through_their_environments(rendered):
    """cd.yml's deploy jobs run in the environments staging and production, whose tokens
    carry that environment in their subject: each needs a federated credential."""
    (subjects,) = [b for b in azure(rendered["github"]).blocks["locals"] if "github_subjects" in b]
    assert subjects["github_subjects"] == {
        "main": "repo:${var.repository_path}:ref:refs/heads/main",
        "staging": "repo:${var.repository_path}:environment:staging",
    }
    (subjects,) = [
        b for b in azure(rendered["github"]).blocks["locals"] if "github_production_subjects" in b
    ]
    assert subjects["github_production_subjects"] == {
        "production": "repo:${var.repository_path}:environment:production",
    }
    # Pull requests sign in as the pull-request identity, where the DVC remote is on Azure.
    blob_only = azure(rendered["blob_only"]).blocks["locals"]
    (subjects,) = [b for b in blob_only if "github_subjects" in b]
    assert set(subjects["github_subjects"]) == {"main"}
    (subjects,) = [b for b in blob_only if "github_pr_subjects" in b]
    assert set(subjects["github_pr_subjects"]) == {"main", "pull-requests"}
