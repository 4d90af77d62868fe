# The inputs the serving app saw, for `make drift`: the app writes one JSON-lines chunk
# blob per batch of requests under az://inputs/<environment>/ in this storage account (env
# INPUT_LOG_URL and AZURE_STORAGE_ACCOUNT_NAME), and CI's scheduled job (`make monitor`)
# reads the recent ones back. Entra ID only (no shared key, no SAS, no anonymous access),
# over HTTPS with TLS 1.2 or later; blobs are deleted after var.inputs_retention_days.

variable "inputs_storage_account_name" {
  description = "Name of the storage account the serving app ships its inputs to (globally unique)."
  type        = string
  default     = "mlprojectinputs"

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.inputs_storage_account_name))
    error_message = "Storage account names are 3-24 lowercase letters or digits."
  }
}

variable "inputs_retention_days" {
  description = "Days a chunk of recorded inputs is kept; the drift check reads the last week only."
  type        = number
  default     = 90

  validation {
    condition     = var.inputs_retention_days >= 7 && floor(var.inputs_retention_days) == var.inputs_retention_days
    error_message = "Keep the inputs for a whole number of days, at least the 7 the drift check reads."
  }
}

resource "azurerm_storage_account" "inputs" {
  #checkov:skip=CKV_AZURE_33:Queue logging: this account holds blobs only, it has no queues.
  #checkov:skip=CKV_AZURE_35:Default-deny network rules would lock out hosted CI runners; Entra ID is the gate.
  #checkov:skip=CKV_AZURE_59:Hosted CI runners reach the account over the internet; only Entra ID principals with a role get in.
  #checkov:skip=CKV2_AZURE_33:A private endpoint needs a virtual network that hosted CI runners are not in.
  #checkov:skip=CKV2_AZURE_1:Encrypted at rest with Microsoft-managed keys; a customer-managed key needs a Key Vault this project does not otherwise use.
  #checkov:skip=CKV_AZURE_206:Locally redundant storage: these inputs expire and can be recorded again; geo-replication doubles the cost.
  #checkov:skip=CKV2_AZURE_38:Soft delete would only keep expired chunks: every blob is written once and deleted by the lifecycle policy.
  name                     = var.inputs_storage_account_name
  resource_group_name      = azurerm_resource_group.this.name
  location                 = azurerm_resource_group.this.location
  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = "LRS"

  https_traffic_only_enabled       = true
  min_tls_version                  = "TLS1_2"
  allow_nested_items_to_be_public  = false
  shared_access_key_enabled        = false
  default_to_oauth_authentication  = true
  local_user_enabled               = false
  cross_tenant_replication_enabled = false
  allowed_copy_scope               = "AAD"

  # SAS tokens cannot be signed without a shared key; should one ever be, it expires in a day.
  sas_policy {
    expiration_period = "01.00:00:00"
    expiration_action = "Block"
  }

  tags = local.tags
}

resource "azurerm_storage_container" "inputs" {
  #checkov:skip=CKV2_AZURE_21:Read logging would be a diagnostic setting per storage account; only the service writes and only CI reads these blobs, and Entra ID sign-in logs record who reads.
  name                  = "inputs"
  storage_account_id    = azurerm_storage_account.inputs.id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "inputs" {
  storage_account_id = azurerm_storage_account.inputs.id

  rule {
    name    = "delete-old-inputs"
    enabled = true

    filters {
      blob_types   = ["blockBlob", "appendBlob"]
      prefix_match = ["${azurerm_storage_container.inputs.name}/"]
    }

    actions {
      base_blob {
        delete_after_days_since_modification_greater_than = var.inputs_retention_days
      }
    }
  }
}

# CI's drift check lists and reads the chunks; only the serving app writes them.
resource "azurerm_role_assignment" "ci_inputs" {
  scope                = azurerm_storage_container.inputs.id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = local.ci_principal_id
  principal_type       = "ServicePrincipal"
  description          = "CI of ${var.repository_path} reads the inputs the service recorded, for the drift check."
}

output "inputs_storage_account" {
  description = "Storage account the serving app ships its inputs to: the env AZURE_STORAGE_ACCOUNT_NAME of the services."
  value       = azurerm_storage_account.inputs.name
}

output "inputs_urls" {
  description = "INPUT_LOG_URL of each environment's service (in the account inputs_storage_account), by environment."
  value       = { for env in ["staging", "production"] : env => "az://${azurerm_storage_container.inputs.name}/${env}/" }
}
