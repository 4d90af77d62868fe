# CI has three service accounts, which it acts as through workload identity federation:
# CI trades the OIDC token of GitLab CI/CD for short-lived credentials, so no key exists
# anywhere. `ci`, the release one, is for the protected default branch and the staging
# environment: it pushes data, models, the run cache and images, and deploys staging.
# `ci_production`, the production one, is for the production environment's deploy only:
# it deploys the production service and nothing else. `ci_pr`, the pull-request one, is
# for every other run: it reads the DVC remote and nothing else, so the code of a pull
# request holds no right to write anything shared. What each may do is granted next to
# each part it touches (dvc_bucket.tf, registry.tf, inputs.tf, cloud_run.tf): each
# grants its own roles on its own resources, never on the project.
resource "google_service_account" "ci" {
  account_id   = "${local.short_name}-ci"
  display_name = "CI of ${var.project}"
  description  = "Used by the CI of ${var.repository_path}: the protected default branch and the staging environment"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "ci_pr" {
  account_id   = "${local.short_name}-ci-pr"
  display_name = "CI of ${var.project} (pull requests)"
  description  = "Used by the CI of ${var.repository_path}: pull requests and other branches, reading the DVC remote only"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "ci_production" {
  account_id   = "${local.short_name}-ci-production"
  display_name = "CI of ${var.project} (production)"
  description  = "Used by the CI of ${var.repository_path}: the production environment's deploy only"

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

  # attribute.release is "true" for release runs only, which the release service account
  # requires: pipelines of the branch main of this project (protect it), whose jobs
  # deploy to staging. attribute.production is "true" for the production deploy only,
  # which the production service account requires: the production job of main's
  # pipelines of this project (its protected environment).
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.project_path"
    "attribute.ref"        = "assertion.ref"
    "attribute.release"    = "(assertion.ref_type == 'branch' && assertion.ref == 'main' && assertion.ref_protected == 'true') ? 'true' : 'false'"
    "attribute.production" = "(assertion.ref_type == 'branch' && assertion.ref == 'main' && assertion.ref_protected == 'true' && 'environment' in assertion && assertion.environment == 'production' && assertion.environment_protected == 'true' && assertion.pipeline_source != 'schedule') ? 'true' : 'false'"
  }
  # Every branch, tag and merge request of this project, and nothing else.
  attribute_condition = "assertion.project_path == '${var.repository_path}'"

  oidc {
    issuer_uri        = var.gitlab_url
    allowed_audiences = [var.gitlab_url]
  }
}

locals {
  ci_pool = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.ci.name}"
}

# Pipelines of the branch main of this project (protect it), whose jobs deploy to
# staging.
resource "google_service_account_iam_member" "ci_workload_identity" {
  service_account_id = google_service_account.ci.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.ci_pool}/attribute.release/true"
}

# Every branch, tag and merge request of this project.
resource "google_service_account_iam_member" "ci_pr_workload_identity" {
  service_account_id = google_service_account.ci_pr.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.ci_pool}/attribute.repository/${var.repository_path}"
}

# The production job of main's pipelines of this project (its protected environment).
resource "google_service_account_iam_member" "ci_production_workload_identity" {
  service_account_id = google_service_account.ci_production.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.ci_pool}/attribute.production/true"
}

# The pull-request service account's only right: it pulls what the release pushed, and
# writes nothing.
resource "google_storage_bucket_iam_member" "ci_pr_dvc" {
  bucket = google_storage_bucket.dvc.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.ci_pr.member
}
