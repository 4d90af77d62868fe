# The DVC remote: a private container in a storage account that takes Entra ID only (no
# shared key, no SAS, no anonymous access), over HTTPS with TLS 1.2 or later. Blobs are
# versioned and soft-deleted: an overwritten or deleted blob can be restored, and the
# lifecycle policy deletes old versions after var.dvc_noncurrent_version_days.
resource "azurerm_storage_account" "dvc" {
  #checkov:skip=CKV_AZURE_33:Queue logging: this account holds blobs only, it has no queues.
  #checkov:skip=CKV_AZURE_35:Default-deny network rules would lock out hosted CI runners and laptops; Entra ID is the gate.
  #checkov:skip=CKV_AZURE_59:Hosted CI runners and laptops reach the account over the internet; only Entra ID principals with a role get in.
  #checkov:skip=CKV2_AZURE_33:A private endpoint needs a virtual network that hosted CI runners are not in.
  #checkov:skip=CKV2_AZURE_1:Encrypted at rest with Microsoft-managed keys; a customer-managed key needs a Key Vault this project does not otherwise use.
  #checkov:skip=CKV_AZURE_206:Locally redundant storage: versioning and soft delete protect the data; geo-replication doubles the cost (set account_replication_type to GZRS when it is worth it).
  name                     = var.dvc_storage_account_name
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

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = var.dvc_soft_delete_days
    }

    container_delete_retention_policy {
      days = var.dvc_soft_delete_days
    }
  }

  tags = local.tags
}

resource "azurerm_storage_container" "dvc" {
  #checkov:skip=CKV2_AZURE_21:Read logging is a diagnostic setting into a Log Analytics workspace, which this project does not run; Entra ID sign-in logs record who reads.
  name                  = var.dvc_container_name
  storage_account_id    = azurerm_storage_account.dvc.id
  container_access_type = "private"
}

# Versions pile up with every overwrite: delete them once they are old enough.
resource "azurerm_storage_management_policy" "dvc" {
  storage_account_id = azurerm_storage_account.dvc.id

  rule {
    name    = "delete-old-versions"
    enabled = true

    filters {
      blob_types = ["blockBlob"]
    }

    actions {
      version {
        delete_after_days_since_creation = var.dvc_noncurrent_version_days
      }
    }
  }
}

# CI pulls and pushes DVC data, models and the run cache: read and write on this
# container only.
resource "azurerm_role_assignment" "ci_dvc" {
  scope                = azurerm_storage_container.dvc.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = local.ci_principal_id
  principal_type       = "ServicePrincipal"
  description          = "CI of ${var.repository_path} pulls and pushes the DVC remote."
}
