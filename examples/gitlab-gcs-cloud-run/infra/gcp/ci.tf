# The service account CI acts as: through workload identity federation where the CI vendor
# has OIDC (no key anywhere), otherwise with a key created by hand (ci_key.tf). Who may act
# as it is the CI vendor's file (ci_<vendor>.tf, with ci_pool.tf, or ci_key.tf). What it may
# do is granted next to each part it touches (dvc_bucket.tf, registry.tf, inputs.tf,
# cloud_run.tf): each grants its own roles on its own resources, never on the project.
resource "google_service_account" "ci" {
  account_id   = "${local.short_name}-ci"
  display_name = "CI of ${var.project}"
  description  = "Used by the CI of ${var.repository_path}"

  depends_on = [google_project_service.this]
}
