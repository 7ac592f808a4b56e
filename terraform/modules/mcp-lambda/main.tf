# mcp-lambda: a stdio MCP server behind MCP Streamable HTTP on AWS Lambda.
# A provided.al2023 function running the `bootstrap` binary, its Function URL (optionally with
# CORS for browser clients), a log group with retention, a role allowed only what the function
# does, (sessions = "dynamodb") the session table with TTL, and (auth_mode = "oauth") the binary
# as an OAuth resource server. Configuration reaches the binary only through MCP_LAMBDA_* variables.

locals {
  use_dynamodb = var.sessions == "dynamodb"
  use_oauth    = var.auth_mode == "oauth"
  use_cors     = length(var.cors_allow_origins) > 0
  use_secrets  = length(concat(var.secret_parameter_arns, var.secret_arns, var.secret_kms_key_arns)) > 0

  # Lambda Managed Instances: on an existing capacity provider, or on one the module creates.
  create_capacity_provider = length(var.capacity_provider_subnet_ids) > 0
  use_managed_instances    = var.capacity_provider_arn != null || local.create_capacity_provider
  capacity_provider_arn    = local.create_capacity_provider ? aws_lambda_capacity_provider.this[0].arn : var.capacity_provider_arn

  # Unset settings are left out: the binary rejects an empty MCP_LAMBDA_COMMAND.
  settings = {
    MCP_LAMBDA_COMMAND       = var.server_command
    MCP_LAMBDA_CONFIG        = var.server_config
    MCP_LAMBDA_SERVER        = var.server_name
    MCP_LAMBDA_LIFECYCLE     = var.child_lifecycle
    MCP_LAMBDA_SNAPSHOT      = var.snapshot_file == "" ? null : var.snapshot_file
    MCP_LAMBDA_SESSIONS      = var.sessions
    MCP_LAMBDA_SESSION_TTL   = var.session_ttl
    MCP_LAMBDA_SESSION_TABLE = local.use_dynamodb ? aws_dynamodb_table.sessions[0].name : null
    MCP_LAMBDA_SESSION_KEYS  = var.sessions == "token" ? var.session_keys : null
    # Must match the Function URL's invoke mode: the binary answers in that shape.
    MCP_LAMBDA_INVOKE_MODE = var.invoke_mode
    # oauth: the binary is the gate, the Function URL is open (auth_mode's validation).
    MCP_LAMBDA_AUTH           = var.auth_mode
    MCP_LAMBDA_OAUTH_ISSUER   = local.use_oauth ? join(",", var.oauth_issuers) : null
    MCP_LAMBDA_OAUTH_RESOURCE = local.use_oauth ? var.oauth_resource : null
    MCP_LAMBDA_OAUTH_SCOPES   = local.use_oauth && length(var.oauth_scopes) > 0 ? join(",", var.oauth_scopes) : null
    MCP_LAMBDA_TOOL_SCOPE     = local.use_oauth && length(var.tool_scopes) > 0 ? join(",", var.tool_scopes) : null
    # Must match the Function URL's CORS origins: the binary answers other Origins 403.
    MCP_LAMBDA_ALLOW_ORIGIN = local.use_cors ? join(",", var.cors_allow_origins) : null
  }

  environment = merge(var.environment, { for k, v in local.settings : k => v if v != null })
}

# ---- logs --------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---- session table (sessions = "dynamodb") -----------------------------------------------------

# Key and TTL attribute as crates/mcp-lambda-dynamodb/src/item.rs writes them.
resource "aws_dynamodb_table" "sessions" {
  count = local.use_dynamodb ? 1 : 0

  name         = coalesce(var.session_table_name, "${var.function_name}-sessions")
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "session_id"

  attribute {
    name = "session_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# ---- role: least privilege ---------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# Write to its own log group only.
data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.logs.json
}

# The four item actions the session store uses (crates/mcp-lambda-dynamodb/src/store.rs), on
# that table only.
data "aws_iam_policy_document" "sessions" {
  count = local.use_dynamodb ? 1 : 0

  statement {
    actions = [
      "dynamodb:PutItem",
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
    ]
    resources = [aws_dynamodb_table.sessions[0].arn]
  }
}

resource "aws_iam_role_policy" "sessions" {
  count = local.use_dynamodb ? 1 : 0

  name   = "session-table"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.sessions[0].json
}

# The ssm: and secretsmanager: references of the server's environment, read at INIT
# (crates/mcp-lambda-secrets): the one read action of each service on the ARNs listed only, and
# kms:Decrypt on the keys listed only as SSM or Secrets Manager decrypts for the function.
data "aws_region" "current" {}

data "aws_iam_policy_document" "secrets" {
  count = local.use_secrets ? 1 : 0

  dynamic "statement" {
    for_each = length(var.secret_parameter_arns) > 0 ? [1] : []
    content {
      actions   = ["ssm:GetParameter"]
      resources = var.secret_parameter_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secret_arns) > 0 ? [1] : []
    content {
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secret_kms_key_arns) > 0 ? [1] : []
    content {
      actions   = ["kms:Decrypt"]
      resources = var.secret_kms_key_arns

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "ssm.${data.aws_region.current.region}.amazonaws.com",
          "secretsmanager.${data.aws_region.current.region}.amazonaws.com",
        ]
      }
    }
  }
}

