"""The Cloud Run Terraform of a gcp_cloud_run project (infra/gcp/cloud_run.tf), read with
python-hcl2: one service per environment named as deploy/gcp_cloud_run.py expects, on a
public placeholder image, probed on /health, with resource limits and the input log URL;
each service runs as a service account of its own that may only create objects under its
environment's prefix of the inputs bucket; deploys own the image, the revision and the
traffic; CI may deploy these two services and act as their identities, nothing more; only
invokers (CI's smoke test, var.invokers) may call them unless public_endpoint says so.

Resource and argument names follow the Google provider (7.x) documentation,
website/docs/r/cloud_run_v2_service.html.markdown and its IAM page.
"""

from pathlib import Path

import pytest

from terraform_hcl import Module

ANSWERS = {
    "ci_provider": "gitlab_ci",
    "deploy_target": "gcp_cloud_run",
    "project_name": "Fraud Model",
    "gcp_project_id": "acme-fraud-prod",
    "gcp_region": "europe-west4",
}
ENVIRONMENTS = ["staging", "production"]
CI = "${google_service_account.ci.member}"
CI_PRODUCTION = "${google_service_account.ci_production.member}"


@pytest.fixture(scope="module")
def project(render) -> Path:
    return render(ANSWERS)


@pytest.fixture(scope="module")
def gcp(project) -> Module:
    return Module(project / "infra" / "gcp")


@pytest.fixture(scope="module")
def service(gcp) -> dict:
    return gcp.resource("google_cloud_run_v2_service", "app")


def test_cloud_run_only_for_the_cloud_run_target(render, gcp):
    assert "cloud_run.tf" in gcp.names
    other = render({"data_store": "gcs", "deploy_target": "docker_compose"})
    assert not (other / "infra" / "gcp" / "cloud_run.tf").exists()
    assert "cloud_run" not in (other / "infra" / "gcp" / "variables.tf").read_text()
    assert "service_urls" not in (other / "infra" / "gcp" / "outputs.tf").read_text()


def test_one_service_per_environment_named_as_the_deploy_module_expects(gcp, service, project):
    (environments,) = [b["environments"] for b in gcp.blocks["locals"] if "environments" in b]
    assert environments == '${toset(["staging", "production"])}'
    assert service["for_each"] == "${local.environments}"
    assert service["name"] == "${var.project}-${each.key}"
    assert service["location"] == "${var.region}"
    assert gcp.named("variable")["project"]["default"] == "fraud-model"
    deploy = (project / "deploy" / "gcp_cloud_run.py").read_text()
    assert 'SERVICE = "fraud-model"' in deploy
    assert "services/{SERVICE}-{env}" in deploy
    # Production cannot be destroyed by a stray `terraform destroy`.
    assert service["deletion_protection"] == '${each.key == "production"}'


def test_the_container_is_probed_limited_and_told_where_inputs_go(gcp, service):
    (template,) = service["template"]
    assert template["service_account"] == "${google_service_account.run[each.key].email}"
    (container,) = template["containers"]
    assert container["image"] == "${local.bootstrap_image}"
    (locals_,) = [b for b in gcp.blocks["locals"] if "bootstrap_image" in b]
    assert locals_["bootstrap_image"] == "us-docker.pkg.dev/cloudrun/container/hello"
    assert container["ports"] == [{"container_port": "${var.container_port}"}]
    assert gcp.named("variable")["container_port"]["default"] == 8000
    for probe in ("startup_probe", "liveness_probe"):
        (settings,) = container[probe]
        assert settings["http_get"] == [{"path": "/health"}], probe
    (resources,) = container["resources"]
    assert resources["limits"] == {
        "cpu": "${var.cloud_run_cpu}",
        "memory": "${var.cloud_run_memory}",
    }
    (env,) = container["env"]
    assert env == {
        "name": "INPUT_LOG_URL",
        "value": "gs://${google_storage_bucket.inputs.name}/${each.key}/",
    }
    (scaling,) = template["scaling"]
    assert scaling["max_instance_count"] == "${var.cloud_run_max_instances[each.key]}"


