"""The SageMaker Terraform of an aws_sagemaker project holds the promises of the README: one
endpoint per environment that updates blue/green and rolls back when its CloudWatch alarms
fire, a container that ships its inputs to its environment's prefix of the inputs bucket,
an execution role per environment, and a CI role allowed exactly what
deploy/aws_sagemaker.py calls, on this project's resources only. The names the deploy
module looks for are the names Terraform gives. (fmt, parse and checkov of every
combination: tests/test_infra_every_combination.py.)
"""

import ast
import re
from pathlib import Path

import boto3
import pytest

from terraform_hcl import Module, plan, variables_module

DEFAULT = {"ci_provider": "github_actions", "data_store": "local", "deploy_target": "aws_sagemaker"}
CUSTOM = {
    "ci_provider": "gitlab_ci",
    "data_store": "s3",
    "deploy_target": "aws_sagemaker",
    "project_name": "Fraud Detection Model For Cards X",  # its slug is cut at a dash
    "aws_region": "eu-west-1",
}
ENVIRONMENTS = ["staging", "production"]
DOCUMENTED_TYPES = {
    # AWS provider (6.x) documentation, website/docs/r/<type>.html.markdown
    "aws_cloudwatch_log_group",
    "aws_cloudwatch_metric_alarm",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_sagemaker_endpoint",
    "aws_sagemaker_endpoint_configuration",
    "aws_sagemaker_model",
}


@pytest.fixture(scope="module", params=[DEFAULT, CUSTOM], ids=["default", "custom"])
def project(request, render) -> Path:
    return render(request.param)


@pytest.fixture(scope="module")
def aws(project) -> Module:
    return Module(project / "infra" / "aws")


def constants(project: Path) -> dict:
    """The module-level constants of the rendered deploy/aws_sagemaker.py (it imports the
    package, which needs pandas: read, not imported)."""
    tree = ast.parse((project / "deploy" / "aws_sagemaker.py").read_text())
    return {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant | ast.Tuple)
    }


def by_sid(policy: dict) -> dict:
    return {statement["sid"]: statement for statement in policy["statement"]}


def test_sagemaker_files_come_with_the_target_only(project, render):
    infra = project / "infra" / "aws"
    assert {"sagemaker.tf", "sagemaker_iam.tf", "inputs.tf"} <= set(Module(infra).names)
    assert not (infra / "ecs.tf").exists()
    assert not (infra / "modules").exists()
    assert (project / "deploy" / "aws_sagemaker.py").is_file()
    ecs = render({**DEFAULT, "deploy_target": "aws_ecs"}) / "infra" / "aws"
    assert not (ecs / "sagemaker.tf").exists()
    assert not (ecs / "sagemaker_iam.tf").exists()


def test_only_documented_sagemaker_types(aws):
    used = {
        type_
        for type_, _ in aws.resources()
        if type_.startswith(("aws_sagemaker", "aws_cloudwatch"))
        or type_ in {"aws_iam_role", "aws_iam_role_policy"}
    }
    assert used <= DOCUMENTED_TYPES


def test_names_are_the_ones_the_deploy_module_uses(project, aws):
    (locals_,) = [block for block in aws.blocks["locals"] if "endpoint_names" in block]
    assert "${local.short_name}-${env}" in locals_["endpoint_names"]
    (main_locals,) = [block for block in aws.blocks["locals"] if "short_name" in block]
    assert main_locals["short_name"] == '${trimsuffix(substr(var.project, 0, 32), "-")}'
    slug = aws.named("variable")["project"]["default"]
    assert constants(project)["PREFIX"] == slug[:32].rstrip("-")
    if len(slug) > 32:
        assert constants(project)["PREFIX"] == "fraud-detection-model-for-cards"
    for name in ("invocation_5xx_errors", "model_latency"):
        alarm = aws.resource("aws_cloudwatch_metric_alarm", name)
        suffix = alarm["alarm_name"].removeprefix("${each.value}-")
        assert suffix in constants(project)["ALARM_SUFFIXES"]


