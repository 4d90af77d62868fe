"""Deploying to AWS ECS: the commands rollout.py runs for `make deploy`.

Terraform (infra/aws) creates the cluster and one service per environment, named
CLUSTER and CLUSTER-<env>, each behind its own load balancer. A release registers a new
task-definition revision that differs from the latest one only in the image of the
container named CONTAINER, and points the service at it.

`python deploy/aws_ecs.py login REGISTRY` (`make registry-login`) logs docker in to the
ECR registry REGISTRY with this shell's AWS credentials.
"""

import base64
import os
import subprocess
import sys

import boto3

CLUSTER = "ml-project"  # var.project in infra/aws
CONTAINER = "app"  # the container name in infra/aws/modules/ecs_service
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
# How long a deployment may take to become stable: 60 x 15 s = 15 minutes.
WAIT = {"Delay": 15, "MaxAttempts": 60}


def _ecs():
    return boto3.client("ecs", region_name=REGION)


def _service(env: str) -> dict | None:
    found = _ecs().describe_services(cluster=CLUSTER, services=[f"{CLUSTER}-{env}"])["services"]
    return found[0] if found and found[0]["status"] == "ACTIVE" else None


def _deploy(env: str, task_definition: str) -> None:
    """Point the service at `task_definition` and wait until it alone runs, healthy."""
    ecs = _ecs()
    service = f"{CLUSTER}-{env}"
    ecs.update_service(cluster=CLUSTER, service=service, taskDefinition=task_definition)
    ecs.get_waiter("services_stable").wait(cluster=CLUSTER, services=[service], WaiterConfig=WAIT)
    # The deployment circuit breaker rolls a failing revision back, and the rolled-back
    # service is stable too: check which revision won.
    running = current(env)
    if running != task_definition:
        raise RuntimeError(f"{service} runs {running}: ECS rolled {task_definition} back")


def current(env: str) -> str | None:
    """ARN of the task definition the environment's service runs, None without a service."""
    service = _service(env)
    return service["taskDefinition"] if service else None


def release(env: str, image: str) -> None:
    """Run `image` in `env`: a new revision of the latest task definition, with that image."""
    ecs = _ecs()
    service = _service(env)
    if service is None:
        raise RuntimeError(f"no service {CLUSTER}-{env} in {REGION}: apply infra/aws first")
    # The latest revision of the family, not the running one: it carries any change
    # Terraform made since (CPU, memory, roles), which the next release then rolls out.
    running = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    family = running["taskDefinition"]["family"]
    latest = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    containers = [c for c in latest["containerDefinitions"] if c["name"] == CONTAINER]
    if not containers:
        raise RuntimeError(f"{latest['taskDefinitionArn']} has no container named {CONTAINER}")
    containers[0]["image"] = image
    # Describe returns read-only fields (ARN, revision, status, ...) that register
    # refuses: keep only what register accepts.
    accepted = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    revision = ecs.register_task_definition(**{k: v for k, v in latest.items() if k in accepted})
    _deploy(env, revision["taskDefinition"]["taskDefinitionArn"])


def endpoint(env: str) -> str:
    """Base URL of `env`: the load balancer in front of the service's target group, as its
    tag ServiceUrl names it (https://<domain> where infra/aws has a certificate for one),
    else its own DNS name over plain HTTP."""
    service = _service(env)
    if service is None or not service["loadBalancers"]:
        raise RuntimeError(f"no load-balanced service {CLUSTER}-{env} in {REGION}")
    elbv2 = boto3.client("elbv2", region_name=REGION)
    target_group_arn = service["loadBalancers"][0]["targetGroupArn"]
    (target_group,) = elbv2.describe_target_groups(TargetGroupArns=[target_group_arn])[
        "TargetGroups"
    ]
    balancer_arns = target_group["LoadBalancerArns"][:1]
    (balancer,) = elbv2.describe_load_balancers(LoadBalancerArns=balancer_arns)["LoadBalancers"]
    (described,) = elbv2.describe_tags(ResourceArns=balancer_arns)["TagDescriptions"]
    tags = {tag["Key"]: tag["Value"] for tag in described["Tags"]}
    return tags.get("ServiceUrl") or f"http://{balancer['DNSName']}"


def restore(env: str, previous: str) -> None:
    """Run the task definition `previous` in `env` again."""
    _deploy(env, previous)


def login(registry: str) -> None:
    """docker login to REGISTRY's host, which must be this account's ECR registry in REGION,
    with an authorization token of this shell's AWS credentials (valid 12 hours). The
    password reaches docker on its stdin only."""
    host = registry.split("/", 1)[0]
    ecr = boto3.client("ecr", region_name=REGION)
    (authorization,) = ecr.get_authorization_token()["authorizationData"]
    own = authorization["proxyEndpoint"].removeprefix("https://")
    if host != own:
        raise SystemExit(
            f"REGISTRY {registry!r} is not in this account's ECR registry in {REGION} ({own}):"
            " set it to the output ecr_registry of infra/aws"
        )
    # The token is base64 of "AWS:<password>".
    token = base64.b64decode(authorization["authorizationToken"]).decode()
    username, _, password = token.partition(":")
    subprocess.run(
        ["docker", "login", host, "--username", username, "--password-stdin"],
        input=password,
        text=True,
        check=True,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "login":
        sys.exit("usage: python deploy/aws_ecs.py login REGISTRY")
    login(sys.argv[2])