resource "aws_iam_role_policy" "secrets" {
  count = local.use_secrets ? 1 : 0

  name   = "secrets"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.secrets[0].json
}

# ---- Lambda Managed Instances (capacity_provider_subnet_ids) -----------------------------------

# The role Lambda assumes to launch and manage the capacity provider's EC2 instances: the AWS
# managed operator policy, nothing else (the function's own role stays aws_iam_role.this).
data "aws_partition" "current" {}

resource "aws_iam_role" "capacity_provider_operator" {
  count = local.create_capacity_provider ? 1 : 0

  name               = "${var.function_name}-capacity-provider-operator"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "capacity_provider_operator" {
  count = local.create_capacity_provider ? 1 : 0

  role       = aws_iam_role.capacity_provider_operator[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"
}

resource "aws_lambda_capacity_provider" "this" {
  count = local.create_capacity_provider ? 1 : 0

  name = var.function_name

  vpc_config {
    subnet_ids         = var.capacity_provider_subnet_ids
    security_group_ids = var.capacity_provider_security_group_ids
  }

  permissions_config {
    capacity_provider_operator_role_arn = aws_iam_role.capacity_provider_operator[0].arn
  }

  # The instances run the function's binary: the same instruction set.
  instance_requirements {
    architectures = [var.architecture]
  }

  dynamic "capacity_provider_scaling_config" {
    for_each = var.capacity_provider_max_vcpu_count == null ? [] : [1]
    content {
      scaling_mode   = "Auto"
      max_vcpu_count = var.capacity_provider_max_vcpu_count
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.capacity_provider_operator]
}

# ---- function ----------------------------------------------------------------------------------

resource "aws_lambda_function" "this" {
  function_name    = var.function_name
  role             = aws_iam_role.this.arn
  filename         = var.package
  source_code_hash = filebase64sha256(var.package)
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = [var.architecture]
  memory_size      = var.memory_size
  timeout          = var.timeout
  kms_key_arn      = var.kms_key_arn

  reserved_concurrent_executions = var.reserved_concurrency

  # Lambda Managed Instances: many invocations per execution environment; Lambda sets
  # AWS_LAMBDA_MAX_CONCURRENCY from per_execution_environment_max_concurrency (environment may
  # not). Every change is published to $LATEST.PUBLISHED, which an unqualified invoke (the
  # Function URL's) runs.
  dynamic "capacity_provider_config" {
    for_each = local.use_managed_instances ? [1] : []
    content {
      lambda_managed_instances_capacity_provider_config {
        capacity_provider_arn                     = local.capacity_provider_arn
        per_execution_environment_max_concurrency = var.managed_instances_max_concurrency
        execution_environment_memory_gib_per_vcpu = var.managed_instances_memory_gib_per_vcpu
      }
    }
  }
  publish    = local.use_managed_instances
  publish_to = local.use_managed_instances ? "LATEST_PUBLISHED" : null

  environment {
    variables = local.environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.log_level
    system_log_level      = "WARN"
  }

  tags = var.tags

  # The role's policies exist before the first invocation (secrets are read at INIT).
  depends_on = [aws_iam_role_policy.logs, aws_iam_role_policy.sessions, aws_iam_role_policy.secrets]
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = var.auth_type
  invoke_mode        = var.invoke_mode

  # Browser MCP clients (the MCP Inspector): the methods and headers of Streamable HTTP.
  dynamic "cors" {
    for_each = local.use_cors ? [1] : []
    content {
      allow_origins  = var.cors_allow_origins
      allow_methods  = ["GET", "POST", "DELETE"]
      allow_headers  = ["authorization", "content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id", "mcp-method", "mcp-name"]
      expose_headers = ["mcp-session-id", "mcp-protocol-version", "www-authenticate"]
      max_age        = 600
    }
  }
}

# A public URL (auth_type = "NONE") needs both statements of Lambda's resource policy.
resource "aws_lambda_permission" "public_url" {
  count = var.auth_type == "NONE" ? 1 : 0

  statement_id           = "FunctionURLAllowPublicAccess"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "public_url_invoke" {
  count = var.auth_type == "NONE" ? 1 : 0

  statement_id             = "FunctionURLInvokeAllowPublicAccess"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this.function_name
  principal                = "*"
  invoked_via_function_url = true
}
