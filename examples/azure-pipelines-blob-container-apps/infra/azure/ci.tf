# The identity CI signs in as: a user-assigned managed identity with no secret at all.
# Its federated credentials let the OIDC tokens of Azure Pipelines with an exact issuer
# and subject (the trust table, includes/plan.yml) be exchanged for its Entra ID tokens.
# What it may do is granted next to each part it touches (dvc_storage.tf, registry.tf).
resource "azurerm_user_assigned_identity" "ci" {
  name                = "${var.project}-ci"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

locals {
  ci_principal_id = azurerm_user_assigned_identity.ci.principal_id
  ci_client_id    = azurerm_user_assigned_identity.ci.client_id
  # The audience Entra ID expects in every federated token.
  federated_audience = "api://AzureADTokenExchange"
}

# The pipelines of this project that use the service connection: Entra ID matches the token's subject exactly.
resource "azurerm_federated_identity_credential" "azure_pipelines" {
  name                      = "azure-pipelines"
  user_assigned_identity_id = azurerm_user_assigned_identity.ci.id
  issuer                    = "https://vstoken.dev.azure.com/${var.azure_devops_organization_id}"
  audience                  = local.federated_audience
  subject                   = "sc://${var.azure_devops_organization}/${var.azure_devops_project}/${var.azure_devops_service_connection}"
}
