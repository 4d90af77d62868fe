# Defaults are the answers given to the template; override them in a terraform.tfvars.

variable "project" {
  description = "Name of the project, used to name the CI identity and tag every resource."
  type        = string
  default     = "ml-project"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$", var.project))
    error_message = "The project name is 2-64 lowercase letters, digits or dashes, starting and ending with a letter or digit."
  }
}

# No default: the subscription is yours to choose (`az account show --query id -o tsv`).
variable "subscription_id" {
  description = "ID of the Azure subscription that holds every resource of this module."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "A subscription ID is a lowercase UUID such as 3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718."
  }
}

variable "location" {
  description = "Azure region of every resource in this module."
  type        = string
  default     = "westeurope"

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "Azure locations are lowercase letters and digits with no spaces, such as westeurope or eastus2."
  }
}

variable "resource_group_name" {
  description = "Resource group that holds the storage account, the registry and the CI identity."
  type        = string
  default     = "ml-project"

  validation {
    condition     = can(regex("^[A-Za-z0-9._()-]{0,89}[A-Za-z0-9_()-]$", var.resource_group_name))
    error_message = "Resource group names are 1-90 letters, digits, dots, dashes, underscores or parentheses, not ending with a dot."
  }
}

variable "repository_path" {
  description = "Path (owner/name) of the git repository whose CI may use the CI identity."
  type        = string
  default     = "my-org/ml-project"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", var.repository_path))
    error_message = "The repository path is owner/name, such as my-org/fraud-model."
  }
}

# The issuer and the subject of an Azure Resource Manager service connection of type
# "Workload identity federation (manual)": its page shows both; create it first (README).
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

variable "azure_devops_pr_service_connection" {
  description = "Name of the service connection that azure-pipelines.yml's pull request stages use (azureSubscription): it reads the DVC remote only."
  type        = string
  default     = "ml-project-azure-pr"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$", var.azure_devops_pr_service_connection)) && var.azure_devops_pr_service_connection != var.azure_devops_service_connection
    error_message = "Service connection names here are letters, digits, spaces, dots, dashes or underscores, and the pull-request one is not the release one."
  }
}

variable "azure_devops_production_service_connection" {
  description = "Name of the service connection that azure-pipelines.yml's production stage uses (azureSubscription): it deploys the production service only; its approvals and branch control hold production."
  type        = string
  default     = "ml-project-azure-production"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$", var.azure_devops_production_service_connection)) && !contains([var.azure_devops_service_connection, var.azure_devops_pr_service_connection], var.azure_devops_production_service_connection)
    error_message = "Service connection names here are letters, digits, spaces, dots, dashes or underscores, and the production one is neither the release nor the pull-request one."
  }
}

variable "registry_name" {
  description = "Name of the Azure Container Registry (globally unique); images are <name>.azurecr.io/<image>."
  type        = string
  default     = "mlprojectacr"

  validation {
    condition     = can(regex("^[a-zA-Z0-9]{5,50}$", var.registry_name))
    error_message = "Registry names are 5-50 letters or digits."
  }
}

variable "dvc_storage_account_name" {
  description = "Name of the storage account that holds the DVC remote (globally unique)."
  type        = string
  default     = "mlprojectdvc"

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.dvc_storage_account_name))
    error_message = "Storage account names are 3-24 lowercase letters and digits."
  }
}

variable "dvc_container_name" {
  description = "Blob container of the DVC remote, whose url is azure://<this name>/dvc."
  type        = string
  default     = "dvc"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9]|-[a-z0-9]){2,62}$", var.dvc_container_name))
    error_message = "Container names are 3-63 lowercase letters, digits or single dashes, starting and ending with a letter or digit."
  }
}

variable "dvc_noncurrent_version_days" {
  description = "Days an overwritten or deleted blob of the DVC remote keeps its previous version before it is deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.dvc_noncurrent_version_days >= 1 && var.dvc_noncurrent_version_days <= 99999 && floor(var.dvc_noncurrent_version_days) == var.dvc_noncurrent_version_days
    error_message = "The number of days is a whole number from 1 to 99999."
  }
}

