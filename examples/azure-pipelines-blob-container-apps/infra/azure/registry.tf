# The image registry. CI pushes one tag per commit with its Entra ID identity (the admin
# user stays off): `make registry-login build REGISTRY=<login server>`.
resource "azurerm_container_registry" "this" {
  #checkov:skip=CKV_AZURE_139:Hosted CI runners push over the internet; Entra ID is the gate (no admin user, no anonymous pull).
  #checkov:skip=CKV_AZURE_165:Geo-replication is a Premium feature; one region serves this project.
  #checkov:skip=CKV_AZURE_166:Quarantine is a Premium feature with a scanner to release images; CI pushes gated images only.
  #checkov:skip=CKV_AZURE_167:Retention of untagged manifests is a Premium feature; every image CI pushes is tagged.
  #checkov:skip=CKV_AZURE_233:Zone redundancy is a Premium feature.
  #checkov:skip=CKV_AZURE_237:Dedicated data endpoints are a Premium feature that matters with firewall rules, which this registry does not have.
  #checkov:skip=CKV_AZURE_164:Content trust (trust_policy_enabled) is retired by Azure and was removed in azurerm 5.0.
  #checkov:skip=CKV_AZURE_163:Vulnerability scanning is Microsoft Defender for Containers, enabled per subscription, not per registry.
  name                = var.registry_name
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  sku                 = "Standard"

  admin_enabled          = false
  anonymous_pull_enabled = false

  tags = local.tags
}

# CI pushes (and pulls) images of this registry, and nothing else.
resource "azurerm_role_assignment" "ci_acr" {
  scope                = azurerm_container_registry.this.id
  role_definition_name = "AcrPush"
  principal_id         = local.ci_principal_id
  principal_type       = "ServicePrincipal"
  description          = "CI of ${var.repository_path} pushes images."
}
