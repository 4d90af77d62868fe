# The inputs the serving app saw, for `make drift`: the app writes one JSON-lines chunk
# object per batch of requests under gs://<bucket>/<environment>/ (env INPUT_LOG_URL), and
# CI's scheduled job (`make monitor`) reads the recent ones back. Private (uniform
# bucket-level access, public access prevention enforced), encrypted at rest by Google;
# chunks are deleted after var.inputs_retention_days.

variable "inputs_bucket_name" {
  description = "Name of the Cloud Storage bucket the serving app ships its inputs to (globally unique)."
  type        = string
  default     = "ml-project-inputs"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.inputs_bucket_name)) && !startswith(var.inputs_bucket_name, "goog")
    error_message = "Bucket names are 3-63 lowercase letters, digits, dashes or underscores, starting and ending with a letter or digit, not starting with goog."
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

resource "google_storage_bucket" "inputs" {
  #checkov:skip=CKV_GCP_62:Access logs need a second bucket; Cloud Audit Logs (data access) are the place to audit it.
  #checkov:skip=CKV_GCP_78:Every chunk is written once under a new name and expires; versioning would only keep expired chunks.
  name     = var.inputs_bucket_name
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = var.inputs_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.this]
}

# CI's drift check lists and reads the chunks; only the serving app writes them.
resource "google_storage_bucket_iam_member" "ci_inputs" {
  bucket = google_storage_bucket.inputs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.ci.member
}

output "inputs_bucket_name" {
  description = "Bucket the serving app ships its inputs to; `make inputs` reads gs://<this name>/<environment>/."
  value       = google_storage_bucket.inputs.name
}

output "inputs_urls" {
  description = "INPUT_LOG_URL of each environment's service, by environment."
  value       = { for env in ["staging", "production"] : env => "gs://${google_storage_bucket.inputs.name}/${env}/" }
}
