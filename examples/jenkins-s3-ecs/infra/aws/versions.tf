terraform {
  # S3-native state locking (use_lockfile) is generally available from Terraform 1.11.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # The state bucket exists before this module (see README): Terraform cannot create
  # the bucket that holds its own state.
  backend "s3" {
    bucket       = "ml-project-tfstate"
    key          = "ml-project/aws.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project   = var.project
      ManagedBy = "terraform"
      Source    = var.repository_path
    }
  }
}
