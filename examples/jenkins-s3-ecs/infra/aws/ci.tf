# The role that CI assumes with the key of an IAM user that may do nothing else: Jenkins
# has no OIDC federation to AWS, and its builds, pull requests included, hold that key
# (the README says where to keep it). What it may do is granted next to each part it
# touches: dvc_bucket.tf, ecr.tf, inputs.tf, ecs.tf and sagemaker_iam.tf attach their
# own aws_iam_role_policy.
resource "aws_iam_role" "ci" {
  name                 = "${local.short_name}-ci"
  description          = "Assumed by the CI of ${var.repository_path}"
  assume_role_policy   = data.aws_iam_policy_document.ci_trust.json
  max_session_duration = 3600
}

# The user's only right is to assume the CI role, for one hour at a time. Terraform
# creates no access key, so none is ever in the state: create one by hand (README) and
# keep it in the CI's secret store only.
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
  description = "IAM user whose access key CI keeps as a secret: aws iam create-access-key --user-name <this name>."
  value       = aws_iam_user.ci.name
}
