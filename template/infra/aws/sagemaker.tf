# The serving endpoints: one SageMaker real-time endpoint per environment, each running
# the serving image (SageMaker calls its /ping and /invocations on port 8080). Terraform
# creates them; CI deploys new models and endpoint configurations into them
# (deploy/aws_sagemaker.py), finding them by these names:
#   endpoints <short project name>-staging and <short project name>-production,
#   alarms <endpoint>-invocation-5xx-errors and <endpoint>-model-latency.

locals {
  sagemaker_environments = toset(["staging", "production"])
  # Endpoint, model and configuration names are at most 63 characters: CI names its
  # models and configurations <endpoint>-<14-digit timestamp>.
  endpoint_names = { for env in local.sagemaker_environments : env => "${local.short_name}-${env}" }
  variant_name   = "AllTraffic"
  sagemaker_arn  = "arn:${data.aws_partition.current.partition}:sagemaker:${var.aws_region}:${local.account_id}"
}

data "aws_partition" "current" {}

# SageMaker writes the container's stdout and stderr here; made in advance so that it
# has a retention period.
resource "aws_cloudwatch_log_group" "endpoint" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; the app logs requests and metrics, no secrets, so a customer key and its key policy add nothing.
  for_each = local.endpoint_names

  name              = "/aws/sagemaker/Endpoints/${each.value}"
  retention_in_days = var.log_retention_days
}

# The first model points at a tag that CI never pushes: push the image once as
# `bootstrap` before the first apply (README), because SageMaker only creates an
# endpoint whose container answers /ping.
resource "aws_sagemaker_model" "bootstrap" {
  #checkov:skip=CKV_AWS_370:Network isolation would stop the app from shipping its inputs to the inputs bucket for the drift check.
  for_each = local.endpoint_names

  name               = "${each.value}-bootstrap"
  execution_role_arn = aws_iam_role.sagemaker_execution[each.key].arn

  primary_container {
    image = "${aws_ecr_repository.app.repository_url}:bootstrap"
    mode  = "SingleModel"

    environment = {
      INPUT_LOG_URL = "s3://${aws_s3_bucket.inputs.bucket}/${each.key}/"
    }
  }

  depends_on = [aws_iam_role_policy.sagemaker_execution]
}

resource "aws_sagemaker_endpoint_configuration" "bootstrap" {
  #checkov:skip=CKV_AWS_98:The ML storage volume holds only the image and its baked-in model, both already encrypted in ECR; SageMaker encrypts it with a service key.
  for_each = local.endpoint_names

  name = "${each.value}-bootstrap"

  production_variants {
    variant_name           = local.variant_name
    model_name             = aws_sagemaker_model.bootstrap[each.key].name
    instance_type          = var.endpoint_instance_type
    initial_instance_count = var.endpoint_instance_count[each.key]
    initial_variant_weight = 1
  }
}

resource "aws_sagemaker_endpoint" "this" {
  for_each = local.endpoint_names

  name                 = each.value
  endpoint_config_name = aws_sagemaker_endpoint_configuration.bootstrap[each.key].name

  # The same policy deploy/aws_sagemaker.py passes with every update: a new fleet takes
  # all traffic at once, and during the baking period any of the alarms below rolls the
  # endpoint back to the old fleet, which is kept until the deployment succeeded.
  deployment_config {
    blue_green_update_policy {
      maximum_execution_timeout_in_seconds = 3600

      traffic_routing_configuration {
        type                     = "ALL_AT_ONCE"
        wait_interval_in_seconds = 300
      }
    }

    auto_rollback_configuration {
      alarms {
        alarm_name = aws_cloudwatch_metric_alarm.invocation_5xx_errors[each.key].alarm_name
      }

      alarms {
        alarm_name = aws_cloudwatch_metric_alarm.model_latency[each.key].alarm_name
      }
    }
  }

  # CI points the endpoint at new configurations; Terraform must not roll them back.
  lifecycle {
    ignore_changes = [endpoint_config_name]
  }
}

# The alarms that roll a deployment back: requests the container answers with a 5xx,
# and a model slower than var.model_latency_alarm_ms on average.
resource "aws_cloudwatch_metric_alarm" "invocation_5xx_errors" {
  for_each = local.endpoint_names

  alarm_name          = "${each.value}-invocation-5xx-errors"
  alarm_description   = "The container of ${each.value} answered requests with a 5xx"
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  # No traffic is no evidence of a fault.
  treat_missing_data = "notBreaching"

  dimensions = {
    EndpointName = each.value
    VariantName  = local.variant_name
  }
}

resource "aws_cloudwatch_metric_alarm" "model_latency" {
  for_each = local.endpoint_names

  alarm_name          = "${each.value}-model-latency"
  alarm_description   = "The model of ${each.value} took over ${var.model_latency_alarm_ms} ms on average"
  namespace           = "AWS/SageMaker"
  metric_name         = "ModelLatency"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  # ModelLatency is in microseconds.
  threshold          = var.model_latency_alarm_ms * 1000
  treat_missing_data = "notBreaching"

  dimensions = {
    EndpointName = each.value
    VariantName  = local.variant_name
  }
}
