# After `terraform apply`, `terraform output ci_variables` prints exactly what to set as
# variables (not secrets: none of these values is confidential) in the CI settings.

output "workload_identity_provider" {
  description = "Workload identity provider CI trades its OIDC token with: the CI variable GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.ci.name
}

output "ci_service_account" {
  description = "Release service account CI acts as on the protected default branch and in the staging environment: the CI variable GCP_SERVICE_ACCOUNT."
  value       = google_service_account.ci.email
}

output "ci_pr_service_account" {
  description = "Pull-request service account CI acts as in every other run (it reads the DVC remote only): the CI variable GCP_PR_SERVICE_ACCOUNT."
  value       = google_service_account.ci_pr.email
}

output "ci_production_service_account" {
  description = "Production service account CI acts as in the production environment's deploy only: the CI variable GCP_PRODUCTION_SERVICE_ACCOUNT (README: where it goes)."
  value       = google_service_account.ci_production.email
}

output "project_id" {
  description = "Project of every resource: the CI variable GCP_PROJECT_ID."
  value       = var.project_id
}

output "dvc_bucket_name" {
  description = "Bucket of the DVC remote, whose url is gs://<this name>/dvc (.dvc/config already has it)."
  value       = google_storage_bucket.dvc.name
}

output "service_urls" {
  description = "URL of each environment's Cloud Run service, by environment (`make deploy` smoke-tests a new revision at its candidate tag's URL first)."
  value       = { for env, service in google_cloud_run_v2_service.app : env => service.uri }
}

output "run_service_accounts" {
  description = "Service account each environment's serving app runs as, by environment."
  value       = { for env, account in google_service_account.run : env => account.email }
}

output "registry" {
  description = "Artifact Registry repository for the images: the CI variable REGISTRY (the Makefile pushes REGISTRY/IMAGE:TAG)."
  value       = local.registry
}

output "ci_variables" {
  description = "Every variable to set in the CI settings, by name (the README's CI section says where)."
  value = {
    GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.ci.name
    GCP_SERVICE_ACCOUNT            = google_service_account.ci.email
    GCP_PR_SERVICE_ACCOUNT         = google_service_account.ci_pr.email
    GCP_PRODUCTION_SERVICE_ACCOUNT = google_service_account.ci_production.email
    GCP_PROJECT_ID                 = var.project_id
    REGISTRY                       = local.registry
  }
}
