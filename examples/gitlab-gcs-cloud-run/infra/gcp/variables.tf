# Defaults are the answers given to the template; override them in a terraform.tfvars.

variable "project" {
  description = "Name of the project, used to name every resource (the Artifact Registry repository is called exactly this)."
  type        = string
  default     = "ml-project"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,61}[a-z0-9]$", var.project))
    error_message = "The project name is 3-63 lowercase letters, digits or dashes, starting with a letter and ending with a letter or digit."
  }
}

variable "project_id" {
  description = "ID of the Google Cloud project that holds every resource of this module."
  type        = string
  default     = "ml-project-prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "Project IDs are 6-30 lowercase letters, digits or dashes, starting with a letter and not ending with a dash."
  }
}

variable "region" {
  description = "Google Cloud region of the bucket and the registry."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[1-9][0-9]?$", var.region))
    error_message = "Google Cloud regions look like europe-west1 or us-central1."
  }
}

variable "repository_path" {
  description = "Path (owner/name) of the git repository whose CI may act as the CI service account."
  type        = string
  default     = "my-org/ml-project"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", var.repository_path))
    error_message = "The repository path is owner/name, such as my-org/fraud-model."
  }
}

variable "gitlab_url" {
  description = "Base URL of the GitLab instance that signs the ID tokens (their issuer)."
  type        = string
  default     = "https://gitlab.com"

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.gitlab_url))
    error_message = "The GitLab URL is https://host (no path, no trailing slash), such as https://gitlab.com."
  }
}

variable "dvc_bucket_name" {
  description = "Name of the Cloud Storage bucket that holds the DVC remote (globally unique)."
  type        = string
  default     = "ml-project-dvc"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.dvc_bucket_name)) && !startswith(var.dvc_bucket_name, "goog")
    error_message = "Bucket names are 3-63 lowercase letters, digits, dashes or underscores, starting and ending with a letter or digit, not starting with goog."
  }
}

variable "dvc_noncurrent_version_days" {
  description = "Days an overwritten or deleted object of the DVC bucket is kept as a noncurrent version before it is deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.dvc_noncurrent_version_days >= 1 && floor(var.dvc_noncurrent_version_days) == var.dvc_noncurrent_version_days
    error_message = "The number of days is a whole number of at least 1."
  }
}

variable "dvc_soft_delete_days" {
  description = "Days a deleted object (a noncurrent version included) stays restorable after it is gone: 7 to 90 (Cloud Storage's default is 7)."
  type        = number
  default     = 7

  validation {
    condition     = var.dvc_soft_delete_days >= 7 && var.dvc_soft_delete_days <= 90 && floor(var.dvc_soft_delete_days) == var.dvc_soft_delete_days
    error_message = "Soft delete keeps objects for a whole number of days from 7 to 90."
  }
}

variable "registry_keep_images" {
  description = "How many image versions the Artifact Registry repository keeps whatever their age; older ones are deleted after registry_image_days, so keep enough to roll back."
  type        = number
  default     = 100

  validation {
    condition     = var.registry_keep_images >= 1 && floor(var.registry_keep_images) == var.registry_keep_images
    error_message = "Keep at least one image."
  }
}

variable "registry_image_days" {
  description = "Days after which an image version that is not among the registry_keep_images newest is deleted."
  type        = number
  default     = 180

  validation {
    condition     = var.registry_image_days >= 1 && floor(var.registry_image_days) == var.registry_image_days
    error_message = "The number of days is a whole number of at least 1."
  }
}

variable "container_port" {
  description = "Port the serving container listens on (the image's CMD); Cloud Run sends requests and probes there."
  type        = number
  default     = 8000

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535 && floor(var.container_port) == var.container_port
    error_message = "The port is a whole number from 1 to 65535."
  }
}

variable "cloud_run_cpu" {
  description = "CPUs of one instance of the serving app: 1, 2, 4, 6 or 8 (4 need at least 2Gi of cloud_run_memory, 6 and 8 at least 4Gi)."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.cloud_run_cpu)
    error_message = "Cloud Run instances have 1, 2, 4, 6 or 8 CPUs."
  }
}

variable "cloud_run_memory" {
  description = "Memory of one instance of the serving app, such as 512Mi or 2Gi: the model and the app must fit in it."
  type        = string
  default     = "1Gi"

  validation {
    condition     = can(regex("^[1-9][0-9]*(Mi|Gi)$", var.cloud_run_memory))
    error_message = "Memory is a whole number of Mi or Gi, such as 512Mi or 2Gi."
  }
}

variable "cloud_run_concurrency" {
  description = "Requests one instance serves at once before Cloud Run starts another."
  type        = number
  default     = 40

  validation {
    condition     = var.cloud_run_concurrency >= 1 && var.cloud_run_concurrency <= 1000 && floor(var.cloud_run_concurrency) == var.cloud_run_concurrency
    error_message = "Concurrency is a whole number from 1 to 1000."
  }
}

variable "serving_api_token" {
  description = "Whether each environment's service gets SERVING_API_TOKEN, the bearer token /predict then asks for, from a Secret Manager secret <project>-<env>-serving-api-token that Terraform creates without a value: add a version before the next deploy (README)."
  type        = bool
  default     = false
}

variable "public_endpoint" {
  description = "Whether anyone on the internet may call the services (the allUsers invoker). Unsafe: false keeps them to the identities in invokers and CI's deploy identity."
  type        = bool
  default     = false
}

variable "invokers" {
  description = "IAM members that may call both services (roles/run.invoker), such as serviceAccount:client@my-project.iam.gserviceaccount.com or group:analysts@example.com; CI's deploy identity may always call them, for the smoke test."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.invokers : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+$", member))])
    error_message = "Invokers are IAM members: user:, group:, serviceAccount:, domain:, principal: or principalSet: followed by the identity (allUsers is public_endpoint = true)."
  }
}

variable "cloud_run_max_instances" {
  description = "Most instances each environment's service scales out to (it scales to zero when idle)."
  type        = map(number)
  default = {
    staging    = 2
    production = 10
  }

  validation {
    condition     = alltrue([for env in ["staging", "production"] : try(var.cloud_run_max_instances[env] >= 1, false)])
    error_message = "Give staging and production each at least one instance."
  }
}