variable "dvc_soft_delete_days" {
  description = "Days a deleted blob or container of the DVC remote can be restored."
  type        = number
  default     = 30

  validation {
    condition     = var.dvc_soft_delete_days >= 1 && var.dvc_soft_delete_days <= 365 && floor(var.dvc_soft_delete_days) == var.dvc_soft_delete_days
    error_message = "Soft delete keeps blobs for a whole number of days from 1 to 365."
  }
}

variable "image_name" {
  description = "Name of the serving image in the registry (the Makefile's IMAGE): <registry>/<name>:<tag>."
  type        = string
  default     = "ml-project"

  validation {
    condition     = can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.image_name))
    error_message = "Image names are lowercase letters and digits, separated by single dots, dashes, underscores or slashes."
  }
}

variable "container_port" {
  description = "Port the serving container listens on (the Dockerfile's EXPOSE): ingress target and probes."
  type        = number
  default     = 8000

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535 && floor(var.container_port) == var.container_port
    error_message = "A port is a whole number from 1 to 65535."
  }
}

variable "app_cpu" {
  description = "vCPUs of each replica (Consumption profile: 0.25 to 2, in steps of 0.25)."
  type        = number
  default     = 0.5

  validation {
    condition     = var.app_cpu >= 0.25 && var.app_cpu <= 2 && floor(var.app_cpu * 4) == var.app_cpu * 4
    error_message = "CPU is 0.25, 0.5, 0.75 ... up to 2."
  }
}

variable "app_memory" {
  description = "Memory of each replica, twice the CPU in Gi on the Consumption profile (0.5 CPU: 1Gi)."
  type        = string
  default     = "1Gi"

  validation {
    condition     = can(regex("^(0\\.5|[1-3](\\.5)?|4)Gi$", var.app_memory))
    error_message = "Memory is 0.5Gi, 1Gi, 1.5Gi ... up to 4Gi."
  }
}

variable "min_replicas" {
  description = "Fewest replicas of each revision, by environment (0 scales an idle revision to zero: the next request waits for the model to load)."
  type        = map(number)
  default     = { staging = 1, production = 1 }

  validation {
    condition     = alltrue([for env in ["staging", "production"] : contains(keys(var.min_replicas), env) && var.min_replicas[env] >= 0 && var.min_replicas[env] <= 1000])
    error_message = "Give staging and production each a whole number of replicas from 0 to 1000."
  }
}

variable "max_replicas" {
  description = "Most replicas of each revision, by environment."
  type        = map(number)
  default     = { staging = 1, production = 3 }

  validation {
    condition     = alltrue([for env in ["staging", "production"] : contains(keys(var.max_replicas), env) && var.max_replicas[env] >= 1 && var.max_replicas[env] <= 1000])
    error_message = "Give staging and production each a whole number of replicas from 1 to 1000."
  }
}

variable "serving_api_token" {
  description = "Whether each app gets SERVING_API_TOKEN, the bearer token /predict then asks for, from the secret serving-api-token-<env> of a Key Vault Terraform creates without secrets: set them before the next deploy (README)."
  type        = bool
  default     = false
}

variable "public_endpoint" {
  description = "Whether ingress admits every address. Unsafe: false admits allowed_ip_ranges only."
  type        = bool
  default     = false
}

variable "allowed_ip_ranges" {
  description = "Address ranges (CIDR) ingress admits when public_endpoint is false: your callers' networks and the egress addresses of the CI runners that smoke-test each release."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for range in var.allowed_ip_ranges : can(cidrhost(range, 0))])
    error_message = "Address ranges are CIDR blocks such as 203.0.113.0/24 or 198.51.100.7/32."
  }

  validation {
    condition     = var.public_endpoint || length(var.allowed_ip_ranges) > 0
    error_message = "The apps are not public (public_endpoint = false): list the CIDR ranges that may call them in allowed_ip_ranges (with the CI runners' egress addresses), or set public_endpoint = true."
  }
}

variable "log_retention_days" {
  description = "Days the Log Analytics workspace keeps the containers' logs."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "Log Analytics keeps logs for a whole number of days from 30 to 730."
  }
}