def test_endpoints_update_blue_green_and_roll_back_on_their_alarms(project, aws):
    endpoint = aws.resource("aws_sagemaker_endpoint", "this")
    assert endpoint["for_each"] == "${local.endpoint_names}"
    assert endpoint["name"] == "${each.value}"
    (deployment,) = endpoint["deployment_config"]
    (policy,) = deployment["blue_green_update_policy"]
    (routing,) = policy["traffic_routing_configuration"]
    given = constants(project)
    assert routing == {"type": "ALL_AT_ONCE", "wait_interval_in_seconds": given["BAKING_SECONDS"]}
    timeout = policy["maximum_execution_timeout_in_seconds"]
    assert timeout == given["DEPLOYMENT_TIMEOUT_SECONDS"]
    assert 600 <= timeout <= 14400 and timeout > routing["wait_interval_in_seconds"]
    (rollback,) = deployment["auto_rollback_configuration"]
    assert rollback["alarms"] == [
        {"alarm_name": "${aws_cloudwatch_metric_alarm.invocation_5xx_errors[each.key].alarm_name}"},
        {"alarm_name": "${aws_cloudwatch_metric_alarm.model_latency[each.key].alarm_name}"},
    ]
    # CI moves the endpoint to new configurations; an apply must not move it back.
    assert endpoint["lifecycle"] == [{"ignore_changes": ["endpoint_config_name"]}]


def test_alarms_watch_the_endpoint_variant(aws):
    config = aws.resource("aws_sagemaker_endpoint_configuration", "bootstrap")
    (variant,) = config["production_variants"]
    assert variant["variant_name"] == "${local.variant_name}"
    expected = {"Invocation5XXErrors": "Sum", "ModelLatency": "Average"}
    for name in ("invocation_5xx_errors", "model_latency"):
        alarm = aws.resource("aws_cloudwatch_metric_alarm", name)
        assert alarm["namespace"] == "AWS/SageMaker"
        assert alarm["statistic"] == expected.pop(alarm["metric_name"])
        assert alarm["dimensions"] == {
            "EndpointName": "${each.value}",
            "VariantName": "${local.variant_name}",
        }
        assert alarm["treat_missing_data"] == "notBreaching"
    assert not expected
    # ModelLatency is in microseconds, the variable in milliseconds.
    latency = aws.resource("aws_cloudwatch_metric_alarm", "model_latency")
    assert latency["threshold"] == "${var.model_latency_alarm_ms * 1000}"


def test_models_start_from_the_bootstrap_image_and_ship_inputs_per_environment(aws):
    model = aws.resource("aws_sagemaker_model", "bootstrap")
    assert model["execution_role_arn"] == "${aws_iam_role.sagemaker_execution[each.key].arn}"
    (container,) = model["primary_container"]
    assert container["image"] == "${aws_ecr_repository.app.repository_url}:bootstrap"
    assert container["environment"] == {
        "INPUT_LOG_URL": "s3://${aws_s3_bucket.inputs.bucket}/${each.key}/"
    }
    assert "enable_network_isolation" not in model, "the app must reach the inputs bucket"


def test_execution_roles_are_sagemakers_and_may_only_pull_log_and_ship_inputs(aws):
    trust = aws.typed("data")[("aws_iam_policy_document", "sagemaker_trust")]
    (statement,) = trust["statement"]
    assert statement["principals"] == [
        {"type": "Service", "identifiers": ["sagemaker.amazonaws.com"]}
    ]
    assert statement["condition"][0]["variable"] == "aws:SourceAccount"
    role = aws.resource("aws_iam_role", "sagemaker_execution")
    assert role["for_each"] == "${local.endpoint_names}"

    policy = aws.typed("data")[("aws_iam_policy_document", "sagemaker_execution")]
    statements = by_sid(policy)
    assert statements["PullTheImage"]["resources"] == ["${aws_ecr_repository.app.arn}"]
    assert all("ecr:Put" not in action for action in statements["PullTheImage"]["actions"])
    log_group = "${aws_cloudwatch_log_group.endpoint[each.key].arn}"
    assert statements["WriteTheLogs"]["resources"] == [log_group, log_group + ":*"]
    assert statements["ShipTheInputs"] == {
        "sid": "ShipTheInputs",
        "actions": ["s3:PutObject"],
        "resources": ["${aws_s3_bucket.inputs.arn}/${each.key}/*"],
    }
    log_group_resource = aws.resource("aws_cloudwatch_log_group", "endpoint")
    assert log_group_resource["name"] == "/aws/sagemaker/Endpoints/${each.value}"


