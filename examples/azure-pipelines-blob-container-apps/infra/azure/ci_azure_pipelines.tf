# Azure Pipelines federation: an Azure Resource Manager service connection of type
# "Workload identity federation (manual)" presents tokens issued by
# https://vstoken.dev.azure.com/<organization ID> with the subject
# sc://<organization>/<project>/<service connection>. The service connection's page shows
# both; create it first (README), then give its names here.

variable "azure_devops_organization_id" {
  description = "ID of the Azure DevOps organization (the GUID in the issuer the service connection shows)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.azure_devops_organization_id))
    error_message = "The organization ID is a lowercase UUID such as 3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718."
  }
}

variable "azure_devops_organization" {
  description = "Name of the Azure DevOps organization (dev.azure.com/<this name>)."
  type        = string
  default     = "my-org"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,48}[A-Za-z0-9]$", var.azure_devops_organization))
    error_message = "Organization names are 2-50 letters, digits or dashes, starting and ending with a letter or digit."
  }
}

variable "azure_devops_project" {
  description = "Name of the Azure DevOps project that holds the pipeline and the service connection."
  type        = string
  default     = "ml-project"

  validation {
    condition     = can(regex("^[^/\\\\:*?\"<>|]{1,64}$", var.azure_devops_project))
    error_message = "Project names are 1-64 characters without / \\ : * ? \" < > or |."
  }
}

variable "azure_devops_service_connection" {
  description = "Name of the service connection that azure-pipelines.yml uses (azureSubscription)."
  type        = string
  default     = "ml-project-azure"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$", var.azure_devops_service_connection))
    error_message = "Service connection names here are letters, digits, spaces, dots, dashes or underscores."
  }
}

resource "azurerm_federated_identity_credential" "azure_pipelines" {
  name                      = "azure-pipelines"
  user_assigned_identity_id = azurerm_user_assigned_identity.ci.id
  issuer                    = "https://vstoken.dev.azure.com/${var.azure_devops_organization_id}"
  audience                  = local.federated_audience
  subject                   = "sc://${var.azure_devops_organization}/${var.azure_devops_project}/${var.azure_devops_service_connection}"
}
