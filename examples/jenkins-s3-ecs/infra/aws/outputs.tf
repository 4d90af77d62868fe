# After `terraform apply`, `terraform output ci_variables` prints exactly what to set as
# variables (not secrets: none of these values is confidential) in the CI settings.

output "ci_role_arn" {
  description = "Release role CI assumes with the key of the IAM user ci_user_name on the protected default branch and in the staging environment: the CI variable AWS_ROLE_ARN."
  value       = aws_iam_role.ci.arn
}

output "ci_pr_role_arn" {
  description = "Pull-request role CI assumes in every other run (it reads the DVC remote only): the CI variable AWS_PR_ROLE_ARN."
  value       = aws_iam_role.ci_pr.arn
}

output "ci_production_role_arn" {
  description = "Production role CI assumes in the production environment's deploy only: the CI variable AWS_PRODUCTION_ROLE_ARN (README: where it goes)."
  value       = aws_iam_role.ci_production.arn
}

output "aws_region" {
  description = "Region of every resource: the CI variable AWS_REGION."
  value       = var.aws_region
}

output "dvc_bucket_name" {
  description = "Bucket of the DVC remote, whose url is s3://<this name>/dvc (.dvc/config already has it)."
  value       = aws_s3_bucket.dvc.bucket
}

output "ecr_repository_url" {
  description = "Repository CI pushes images to (<registry>/<image name>)."
  value       = aws_ecr_repository.app.repository_url
}

output "ecr_registry" {
  description = "Registry host of the repository: the CI variable REGISTRY (the Makefile pushes REGISTRY/IMAGE:TAG)."
  value       = split("/", aws_ecr_repository.app.repository_url)[0]
}

output "ecs_cluster_name" {
  description = "ECS cluster of both environments."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  description = "ECS service of each environment, by environment."
  value       = { for env, service in module.service : env => service.service_name }
}

output "service_urls" {
  description = "Base URL of each environment, by environment (GET /health, POST /predict): https://<domain> where var.https names one, else plain HTTP."
  value       = { for env, service in module.service : env => service.url }
}

output "load_balancer_dns_names" {
  description = "DNS name of each environment's load balancer: point the domain of var.https at it (a CNAME or Route 53 alias)."
  value       = { for env, service in module.service : env => service.load_balancer_dns_name }
}

output "log_group_names" {
  description = "CloudWatch log group of each environment's containers, by environment."
  value       = { for env, service in module.service : env => service.log_group_name }
}

output "ci_variables" {
  description = "Every variable to set in the CI settings, by name (the README's CI section says where)."
  value = {
    AWS_ROLE_ARN            = aws_iam_role.ci.arn
    AWS_PR_ROLE_ARN         = aws_iam_role.ci_pr.arn
    AWS_PRODUCTION_ROLE_ARN = aws_iam_role.ci_production.arn
    AWS_REGION              = var.aws_region
    REGISTRY                = split("/", aws_ecr_repository.app.repository_url)[0]
  }
}
