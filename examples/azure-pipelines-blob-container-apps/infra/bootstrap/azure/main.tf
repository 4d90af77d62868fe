# The storage account and container that hold Terraform's state for infra/azure, created
# once before it (Terraform cannot create the account that holds its own state):
#   terraform -chdir=infra/bootstrap/azure init
#   terraform -chdir=infra/bootstrap/azure apply -var subscription_id="$(az account show --query id -o tsv)"
# This module's own state stays in this directory (terraform.tfstate, git-ignored): it
# holds names and settings, nothing secret (the account has no shared key to store). The
# account takes Entra ID only (no shared key, no SAS, no anonymous access) over TLS 1.2+,
# encrypted at rest by Microsoft; blobs are versioned and soft-deleted, so every earlier
# state can be restored. Whoever applies this gets Storage Blob Data Owner on it (the
# azurerm backend's use_azuread_auth); blob leases lock the state.

terraform {
  required_version = ">= 1.11"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.0"
    }
  }
}

provider "azurerm" {
  features {}

  subscription_id     = var.subscription_id
  storage_use_azuread = true
  # Since azurerm 5.0 no resource provider is registered by default: only what this uses.
  resource_providers_to_register = ["Microsoft.Storage"]
}

variable "subscription_id" {
  description = "Azure subscription of the state storage account."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "A subscription ID is a lowercase UUID: az account show --query id -o tsv."
  }
}

variable "location" {
  description = "Azure region of the state storage account."
  type        = string
  default     = "westeurope"
}

variable "state_storage_account" {
  description = "Name of the state storage account, as infra/azure/versions.tf's backend names it (globally unique)."
  type        = string
  default     = "mlprojecttfstate"

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.state_storage_account))
    error_message = "Storage account names are 3-24 lowercase letters and digits."
  }
}

variable "soft_delete_days" {
  description = "Days a deleted or overwritten state stays restorable."
  type        = number
  default     = 30

  validation {
    condition     = var.soft_delete_days >= 1 && var.soft_delete_days <= 365 && floor(var.soft_delete_days) == var.soft_delete_days
    error_message = "Soft delete keeps blobs 1 to 365 days."
  }
}

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "state" {
  name     = "ml-project-tfstate"
  location = var.location

  lifecycle {
    prevent_destroy = true
  }
}

resource "azurerm_storage_account" "state" {
  #checkov:skip=CKV_AZURE_33:Queue logging: this account holds blobs only, it has no queues.
  #checkov:skip=CKV_AZURE_35:Default-deny network rules would lock out the laptops and hosted CI runners that run Terraform; Entra ID is the gate.
  #checkov:skip=CKV_AZURE_59:Laptops and hosted CI runners reach the account over the internet; only Entra ID principals with a role get in.
  #checkov:skip=CKV2_AZURE_33:A private endpoint needs a virtual network that hosted CI runners are not in.
  #checkov:skip=CKV2_AZURE_1:Encrypted at rest with Microsoft-managed keys; a customer-managed key needs a Key Vault this project does not otherwise use.
  #checkov:skip=CKV_AZURE_206:Locally redundant storage: versioning and soft delete protect the state; geo-replication doubles the cost (set account_replication_type to GZRS when it is worth it).
  name                     = var.state_storage_account
  resource_group_name      = azurerm_resource_group.state.name
  location                 = azurerm_resource_group.state.location
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

  sas_policy {
    expiration_period = "01.00:00:00"
    expiration_action = "Block"
  }

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = var.soft_delete_days
    }

    container_delete_retention_policy {
      days = var.soft_delete_days
    }
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "azurerm_storage_container" "tfstate" {
  #checkov:skip=CKV2_AZURE_21:Read logging is a diagnostic setting into a Log Analytics workspace, which this project does not run; Entra ID sign-in logs record who reads.
  name                  = "tfstate"
  storage_account_id    = azurerm_storage_account.state.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "state_owner" {
  scope                = azurerm_storage_account.state.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = data.azurerm_client_config.current.object_id
  description          = "Whoever bootstraps the state reads and writes it with Entra ID."
}

output "state_storage_account" {
  description = "The storage account (container tfstate) infra/azure keeps its state in."
  value       = azurerm_storage_account.state.name
}
