# The identities CI signs in as: user-assigned managed identities with no secret at all.
# `ci`, the release one, is for the protected default branch and the staging
# environment: it pushes data, models and images, and deploys staging. `ci_production`,
# the production one, is for the production environment's deploy only: it deploys the
# production service and nothing else. `ci_pr`, the pull-request one, reads the DVC
# remote and nothing else, so the code of a pull request holds no right to write
# anything shared. Federated credentials let the OIDC tokens of Azure Pipelines with an
# exact issuer and subject (the trust table, includes/plan.yml) be exchanged for Entra
# ID tokens. What each may do is granted next to each part it touches (dvc_storage.tf,
# registry.tf).
resource "azurerm_user_assigned_identity" "ci" {
  name                = "${var.project}-ci"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

resource "azurerm_user_assigned_identity" "ci_pr" {
  name                = "${var.project}-ci-pr"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

resource "azurerm_user_assigned_identity" "ci_production" {
  name                = "${var.project}-ci-production"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

locals {
  ci_principal_id            = azurerm_user_assigned_identity.ci.principal_id
  ci_client_id               = azurerm_user_assigned_identity.ci.client_id
  ci_pr_principal_id         = azurerm_user_assigned_identity.ci_pr.principal_id
  ci_pr_client_id            = azurerm_user_assigned_identity.ci_pr.client_id
  ci_production_principal_id = azurerm_user_assigned_identity.ci_production.principal_id
  ci_production_client_id    = azurerm_user_assigned_identity.ci_production.client_id
  # The audience Entra ID expects in every federated token.
  federated_audience = ["api://AzureADTokenExchange"]
}

# The pipelines of this project that use the release service connection (main only, by
# its branch control check): Entra ID matches the token's subject exactly.
resource "azurerm_federated_identity_credential" "azure_pipelines" {
  name                      = "azure-pipelines"
  user_assigned_identity_id = azurerm_user_assigned_identity.ci.id
  issuer                    = "https://vstoken.dev.azure.com/${var.azure_devops_organization_id}"
  audience                  = local.federated_audience
  subject                   = "sc://${var.azure_devops_organization}/${var.azure_devops_project}/${var.azure_devops_service_connection}"
}

# The pipelines of this project that use the pull-request service connection: Entra ID
# matches the token's subject exactly.
resource "azurerm_federated_identity_credential" "azure_pipelines_pr" {
  name                      = "azure-pipelines-pr"
  user_assigned_identity_id = azurerm_user_assigned_identity.ci_pr.id
  issuer                    = "https://vstoken.dev.azure.com/${var.azure_devops_organization_id}"
  audience                  = local.federated_audience
  subject                   = "sc://${var.azure_devops_organization}/${var.azure_devops_project}/${var.azure_devops_pr_service_connection}"
}

# The production stage of this project's pipeline, the only user of the production
# service connection (main only, its approvals): Entra ID matches the token's subject
# exactly.
resource "azurerm_federated_identity_credential" "azure_pipelines_production" {
  name                      = "azure-pipelines-production"
  user_assigned_identity_id = azurerm_user_assigned_identity.ci_production.id
  issuer                    = "https://vstoken.dev.azure.com/${var.azure_devops_organization_id}"
  audience                  = local.federated_audience
  subject                   = "sc://${var.azure_devops_organization}/${var.azure_devops_project}/${var.azure_devops_production_service_connection}"
}

# The pull-request identity's only right: it pulls what the release pushed, and writes
# nothing.
resource "azurerm_role_assignment" "ci_pr_dvc" {
  scope                = azurerm_storage_container.dvc.id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = local.ci_pr_principal_id
  principal_type       = "ServicePrincipal"
  description          = "Pull requests of ${var.repository_path} pull the DVC remote."
}
