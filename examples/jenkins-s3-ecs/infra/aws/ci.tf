# The role that CI assumes: through OIDC where the CI vendor has it (no long-lived key),
# otherwise from a key-only IAM user (ci_iam_user.tf). Who may assume it is the CI
# vendor's file (ci_<vendor>.tf or ci_iam_user.tf), which defines
# data.aws_iam_policy_document.ci_trust. What it may do is granted next to each part it
# touches: dvc_bucket.tf, ecr.tf, inputs.tf, ecs.tf and sagemaker_iam.tf attach their own
# aws_iam_role_policy.
resource "aws_iam_role" "ci" {
  name                 = "${local.short_name}-ci"
  description          = "Assumed by the CI of ${var.repository_path}"
  assume_role_policy   = data.aws_iam_policy_document.ci_trust.json
  max_session_duration = 3600
}
