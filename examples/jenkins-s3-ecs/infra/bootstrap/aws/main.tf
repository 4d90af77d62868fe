# The bucket that holds Terraform's state for infra/aws, created once before it (Terraform
# cannot create the bucket that holds its own state):
#   terraform -chdir=infra/bootstrap/aws init && terraform -chdir=infra/bootstrap/aws apply
# This module's own state stays in this directory (terraform.tfstate, git-ignored): it
# holds the bucket's name and settings, nothing secret. The bucket is private (public
# access blocked, owner-enforced objects), encrypted with SSE-KMS, versioned (every earlier
# state is kept for var.noncurrent_version_days), and reachable over TLS only. infra/aws
# locks its state with a lock file next to it (use_lockfile): no lock table.

terraform {
  # The S3 backend's use_lockfile is generally available from Terraform 1.11.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project   = "ml-project"
      ManagedBy = "terraform"
    }
  }
}

variable "aws_region" {
  description = "AWS region of the state bucket, as infra/aws/versions.tf's backend names it."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[1-9]$", var.aws_region))
    error_message = "AWS regions look like us-east-1 or eu-central-1."
  }
}

variable "state_bucket" {
  description = "Name of the state bucket, as infra/aws/versions.tf's backend names it (globally unique)."
  type        = string
  default     = "ml-project-tfstate"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket)) && !strcontains(var.state_bucket, "..")
    error_message = "Bucket names are 3-63 lowercase letters, digits, dots or dashes, starting and ending with a letter or digit."
  }
}

variable "noncurrent_version_days" {
  description = "Days an earlier state (a noncurrent version) is kept."
  type        = number
  default     = 365

  validation {
    condition     = var.noncurrent_version_days >= 1 && floor(var.noncurrent_version_days) == var.noncurrent_version_days
    error_message = "The number of days is a whole number of at least 1."
  }
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket; CloudTrail data events are the place to audit state reads.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; versioning already keeps every earlier state.
  #checkov:skip=CKV2_AWS_62:Nothing consumes event notifications of a state bucket.
  bucket = var.state_bucket

  # The state of every other module lives here.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# SSE-KMS with the AWS managed key (aws/s3); the backend also asks for encryption
# (encrypt = true).
resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-old-states"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

data "aws_iam_policy_document" "state" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.state.arn,
      "${aws_s3_bucket.state.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state.json

  depends_on = [aws_s3_bucket_public_access_block.state]
}

output "state_bucket" {
  description = "The bucket infra/aws keeps its state in."
  value       = aws_s3_bucket.state.bucket
}
