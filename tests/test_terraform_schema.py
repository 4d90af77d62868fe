"""The rendered Terraform would get past `terraform validate` on a user's first day: every
resource, data source and provider block of every rendered module matches the schema of
the provider major that versions.tf pins, and every reference points at something declared.

The providers cannot be downloaded here; their schemas come from the CDK Terrain bindings
pinned in pyproject.toml (tests/tf_schema.py reads their jsii manifests). The check runs
once per distinct module: many answer sets render the same Terraform."""

import hashlib
import re
from pathlib import Path

import pytest

from conftest import TEMPLATE, clouds, offered, vendor_answer_sets
from tf_schema import ProviderSchema, check_module

# One binding package per provider the template uses (pinned in pyproject.toml).
BINDINGS = (
    "cdktn-provider-aws",
    "cdktn-provider-azuread",
    "cdktn-provider-azurerm",
    "cdktn-provider-google",
)

# Every answer set of the suite that renders Terraform (the CI vendors' sets: all accepted
# combinations, the variants and each vendor's own questions).
ANSWER_SETS = {
    f"{vendor}--{name}": answers
    for vendor in offered("ci_provider")
    for name, answers in vendor_answer_sets(vendor).items()
    if clouds(answers)
}


@pytest.fixture(scope="session")
def schemas() -> dict[str, ProviderSchema]:
    loaded = (ProviderSchema(package) for package in BINDINGS)
    return {schema.name: schema for schema in loaded}


def digest(directory: Path) -> str:
    """The content of a module directory and its local modules, as one hash."""
    content = hashlib.sha256()
    for path in sorted(directory.rglob("*.tf")):
        content.update(f"{path.relative_to(directory)}\0".encode())
        content.update(path.read_bytes() + b"\0")
    return content.hexdigest()


@pytest.fixture(scope="session")
def findings(schemas):
    """findings(module directory) -> what the checks find, computed once per distinct module."""
    memo: dict[str, list[str]] = {}

    def _findings(directory: Path) -> list[str]:
        key = digest(directory)
        if key not in memo:
            memo[key] = check_module(directory, schemas)
        return memo[key]

    return _findings


@pytest.mark.parametrize("answers", list(ANSWER_SETS.values()), ids=list(ANSWER_SETS))
def test_rendered_terraform_matches_provider_schemas_and_its_references_resolve(
    render, findings, answers: dict
) -> None:
    (cloud,) = clouds(answers)
    infra = render(answers) / "infra"
    found = findings(infra / cloud) + findings(infra / "bootstrap" / cloud)
    assert not found, "\n".join(found)


def pinned_majors() -> dict[str, int]:
    """provider name -> the major version template/infra/*/versions.tf.jinja pins (~> N.x)."""
    pins: dict[str, int] = {}
    spec = re.compile(r'source\s*=\s*"hashicorp/(\w+)"\s*\n\s*version\s*=\s*"~>\s*(\d+)\.')
    for versions in sorted((TEMPLATE / "template" / "infra").glob("*/versions.tf*")):
        for name, major in spec.findall(versions.read_text()):
            assert pins.setdefault(name, int(major)) == int(major), f"{name}: two majors"
    return pins


def test_each_binding_is_generated_from_the_provider_major_the_template_pins(schemas) -> None:
    pins = pinned_majors()
    assert set(pins) == set(schemas), "a provider of versions.tf has no binding in BINDINGS"
    for name, major in pins.items():
        assert schemas[name].version.split(".")[0] == str(major), (
            f"{schemas[name].package} is generated from hashicorp/{name} "
            f"{schemas[name].version}; versions.tf pins ~> {major}.0"
        )


# --- the checks can fail: a small module with one mistake at a time ------------------------

SMALL_MODULE = {
    "versions.tf": """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = local.name }
  }
}
""",
    "main.tf": """
variable "region" {
  description = "AWS region."
  type        = string
}

locals {
  name = "demo"
}

data "aws_caller_identity" "current" {}

resource "aws_s3_bucket" "data" {
  bucket_prefix = "${local.name}-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_iam_role" "reader" {
  for_each = toset(["staging", "production"])

  name = "${local.name}-${each.key}"
  assume_role_policy = jsonencode({
    Statement = [for env in ["a"] : { Principal = env }]
  })

  dynamic "inline_policy" {
    for_each = var.region == "" ? [] : [1]
    content {
      name   = "read"
      policy = <<-EOT
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": "${aws_s3_bucket.data.arn}/*"}]}
      EOT
    }
  }

  lifecycle {
    ignore_changes = [tags]
  }
}

module "names" {
  source = "./modules/names"
  prefix = local.name
}
""",
    "outputs.tf": """
output "bucket" {
  description = "The bucket."
  value       = aws_s3_bucket.data.bucket
}

output "roles" {
  value = [for role in aws_iam_role.reader : role.arn]
}

output "staging_role" {
  value = aws_iam_role.reader["staging"].arn
}

output "name" {
  value = module.names.full
}
""",
    "modules/names/main.tf": """
variable "prefix" {
  type = string
}

variable "suffix" {
  type    = string
  default = "x"
}

output "full" {
  value = "${var.prefix}-${var.suffix}"
}
""",
}

