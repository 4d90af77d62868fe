# The service account CI acts as through workload identity federation: CI trades the
# OIDC token of GitLab CI/CD for short-lived credentials, so no key exists anywhere.
# What it may do is granted next to each part it touches (dvc_bucket.tf, registry.tf,
# inputs.tf, cloud_run.tf): each grants its own roles on its own resources, never on the
# project.
resource "google_service_account" "ci" {
  account_id   = "${local.short_name}-ci"
  display_name = "CI of ${var.project}"
  description  = "Used by the CI of ${var.repository_path}"

  depends_on = [google_project_service.this]
}

# The pool serves this project's CI alone, and its one provider admits the tokens of
# var.repository_path only (the trust table, includes/plan.yml).
resource "google_iam_workload_identity_pool" "ci" {
  workload_identity_pool_id = "${local.short_name}-ci"
  display_name              = "CI of ${substr(var.project, 0, 25)}"
  description               = "The CI of ${var.repository_path}"

  depends_on = [google_project_service.this]
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

resource "google_service_account_iam_member" "ci_workload_identity" {
  service_account_id = google_service_account.ci.name
  role               = "roles/iam.workloadIdentityUser"
  member             = local.ci_principal_set
}
