"""deploy/aws_ecs.py of a rendered aws_ecs project, against moto's in-process AWS: it finds
the service and load balancer that infra/aws names, releases an image as a new
task-definition revision, and restores the previous one; `login` logs docker in to the
account's ECR registry with the password on docker's stdin only.
"""

import importlib.util
import runpy
import sys
from pathlib import Path

import boto3
import copier
import pytest
from fake_docker import FakeDocker

moto = pytest.importorskip("moto")

TEMPLATE = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
CLUSTER = "fraud-model"  # the slug of the project name below
REGISTER_FIELDS = (
    "family",
    "requiresCompatibilities",
    "networkMode",
    "cpu",
    "memory",
    "executionRoleArn",
    "containerDefinitions",
)
BOOTSTRAP_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fraud-model:bootstrap"


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("aws_ecs") / "project"
    copier.run_copy(
        str(TEMPLATE),
        project,
        data={"project_name": "Fraud Model", "deploy_target": "aws_ecs", "aws_region": REGION},
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",  # this commit, not the latest release tag
    )
    return project / "deploy" / "aws_ecs.py"


@pytest.fixture
def aws_ecs(script, monkeypatch):
    """The rendered module, imported fresh under a mocked AWS with fake credentials."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # moto starts no tasks; this is the running count it reports, equal to desiredCount
    # so that the services-stable waiter is satisfied.
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")
    spec = importlib.util.spec_from_file_location("aws_ecs", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.WAIT = {"Delay": 1, "MaxAttempts": 5}
    with moto.mock_aws():
        yield module


def make_environment(env: str, url: str | None = None) -> dict:
    """What infra/aws creates for one environment, with the names it gives (and the tag
    ServiceUrl it gives a load balancer with HTTPS, when `url` is its domain's URL)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    group = ec2.create_security_group(
        GroupName=f"{CLUSTER}-{env}-task", Description="tasks", VpcId=vpc
    )
    tags = {"Tags": [{"Key": "ServiceUrl", "Value": url}]} if url else {}
    balancer = elbv2.create_load_balancer(Name=f"{CLUSTER}-{env}", Subnets=subnets, **tags)[
        "LoadBalancers"
    ][0]
    target_group = elbv2.create_target_group(
        Name=f"{CLUSTER}-{env}",
        Protocol="HTTP",
        Port=8000,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath="/health",
    )["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group["TargetGroupArn"]}],
    )
    ecs.create_cluster(clusterName=CLUSTER)
    first = ecs.register_task_definition(
        family=f"{CLUSTER}-{env}",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        executionRoleArn="arn:aws:iam::123456789012:role/fraud-model-staging-execution",
        containerDefinitions=[
            {
                "name": "app",
                "image": BOOTSTRAP_IMAGE,
                "essential": True,
                "readonlyRootFilesystem": True,
                "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=f"{CLUSTER}-{env}",
        taskDefinition=first,
        desiredCount=1,
        launchType="FARGATE",
        loadBalancers=[
            {
                "targetGroupArn": target_group["TargetGroupArn"],
                "containerName": "app",
                "containerPort": 8000,
            }
        ],
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group["GroupId"]]}
        },
    )
    return {"task_definition": first, "dns_name": balancer["DNSName"]}


def running_image(env: str) -> str:
    ecs = boto3.client("ecs", region_name=REGION)
    service = ecs.describe_services(cluster=CLUSTER, services=[f"{CLUSTER}-{env}"])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    (container,) = definition["taskDefinition"]["containerDefinitions"]
    return container["image"]


def test_region_defaults_to_the_answer(aws_ecs):
    assert aws_ecs.REGION == REGION
    assert aws_ecs.CLUSTER == CLUSTER


def test_current_is_none_without_a_service(aws_ecs):
    boto3.client("ecs", region_name=REGION).create_cluster(clusterName=CLUSTER)
    assert aws_ecs.current("staging") is None


def test_release_runs_a_new_revision_with_the_image_then_restore_returns(aws_ecs):
    staging = make_environment("staging")
    assert aws_ecs.current("staging") == staging["task_definition"]

    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fraud-model:0123456789ab"
    aws_ecs.release("staging", image)

    released = aws_ecs.current("staging")
    assert released != staging["task_definition"]
    assert released.startswith(staging["task_definition"].rsplit(":", 1)[0] + ":")
    assert running_image("staging") == image
    # Everything but the image is copied from the previous revision.
    ecs = boto3.client("ecs", region_name=REGION)
    definition = ecs.describe_task_definition(taskDefinition=released)["taskDefinition"]
    assert (definition["cpu"], definition["memory"], definition["networkMode"]) == (
        "512",
        "1024",
        "awsvpc",
    )
    assert definition["containerDefinitions"][0]["readonlyRootFilesystem"] is True

    aws_ecs.restore("staging", staging["task_definition"])
    assert aws_ecs.current("staging") == staging["task_definition"]
    assert running_image("staging") == BOOTSTRAP_IMAGE