# (what is wrong, file, text replaced, replacement, what the finding says)
MISTAKES = [
    (
        "misspelled argument",
        "main.tf",
        "bucket_prefix =",
        "bucket_prefixx =",
        "aws_s3_bucket.data: no argument or block named bucket_prefixx (did you mean bucket_",
    ),
    (
        "undeclared variable",
        "versions.tf",
        "region = var.region",
        "region = var.aws_region",
        "provider.aws.region: var.aws_region is not declared",
    ),
    (
        "misspelled nested argument",
        "main.tf",
        'status = "Enabled"',
        'statuss = "Enabled"',
        "versioning.data.versioning_configuration: no argument or block named statuss",
    ),
    (
        "misspelled provider block",
        "versions.tf",
        "default_tags {",
        "default_tag {",
        "provider.aws: no argument or block named default_tag (did you mean default_tags?)",
    ),
    (
        "required block missing",
        "main.tf",
        'versioning_configuration {\n    status = "Enabled"\n  }',
        "",
        "aws_s3_bucket_versioning.data: the required block versioning_configuration is missing",
    ),
    (
        "required argument missing",
        "main.tf",
        "bucket = aws_s3_bucket.data.id",
        "",
        "aws_s3_bucket_versioning.data: the required argument bucket is missing",
    ),
    (
        "computed-only attribute set",
        "main.tf",
        'bucket_prefix = "',
        'arn = "x"\n  bucket_prefix = "',
        "aws_s3_bucket.data: arn is computed by the provider and cannot be set",
    ),
    (
        "block written as an argument",
        "main.tf",
        'versioning_configuration {\n    status = "Enabled"\n  }',
        'versioning_configuration = { status = "Enabled" }',
        "versioning_configuration is a block, not an argument",
    ),
    (
        "unknown resource type",
        "main.tf",
        'resource "aws_s3_bucket" "data"',
        'resource "aws_s3_buckett" "data"',
        "has no resource type aws_s3_buckett (did you mean aws_s3_bucket?)",
    ),
    (
        "misspelled block in a dynamic block",
        "main.tf",
        'dynamic "inline_policy"',
        'dynamic "inline_policies"',
        "aws_iam_role.reader: dynamic inline_policies: no such block",
    ),
    (
        "undefined local",
        "outputs.tf",
        "role.arn",
        "role.arn if local.nope == null",
        "output.roles.value: local.nope is not defined",
    ),
    (
        "reference to an undeclared resource",
        "main.tf",
        "bucket = aws_s3_bucket.data.id",
        "bucket = aws_s3_bucket.logs.id",
        "aws_s3_bucket_versioning.data.bucket: aws_s3_bucket.logs is not declared",
    ),
    (
        "reference to an undeclared data source",
        "main.tf",
        "data.aws_caller_identity.current.account_id",
        "data.aws_caller_identity.this.account_id",
        "data.aws_caller_identity.this is not declared",
    ),
    (
        "attribute the resource does not have",
        "outputs.tf",
        'reader["staging"].arn',
        'reader["staging"].role_arn',
        "aws_iam_role.reader has no attribute role_arn",
    ),
    (
        "module call with an unknown variable",
        "main.tf",
        "prefix = local.name",
        'prefix = local.name\n  suffixx = "y"',
        "module.names: ./modules/names has no variable suffixx (did you mean suffix?)",
    ),
    (
        "module call without a required variable",
        "main.tf",
        "prefix = local.name",
        "",
        "module.names: the required variable prefix of ./modules/names is not passed",
    ),
    (
        "output of a module that it does not have",
        "outputs.tf",
        "module.names.full",
        "module.names.fullname",
        "module.names has no output fullname (did you mean full?)",
    ),
    (
        "undeclared variable inside a module",
        "modules/names/main.tf",
        "${var.suffix}",
        "${var.suffixes}",
        "modules/names/main.tf: output.full.value: var.suffixes is not declared",
    ),
    (
        "reference inside a heredoc",
        "main.tf",
        "${aws_s3_bucket.data.arn}/*",
        "${aws_s3_bucket.logs.arn}/*",
        "dynamic.inline_policy.content.policy: aws_s3_bucket.logs is not declared",
    ),
    (
        "literal of the wrong type",
        "main.tf",
        'bucket_prefix = "',
        'force_destroy = "yes"\n  bucket_prefix = "',
        'aws_s3_bucket.data: force_destroy takes a bool, not the string "yes"',
    ),
    (
        "resource with for_each read without an instance key",
        "outputs.tf",
        'reader["staging"].arn',
        "reader.arn",
        "aws_iam_role.reader has count or for_each: read one instance",
    ),
    (
        "instance key on a resource without count or for_each",
        "outputs.tf",
        "aws_s3_bucket.data.bucket",
        "aws_s3_bucket.data[0].bucket",
        "aws_s3_bucket.data has neither count nor for_each: it takes no instance key",
    ),
    (
        "each in a block without for_each",
        "main.tf",
        "bucket = aws_s3_bucket.data.id",
        "bucket = each.key",
        "aws_s3_bucket_versioning.data.bucket: each.key is used in a block without for_each",
    ),
    (
        "name declared twice",
        "outputs.tf",
        'output "roles"',
        'output "bucket"',
        "output.bucket is declared again (first in outputs.tf)",
    ),
    (
        "misspelled kind of block",
        "outputs.tf",
        'output "roles"',
        'ouput "roles"',
        "ouput is not a kind of block Terraform knows (did you mean output?)",
    ),
    (
        "unknown argument of an output",
        "outputs.tf",
        'description = "The bucket."',
        'descripton = "The bucket."',
        "output.bucket: no argument descripton (did you mean description?)",
    ),
]


def write_module(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_small_module_is_clean(schemas, tmp_path: Path) -> None:
    assert check_module(write_module(tmp_path, SMALL_MODULE), schemas) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [mistake[1:] for mistake in MISTAKES],
    ids=[mistake[0] for mistake in MISTAKES],
)
def test_a_mistake_is_found(schemas, tmp_path: Path, file, old, new, expected) -> None:
    files = dict(SMALL_MODULE)
    assert files[file].count(old) == 1, old
    files[file] = files[file].replace(old, new)
    found = check_module(write_module(tmp_path, files), schemas)
    assert any(expected in finding for finding in found), "\n".join(found)
