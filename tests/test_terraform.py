"""The Terraform of the rendered repository: infra/aws exists exactly when an answer needs
AWS, is formatted, parses, documents every variable and output, keeps its state remotely
with locking, and holds the promises of the README (a private versioned bucket, a service
that rolls back by itself, a CI role that only this repository can assume).

Provider schemas cannot be downloaded here, so `terraform validate` cannot run: the resource
types are checked against a list taken from the AWS provider documentation instead.
"""

import re
from pathlib import Path

import pytest
import yaml

from terraform_hcl import Module, plan, variables_module

COMBOS = {
    "s3_compose": {"data_store": "s3", "deploy_target": "docker_compose"},
    "local_ecs": {"data_store": "local", "deploy_target": "aws_ecs"},
    "s3_ecs": {
        "data_store": "s3",
        "deploy_target": "aws_ecs",
        "project_name": "Fraud Model",
        "aws_region": "eu-west-1",
        "repository_path": "acme/fraud-model",
        "terraform_state_bucket": "acme-tfstate",
        "s3_bucket": "acme-fraud-dvc",
    },
    "minio_compose": {"data_store": "s3", "s3_endpoint_url": "http://minio.example.com:9000"},
    "default": {},
}
WITH_INFRA = ["s3_compose", "local_ecs", "s3_ecs"]
WITH_BUCKET = ["s3_compose", "s3_ecs"]
WITH_ECS = ["local_ecs", "s3_ecs"]

# Every resource and data source type the Terraform may use, each checked against the
# AWS provider (6.x) documentation, website/docs/{r,d}/<type>.html.markdown.
DOCUMENTED_TYPES = {
    "resource": {
        "aws_cloudwatch_log_group",
        "aws_ecr_lifecycle_policy",
        "aws_ecr_repository",
        "aws_ecs_cluster",
        "aws_ecs_service",
        "aws_ecs_task_definition",
        "aws_iam_openid_connect_provider",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_lb",
        "aws_lb_listener",
        "aws_lb_target_group",
        "aws_s3_bucket",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_secretsmanager_secret",
        "aws_security_group",
        "aws_vpc_security_group_egress_rule",
        "aws_vpc_security_group_ingress_rule",
    },
    "data": {
        "aws_caller_identity",
        "aws_iam_policy_document",
        "aws_subnets",
        "aws_vpc",
    },
}


@pytest.fixture(scope="module")
def rendered(render) -> dict[str, Path]:
    return {name: render(data) for name, data in COMBOS.items()}


def answers(project: Path) -> dict:
    """The stored answers, with the computed values the checks need."""
    given = yaml.safe_load((project / ".copier-answers.yml").read_text())
    # project_slug (and image_name, which is the slug) is computed, so it is not stored.
    slug = re.sub("[^a-z0-9]+", "-", given["project_name"].lower()).strip("-")
    return {**given, "project_slug": slug, "image_name": slug, "service_port": 8000}


def aws(project: Path) -> Module:
    return Module(project / "infra" / "aws")


def ecs_service(project: Path) -> Module:
    return Module(project / "infra" / "aws" / "modules" / "ecs_service")


def modules(project: Path) -> list[Module]:
    found = [aws(project)]
    if (project / "infra" / "aws" / "modules" / "ecs_service").is_dir():
        found.append(ecs_service(project))
    return found


# ----------------------------------------------------------------- which files exist


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_infra_exists_when_an_answer_needs_aws(rendered, combo):
    assert (rendered[combo] / "infra" / "aws" / "versions.tf").is_file()


@pytest.mark.parametrize("combo", ["minio_compose", "default"])
def test_no_infra_without_aws(rendered, combo):
    assert not (rendered[combo] / "infra").exists()


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_optional_parts_follow_the_answers(rendered, combo):
    infra = rendered[combo] / "infra" / "aws"
    assert (infra / "dvc_bucket.tf").exists() == (combo in WITH_BUCKET)
    assert (infra / "ecr.tf").exists(), "a registry comes with every AWS project"
    assert (infra / "ecs.tf").exists() == (combo in WITH_ECS)
    assert (infra / "modules").exists() == (combo in WITH_ECS)
    assert (rendered[combo] / "deploy" / "aws_ecs.py").exists() == (combo in WITH_ECS)


