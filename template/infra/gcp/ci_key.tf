# CI without an OIDC federation to Google Cloud (Jenkins, Travis CI, Azure Pipelines): CI
# uses a key of the CI service account. Terraform creates no key, so none is ever in the
# state: create one by hand (README) and keep it in the CI's secret store only. The
# service account may do nothing but what the other files grant it (the DVC and inputs
# buckets, the registry, the Cloud Run services: whichever these answers render).

output "ci_key_command" {
  description = "The command that creates the service account key CI keeps as a secret file (README)."
  value       = "gcloud iam service-accounts keys create ci-key.json --iam-account=${google_service_account.ci.email}"
}
