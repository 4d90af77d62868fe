resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:Access logs need a log bucket with the regional ELB account's write policy; enable them with your organisation's log bucket.
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is a per-organisation decision and a monthly cost; associate one with aws_wafv2_web_acl_association.
  #checkov:skip=CKV2_AWS_20:With var.certificate_arn the HTTP listener redirects to HTTPS (a dynamic block checkov does not evaluate); without one the README says the endpoint is plain HTTP.
  name                       = local.short_name
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.alb_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  # deploy/aws_ecs.py smoke-tests the URL this tag names: the domain of the certificate
  # with HTTPS, the load balancer's own name without.
  tags = {
    ServiceUrl = local.url
  }
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:HTTP from the load balancer to the tasks stays inside the VPC, between two security groups that admit only each other.
  name                 = local.short_name
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    enabled             = true
    path                = "/health"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

# With a certificate (var.certificate_arn, for var.domain_name), HTTPS on 443 with a TLS
# 1.3/1.2-only policy, and port 80 answers with a permanent redirect to it. Without one,
# plain HTTP on the load balancer's own DNS name (the rendered README says so).
resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:With a certificate this listener only redirects to HTTPS; without one, plain HTTP is the documented choice (README).
  #checkov:skip=CKV_AWS_103:The TLS policy is on the HTTPS listener below; this one serves or redirects plain HTTP.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  dynamic "default_action" {
    for_each = local.https ? [] : ["forward"]

    content {
      type             = "forward"
      target_group_arn = aws_lb_target_group.this.arn
    }
  }

  dynamic "default_action" {
    for_each = local.https ? ["redirect"] : []

    content {
      type = "redirect"

      redirect {
        protocol    = "HTTPS"
        port        = "443"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "The load balancer of ${local.name}: HTTP(S) from anywhere, to the tasks only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:The load balancer is internet-facing: port 80 serves (no certificate) or redirects to HTTPS.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  count = local.https ? 1 : 0

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the tasks' container port"
  referenced_security_group_id = aws_security_group.task.id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

resource "aws_security_group" "task" {
  name        = "${local.name}-task"
  description = "The tasks of ${local.name}: from their load balancer only, HTTPS out"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "task_from_alb" {
  security_group_id            = aws_security_group.task.id
  description                  = "From the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

# Image layers (ECR, S3) and logs (CloudWatch) are reached over HTTPS.
resource "aws_vpc_security_group_egress_rule" "task_https" {
  security_group_id = aws_security_group.task.id
  description       = "HTTPS to AWS APIs: ECR, S3 image layers, CloudWatch Logs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