# ------------------------------------------------------------- format, parse, types


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_only_documented_aws_types(rendered, combo):
    for module in modules(rendered[combo]):
        for kind, documented in DOCUMENTED_TYPES.items():
            used = {type_ for type_, _ in module.typed(kind)}
            assert used <= documented, (
                f"{module.directory}: undocumented {kind} {used - documented}"
            )


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_every_variable_and_output_is_documented(rendered, combo):
    for module in modules(rendered[combo]):
        for kind in ("variable", "output"):
            for name, body in module.named(kind).items():
                assert body.get("description", "").strip(), f"{module.directory}: {kind} {name}"


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_root_variables_with_free_values_are_validated(rendered, combo):
    for name, body in aws(rendered[combo]).named("variable").items():
        if body.get("type") in ("string", "number", "map(number)", "list(string)"):
            assert body.get("validation"), f"variable {name} has no validation block"


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_variable_defaults_are_the_answers(rendered, combo):
    project = rendered[combo]
    given = answers(project)
    variables = aws(project).named("variable")
    assert variables["project"]["default"] == given["project_slug"]
    assert variables["aws_region"]["default"] == given["aws_region"]
    assert variables["repository_path"]["default"] == given["repository_path"]
    if combo in WITH_BUCKET:
        assert variables["dvc_bucket_name"]["default"] == given["s3_bucket"]
    if combo in WITH_ECS:
        assert variables["image_name"]["default"] == given["image_name"]
        assert variables["container_port"]["default"] == given["service_port"]


CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/1a2b-3c"
# An HCL map of environments to a domain and a certificate, for -var https=...
HTTPS = '{%s = {domain_name = "api.example.com", certificate_arn = "' + CERTIFICATE + '"}}'
BAD_VALUES = {
    "project": "Fraud_Model",
    "aws_region": "europe",
    "repository_path": "fraud-model",
    "dvc_bucket_name": "Fraud..Bucket",
    "image_name": "Fraud Model",
    "task_cpu": "300",
    "desired_count": "{staging = 1}",
    "log_retention_days": "10",
    "public_subnet_ids": '["subnet-1"]',
    "https": HTTPS.replace("%s", "qa"),
}


@pytest.fixture(scope="module")
def variables_only(rendered, tmp_path_factory) -> Path:
    """variables.tf of the fullest combination alone."""
    variables = rendered["s3_ecs"] / "infra" / "aws" / "variables.tf"
    return variables_module(tmp_path_factory.mktemp("variables"), variables)


def test_default_variables_are_valid(variables_only):
    result = plan(variables_only)
    assert result.returncode == 0, result.stdout + result.stderr


def test_https_takes_a_domain_and_an_acm_certificate_per_environment(variables_only):
    good = "https=" + HTTPS.replace("%s", "production")
    assert plan(variables_only, "-var", good).returncode == 0
    bad = good.replace("arn:aws:acm", "arn:aws:iam")
    assert 'variable "https"' in plan(variables_only, "-var", bad).stderr


@pytest.mark.parametrize("combo", WITH_ECS)
def test_the_load_balancer_serves_https_with_a_certificate_and_redirects_http(rendered, combo):
    service = ecs_service(rendered[combo])
    https = service.resource("aws_lb_listener", "https")
    assert https["count"] == "${local.https ? 1 : 0}"
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificate_arn"] == "${var.certificate_arn}"
    http = service.resource("aws_lb_listener", "http")
    actions = {name: body for entry in http["dynamic"] for name, body in entry.items()}[
        "default_action"
    ]
    assert actions  # forward without a certificate, redirect with one
    redirect = [a for a in http["dynamic"] if "redirect" in str(a)]
    assert redirect and "HTTP_301" in str(redirect) and "HTTPS" in str(redirect)
    assert 'local.https ? ["redirect"] : []' in service.text
    # The deploy smoke-tests the URL the load balancer's tag names.
    assert service.resource("aws_lb", "this")["tags"] == {"ServiceUrl": "${local.url}"}
    assert "https = var.certificate_arn != null" in service.text


@pytest.mark.parametrize("name", BAD_VALUES)
def test_validation_refuses_wrong_values(variables_only, name):
    extra = ["-var", "vpc_id=vpc-0abc"] if name == "public_subnet_ids" else []
    result = plan(variables_only, "-var", f"{name}={BAD_VALUES[name]}", *extra)
    assert result.returncode != 0
    assert "Invalid value for variable" in result.stderr
    assert f'variable "{name}"' in result.stderr


