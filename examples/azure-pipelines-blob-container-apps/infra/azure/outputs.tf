# After `terraform apply`, `terraform output ci_variables` prints exactly what to set as
# variables (not secrets: none of these values is confidential) in the CI settings.

output "ci_client_id" {
  description = "Client ID of the release CI identity (the protected default branch and the staging environment): the CI variable AZURE_CLIENT_ID."
  value       = local.ci_client_id
}

output "ci_pr_client_id" {
  description = "Client ID of the pull-request CI identity (every other run; it reads the DVC remote only): the CI variable AZURE_PR_CLIENT_ID."
  value       = local.ci_pr_client_id
}

output "ci_production_client_id" {
  description = "Client ID of the production CI identity (the production environment's deploy only): the CI variable AZURE_PRODUCTION_CLIENT_ID (README: where it goes)."
  value       = local.ci_production_client_id
}

output "tenant_id" {
  description = "Entra ID tenant of the CI identity: the CI variable AZURE_TENANT_ID."
  value       = data.azurerm_client_config.current.tenant_id
}

output "subscription_id" {
  description = "Subscription of every resource: the CI variable AZURE_SUBSCRIPTION_ID."
  value       = var.subscription_id
}

output "registry_login_server" {
  description = "Login server of the container registry: the CI variable REGISTRY (the Makefile pushes REGISTRY/IMAGE:TAG)."
  value       = azurerm_container_registry.this.login_server
}

output "dvc_remote_url" {
  description = "URL of the DVC remote in the storage account dvc_storage_account (.dvc/config already has both)."
  value       = "azure://${azurerm_storage_container.dvc.name}/dvc"
}

output "dvc_storage_account" {
  description = "Storage account of the DVC remote: account_name in .dvc/config."
  value       = azurerm_storage_account.dvc.name
}

output "container_app_names" {
  description = "Container app of each environment, by environment (in the resource group resource_group_name)."
  value       = { for env, app in azurerm_container_app.this : env => app.name }
}

output "resource_group_name" {
  description = "Resource group of every resource; deploy/azure_container_apps.py reads it from AZURE_RESOURCE_GROUP when it is not the default."
  value       = azurerm_resource_group.this.name
}

output "service_urls" {
  description = "Base URL of each environment, by environment (GET /health, POST /predict)."
  value       = { for env, app in azurerm_container_app.this : env => "https://${app.ingress[0].fqdn}" }
}

output "ci_variables" {
  description = "Every variable to set in the CI settings, by name (the README's CI section says where)."
  value = {
    AZURE_CLIENT_ID            = local.ci_client_id
    AZURE_PR_CLIENT_ID         = local.ci_pr_client_id
    AZURE_PRODUCTION_CLIENT_ID = local.ci_production_client_id
    AZURE_TENANT_ID            = data.azurerm_client_config.current.tenant_id
    AZURE_SUBSCRIPTION_ID      = var.subscription_id
    REGISTRY                   = azurerm_container_registry.this.login_server
  }
}
