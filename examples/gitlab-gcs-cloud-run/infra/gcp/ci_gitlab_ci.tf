# GitLab CI/CD federation: the jobs' ID token GCP_ID_TOKEN (aud: var.gitlab_url) is admitted
# for the project var.repository_path only.

variable "gitlab_url" {
  description = "Base URL of the GitLab instance that signs the ID tokens (their issuer and audience)."
  type        = string
  default     = "https://gitlab.com"

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.gitlab_url))
    error_message = "The GitLab URL is https://host (no path, no trailing slash), such as https://gitlab.com."
  }
}

resource "google_iam_workload_identity_pool_provider" "ci" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.ci.workload_identity_pool_id
  workload_identity_pool_provider_id = "gitlab"
  display_name                       = "GitLab CI/CD"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.project_path"
    "attribute.ref"        = "assertion.ref"
  }
  # Every branch, tag and merge request of this project, and nothing else.
  attribute_condition = "assertion.project_path == '${var.repository_path}'"

  oidc {
    issuer_uri        = var.gitlab_url
    allowed_audiences = [var.gitlab_url]
  }
}

locals {
  ci_principal_set = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.ci.name}/attribute.repository/${var.repository_path}"
}