def api_calls(project: Path) -> set[str]:
    """The IAM actions behind every boto3 call in deploy/aws_sagemaker.py, waiters included."""
    source = (project / "deploy" / "aws_sagemaker.py").read_text()
    called = set(re.findall(r"\.(\w+)\(", source))
    actions = set()
    for service in ("sagemaker", "sagemaker-runtime"):
        client = boto3.client(service, region_name="us-east-1")
        mapping = client.meta.method_to_api_mapping
        actions |= {f"sagemaker:{mapping[m]}" for m in called if m in mapping}
        for waiter in re.findall(r'get_waiter\("(\w+)"\)', source):
            if waiter in client.waiter_names:
                actions.add(f"sagemaker:{client.get_waiter(waiter).config.operation}")
    return actions


def test_ci_may_do_exactly_what_the_deploy_module_calls(project, aws):
    """The release role deploys the staging endpoint, the production role the production
    one (both vendors here sign in to AWS through OIDC), each exactly what the deploy
    module calls, on its environment's resources only."""
    for role, env in (("ci", "staging"), ("ci_production", "production")):
        policy = aws.typed("data")[("aws_iam_policy_document", f"{role}_sagemaker")]
        statements = by_sid(policy)
        granted = {
            a for s in statements.values() for a in s["actions"] if a.startswith("sagemaker:")
        }
        assert granted == api_calls(project)
        assert granted >= {"sagemaker:UpdateEndpoint", "sagemaker:InvokeEndpoint"}

        endpoint = statements[f"The{env.capitalize()}Endpoint"]["resources"]
        assert endpoint == [f'${{aws_sagemaker_endpoint.this["{env}"].arn}}']
        for sid, kind in (("ItsConfigurations", "endpoint-config"), ("ItsModels", "model")):
            (resource,) = statements[sid]["resources"]
            (pattern,) = re.findall(r":([\w-]+)/", resource)
            assert pattern == kind
            assert resource.endswith(f'${{local.endpoint_names["{env}"]}}-*')
        pass_role = statements["PassTheExecutionRole"]
        assert pass_role["actions"] == ["iam:PassRole"]
        assert pass_role["resources"] == [f'${{aws_iam_role.sagemaker_execution["{env}"].arn}}']
        assert pass_role["condition"] == [
            {
                "test": "StringEquals",
                "variable": "iam:PassedToService",
                "values": ["sagemaker.amazonaws.com"],
            }
        ]
        attached = aws.resource("aws_iam_role_policy", f"{role}_sagemaker")
        assert attached["role"] == f"${{aws_iam_role.{role}.id}}"


def test_outputs_name_the_endpoints(aws):
    outputs = aws.named("output")
    for name in ("sagemaker_endpoint_names", "invocation_urls", "rollback_alarm_names"):
        assert outputs[name]["description"]


BAD_VALUES = {
    "endpoint_instance_type": "m5.large",
    "endpoint_instance_count": "{staging = 1, production = 0}",
    "model_latency_alarm_ms": "0",
}


@pytest.fixture(scope="module")
def variables_only(render, tmp_path_factory) -> Path:
    """variables.tf alone."""
    variables = render(DEFAULT) / "infra" / "aws" / "variables.tf"
    return variables_module(tmp_path_factory.mktemp("sagemaker_variables"), variables)


def test_default_sagemaker_variables_are_valid(variables_only):
    result = plan(variables_only)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", BAD_VALUES)
def test_validation_refuses_wrong_sagemaker_values(variables_only, name):
    result = plan(variables_only, "-var", f"{name}={BAD_VALUES[name]}")
    assert result.returncode != 0
    assert f'variable "{name}"' in result.stderr
