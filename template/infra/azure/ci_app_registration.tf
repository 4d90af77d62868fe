# CI without an OIDC federation to Azure: Jenkins and Travis CI have no OIDC tokens, and
# the subjects of CircleCI's (per user) and Bitbucket's (per step run) tokens change from
# run to run, while Entra ID matches subjects exactly. So CI signs in as this app
# registration with a client secret. Terraform creates no secret, so none is ever in the
# state: create one by hand (README) and keep it in the CI's secret store only.
data "azuread_client_config" "current" {}

resource "azuread_application" "ci" {
  display_name     = "${var.project}-ci"
  description      = "CI of ${var.repository_path}: pulls and pushes the DVC remote, pushes images."
  owners           = [data.azuread_client_config.current.object_id]
  sign_in_audience = "AzureADMyOrg"
}

resource "azuread_service_principal" "ci" {
  client_id   = azuread_application.ci.client_id
  owners      = [data.azuread_client_config.current.object_id]
  description = "CI of ${var.repository_path}."
}

locals {
  ci_principal_id = azuread_service_principal.ci.object_id
  ci_client_id    = azuread_application.ci.client_id
}
