"""deploy/aws_sagemaker.py of a rendered aws_sagemaker project, against moto's in-process AWS:
it finds the endpoint that infra/aws names, releases an image as a new model and endpoint
configuration copied from the running ones, updates the endpoint blue/green with the
environment's rollback alarms, smoke-tests it through sagemaker-runtime, and restores;
`login` logs docker in to the account's ECR registry.

moto (5.2) has no UpdateEndpoint. Its stand-in below is registered on the deploy module's
SageMaker client for that one operation: botocore has already validated the request
against the real API model by then, and the stand-in does what SageMaker does when the
deployment succeeds (the endpoint runs the new configuration) or rolls back (it keeps the
old one). Every other call goes to moto.
"""

import importlib.util
import json
import sys
import types
from pathlib import Path

import boto3
import copier
import pytest
import requests
from botocore.awsrequest import AWSResponse
from fake_docker import FakeDocker

moto = pytest.importorskip("moto")
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.sagemaker.models import sagemaker_backends  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
PREFIX = "fraud-model"  # the slug of the project name below, local.short_name in infra/aws
REPOSITORY = f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/fraud-model"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/fraud-model-staging-sagemaker"
RECORD = {"mean_radius": 17.99, "mean_texture": 10.38}


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("aws_sagemaker") / "project"
    copier.run_copy(
        str(TEMPLATE),
        project,
        data={
            "project_name": "Fraud Model",
            "deploy_target": "aws_sagemaker",
            "aws_region": REGION,
        },
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",  # this commit, not the latest release tag
    )
    return project / "deploy" / "aws_sagemaker.py"


class SmokeTestError(RuntimeError):
    pass


@pytest.fixture
def package(monkeypatch):
    """The rendered package's smoke module, whose sample_record needs pandas and scikit-learn
    (not in this environment): the same names, with a fixed record."""
    smoke = types.ModuleType("fraud_model.smoke")
    smoke.SmokeTestError = SmokeTestError
    smoke.sample_record = lambda: dict(RECORD)
    smoke.smoke_test = lambda url: pytest.fail(f"rollout must call the module's smoke, not {url}")
    root = types.ModuleType("fraud_model")
    root.smoke = smoke
    monkeypatch.setitem(sys.modules, "fraud_model", root)
    monkeypatch.setitem(sys.modules, "fraud_model.smoke", smoke)


class UpdateEndpoint:
    """moto's missing UpdateEndpoint: records each request, then switches the endpoint to
    the requested configuration, unless `roll_back` is set (an alarm fired during baking)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.roll_back = False

    def __call__(self, params, **kwargs):
        request = json.loads(params["body"])
        self.requests.append(request)
        backend = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION]
        endpoint = backend.endpoints[request["EndpointName"]]
        assert request["EndpointConfigName"] in backend.endpoint_configs
        if not self.roll_back:
            endpoint.endpoint_config_name = request["EndpointConfigName"]
        return AWSResponse(None, 200, {}, None), {"EndpointArn": endpoint.arn}


@pytest.fixture
def update_endpoint():
    return UpdateEndpoint()


def load(script: Path, name: str = "aws_sagemaker"):
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws_sagemaker(script, package, update_endpoint, monkeypatch):
    """The rendered module, imported fresh under a mocked AWS with fake credentials."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    module = load(script)
    module.WAIT = {"Delay": 1, "MaxAttempts": 3}
    moto_client = module._sagemaker

    def client():
        sagemaker = moto_client()
        sagemaker.meta.events.register("before-call.sagemaker.UpdateEndpoint", update_endpoint)
        return sagemaker

    monkeypatch.setattr(module, "_sagemaker", client)
    monkeypatch.setitem(sys.modules, "aws_sagemaker", module)  # what rollout.py imports
    with moto.mock_aws():
        yield module


def make_environment(env: str) -> str:
    """What infra/aws creates for one environment, with the names it gives; returns the
    endpoint configuration it runs."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    name = f"{PREFIX}-{env}"
    sagemaker.create_model(
        ModelName=f"{name}-bootstrap",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": f"{REPOSITORY}:bootstrap",
            "Mode": "SingleModel",
            "Environment": {"INPUT_LOG_URL": f"s3://fraud-model-inputs/{env}/"},
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-bootstrap",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-bootstrap",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-bootstrap")
    return f"{name}-bootstrap"


def running(env: str) -> tuple[dict, dict]:
    """The endpoint configuration and the model `env` runs."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    endpoint = sagemaker.describe_endpoint(EndpointName=f"{PREFIX}-{env}")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    return config, model


def queue_invocation_result(body: str) -> None:
    """What the endpoint answers next: moto's documented API for sagemaker-runtime results
    (intercepted in-process by mock_aws, no network)."""
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"region": REGION, "results": [{"Body": body, "ContentType": "application/json"}]},
        timeout=5,
    ).raise_for_status()


def test_names_and_region_follow_the_answers(aws_sagemaker):
    assert aws_sagemaker.REGION == REGION
    assert aws_sagemaker.endpoint_name("production") == "fraud-model-production"


def test_current_is_none_without_an_endpoint(aws_sagemaker):
    assert aws_sagemaker.current("staging") is None


