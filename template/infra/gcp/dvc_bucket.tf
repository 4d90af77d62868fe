# The DVC remote: private (uniform bucket-level access, public access prevention enforced),
# encrypted at rest by Google, versioned (an overwritten or deleted object stays a
# noncurrent version for var.dvc_noncurrent_version_days), and soft-deleted objects stay
# restorable for var.dvc_soft_delete_days.
resource "google_storage_bucket" "dvc" {
  #checkov:skip=CKV_GCP_62:Access logs need a second bucket; Cloud Audit Logs (data access) are the place to audit a DVC remote.
  name     = var.dvc_bucket_name
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      days_since_noncurrent_time = var.dvc_noncurrent_version_days
      send_age_if_zero           = false
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  soft_delete_policy {
    retention_duration_seconds = var.dvc_soft_delete_days * 86400
  }

  depends_on = [google_project_service.this]
}

# CI pulls and pushes DVC data, models and the run cache, in this bucket only.
# objectAdmin, not objectUser: DVC also lists and overwrites, and nothing else is granted.
resource "google_storage_bucket_iam_member" "ci_dvc" {
  bucket = google_storage_bucket.dvc.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.ci.member
}
