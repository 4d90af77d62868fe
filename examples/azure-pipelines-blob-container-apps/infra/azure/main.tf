data "azurerm_client_config" "current" {}

locals {
  tags = {
    project    = var.project
    managed-by = "terraform"
    source     = var.repository_path
  }
}

# Everything of this project, in one resource group: `terraform destroy` leaves nothing.
resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = var.location
  tags     = local.tags
}
