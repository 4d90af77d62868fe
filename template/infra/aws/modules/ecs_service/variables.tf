variable "project" {
  description = "Name of the project; the service is named <project>-<environment>."
  type        = string
}

variable "environment" {
  description = "Deploy environment this instance serves."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "The environment is staging or production."
  }
}

variable "aws_region" {
  description = "Region of the CloudWatch log group the container logs to."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster that runs the service."
  type        = string
}

variable "image" {
  description = "Image of the first task-definition revision; CI registers later revisions with the image it built."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository the tasks pull from."
  type        = string
}

variable "container_port" {
  description = "Port the container listens on."
  type        = number
}

variable "cpu" {
  description = "CPU units of one task."
  type        = number
}

variable "memory" {
  description = "Memory of one task in MiB."
  type        = number
}

variable "desired_count" {
  description = "Number of tasks to run."
  type        = number
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the container logs."
  type        = number
}

variable "vpc_id" {
  description = "VPC of the load balancer, its target group and the security groups."
  type        = string
}

variable "alb_subnet_ids" {
  description = "Subnets of the internet-facing load balancer (at least two availability zones)."
  type        = list(string)
}

variable "task_subnet_ids" {
  description = "Subnets the tasks run in."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Whether tasks get a public IP (needed in public subnets without a NAT gateway)."
  type        = bool
}

variable "deletion_protection" {
  description = "Whether the load balancer is protected from deletion."
  type        = bool
}

variable "api_token_secret_arn" {
  description = "ARN of the Secrets Manager secret handed to the container as SERVING_API_TOKEN (the bearer token /predict asks for); null: none."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ARN of an ACM certificate for domain_name: the load balancer then serves HTTPS and redirects HTTP to it; null serves plain HTTP."
  type        = string
  default     = null
}

variable "domain_name" {
  description = "The name callers use (a DNS record pointing at the load balancer), covered by certificate_arn; set with it."
  type        = string
  default     = null

  validation {
    condition     = (var.domain_name == null) == (var.certificate_arn == null)
    error_message = "Set domain_name and certificate_arn together, or neither."
  }
}

variable "inputs_bucket_name" {
  description = "S3 bucket the app ships its inputs to, under <environment>/ (for `make drift`)."
  type        = string
}

variable "inputs_bucket_arn" {
  description = "ARN of that bucket: the task role may write under <environment>/ only."
  type        = string
}
