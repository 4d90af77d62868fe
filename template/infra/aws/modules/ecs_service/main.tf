# One environment of the serving app: a Fargate service behind an internet-facing load
# balancer. Terraform owns everything but the running task-definition revision, which
# CI replaces on every deploy.

locals {
  name = "${var.project}-${var.environment}"
  # Load balancer and target group names are at most 32 characters.
  short_name = "${trimsuffix(substr(var.project, 0, 31 - length(var.environment)), "-")}-${var.environment}"
  # deploy/aws_ecs.py replaces the image of the container with this name.
  container_name = "app"
  # HTTPS with a certificate; the URL callers (and the smoke test) use.
  https = var.certificate_arn != null
  url   = local.https ? "https://${var.domain_name}" : "http://${aws_lb.this.dns_name}"
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; the app logs requests and metrics, no secrets, so a customer key and its key policy add nothing.
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # The root filesystem is read-only; /tmp (scratch space for libraries) and /app/logs
  # (the local input log) are writable volumes on the task's storage.
  volume {
    name = "tmp"
  }

  volume {
    name = "logs"
  }

  container_definitions = jsonencode([
    {
      name                   = local.container_name
      image                  = var.image
      essential              = true
      readonlyRootFilesystem = true
      portMappings = [
        { containerPort = var.container_port, protocol = "tcp" },
      ]
      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
        { sourceVolume = "logs", containerPath = "/app/logs", readOnly = false },
      ]
      # The app ships the inputs it sees there in chunks, for `make drift` (inputs.tf).
      environment = [
        { name = "INPUT_LOG_URL", value = "s3://${var.inputs_bucket_name}/${var.environment}/" },
      ]
      # Read by ECS (the execution role) when the task starts; the task role cannot.
      secrets = var.api_token_secret_arn == null ? [] : [
        { name = "SERVING_API_TOKEN", valueFrom = var.api_token_secret_arn },
      ]
      # The image has Python but not necessarily curl.
      healthCheck = {
        command = [
          "CMD", "python", "-c",
          "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${var.container_port}/health', timeout=3)",
        ]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = local.container_name
        }
      }
    },
  ])
}

resource "aws_ecs_service" "this" {
  name                               = local.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  # A deployment whose tasks do not become healthy stops and rolls back by itself.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    #checkov:skip=CKV_AWS_333:Only in the default VPC, whose public subnets have no NAT gateway; the task security group admits the load balancer only.
    subnets          = var.task_subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = var.container_port
  }

  # CI deploys new task-definition revisions; Terraform must not roll them back.
  lifecycle {
    ignore_changes = [task_definition]
  }

  depends_on = [aws_lb_listener.http, aws_lb_listener.https, aws_iam_role_policy.execution]
}
