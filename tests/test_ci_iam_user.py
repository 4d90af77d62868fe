"""CI vendors without an OIDC federation to AWS (Jenkins, Travis CI, Azure Pipelines) reach
the CI role through an IAM user: infra/aws/ci.tf creates it without an access key,
lets it do nothing but assume the CI role, and makes the role trust that user alone.
(checkov scans these combinations with all others: tests/test_infra_every_combination.py)"""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import PLAN, offered
from terraform_hcl import Module

VENDORS = [v for v in offered("ci_provider") if not PLAN["vendors"][v]["oidc"]["aws"]]
# Every combination that renders infra/aws, for each vendor.
ANSWER_SETS = {
    f"{vendor}-{store}-{target}": {
        "ci_provider": vendor,
        "data_store": store,
        "deploy_target": target,
    }
    for vendor in VENDORS
    for store, target in (("s3", "docker_compose"), ("local", "aws_ecs"), ("s3", "aws_ecs"))
}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def infra(request, render) -> Path:
    return render(ANSWER_SETS[request.param]) / "infra" / "aws"


def blocks(infra: Path) -> dict[str, dict]:
    """resource/data blocks by "type.name", and outputs by name, over every .tf file."""
    module = Module(infra)
    found = {f"{type_}.{name}": body for (type_, name), body in module.typed("resource").items()}
    found.update({f"{type_}.{name}": body for (type_, name), body in module.typed("data").items()})
    found.update({f"output.{name}": body for name, body in module.named("output").items()})
    return found


def test_the_user_file_replaces_any_oidc_federation(infra: Path) -> None:
    assert sorted(p.name for p in infra.glob("ci*.tf")) == ["ci.tf"]
    found = blocks(infra)
    assert not [key for key in found if key.startswith("aws_iam_openid_connect_provider.")]
    assert not [key for key in found if key.startswith("aws_iam_access_key.")]


def test_the_user_can_only_assume_the_ci_role(infra: Path) -> None:
    found = blocks(infra)
    assert found["aws_iam_user.ci"]["name"] == "${local.short_name}-ci"
    membership = found["aws_iam_user_group_membership.ci"]
    assert membership["user"] == "${aws_iam_user.ci.name}"
    assert membership["groups"] == ["${aws_iam_group.ci.name}"]
    policy = found["aws_iam_group_policy.ci"]
    assert policy["group"] == "${aws_iam_group.ci.name}"
    assert policy["policy"] == "${data.aws_iam_policy_document.ci_user.json}"
    (statement,) = found["aws_iam_policy_document.ci_user"]["statement"]
    assert statement["actions"] == ["sts:AssumeRole"]
    assert statement["resources"] == ["${aws_iam_role.ci.arn}"]
    # Nothing is attached to the user itself or to the group besides that policy.
    attached = [k for k in found if k.startswith(("aws_iam_user_policy", "aws_iam_group_policy"))]
    assert attached == ["aws_iam_group_policy.ci"]


def test_the_ci_role_trusts_the_user_alone(infra: Path) -> None:
    found = blocks(infra)
    assert found["aws_iam_role.ci"]["assume_role_policy"] == (
        "${data.aws_iam_policy_document.ci_trust.json}"
    )
    (statement,) = found["aws_iam_policy_document.ci_trust"]["statement"]
    assert statement["actions"] == ["sts:AssumeRole"]
    (principal,) = statement["principals"]
    assert principal == {"type": "AWS", "identifiers": ["${aws_iam_user.ci.arn}"]}
    assert "aws iam create-access-key" in found["output.ci_user_name"]["description"]


def test_terraform_fmt_changes_nothing(infra: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-diff", "-no-color", "ci.tf"],
        cwd=infra,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
