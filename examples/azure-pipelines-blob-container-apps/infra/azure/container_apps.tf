# The serving containers: one container app per environment in one Container Apps
# environment, in multiple-revision mode. Terraform creates them; CI deploys new revisions
# into them (deploy/azure_container_apps.py), finding them by these names:
#   resource group var.resource_group_name, apps <project>-staging and <project>-production
#   (shortened to Azure's 32 characters, the same way in both places).

locals {
  environments = toset(["staging", "production"])
  app_names = {
    for env in local.environments :
    env => "${trimsuffix(substr(var.project, 0, 31 - length(env)), "-")}-${env}"
  }
  # deploy/azure_container_apps.py replaces the image of the container with this name.
  container_name = "app"
}

# Where the environment sends the containers' console logs (what uvicorn prints).
resource "azurerm_log_analytics_workspace" "apps" {
  name                = "${var.project}-logs"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

resource "azurerm_container_app_environment" "this" {
  name                       = trimsuffix(substr(var.project, 0, 60), "-")
  resource_group_name        = azurerm_resource_group.this.name
  location                   = azurerm_resource_group.this.location
  logs_destination           = "log-analytics"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.apps.id
  tags                       = local.tags
}

# The identity the apps run as: it pulls their image and writes their recorded inputs,
# and nothing else. The apps pass its client ID as AZURE_CLIENT_ID, so that
# DefaultAzureCredential in the app picks it among the identities of the container.
resource "azurerm_user_assigned_identity" "app" {
  name                = "${var.project}-app"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

resource "azurerm_role_assignment" "app_acr_pull" {
  scope                = azurerm_container_registry.this.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "The container apps of ${var.project} pull their image."
}

resource "azurerm_role_assignment" "app_inputs" {
  scope                = azurerm_storage_container.inputs.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "The container apps of ${var.project} write the inputs they see, for the drift check."
}

# The bearer token /predict asks for, when var.serving_api_token: a Key Vault (Azure RBAC,
# purge protection) where you add one secret per environment, serving-api-token-<env>;
# Terraform creates no secret, so it never holds the value. Once, before the next deploy:
#   az keyvault secret set --vault-name <vault> --name serving-api-token-staging --value "$(openssl rand -hex 32)"
# Container Apps reads it with the apps' identity, which may read this vault's secrets and
# nothing more; whoever applies Terraform may set them.
resource "azurerm_key_vault" "serving" {
  #checkov:skip=CKV_AZURE_109:Default-deny network rules would lock out the laptops that set the token; Azure RBAC is the gate.
  #checkov:skip=CKV_AZURE_189:Public network access is how the laptops that set the token reach the vault; only principals with a role get in.
  #checkov:skip=CKV2_AZURE_32:A private endpoint needs a virtual network that this project does not run.
  count = var.serving_api_token ? 1 : 0

  name                       = "${trimsuffix(substr(var.project, 0, 20), "-")}-kv"
  resource_group_name        = azurerm_resource_group.this.name
  location                   = azurerm_resource_group.this.location
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  rbac_authorization_enabled = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 7
  tags                       = local.tags

  network_acls {
    bypass         = "AzureServices"
    default_action = "Allow"
  }
}

resource "azurerm_role_assignment" "app_reads_api_token" {
  count = var.serving_api_token ? 1 : 0

  scope                = azurerm_key_vault.serving[0].id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "The container apps of ${var.project} read their SERVING_API_TOKEN."
}

resource "azurerm_role_assignment" "you_set_api_token" {
  count = var.serving_api_token ? 1 : 0

  scope                = azurerm_key_vault.serving[0].id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
  description          = "Whoever applies infra/azure sets the SERVING_API_TOKEN of ${var.project}."
}

resource "azurerm_container_app" "this" {
  for_each = local.environments

  name                         = local.app_names[each.key]
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = azurerm_resource_group.this.name
  # Several revisions run side by side: a release first takes a share of the traffic and
  # the label `candidate`, and gets all of it once the smoke test passed.
  revision_mode = "Multiple"
  # Revisions that deploys deactivated, kept to look at or to reactivate by hand.
  max_inactive_revisions = 10

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  registry {
    server   = azurerm_container_registry.this.login_server
    identity = azurerm_user_assigned_identity.app.id
  }

  # A reference to the Key Vault secret (its latest version), not a copy of its value.
  dynamic "secret" {
    for_each = var.serving_api_token ? ["serving-api-token"] : []

    content {
      name                = secret.value
      key_vault_secret_id = "${azurerm_key_vault.serving[0].vault_uri}secrets/${secret.value}-${each.key}"
      identity            = azurerm_user_assigned_identity.app.id
    }
  }

  # HTTPS on the app's own name (Container Apps redirects HTTP to it). Unless
  # var.public_endpoint says otherwise, ingress admits the address ranges in
  # var.allowed_ip_ranges only: Container Apps' built-in authentication is no part of the
  # azurerm provider, and the app checks its own bearer token (SERVING_API_TOKEN) besides.
  ingress {
    external_enabled           = true
    target_port                = var.container_port
    transport                  = "auto"
    allow_insecure_connections = false

    dynamic "ip_security_restriction" {
      for_each = var.public_endpoint ? [] : var.allowed_ip_ranges

      content {
        name             = "allowed-${ip_security_restriction.key}"
        description      = "Callers admitted by var.allowed_ip_ranges"
        action           = "Allow"
        ip_address_range = ip_security_restriction.value
      }
    }

    # Only at creation: deploys set the weights of their revisions (ignored below).
    traffic_weight {
      latest_revision = true
      percentage      = 100
    }
  }

  template {
    min_replicas = var.min_replicas[each.key]
    max_replicas = var.max_replicas[each.key]

    container {
      name = local.container_name
      # The first revision runs the tag `bootstrap`, which must be in the registry before
      # the apps are created (Container Apps checks the image when it makes a revision:
      # see the README's setup). Every deploy replaces it.
      image  = "${azurerm_container_registry.this.login_server}/${var.image_name}:bootstrap"
      cpu    = var.app_cpu
      memory = var.app_memory

      env {
        name  = "INPUT_LOG_URL"
        value = "az://${azurerm_storage_container.inputs.name}/${each.key}/"
      }

      env {
        name  = "AZURE_STORAGE_ACCOUNT_NAME"
        value = azurerm_storage_account.inputs.name
      }

      env {
        name  = "AZURE_CLIENT_ID"
        value = azurerm_user_assigned_identity.app.client_id
      }

      dynamic "env" {
        for_each = var.serving_api_token ? ["serving-api-token"] : []

        content {
          name        = "SERVING_API_TOKEN"
          secret_name = env.value
        }
      }

      liveness_probe {
        transport               = "HTTP"
        port                    = var.container_port
        path                    = "/health"
        initial_delay           = 10
        interval_seconds        = 15
        timeout                 = 5
        failure_count_threshold = 3
      }

      readiness_probe {
        transport               = "HTTP"
        port                    = var.container_port
        path                    = "/health"
        interval_seconds        = 5
        timeout                 = 3
        failure_count_threshold = 3
        success_count_threshold = 1
      }
    }
  }

  tags = local.tags

  # Deploys own the image, the revision suffix and the traffic weights: without this,
  # every `terraform apply` would roll the app back to the bootstrap image and send all
  # the traffic to whatever revision is the latest.
  lifecycle {
    ignore_changes = [
      template[0].container[0].image,
      template[0].revision_suffix,
      ingress[0].traffic_weight,
    ]
  }

  # The identity must be allowed to pull (and read the token) before the first revision.
  depends_on = [azurerm_role_assignment.app_acr_pull, azurerm_role_assignment.app_reads_api_token]
}

# CI deploys: reads an app and its revisions, updates its template and traffic, and
# deactivates revisions it replaced (this role, on the app it deploys); it reads the
# environment (for the label URL) and joins it, and assigns the app's user-assigned
# identity, which updating an app that runs as one needs (the next role).
resource "azurerm_role_definition" "ci_container_apps" {
  name        = "${var.project}-container-apps-deployer"
  scope       = azurerm_resource_group.this.id
  description = "CI of ${var.repository_path} releases revisions of the container apps of ${var.project}."

  permissions {
    actions = [
      "Microsoft.App/containerApps/read",
      "Microsoft.App/containerApps/write",
      "Microsoft.App/containerApps/revisions/read",
      "Microsoft.App/containerApps/revisions/deactivate/action",
    ]
    not_actions = []
  }

  assignable_scopes = [azurerm_resource_group.this.id]
}

resource "azurerm_role_definition" "ci_container_apps_environment" {
  name        = "${var.project}-container-apps-environment-user"
  scope       = azurerm_resource_group.this.id
  description = "CI of ${var.repository_path} puts revisions of ${var.project} in its Container Apps environment, running as the app's identity."

  permissions {
    actions = [
      "Microsoft.App/managedEnvironments/read",
      "Microsoft.App/managedEnvironments/join/action",
      "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
    ]
    not_actions = []
  }

  assignable_scopes = [azurerm_resource_group.this.id]
}

# On the staging app only.
resource "azurerm_role_assignment" "ci_container_apps" {
  scope              = azurerm_container_app.this["staging"].id
  role_definition_id = azurerm_role_definition.ci_container_apps.role_definition_resource_id
  principal_id       = local.ci_principal_id
  principal_type     = "ServicePrincipal"
  description        = "CI of ${var.repository_path} deploys the staging container app."
}

resource "azurerm_role_assignment" "ci_container_apps_environment" {
  scope              = azurerm_resource_group.this.id
  role_definition_id = azurerm_role_definition.ci_container_apps_environment.role_definition_resource_id
  principal_id       = local.ci_principal_id
  principal_type     = "ServicePrincipal"
  description        = "CI of ${var.repository_path} deploys into the Container Apps environment."
}

# On the production app only.
resource "azurerm_role_assignment" "ci_production_container_apps" {
  scope              = azurerm_container_app.this["production"].id
  role_definition_id = azurerm_role_definition.ci_container_apps.role_definition_resource_id
  principal_id       = local.ci_production_principal_id
  principal_type     = "ServicePrincipal"
  description        = "CI of ${var.repository_path} deploys the production container app."
}

resource "azurerm_role_assignment" "ci_production_container_apps_environment" {
  scope              = azurerm_resource_group.this.id
  role_definition_id = azurerm_role_definition.ci_container_apps_environment.role_definition_resource_id
  principal_id       = local.ci_production_principal_id
  principal_type     = "ServicePrincipal"
  description        = "CI of ${var.repository_path} deploys into the Container Apps environment."
}