# ------------------------------------------------------------- state and providers


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_state_is_remote_encrypted_and_locked_in_s3(rendered, combo):
    project = rendered[combo]
    (terraform,) = aws(project).blocks["terraform"]
    (backend,) = terraform["backend"]
    s3 = backend["s3"]
    assert s3["bucket"] == answers(project)["terraform_state_bucket"]
    assert s3["region"] == answers(project)["aws_region"]
    assert s3["key"]
    assert s3["encrypt"] is True
    assert s3["use_lockfile"] is True
    assert "dynamodb_table" not in s3


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_terraform_and_providers_are_pinned(rendered, combo):
    for module in modules(rendered[combo]):
        (terraform,) = module.blocks["terraform"]
        assert re.fullmatch(r">= 1\.1[1-9]", terraform["required_version"])
        (providers,) = terraform["required_providers"]
        assert providers["aws"]["source"] == "hashicorp/aws"
        assert re.fullmatch(r"(~>|>=) 6\.\d+", providers["aws"]["version"])
    (root_providers,) = aws(rendered[combo]).blocks["terraform"][0]["required_providers"]
    assert root_providers["aws"]["version"].startswith("~> 6.")


# ----------------------------------------------------------------------- DVC bucket


@pytest.mark.parametrize("combo", WITH_BUCKET)
def test_dvc_bucket_is_private_encrypted_versioned_and_tls_only(rendered, combo):
    module = aws(rendered[combo])
    bucket = "${aws_s3_bucket.dvc.id}"
    public_access = module.resource("aws_s3_bucket_public_access_block", "dvc")
    assert public_access["bucket"] == bucket
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert public_access[setting] is True

    encryption = module.resource("aws_s3_bucket_server_side_encryption_configuration", "dvc")
    (rule,) = encryption["rule"]
    (default,) = rule["apply_server_side_encryption_by_default"]
    assert default["sse_algorithm"] in ("aws:kms", "AES256")

    versioning = module.resource("aws_s3_bucket_versioning", "dvc")
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"

    lifecycle = module.resource("aws_s3_bucket_lifecycle_configuration", "dvc")
    (rule,) = lifecycle["rule"]
    assert rule["status"] == "Enabled"
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"]

    policy = module.typed("data")[("aws_iam_policy_document", "dvc_bucket")]
    (statement,) = policy["statement"]
    assert statement["effect"] == "Deny"
    assert statement["condition"][0]["variable"] == "aws:SecureTransport"
    assert statement["condition"][0]["values"] == ["false"]


