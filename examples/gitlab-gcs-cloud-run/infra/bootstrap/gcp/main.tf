# The bucket that holds Terraform's state for infra/gcp, created once before it (Terraform
# cannot create the bucket that holds its own state):
#   terraform -chdir=infra/bootstrap/gcp init && terraform -chdir=infra/bootstrap/gcp apply
# This module's own state stays in this directory (terraform.tfstate, git-ignored): it
# holds the bucket's name and settings, nothing secret. The bucket is private (uniform
# bucket-level access, public access prevention enforced), encrypted at rest by Google,
# and versioned (every earlier state is kept for var.noncurrent_version_days). The gcs
# backend locks the state by itself.

terraform {
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.0"
    }
  }
}

provider "google" {
  project = var.project_id

  default_labels = {
    project    = "ml-project"
    managed-by = "terraform"
  }
}

variable "project_id" {
  description = "Google Cloud project that holds the state bucket."
  type        = string
  default     = "ml-project-prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "Project IDs are 6-30 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  description = "Location of the state bucket."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "Google Cloud regions look like europe-west1 or us-central1."
  }
}

variable "state_bucket" {
  description = "Name of the state bucket, as infra/gcp/versions.tf's backend names it (globally unique)."
  type        = string
  default     = "ml-project-tfstate"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "Bucket names are 3-63 lowercase letters, digits, dots, dashes or underscores, starting and ending with a letter or digit."
  }
}

variable "noncurrent_version_days" {
  description = "Days an earlier state (a noncurrent version) is kept."
  type        = number
  default     = 365

  validation {
    condition     = var.noncurrent_version_days >= 1 && floor(var.noncurrent_version_days) == var.noncurrent_version_days
    error_message = "The number of days is a whole number of at least 1."
  }
}

resource "google_project_service" "storage" {
  service            = "storage.googleapis.com"
  disable_on_destroy = false
}

resource "google_storage_bucket" "state" {
  #checkov:skip=CKV_GCP_62:Access logs need a second bucket; Cloud Audit Logs (data access) are the place to audit state reads.
  name     = var.state_bucket
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      days_since_noncurrent_time = var.noncurrent_version_days
      send_age_if_zero           = false
    }
    action {
      type = "Delete"
    }
  }

  # The state of every other module lives here.
  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.storage]
}

output "state_bucket" {
  description = "The bucket infra/gcp keeps its state in."
  value       = google_storage_bucket.state.name
}
