# The inputs the serving app saw, for `make drift`: the app writes one JSON-lines chunk
# object per batch of requests under s3://<bucket>/<environment>/ (env INPUT_LOG_URL), and
# CI's scheduled job (`make monitor`) reads the recent ones back. Private, encrypted,
# reachable over TLS only; chunks expire after var.inputs_retention_days.

variable "inputs_bucket_name" {
  description = "Name of the S3 bucket the serving app ships its inputs to (globally unique)."
  type        = string
  default     = "ml-project-inputs"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.inputs_bucket_name)) && !strcontains(var.inputs_bucket_name, "..")
    error_message = "Bucket names are 3-63 lowercase letters, digits, dots or dashes, starting and ending with a letter or digit."
  }
}

variable "inputs_retention_days" {
  description = "Days a chunk of recorded inputs is kept; the drift check reads the last week only."
  type        = number
  default     = 90

  validation {
    condition     = var.inputs_retention_days >= 7 && floor(var.inputs_retention_days) == var.inputs_retention_days
    error_message = "Keep the inputs for a whole number of days, at least the 7 the drift check reads."
  }
}

resource "aws_s3_bucket" "inputs" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket; CloudTrail data events are the place to audit it.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles the cost of data that expires anyway.
  #checkov:skip=CKV2_AWS_62:Nothing consumes event notifications: the drift check lists the chunks.
  #checkov:skip=CKV_AWS_21:Every chunk is written once under a new name and expires; versioning would only keep expired chunks.
  bucket = var.inputs_bucket_name
}

resource "aws_s3_bucket_ownership_controls" "inputs" {
  bucket = aws_s3_bucket.inputs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "inputs" {
  bucket = aws_s3_bucket.inputs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# SSE-KMS with the AWS managed key (aws/s3): the roles allowed below can use it with no
# key policy to maintain.
resource "aws_s3_bucket_server_side_encryption_configuration" "inputs" {
  bucket = aws_s3_bucket.inputs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "inputs" {
  bucket = aws_s3_bucket.inputs.id

  rule {
    id     = "expire-old-inputs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.inputs_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "inputs_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.inputs.arn,
      "${aws_s3_bucket.inputs.arn}/*",
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

resource "aws_s3_bucket_policy" "inputs" {
  bucket = aws_s3_bucket.inputs.id
  policy = data.aws_iam_policy_document.inputs_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.inputs]
}

# CI's drift check lists and reads the chunks; only the serving app writes them.
data "aws_iam_policy_document" "ci_inputs" {
  statement {
    sid       = "ListTheInputs"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.inputs.arn]
  }

  statement {
    sid       = "ReadTheInputs"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.inputs.arn}/*"]
  }
}

resource "aws_iam_role_policy" "ci_inputs" {
  name   = "read-inputs"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci_inputs.json
}

output "inputs_bucket_name" {
  description = "Bucket the serving app ships its inputs to; `make inputs` reads s3://<this name>/<environment>/."
  value       = aws_s3_bucket.inputs.bucket
}

output "inputs_urls" {
  description = "INPUT_LOG_URL of each environment's service, by environment."
  value       = { for env in ["staging", "production"] : env => "s3://${aws_s3_bucket.inputs.bucket}/${env}/" }
}
