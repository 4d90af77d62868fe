# The identity CI signs in as: a user-assigned managed identity with no secret at all.
# Its federated credentials (ci_<vendor>.tf) let the CI vendor's OIDC tokens with an exact
# issuer and subject be exchanged for its Entra ID tokens. What it may do is granted next
# to each part it touches (dvc_storage.tf, registry.tf).
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
