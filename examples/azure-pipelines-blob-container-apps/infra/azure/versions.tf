terraform {
  required_version = ">= 1.11"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.0"
    }
  }

  # The state storage account and its container `tfstate` exist before this module (see
  # README): Terraform cannot create the account that holds its own state. Blob leases
  # lock the state; Entra ID signs the requests, so the account needs no shared key.
  backend "azurerm" {
    resource_group_name  = "ml-project-tfstate"
    storage_account_name = "mlprojecttfstate"
    container_name       = "tfstate"
    key                  = "ml-project/azure.tfstate"
    use_azuread_auth     = true
  }
}

provider "azurerm" {
  features {}

  subscription_id = var.subscription_id
  # The DVC storage account takes Entra ID only (no shared key), also from Terraform.
  storage_use_azuread = true
  # Since azurerm 5.0 no resource provider is registered by default: only what this uses.
  resource_providers_to_register = [
    "Microsoft.App",
    "Microsoft.ContainerRegistry",
    "Microsoft.KeyVault",
    "Microsoft.ManagedIdentity",
    "Microsoft.OperationalInsights",
    "Microsoft.Storage",
  ]
}