@pytest.mark.parametrize("combo", WITH_BUCKET)
def test_ci_can_read_and_write_the_dvc_bucket_but_not_delete(rendered, combo):
    policy = aws(rendered[combo]).typed("data")[("aws_iam_policy_document", "ci_dvc")]
    actions = {a for statement in policy["statement"] for a in statement["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}


# ---------------------------------------------------------------------- ECR and ECS


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_ecr_repository_is_immutable_scanned_and_pruned(rendered, combo):
    module = aws(rendered[combo])
    repository = module.resource("aws_ecr_repository", "app")
    assert repository["name"] == "${var.image_name}"
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert repository["image_scanning_configuration"][0]["scan_on_push"] is True
    assert module.resource("aws_ecr_lifecycle_policy", "app")["repository"]


@pytest.mark.parametrize("combo", WITH_ECS)
def test_one_service_per_environment_in_one_cluster(rendered, combo):
    module = aws(rendered[combo])
    assert module.resource("aws_ecs_cluster", "this")["name"] == "${var.project}"
    setting = module.resource("aws_ecs_cluster", "this")["setting"][0]
    assert setting == {"name": "containerInsights", "value": "enabled"}
    service_module = module.named("module")["service"]
    assert service_module["source"] == "./modules/ecs_service"
    assert "staging" in module.text and "production" in module.text
    assert service_module["for_each"] == "${local.environments}"
    (locals_,) = ecs_service(rendered[combo]).blocks["locals"]
    assert locals_["name"] == "${var.project}-${var.environment}"


@pytest.mark.parametrize("combo", WITH_ECS)
def test_service_rolls_back_by_itself_and_leaves_revisions_to_ci(rendered, combo):
    service = ecs_service(rendered[combo]).resource("aws_ecs_service", "this")
    assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    assert service["lifecycle"] == [{"ignore_changes": ["task_definition"]}]
    assert service["launch_type"] == "FARGATE"
    assert service["load_balancer"][0]["container_port"] == "${var.container_port}"


@pytest.mark.parametrize("combo", WITH_ECS)
def test_task_is_fargate_awsvpc_read_only_with_health_check_and_logs(rendered, combo):
    module = ecs_service(rendered[combo])
    task = module.resource("aws_ecs_task_definition", "this")
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert task["network_mode"] == "awsvpc"
    assert task["execution_role_arn"] != task["task_role_arn"]
    containers = task["container_definitions"]
    assert "readonlyRootFilesystem = true" in containers
    assert "/health" in containers
    assert 'logDriver = "awslogs"' in containers


@pytest.mark.parametrize("combo", WITH_ECS)
def test_load_balancer_checks_health_of_ip_targets(rendered, combo):
    module = ecs_service(rendered[combo])
    target_group = module.resource("aws_lb_target_group", "this")
    assert target_group["target_type"] == "ip"
    assert target_group["health_check"][0]["path"] == "/health"
    # The tasks admit their load balancer only.
    ingress = module.typed("resource")[("aws_vpc_security_group_ingress_rule", "task_from_alb")]
    assert ingress["referenced_security_group_id"] == "${aws_security_group.alb.id}"
    assert "cidr_ipv4" not in ingress


@pytest.mark.parametrize("combo", WITH_ECS)
def test_deploy_script_finds_what_terraform_names(rendered, combo):
    project = rendered[combo]
    script = (project / "deploy" / "aws_ecs.py").read_text()
    assert f'CLUSTER = "{answers(project)["project_slug"]}"' in script
    (locals_,) = ecs_service(project).blocks["locals"]
    assert f'CONTAINER = "{locals_["container_name"]}"' in script


@pytest.mark.parametrize("combo", WITH_ECS)
def test_ci_deploy_permissions_are_scoped(rendered, combo):
    """The release role deploys the staging service, the production role the production
    one, each passing only its environment's task roles."""
    module = aws(rendered[combo])
    for role, env, other in (
        ("ci", "staging", "production"),
        ("ci_production", "production", "staging"),
    ):
        policy = module.typed("data")[("aws_iam_policy_document", f"{role}_ecs")]
        by_sid = {s["sid"]: s for s in policy["statement"]}
        service = by_sid[f"The{env.capitalize()}Service"]
        assert set(service["actions"]) == {"ecs:DescribeServices", "ecs:UpdateService"}
        assert f'module.service["{env}"]' in str(service["resources"])
        pass_role = by_sid["PassTheTaskRoles"]
        assert pass_role["actions"] == ["iam:PassRole"]
        assert f'module.service["{env}"]' in str(pass_role["resources"])
        assert other not in str(service["resources"]) + str(pass_role["resources"])
        assert pass_role["condition"][0]["values"] == ["ecs-tasks.amazonaws.com"]
        attached = module.resource("aws_iam_role_policy", f"{role}_ecs")
        assert attached["role"] == f"${{aws_iam_role.{role}.id}}"


# ------------------------------------------------------------------ CI and outputs


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_only_this_repository_can_assume_the_ci_role(rendered, combo):
    project = rendered[combo]
    module = aws(project)
    trust = module.typed("data")[("aws_iam_policy_document", "ci_trust")]
    (statement,) = trust["statement"]
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    conditions = {c["variable"]: c for c in statement["condition"]}
    audience = conditions["token.actions.githubusercontent.com:aud"]
    assert (audience["test"], audience["values"]) == ("StringEquals", ["sts.amazonaws.com"])
    # The release role: main and the staging environment only, the production role the
    # production environment only (test_ci_policy.py checks every vendor against the
    # tokens a pull request and the trusted runs outside production can present).
    subject = conditions["token.actions.githubusercontent.com:sub"]
    assert subject["values"] == [
        "repo:${var.repository_path}:ref:refs/heads/main",
        "repo:${var.repository_path}:environment:staging",
    ]
    if combo not in WITH_ECS:
        return  # no service on AWS: no production role
    production = module.typed("data")[("aws_iam_policy_document", "ci_production_trust")]
    (statement,) = production["statement"]
    conditions = {c["variable"]: c["values"] for c in statement["condition"]}
    assert conditions["token.actions.githubusercontent.com:sub"] == [
        "repo:${var.repository_path}:environment:production"
    ]
    path = answers(project)["repository_path"]
    assert module.named("variable")["repository_path"]["default"] == path
    provider = module.resource("aws_iam_openid_connect_provider", "github")
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("combo", WITH_INFRA)
def test_outputs_give_the_ci_settings(rendered, combo):
    outputs = aws(rendered[combo]).named("output")
    expected = {"ci_role_arn", "aws_region", "ci_variables", "ecr_repository_url", "ecr_registry"}
    if combo in WITH_BUCKET:
        expected |= {"dvc_bucket_name"}
    if combo in WITH_ECS:
        expected |= {"ecs_cluster_name", "service_urls"}
    assert expected <= set(outputs)
    assert {"AWS_ROLE_ARN", "REGISTRY"} <= set(outputs["ci_variables"]["value"])


def test_custom_answers_reach_the_terraform(rendered):
    text = aws(rendered["s3_ecs"]).text
    for value in ("acme-tfstate", "eu-west-1", "acme/fraud-model", "acme-fraud-dvc", "fraud-model"):
        assert value in text
