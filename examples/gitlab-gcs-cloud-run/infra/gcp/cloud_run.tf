# The serving app: one Cloud Run service per environment, named <project>-<environment>,
# each running as a service account of its own. Terraform creates them; CI releases new
# revisions into them (deploy/gcp_cloud_run.py): a new revision first gets a share of the
# traffic under the tag `candidate`, then all of it once the smoke test passed, or none.

locals {
  environments = toset(["staging", "production"])

  # Service account IDs are 6-30 characters: the project name, shortened, then these.
  run_account_suffix = { staging = "run-stg", production = "run-prod" }

  # Terraform starts each service on Google's public sample image, which answers 200 on
  # every path (so /health passes the probes) on the port Cloud Run gives it. A tag that
  # nothing pushes, as on ECS, is no option here: Cloud Run resolves the image when it
  # creates a revision, so `terraform apply` itself would fail. The first `make deploy`
  # replaces it, and rolls back to it if the first real image fails its smoke test.
  bootstrap_image = "us-docker.pkg.dev/cloudrun/container/hello"
}

resource "google_project_service" "run" {
  service            = "run.googleapis.com"
  disable_on_destroy = false
}

# What the app may do: write the inputs it sees under its own environment's prefix of the
# inputs bucket, and nothing else. Cloud Run pulls images with its service agent, which
# reads the repositories of its own project: the app's identity needs no registry access.
resource "google_service_account" "run" {
  for_each = local.environments

  account_id   = "${trimsuffix(substr(var.project, 0, 29 - length(local.run_account_suffix[each.key])), "-")}-${local.run_account_suffix[each.key]}"
  display_name = "Serving app of ${var.project} (${each.key})"
  description  = "Identity of the Cloud Run service ${var.project}-${each.key}"

  depends_on = [google_project_service.this]
}

# Every chunk is a new object (see inputs.tf), so creating objects is all the app needs:
# it cannot read, list, overwrite or delete what it or the other environment wrote.
resource "google_storage_bucket_iam_member" "run_inputs" {
  for_each = local.environments

  bucket = google_storage_bucket.inputs.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.run[each.key].member

  condition {
    title       = "${each.key}-inputs-only"
    description = "Objects under ${each.key}/ only"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.inputs.name}/objects/${each.key}/\")"
  }
}

# The bearer token /predict asks for, when var.serving_api_token: one secret per
# environment, created without a version, so Terraform never holds the value. Add it once
# before the next deploy:
#   openssl rand -hex 32 | gcloud secrets versions add <project>-<env>-serving-api-token --data-file=-
# Each environment's service account may read its own secret, and nothing else may.
resource "google_project_service" "secretmanager" {
  count = var.serving_api_token ? 1 : 0

  service            = "secretmanager.googleapis.com"
  disable_on_destroy = false
}

resource "google_secret_manager_secret" "serving_api_token" {
  for_each = var.serving_api_token ? local.environments : toset([])

  secret_id = "${var.project}-${each.key}-serving-api-token"

  replication {
    auto {}
  }

  depends_on = [google_project_service.secretmanager]
}

resource "google_secret_manager_secret_iam_member" "run_reads_api_token" {
  for_each = google_secret_manager_secret.serving_api_token

  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.run[each.key].member
}

