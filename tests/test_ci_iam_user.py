"""CI vendors without an OIDC federation to AWS (Jenkins, Travis CI, Azure Pipelines) reach
each CI role through an IAM user of its own: infra/aws/ci.tf creates one per CI identity
(release, pull request, production) without an access key, lets it do nothing but assume
its own role, and makes that role trust that user alone.
(checkov scans these combinations with all others: tests/test_infra_every_combination.py)"""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import PLAN, offered, stored_answers
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


def stored_answers_of(infra: Path) -> dict:
    return stored_answers(infra.parents[1])


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


def identities(found: dict) -> list[dict]:
    """The CI identities the module has (plan.identities with a role here): the release one
    always, the pull-request one with the DVC remote on S3, the production one with the
    service on AWS."""
    present = [i for i in PLAN["identities"].values() if f"aws_iam_role.{i['name']}" in found]
    assert present[0]["name"] == "ci", "the release identity keeps the address CI's one had"
    return present


def test_each_user_can_only_assume_its_own_ci_role(infra: Path) -> None:
    found = blocks(infra)
    given = stored_answers_of(infra)
    expected = {"ci"}
    expected |= {"ci_pr"} if given["dvc_cloud"] == "aws" else set()
    expected |= {"ci_production"} if given["deploy_cloud"] == "aws" else set()
    assert {i["name"] for i in identities(found)} == expected
    for identity in identities(found):
        name, suffix = identity["name"], identity["suffix"]
        assert found[f"aws_iam_user.{name}"]["name"] == f"${{local.short_name}}-{suffix}"
        membership = found[f"aws_iam_user_group_membership.{name}"]
        assert membership["user"] == f"${{aws_iam_user.{name}.name}}"
        assert membership["groups"] == [f"${{aws_iam_group.{name}.name}}"]
        policy = found[f"aws_iam_group_policy.{name}"]
        assert policy["group"] == f"${{aws_iam_group.{name}.name}}"
        assert policy["policy"] == f"${{data.aws_iam_policy_document.{name}_user.json}}"
        (statement,) = found[f"aws_iam_policy_document.{name}_user"]["statement"]
        assert statement["actions"] == ["sts:AssumeRole"]
        assert statement["resources"] == [f"${{aws_iam_role.{name}.arn}}"]
    # Nothing is attached to the users themselves or to the groups besides those policies.
    attached = [k for k in found if k.startswith(("aws_iam_user_policy", "aws_iam_group_policy"))]
    assert attached == [f"aws_iam_group_policy.{i['name']}" for i in identities(found)]


def test_each_ci_role_trusts_its_user_alone(infra: Path) -> None:
    found = blocks(infra)
    for identity in identities(found):
        name = identity["name"]
        assert found[f"aws_iam_role.{name}"]["assume_role_policy"] == (
            f"${{data.aws_iam_policy_document.{name}_trust.json}}"
        )
        (statement,) = found[f"aws_iam_policy_document.{name}_trust"]["statement"]
        assert statement["actions"] == ["sts:AssumeRole"]
        (principal,) = statement["principals"]
        assert principal == {"type": "AWS", "identifiers": [f"${{aws_iam_user.{name}.arn}}"]}
        assert "aws iam create-access-key" in found[f"output.{name}_user_name"]["description"]


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
