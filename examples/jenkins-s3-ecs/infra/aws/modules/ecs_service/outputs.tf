output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "service_arn" {
  description = "ARN of the ECS service."
  value       = aws_ecs_service.this.arn
}

output "url" {
  description = "Base URL of the service: https://<domain_name> with a certificate, else its load balancer's own name over HTTP."
  value       = local.url
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer, where a domain's record points."
  value       = aws_lb.this.dns_name
}

output "task_definition_family" {
  description = "Family of the task definitions CI registers revisions in."
  value       = aws_ecs_task_definition.this.family
}

output "execution_role_arn" {
  description = "ARN of the role ECS uses to pull the image and write logs."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the role the application runs as."
  value       = aws_iam_role.task.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the container."
  value       = aws_cloudwatch_log_group.this.name
}