def test_deploys_own_the_image_the_revision_and_the_traffic(service):
    assert service["traffic"] == [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
    (lifecycle,) = service["lifecycle"]
    ignored = set(lifecycle["ignore_changes"])
    assert {
        "${template[0].containers[0].image}",
        "${template[0].revision}",
        "traffic",
    } <= ignored


def test_the_app_identity_only_creates_objects_under_its_own_prefix(gcp):
    resources = gcp.resources()
    account = resources[("google_service_account", "run")]
    assert account["for_each"] == "${local.environments}"
    grants = {
        name: body
        for (type_, name), body in resources.items()
        if type_.endswith("_iam_member") and "google_service_account.run" in str(body["member"])
    }
    assert set(grants) == {"run_inputs", "run_reads_api_token"}, "the app's identity's grants"
    token = grants["run_reads_api_token"]
    assert token["role"] == "roles/secretmanager.secretAccessor"
    assert token["for_each"] == "${google_secret_manager_secret.serving_api_token}"
    assert token["member"] == "${google_service_account.run[each.key].member}"
    inputs = grants["run_inputs"]
    assert inputs["bucket"] == "${google_storage_bucket.inputs.name}"
    assert inputs["role"] == "roles/storage.objectCreator"
    (condition,) = inputs["condition"]
    assert "/objects/${each.key}/" in condition["expression"]
    assert not any(
        t.startswith(("google_project_iam", "google_organization_iam")) for t, _ in resources
    )


def test_ci_deploys_these_services_and_acts_as_their_identities(gcp):
    """The release service account deploys staging, the production one production."""
    resources = gcp.resources()
    for account, member, env in (
        ("ci", CI, "staging"),
        ("ci_production", CI_PRODUCTION, "production"),
    ):
        deploy = resources[("google_cloud_run_v2_service_iam_member", f"{account}_deploy")]
        assert (deploy["role"], deploy["member"]) == ("roles/run.developer", member)
        assert deploy["for_each"] == f'${{toset(["{env}"])}}'
        assert deploy["name"] == "${google_cloud_run_v2_service.app[each.key].name}"
        act_as = resources[("google_service_account_iam_member", f"{account}_acts_as_run")]
        assert (act_as["role"], act_as["member"]) == ("roles/iam.serviceAccountUser", member)
        assert act_as["for_each"] == f'${{toset(["{env}"])}}'
        assert act_as["service_account_id"] == "${google_service_account.run[each.key].name}"
        smoke = resources[("google_cloud_run_v2_service_iam_member", f"{account}_invoke")]
        assert (smoke["role"], smoke["member"], smoke["for_each"]) == (
            "roles/run.invoker",
            member,
            f'${{toset(["{env}"])}}',
        )
    push = resources[("google_artifact_registry_repository_iam_member", "ci_push")]
    assert (push["role"], push["member"]) == ("roles/artifactregistry.writer", CI)


def test_only_invokers_may_call_the_services_unless_public_endpoint_says_so(gcp, render):
    public = gcp.resource("google_cloud_run_v2_service_iam_member", "public")
    assert (public["role"], public["member"]) == ("roles/run.invoker", "allUsers")
    assert public["for_each"] == "${var.public_endpoint ? local.environments : toset([])}"
    assert gcp.named("variable")["public_endpoint"]["default"] is False
    invokers = gcp.resource("google_cloud_run_v2_service_iam_member", "invokers")
    assert (invokers["role"], invokers["member"]) == ("roles/run.invoker", "${each.value[1]}")
    smoke = gcp.resource("google_cloud_run_v2_service_iam_member", "ci_invoke")
    assert (smoke["role"], smoke["member"]) == ("roles/run.invoker", CI)
    # The smoke test's identity token: CI mints tokens for itself and no other account.
    tokens = gcp.resource("google_service_account_iam_member", "ci_id_tokens")
    assert tokens["service_account_id"] == "${google_service_account.ci.name}"
    assert tokens["role"] == "roles/iam.serviceAccountOpenIdTokenCreator"
    # The answer public_endpoint is the variable's default.
    opened = Module(render({**ANSWERS, "public_endpoint": True}) / "infra" / "gcp")
    assert opened.named("variable")["public_endpoint"]["default"] is True


def test_the_api_is_enabled_and_the_outputs_give_the_urls(gcp):
    run_api = gcp.resource("google_project_service", "run")
    assert run_api["service"] == "run.googleapis.com"
    outputs = gcp.named("output")
    assert "google_cloud_run_v2_service.app" in outputs["service_urls"]["value"]
    assert "google_service_account.run" in outputs["run_service_accounts"]["value"]
    for name in ("cloud_run_cpu", "cloud_run_memory", "cloud_run_max_instances"):
        variable = gcp.named("variable")[name]
        assert variable["description"] and variable["validation"], name


def test_runtime_account_ids_fit_in_30_characters(gcp):
    """The account_id expression, evaluated for the longest project name the variable
    allows (63 characters)."""
    (locals_,) = [b for b in gcp.blocks["locals"] if "run_account_suffix" in b]
    suffixes = locals_["run_account_suffix"]
    account = gcp.resource("google_service_account", "run")
    assert "substr(var.project, 0, 29 - length(" in account["account_id"]
    for env in ENVIRONMENTS:
        suffix = suffixes[env]
        for project in ("a" * 63, "abc", "fraud-model-serving-platform-x"):
            kept = project[: 29 - len(suffix)].rstrip("-")
            account_id = f"{kept}-{suffix}"
            assert 6 <= len(account_id) <= 30, account_id
