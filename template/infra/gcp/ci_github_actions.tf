# GitHub Actions federation: google-github-actions/auth presents the job's OIDC token with
# the provider's own name as its audience (no allowed_audiences needed), and only the
# workflows of var.repository_path are admitted.
resource "google_iam_workload_identity_pool_provider" "ci" {
  #checkov:skip=CKV_GCP_125:The condition admits exactly var.repository_path through the repository claim, which GitHub sets; checkov only accepts an exact sub claim, which would admit a single branch.
  workload_identity_pool_id          = google_iam_workload_identity_pool.ci.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Every branch, tag, pull request and environment of this repository, and nothing else.
  attribute_condition = "assertion.repository == '${var.repository_path}'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

locals {
  ci_principal_set = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.ci.name}/attribute.repository/${var.repository_path}"
}
