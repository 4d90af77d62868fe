# The serving containers: one Fargate service per environment behind its own load
# balancer, in one cluster. Terraform creates them; CI deploys new task-definition
# revisions into them (deploy/aws_ecs.py), finding them by these names:
#   cluster <project>, services <project>-staging and <project>-production.

locals {
  environments = toset(["staging", "production"])

  # Without vpc_id, the account's default VPC: it exists in every region, so the first
  # apply needs no network of its own. Its subnets are public and have no NAT gateway,
  # so tasks get a public IP to reach ECR and CloudWatch Logs; their security group
  # still admits traffic from their load balancer only. A VPC of your own (vpc_id and
  # the subnet variables) keeps tasks in private subnets without public IPs.
  use_default_vpc  = var.vpc_id == null
  vpc_id           = local.use_default_vpc ? data.aws_vpc.default[0].id : var.vpc_id
  alb_subnet_ids   = local.use_default_vpc ? data.aws_subnets.default[0].ids : var.public_subnet_ids
  task_subnet_ids  = local.use_default_vpc ? data.aws_subnets.default[0].ids : var.private_subnet_ids
  assign_public_ip = local.use_default_vpc
}

data "aws_vpc" "default" {
  count   = local.use_default_vpc ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = local.use_default_vpc ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

resource "aws_ecs_cluster" "this" {
  name = var.project

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# The bearer token /predict asks for, when var.serving_api_token: one secret per
# environment, created empty. Terraform never holds its value (no secret version here, so
# none in the state): set it once with
#   aws secretsmanager put-secret-value --secret-id <project>/<env>/SERVING_API_TOKEN \
#     --secret-string "$(openssl rand -hex 32)"
# before the next deploy; ECS hands it to the container as SERVING_API_TOKEN when a task
# starts, through the environment's execution role, which may read this secret only.
resource "aws_secretsmanager_secret" "serving_api_token" {
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS managed key (aws/secretsmanager); a customer key adds a key policy to keep and nothing this one secret needs.
  #checkov:skip=CKV2_AWS_57:The token is set and rotated by whoever shares it with the callers; an automatic rotation Lambda could not tell them.
  for_each = var.serving_api_token ? local.environments : toset([])

  name                    = "${var.project}/${each.key}/SERVING_API_TOKEN"
  description             = "Bearer token of ${var.project}-${each.key}'s /predict (set its value by hand)."
  recovery_window_in_days = 7
}

module "service" {
  source   = "./modules/ecs_service"
  for_each = local.environments

  project     = var.project
  environment = each.key
  aws_region  = var.aws_region
  cluster_arn = aws_ecs_cluster.this.arn

  # The first revision points at a tag that CI never pushes: tasks cannot start until
  # the first `make deploy` registers a revision with a real image.
  image              = "${aws_ecr_repository.app.repository_url}:bootstrap"
  ecr_repository_arn = aws_ecr_repository.app.arn
  container_port     = var.container_port
  cpu                = var.task_cpu
  memory             = var.task_memory
  desired_count      = var.desired_count[each.key]
  log_retention_days = var.log_retention_days
  inputs_bucket_name = aws_s3_bucket.inputs.bucket
  inputs_bucket_arn  = aws_s3_bucket.inputs.arn

  vpc_id           = local.vpc_id
  alb_subnet_ids   = local.alb_subnet_ids
  task_subnet_ids  = local.task_subnet_ids
  assign_public_ip = local.assign_public_ip

  deletion_protection = each.key == "production"

  api_token_secret_arn = var.serving_api_token ? aws_secretsmanager_secret.serving_api_token[each.key].arn : null

  # HTTPS where var.https names the environment's domain and certificate.
  domain_name     = try(var.https[each.key].domain_name, null)
  certificate_arn = try(var.https[each.key].certificate_arn, null)
}

# CI deploys staging: registers a revision copied from the latest one with the new
# image, points the service at it, waits for it to be stable, and finds the load
# balancer's address.
data "aws_iam_policy_document" "ci_ecs" {
  statement {
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"] # neither action supports resource-level permissions
  }

  statement {
    sid       = "TheStagingService"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = [module.service["staging"].service_arn]
  }

  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [module.service["staging"].execution_role_arn, module.service["staging"].task_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "FindTheLoadBalancers"
    actions   = ["elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags"]
    resources = ["*"] # describe actions do not support resource-level permissions
  }
}

resource "aws_iam_role_policy" "ci_ecs" {
  name   = "ecs-deploy"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci_ecs.json
}

# CI deploys production: registers a revision copied from the latest one with the new
# image, points the service at it, waits for it to be stable, and finds the load
# balancer's address.
data "aws_iam_policy_document" "ci_production_ecs" {
  statement {
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"] # neither action supports resource-level permissions
  }

  statement {
    sid       = "TheProductionService"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = [module.service["production"].service_arn]
  }

  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [module.service["production"].execution_role_arn, module.service["production"].task_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "FindTheLoadBalancers"
    actions   = ["elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags"]
    resources = ["*"] # describe actions do not support resource-level permissions
  }
}

resource "aws_iam_role_policy" "ci_production_ecs" {
  name   = "ecs-deploy-production"
  role   = aws_iam_role.ci_production.id
  policy = data.aws_iam_policy_document.ci_production_ecs.json
}
