# The image registry. CI pushes one tag per commit and never moves a tag, so tags are
# immutable: the image a pipeline gated is the image that runs. Images are
# <region>-docker.pkg.dev/<project ID>/<this repository>/<image>:<commit>.
resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption; a customer-managed KMS key adds a key ring to run and pay for, for images that hold no secrets.
  repository_id = var.project
  location      = var.region
  format        = "DOCKER"
  description   = "Images of ${var.project}, pushed by CI"

  docker_config {
    immutable_tags = true
  }

  # Untagged layers left by interrupted pushes go after a week; tagged images after
  # var.registry_image_days, except the var.registry_keep_images newest.
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "7d"
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.registry_image_days}d"
    }
  }

  cleanup_policies {
    id     = "keep-newest"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.registry_keep_images
    }
  }

  depends_on = [google_project_service.this]
}

# CI builds and pushes the image to this repository only.
resource "google_artifact_registry_repository_iam_member" "ci_push" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.ci.member
}

locals {
  registry = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}