def test_release_runs_a_new_model_and_configuration_then_restore_returns(
    aws_sagemaker, update_endpoint
):
    bootstrap = make_environment("staging")
    assert aws_sagemaker.current("staging") == bootstrap
    image = f"{REPOSITORY}:0123456789ab"

    aws_sagemaker.release("staging", image)

    released = aws_sagemaker.current("staging")
    assert released != bootstrap
    assert released.startswith("fraud-model-staging-")
    assert len(released) <= 63
    config, model = running("staging")
    assert model["ModelName"] == released
    assert model["PrimaryContainer"]["Image"] == image
    # Everything but the image and the model is copied from what ran before.
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Environment"] == {
        "INPUT_LOG_URL": "s3://fraud-model-inputs/staging/"
    }
    (variant,) = config["ProductionVariants"]
    assert (variant["VariantName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        "AllTraffic",
        "ml.m5.large",
        2,
    )

    (update,) = update_endpoint.requests
    assert update["EndpointName"] == "fraud-model-staging"
    assert update["EndpointConfigName"] == released
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE",
        "WaitIntervalInSeconds": 300,
    }
    assert update["DeploymentConfig"]["AutoRollbackConfiguration"] == {
        "Alarms": [
            {"AlarmName": "fraud-model-staging-invocation-5xx-errors"},
            {"AlarmName": "fraud-model-staging-model-latency"},
        ]
    }

    aws_sagemaker.restore("staging", bootstrap)
    assert aws_sagemaker.current("staging") == bootstrap
    assert update_endpoint.requests[-1]["EndpointConfigName"] == bootstrap
    assert running("staging")[1]["PrimaryContainer"]["Image"] == f"{REPOSITORY}:bootstrap"


def test_release_without_an_endpoint_says_to_apply_the_terraform(aws_sagemaker):
    with pytest.raises(RuntimeError, match="apply infra/aws"):
        aws_sagemaker.release("production", f"{REPOSITORY}:abc")


def test_release_fails_when_sagemaker_rolls_the_deployment_back(aws_sagemaker, update_endpoint):
    """An alarm during baking leaves an InService endpoint on the old configuration."""
    bootstrap = make_environment("staging")
    update_endpoint.roll_back = True
    with pytest.raises(RuntimeError, match="SageMaker rolled .* back"):
        aws_sagemaker.release("staging", f"{REPOSITORY}:broken")
    assert aws_sagemaker.current("staging") == bootstrap
    # Nothing to restore: the endpoint runs the previous configuration already.
    aws_sagemaker.restore("staging", bootstrap)
    assert len(update_endpoint.requests) == 1


def test_smoke_invokes_the_endpoint_with_one_record(aws_sagemaker, monkeypatch):
    make_environment("production")
    sent = []
    runtime = aws_sagemaker._runtime

    def recording_runtime():
        client = runtime()
        client.meta.events.register(
            "before-call.sagemaker-runtime.InvokeEndpoint",
            lambda params, **kwargs: sent.append(params),
        )
        return client

    monkeypatch.setattr(aws_sagemaker, "_runtime", recording_runtime)
    queue_invocation_result(json.dumps({"predictions": [{"label": "benign"}]}))

    aws_sagemaker.smoke("production")

    (request,) = sent
    assert request["url_path"] == "/endpoints/fraud-model-production/invocations"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"records": [RECORD]}


@pytest.mark.parametrize(
    "answer",
    [json.dumps({"predictions": []}), json.dumps({"detail": "no model"}), "<html>error</html>"],
)
def test_smoke_fails_without_exactly_one_prediction(aws_sagemaker, answer):
    make_environment("production")
    queue_invocation_result(answer)
    with pytest.raises(SmokeTestError):
        aws_sagemaker.smoke("production")


def test_endpoint_is_the_runtime_invocation_url(aws_sagemaker):
    assert aws_sagemaker.endpoint("staging") == (
        f"https://runtime.sagemaker.{REGION}.amazonaws.com/endpoints/fraud-model-staging/invocations"
    )


def test_rollout_restores_the_previous_configuration_when_the_smoke_test_fails(
    aws_sagemaker, script, update_endpoint, capsys
):
    bootstrap = make_environment("staging")
    queue_invocation_result(json.dumps({"predictions": []}))
    rollout = load(script.parent / "rollout.py", "rollout_under_test")
    assert rollout.rollout("staging", f"{REPOSITORY}:feedbeef") is False
    released, restored = (request["EndpointConfigName"] for request in update_endpoint.requests)
    assert released.startswith("fraud-model-staging-2")
    assert restored == bootstrap
    assert aws_sagemaker.current("staging") == bootstrap
    assert "answered 0 predictions" in capsys.readouterr().err


def test_region_comes_from_the_environment_first(script, package, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert load(script, "aws_sagemaker_region").REGION == "ap-southeast-2"


def test_login_pipes_the_ecr_password_to_docker_login_only(
    aws_sagemaker, tmp_path, monkeypatch, capfd
):
    """`make registry-login`: the account's ECR registry, the password of moto's token
    (base64 "AWS:<account>-auth-token") on docker's stdin only; any other registry refused."""
    docker = FakeDocker(tmp_path, monkeypatch)
    with pytest.raises(SystemExit, match="is not in this account's ECR registry"):
        aws_sagemaker.login("210987654321.dkr.ecr.eu-west-1.amazonaws.com")
    assert not docker.called
    registry = REPOSITORY.split("/")[0]
    aws_sagemaker.login(registry)
    assert docker.args == ["login", registry, "--username", "AWS", "--password-stdin"]
    assert docker.stdin == f"{DEFAULT_ACCOUNT_ID}-auth-token"
    out, err = capfd.readouterr()
    assert docker.stdin not in out + err
