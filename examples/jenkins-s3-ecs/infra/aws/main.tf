data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  # IAM role names are at most 64 characters: they start with this shortened name.
  short_name = trimsuffix(substr(var.project, 0, 32), "-")
}
