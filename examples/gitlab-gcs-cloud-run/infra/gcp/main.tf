locals {
  # Service account IDs are 6-30 characters: they start with this shortened name.
  short_name = trimsuffix(substr(var.project, 0, 24), "-")
}

# The APIs this module and the CI use. Destroying the module leaves them on: other
# resources of the project may need them.
resource "google_project_service" "this" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
  ])

  service            = each.value
  disable_on_destroy = false
}
