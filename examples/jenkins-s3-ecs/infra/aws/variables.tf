# Defaults are the answers given to the template; override them in a terraform.tfvars.

variable "project" {
  description = "Name of the project, used to name every resource (the ECS cluster is called exactly this; SageMaker endpoints start with its first 32 characters)."
  type        = string
  default     = "ml-project"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$", var.project))
    error_message = "The project name is 2-64 lowercase letters, digits or dashes, starting and ending with a letter or digit."
  }
}

variable "aws_region" {
  description = "AWS region of every resource in this module."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[1-9]$", var.aws_region))
    error_message = "AWS regions look like us-east-1 or eu-central-1."
  }
}

variable "repository_path" {
  description = "Path (owner/name) of the git repository whose CI may assume the CI role."
  type        = string
  default     = "my-org/ml-project"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", var.repository_path))
    error_message = "The repository path is owner/name, such as my-org/fraud-model."
  }
}

variable "dvc_bucket_name" {
  description = "Name of the S3 bucket that holds the DVC remote (globally unique)."
  type        = string
  default     = "ml-project-dvc"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.dvc_bucket_name)) && !strcontains(var.dvc_bucket_name, "..")
    error_message = "Bucket names are 3-63 lowercase letters, digits, dots or dashes, starting and ending with a letter or digit."
  }
}

variable "dvc_noncurrent_version_days" {
  description = "Days an overwritten or deleted object of the DVC bucket is kept before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.dvc_noncurrent_version_days >= 1 && floor(var.dvc_noncurrent_version_days) == var.dvc_noncurrent_version_days
    error_message = "The number of days is a whole number of at least 1."
  }
}

variable "image_name" {
  description = "Name of the ECR repository, the same as IMAGE in the Makefile."
  type        = string
  default     = "ml-project"

  validation {
    condition     = can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", var.image_name)) && length(var.image_name) <= 256
    error_message = "Repository names are lowercase letters and digits, separated by single dots, dashes, underscores or slashes."
  }
}

variable "ecr_keep_images" {
  description = "How many tagged images the ECR repository keeps; older ones expire, so keep enough to roll back."
  type        = number
  default     = 100

  validation {
    condition     = var.ecr_keep_images >= 1 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "Keep at least one image."
  }
}

variable "container_port" {
  description = "Port the serving container listens on (GET /health, POST /predict)."
  type        = number
  default     = 8000

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535 && floor(var.container_port) == var.container_port
    error_message = "The port is a whole number from 1 to 65535."
  }
}

variable "task_cpu" {
  description = "CPU units of one Fargate task (1024 = 1 vCPU)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "Fargate CPU is one of 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "task_memory" {
  description = "Memory of one Fargate task in MiB; it must be a combination Fargate supports for task_cpu."
  type        = number
  default     = 1024

  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 122880 && var.task_memory % 512 == 0
    error_message = "Fargate memory is 512 to 122880 MiB, in steps of 512 (the allowed range depends on task_cpu)."
  }
}

variable "desired_count" {
  description = "Number of tasks each environment runs."
  type        = map(number)
  default = {
    staging    = 1
    production = 2
  }

  validation {
    condition     = toset(keys(var.desired_count)) == toset(["staging", "production"]) && alltrue([for n in values(var.desired_count) : n >= 0 && floor(n) == n])
    error_message = "Give a whole, non-negative number of tasks for exactly staging and production."
  }
}

variable "serving_api_token" {
  description = "Whether each environment's container gets SERVING_API_TOKEN, the bearer token /predict then asks for, from a Secrets Manager secret <project>/<env>/SERVING_API_TOKEN that Terraform creates empty: put its value before the next deploy (README)."
  type        = bool
  default     = false
}

variable "https" {
  description = "Per environment (staging, production), the domain callers use and the ARN of an ACM certificate for it in this region: that load balancer serves HTTPS (TLS 1.2+) and redirects HTTP. An environment left out serves plain HTTP on its load balancer's own name. Point the domain's DNS record at the load balancer (terraform output load_balancer_dns_names)."
  type = map(object({
    domain_name     = string
    certificate_arn = string
  }))
  default = {}

  validation {
    condition     = alltrue([for env, https in var.https : contains(["staging", "production"], env) && can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", https.certificate_arn)) && can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", https.domain_name))])
    error_message = "Keys are staging or production; each names a lowercase domain_name (api.example.com) and an ACM certificate_arn (arn:aws:acm:<region>:<account>:certificate/<id>)."
  }
}

variable "vpc_id" {
  description = "VPC to run in; null uses the account's default VPC and its public subnets."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null ? true : can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "A VPC id looks like vpc-0123456789abcdef0."
  }
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancers (public, in at least two availability zones); set together with vpc_id."
  type        = list(string)
  default     = null

  validation {
    condition     = (var.public_subnet_ids == null) == (var.vpc_id == null)
    error_message = "Set vpc_id, public_subnet_ids and private_subnet_ids together, or none of them."
  }

  validation {
    condition     = var.public_subnet_ids == null ? true : length(var.public_subnet_ids) >= 2
    error_message = "An application load balancer needs subnets in at least two availability zones."
  }
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks (private, with a NAT gateway or VPC endpoints to reach ECR and CloudWatch Logs); set together with vpc_id."
  type        = list(string)
  default     = null

  validation {
    condition     = (var.private_subnet_ids == null) == (var.vpc_id == null)
    error_message = "Set vpc_id, public_subnet_ids and private_subnet_ids together, or none of them."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the container logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "CloudWatch accepts 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days."
  }
}
