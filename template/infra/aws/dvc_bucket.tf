# The DVC remote: private, encrypted, versioned (an overwritten or deleted object can be
# recovered for var.dvc_noncurrent_version_days), reachable over TLS only.
resource "aws_s3_bucket" "dvc" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket; CloudTrail data events are the place to audit a DVC remote.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; versioning already protects against deletion.
  #checkov:skip=CKV2_AWS_62:Nothing consumes event notifications of a DVC remote.
  bucket = var.dvc_bucket_name
}

resource "aws_s3_bucket_ownership_controls" "dvc" {
  bucket = aws_s3_bucket.dvc.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "dvc" {
  bucket = aws_s3_bucket.dvc.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# SSE-KMS with the AWS managed key (aws/s3): every principal this account allows to use
# the bucket can read and write it, with no key policy to maintain.
resource "aws_s3_bucket_server_side_encryption_configuration" "dvc" {
  bucket = aws_s3_bucket.dvc.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "dvc" {
  bucket = aws_s3_bucket.dvc.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dvc" {
  bucket = aws_s3_bucket.dvc.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.dvc_noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.dvc]
}

data "aws_iam_policy_document" "dvc_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.dvc.arn,
      "${aws_s3_bucket.dvc.arn}/*",
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

resource "aws_s3_bucket_policy" "dvc" {
  bucket = aws_s3_bucket.dvc.id
  policy = data.aws_iam_policy_document.dvc_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.dvc]
}

# CI pulls and pushes DVC data, models and the run cache; it never deletes.
data "aws_iam_policy_document" "ci_dvc" {
  statement {
    sid       = "ListTheDvcRemote"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.dvc.arn]
  }

  statement {
    sid       = "ReadWriteDvcObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.dvc.arn}/*"]
  }
}

resource "aws_iam_role_policy" "ci_dvc" {
  name   = "dvc-remote"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci_dvc.json
}