resource "google_cloud_run_v2_service" "app" {
  for_each = local.environments

  name                = "${var.project}-${each.key}"
  location            = var.region
  description         = "Serving app of ${var.project}, ${each.key}"
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = each.key == "production"

  template {
    service_account                  = google_service_account.run[each.key].email
    max_instance_request_concurrency = var.cloud_run_concurrency
    timeout                          = "30s"

    scaling {
      min_instance_count = 0
      max_instance_count = var.cloud_run_max_instances[each.key]
    }

    containers {
      image = local.bootstrap_image

      ports {
        container_port = var.container_port
      }

      # CPU while requests run only (billed per request). The app's timed flush of recorded
      # inputs then waits for the next request or for shutdown, which gets CPU too.
      resources {
        limits = {
          cpu    = var.cloud_run_cpu
          memory = var.cloud_run_memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "INPUT_LOG_URL"
        value = "gs://${google_storage_bucket.inputs.name}/${each.key}/"
      }

      dynamic "env" {
        for_each = var.serving_api_token ? [google_secret_manager_secret.serving_api_token[each.key].secret_id] : []

        content {
          name = "SERVING_API_TOKEN"

          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      # The model loads before /health answers: a revision gets traffic only once it does.
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 3
        timeout_seconds       = 2
        failure_threshold     = 20

        http_get {
          path = "/health"
        }
      }

      liveness_probe {
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 3

        http_get {
          path = "/health"
        }
      }
    }
  }

  # At creation, the one revision serves everything.
  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  # Deploys own the image, the revision's name and the traffic split: Terraform must not
  # move the service back to the bootstrap image or to a traffic split of its own. Cloud
  # Run names a revision once, so a later change to the rest of the template (CPU, memory,
  # probes, env) would be refused under the deployed revision's name: apply such a change
  # with template[0].revision taken out of this list. Cloud Run then names the new revision
  # itself; it gets no traffic, and the next deploy releases its template with a new image.
  lifecycle {
    ignore_changes = [
      template[0].containers[0].image,
      template[0].revision,
      traffic,
      client,
      client_version,
    ]
  }

  depends_on = [google_project_service.run, google_storage_bucket_iam_member.run_inputs, google_secret_manager_secret_iam_member.run_reads_api_token]
}

# Who may call the services. Cloud Run checks the caller's Google identity token against
# roles/run.invoker before a request reaches the app: var.invokers may, and CI's deploy
# identity, whose smoke test presents a token of its own (deploy/gcp_cloud_run.py).
resource "google_cloud_run_v2_service_iam_member" "invokers" {
  for_each = { for pair in setproduct(local.environments, var.invokers) : "${pair[0]} ${pair[1]}" => pair }

  location = google_cloud_run_v2_service.app[each.value[0]].location
  name     = google_cloud_run_v2_service.app[each.value[0]].name
  role     = "roles/run.invoker"
  member   = each.value[1]
}

resource "google_cloud_run_v2_service_iam_member" "ci_invoke" {
  for_each = toset(["staging"])

  location = google_cloud_run_v2_service.app[each.key].location
  name     = google_cloud_run_v2_service.app[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.ci.member
}

resource "google_cloud_run_v2_service_iam_member" "ci_production_invoke" {
  for_each = toset(["production"])

  location = google_cloud_run_v2_service.app[each.key].location
  name     = google_cloud_run_v2_service.app[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.ci_production.member
}

# The smoke test's identity token: each deploying service account may mint OpenID tokens
# for itself (iamcredentials generateIdToken), and for no other account.
resource "google_service_account_iam_member" "ci_id_tokens" {
  service_account_id = google_service_account.ci.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = google_service_account.ci.member
}

resource "google_service_account_iam_member" "ci_production_id_tokens" {
  service_account_id = google_service_account.ci_production.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = google_service_account.ci_production.member
}

# Only with public_endpoint: anyone may call the services, with no token at all. An
# organization policy that restricts members to its own domain refuses allUsers.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = var.public_endpoint ? local.environments : toset([])

  location = google_cloud_run_v2_service.app[each.key].location
  name     = google_cloud_run_v2_service.app[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# CI deploys: each service account reads and updates the service of its environment (new
# revisions, traffic), and runs its revisions as the app's service account, which needs
# actAs on it.
resource "google_cloud_run_v2_service_iam_member" "ci_deploy" {
  for_each = toset(["staging"])

  location = google_cloud_run_v2_service.app[each.key].location
  name     = google_cloud_run_v2_service.app[each.key].name
  role     = "roles/run.developer"
  member   = google_service_account.ci.member
}

resource "google_service_account_iam_member" "ci_acts_as_run" {
  for_each = toset(["staging"])

  service_account_id = google_service_account.run[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.ci.member
}

resource "google_cloud_run_v2_service_iam_member" "ci_production_deploy" {
  for_each = toset(["production"])

  location = google_cloud_run_v2_service.app[each.key].location
  name     = google_cloud_run_v2_service.app[each.key].name
  role     = "roles/run.developer"
  member   = google_service_account.ci_production.member
}

resource "google_service_account_iam_member" "ci_production_acts_as_run" {
  for_each = toset(["production"])

  service_account_id = google_service_account.run[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.ci_production.member
}
