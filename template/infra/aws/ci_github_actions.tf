# GitHub Actions federation: the OIDC identity provider, and a trust policy that lets only
# the workflows of var.repository_path assume the CI role, with the audience that
# aws-actions/configure-aws-credentials requests.

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing GitHub Actions OIDC provider (an account holds one per URL); null creates it here."
  type        = string
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null ? true : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "The ARN looks like arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com."
  }
}

# AWS validates GitHub's tokens against its own library of trusted root CAs, so no
# thumbprint is needed.
resource "aws_iam_openid_connect_provider" "github" {
  count = var.github_oidc_provider_arn == null ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "ci_trust" {
  statement {
    sid     = "GitHubActionsOfThisRepository"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.github_oidc_provider_arn == null ? aws_iam_openid_connect_provider.github[0].arn : var.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Every branch, tag, pull request and environment of this repository, and nothing else.
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.repository_path}:*"]
    }
  }
}
