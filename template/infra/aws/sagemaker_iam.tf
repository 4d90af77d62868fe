# Who may do what around the endpoints: the role SageMaker runs each environment's
# container with, and what CI needs to deploy (deploy/aws_sagemaker.py).

# Assumed by SageMaker on behalf of this account only.
data "aws_iam_policy_document" "sagemaker_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sagemaker_execution" {
  for_each = local.endpoint_names

  name               = "${each.value}-sagemaker"
  description        = "SageMaker pulls the image of ${each.value}, writes its logs and ships its inputs"
  assume_role_policy = data.aws_iam_policy_document.sagemaker_trust.json
}

data "aws_iam_policy_document" "sagemaker_execution" {
  for_each = local.endpoint_names

  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # not tied to a repository
  }

  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid       = "WriteTheLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [aws_cloudwatch_log_group.endpoint[each.key].arn, "${aws_cloudwatch_log_group.endpoint[each.key].arn}:*"]
  }

  # SageMaker publishes the instances' CPU, memory and disk metrics as this role.
  statement {
    sid       = "PublishInstanceMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/Endpoints"]
    }
  }

  # The app writes new chunk objects under its environment's prefix; it never reads,
  # lists or deletes.
  statement {
    sid       = "ShipTheInputs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.inputs.arn}/${each.key}/*"]
  }
}

resource "aws_iam_role_policy" "sagemaker_execution" {
  for_each = local.endpoint_names

  name   = "pull-image-write-logs-ship-inputs"
  role   = aws_iam_role.sagemaker_execution[each.key].id
  policy = data.aws_iam_policy_document.sagemaker_execution[each.key].json
}

# CI deploys: describes the running endpoint, configuration and model, creates a model
# and a configuration named <endpoint>-<timestamp>, updates the endpoint, and invokes it
# once for the smoke test.
data "aws_iam_policy_document" "ci_sagemaker" {
  statement {
    sid       = "TheEndpointsOfThisProject"
    actions   = ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint", "sagemaker:UpdateEndpoint"]
    resources = [for env in local.sagemaker_environments : aws_sagemaker_endpoint.this[env].arn]
  }

  statement {
    sid = "TheirConfigurations"
    # UpdateEndpoint is also authorized on the configuration it switches to.
    actions   = ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig", "sagemaker:UpdateEndpoint"]
    resources = [for name in values(local.endpoint_names) : "${local.sagemaker_arn}:endpoint-config/${name}-*"]
  }

  statement {
    sid       = "TheirModels"
    actions   = ["sagemaker:CreateModel", "sagemaker:DescribeModel"]
    resources = [for name in values(local.endpoint_names) : "${local.sagemaker_arn}:model/${name}-*"]
  }

  statement {
    sid       = "PassTheExecutionRoles"
    actions   = ["iam:PassRole"]
    resources = [for env in local.sagemaker_environments : aws_iam_role.sagemaker_execution[env].arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "ci_sagemaker" {
  name   = "sagemaker-deploy"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci_sagemaker.json
}
