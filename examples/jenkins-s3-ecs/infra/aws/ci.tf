# CI has three roles, each assumed with the key of an IAM user of its own that may do
# nothing else: Jenkins has no OIDC federation to AWS, so each key goes only to the runs
# of its scope (the README says where to keep it). `ci`, the release role, is for the
# protected default branch and the staging environment: it pushes data, models, the run
# cache and images, and deploys staging. `ci_production`, the production role, is for
# the production environment's deploy only: it deploys the production service and
# nothing else. `ci_pr`, the pull-request role, is for every other run: it reads the DVC
# remote and nothing else, so the code of a pull request holds no right to write
# anything shared. What each may do is granted next to each part it touches:
# dvc_bucket.tf, ecr.tf, inputs.tf, ecs.tf and sagemaker_iam.tf attach their own
# aws_iam_role_policy.
resource "aws_iam_role" "ci" {
  name                 = "${local.short_name}-ci"
  description          = "Assumed by the CI of ${var.repository_path}: the protected default branch and the staging environment"
  assume_role_policy   = data.aws_iam_policy_document.ci_trust.json
  max_session_duration = 3600
}

resource "aws_iam_role" "ci_pr" {
  name                 = "${local.short_name}-ci-pr"
  description          = "Assumed by the CI of ${var.repository_path}: pull requests and other branches, reading the DVC remote only"
  assume_role_policy   = data.aws_iam_policy_document.ci_pr_trust.json
  max_session_duration = 3600
}

resource "aws_iam_role" "ci_production" {
  name                 = "${local.short_name}-ci-production"
  description          = "Assumed by the CI of ${var.repository_path}: the production environment's deploy only"
  assume_role_policy   = data.aws_iam_policy_document.ci_production_trust.json
  max_session_duration = 3600
}

# The ci user's only right is to assume the ci role, for one hour at a time. Terraform
# creates no access key, so none is ever in the state: create one by hand (README) and
# keep it in the CI's secret store, in the scope of the default branch and staging only.
resource "aws_iam_user" "ci" {
  #checkov:skip=CKV_AWS_273:This CI has no OIDC federation to AWS; the user can only assume the CI role.
  name = "${local.short_name}-ci"
  path = "/ci/"
}

# Policies go to a group, not to the user itself.
resource "aws_iam_group" "ci" {
  name = "${local.short_name}-ci"
  path = "/ci/"
}

resource "aws_iam_user_group_membership" "ci" {
  user   = aws_iam_user.ci.name
  groups = [aws_iam_group.ci.name]
}

data "aws_iam_policy_document" "ci_user" {
  statement {
    sid       = "AssumeTheCiRoleOnly"
    actions   = ["sts:AssumeRole"]
    resources = [aws_iam_role.ci.arn]
  }
}

resource "aws_iam_group_policy" "ci" {
  name   = "assume-ci-role"
  group  = aws_iam_group.ci.name
  policy = data.aws_iam_policy_document.ci_user.json
}

# The CI role trusts this user, and nobody else.
data "aws_iam_policy_document" "ci_trust" {
  statement {
    sid     = "TheCiUser"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_user.ci.arn]
    }
  }
}

output "ci_user_name" {
  description = "IAM user whose access key CI keeps as a secret of the default branch and staging only: aws iam create-access-key --user-name <this name>."
  value       = aws_iam_user.ci.name
}

# The ci_pr user's only right is to assume the ci_pr role, for one hour at a time.
# Terraform creates no access key, so none is ever in the state: create one by hand
# (README) and keep it in the CI's secret store, in the scope of pull requests and other
# branches only.
resource "aws_iam_user" "ci_pr" {
  #checkov:skip=CKV_AWS_273:This CI has no OIDC federation to AWS; the user can only assume the CI role.
  name = "${local.short_name}-ci-pr"
  path = "/ci/"
}

# Policies go to a group, not to the user itself.
resource "aws_iam_group" "ci_pr" {
  name = "${local.short_name}-ci-pr"
  path = "/ci/"
}

resource "aws_iam_user_group_membership" "ci_pr" {
  user   = aws_iam_user.ci_pr.name
  groups = [aws_iam_group.ci_pr.name]
}

data "aws_iam_policy_document" "ci_pr_user" {
  statement {
    sid       = "AssumeTheCiRoleOnly"
    actions   = ["sts:AssumeRole"]
    resources = [aws_iam_role.ci_pr.arn]
  }
}

resource "aws_iam_group_policy" "ci_pr" {
  name   = "assume-ci-pr-role"
  group  = aws_iam_group.ci_pr.name
  policy = data.aws_iam_policy_document.ci_pr_user.json
}

# The CI role trusts this user, and nobody else.
data "aws_iam_policy_document" "ci_pr_trust" {
  statement {
    sid     = "TheCiUser"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_user.ci_pr.arn]
    }
  }
}

output "ci_pr_user_name" {
  description = "IAM user whose access key CI keeps as a secret of pull requests and other branches only: aws iam create-access-key --user-name <this name>."
  value       = aws_iam_user.ci_pr.name
}

# The ci_production user's only right is to assume the ci_production role, for one hour
# at a time. Terraform creates no access key, so none is ever in the state: create one
# by hand (README) and keep it in the CI's secret store, in the scope of the production
# deploy only.
resource "aws_iam_user" "ci_production" {
  #checkov:skip=CKV_AWS_273:This CI has no OIDC federation to AWS; the user can only assume the CI role.
  name = "${local.short_name}-ci-production"
  path = "/ci/"
}

# Policies go to a group, not to the user itself.
resource "aws_iam_group" "ci_production" {
  name = "${local.short_name}-ci-production"
  path = "/ci/"
}

resource "aws_iam_user_group_membership" "ci_production" {
  user   = aws_iam_user.ci_production.name
  groups = [aws_iam_group.ci_production.name]
}

data "aws_iam_policy_document" "ci_production_user" {
  statement {
    sid       = "AssumeTheCiRoleOnly"
    actions   = ["sts:AssumeRole"]
    resources = [aws_iam_role.ci_production.arn]
  }
}

resource "aws_iam_group_policy" "ci_production" {
  name   = "assume-ci-production-role"
  group  = aws_iam_group.ci_production.name
  policy = data.aws_iam_policy_document.ci_production_user.json
}

# The CI role trusts this user, and nobody else.
data "aws_iam_policy_document" "ci_production_trust" {
  statement {
    sid     = "TheCiUser"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_user.ci_production.arn]
    }
  }
}

output "ci_production_user_name" {
  description = "IAM user whose access key CI keeps as a secret of the production deploy only: aws iam create-access-key --user-name <this name>."
  value       = aws_iam_user.ci_production.name
}

# The pull-request role's only right: it pulls what the release pushed, and writes nothing.
data "aws_iam_policy_document" "ci_pr_dvc" {
  statement {
    sid       = "ListTheDvcRemote"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.dvc.arn]
  }

  statement {
    sid       = "ReadDvcObjects"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.dvc.arn}/*"]
  }
}

resource "aws_iam_role_policy" "ci_pr_dvc" {
  name   = "dvc-remote-read"
  role   = aws_iam_role.ci_pr.id
  policy = data.aws_iam_policy_document.ci_pr_dvc.json
}

# The production role's other right: the deploy job's registry login (the service pulls
# the image with its own execution role, and the role pushes nothing).
data "aws_iam_policy_document" "ci_production_registry" {
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the token is not tied to one repository
  }
}

resource "aws_iam_role_policy" "ci_production_registry" {
  name   = "ecr-login"
  role   = aws_iam_role.ci_production.id
  policy = data.aws_iam_policy_document.ci_production_registry.json
}