def test_release_without_a_service_says_to_apply_the_terraform(aws_ecs):
    boto3.client("ecs", region_name=REGION).create_cluster(clusterName=CLUSTER)
    with pytest.raises(RuntimeError, match="apply infra/aws"):
        aws_ecs.release("production", "fraud-model:abc")


def test_endpoint_is_the_load_balancer_of_the_service(aws_ecs):
    production = make_environment("production")
    assert aws_ecs.endpoint("production") == f"http://{production['dns_name']}"


def test_endpoint_is_the_https_domain_where_the_load_balancer_has_one(aws_ecs):
    make_environment("staging", url="https://staging.fraud.example.com")
    assert aws_ecs.endpoint("staging") == "https://staging.fraud.example.com"


def test_release_rolls_out_what_terraform_changed_since(aws_ecs):
    """Terraform registers a revision (here: more CPU) that the service does not run yet;
    the next release starts from it."""
    staging = make_environment("staging")
    ecs = boto3.client("ecs", region_name=REGION)
    first = ecs.describe_task_definition(taskDefinition=staging["task_definition"])
    changed = {k: v for k, v in first["taskDefinition"].items() if k in REGISTER_FIELDS}
    ecs.register_task_definition(**{**changed, "cpu": "1024", "memory": "2048"})

    aws_ecs.release("staging", "fraud-model:feedbeef")

    running = ecs.describe_task_definition(taskDefinition=aws_ecs.current("staging"))
    assert (running["taskDefinition"]["cpu"], running["taskDefinition"]["memory"]) == (
        "1024",
        "2048",
    )
    assert running_image("staging") == "fraud-model:feedbeef"


def test_release_fails_when_ecs_rolls_the_deployment_back(aws_ecs, monkeypatch):
    """The circuit breaker's rollback leaves a stable service too: release must notice."""
    staging = make_environment("staging")
    monkeypatch.setattr(aws_ecs, "current", lambda env: staging["task_definition"])
    with pytest.raises(RuntimeError, match="ECS rolled .* back"):
        aws_ecs.release("staging", "fraud-model:broken")


def test_region_comes_from_the_environment_first(script, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    spec = importlib.util.spec_from_file_location("aws_ecs_region", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.REGION == "ap-southeast-2"


# moto's ECR answers GetAuthorizationToken for its account, 123456789012, with the token
# base64("AWS:<account>-auth-token") and that account's registry in the client's region.
OWN_REGISTRY = f"123456789012.dkr.ecr.{REGION}.amazonaws.com"
ECR_PASSWORD = "123456789012-auth-token"


def test_login_pipes_the_ecr_password_to_docker_login_only(
    aws_ecs, script, tmp_path, monkeypatch, capfd
):
    """`make registry-login` (`python deploy/aws_ecs.py login REGISTRY`): the password of
    the authorization token reaches docker on its stdin, never its arguments or the log."""
    docker = FakeDocker(tmp_path, monkeypatch)
    monkeypatch.setattr(sys, "argv", [str(script), "login", OWN_REGISTRY])
    runpy.run_path(str(script), run_name="__main__")
    assert docker.args == ["login", OWN_REGISTRY, "--username", "AWS", "--password-stdin"]
    assert docker.stdin == ECR_PASSWORD
    out, err = capfd.readouterr()
    assert ECR_PASSWORD not in out + err


def test_login_takes_the_host_of_a_repository_url(aws_ecs, tmp_path, monkeypatch):
    docker = FakeDocker(tmp_path, monkeypatch)
    aws_ecs.login(f"{OWN_REGISTRY}/fraud-model")
    assert docker.args[1] == OWN_REGISTRY


@pytest.mark.parametrize(
    "registry",
    [
        "210987654321.dkr.ecr.eu-west-1.amazonaws.com",  # another account
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",  # another region
        "ghcr.io/acme",  # not ECR
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example",
    ],
)
def test_login_refuses_a_registry_outside_the_accounts_ecr(
    aws_ecs, registry, tmp_path, monkeypatch
):
    docker = FakeDocker(tmp_path, monkeypatch)
    with pytest.raises(SystemExit, match=f"is not in this account's ECR registry in {REGION}"):
        aws_ecs.login(registry)
    assert not docker.called


def test_login_without_a_registry_prints_the_usage(script, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(script), "login"])
    with pytest.raises(SystemExit, match="usage: python deploy/aws_ecs.py login REGISTRY"):
        runpy.run_path(str(script), run_name="__main__")
