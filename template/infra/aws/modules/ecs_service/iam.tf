data "aws_caller_identity" "current" {}

# Both roles can be assumed by ECS tasks of this account only.
data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# Used by ECS itself to pull the image, write the logs and read the API token's secret.
resource "aws_iam_role" "execution" {
  name               = "${local.short_name}-execution"
  description        = "ECS pulls the image of ${local.name} and writes its logs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [var.ecr_repository_arn]
  }

  statement {
    sid       = "WriteTheLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.api_token_secret_arn == null ? [] : [var.api_token_secret_arn]

    content {
      sid       = "ReadTheApiToken"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The identity of the application itself. The model is baked into the image; the app
# only writes the chunks of inputs it saw, under its own environment's prefix.
resource "aws_iam_role" "task" {
  name               = "${local.short_name}-task"
  description        = "The serving app of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ShipTheInputs"
    actions   = ["s3:PutObject"]
    resources = ["${var.inputs_bucket_arn}/${var.environment}/*"]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "ship-inputs"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
