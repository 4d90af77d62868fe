# Workload identity federation: CI trades its vendor's OIDC token for short-lived
# credentials of the CI service account, so no key exists anywhere. The pool serves this
# project's CI alone; its one provider (ci_<vendor>.tf) admits the tokens of
# var.repository_path only, and defines local.ci_principal_set, the identities that may
# act as the service account.
resource "google_iam_workload_identity_pool" "ci" {
  workload_identity_pool_id = "${local.short_name}-ci"
  display_name              = "CI of ${substr(var.project, 0, 25)}"
  description               = "The CI of ${var.repository_path}"

  depends_on = [google_project_service.this]
}

resource "google_service_account_iam_member" "ci_workload_identity" {
  service_account_id = google_service_account.ci.name
  role               = "roles/iam.workloadIdentityUser"
  member             = local.ci_principal_set
}
