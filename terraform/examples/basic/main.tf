# The smallest deployment of terraform/modules/mcp-lambda: the example stdio server bundled in
# the binary behind an IAM-authenticated Function URL. Build the package first (repository root):
#   cargo lambda build --release --arm64 --output-format zip -p mcp-lambda
# then: terraform init && terraform apply
# As an OAuth resource server (the Function URL open, the binary checking bearer tokens):
#   terraform apply -var auth_mode=oauth -var auth_type=NONE \
#     -var 'oauth_issuers=["https://YOUR-TENANT.eu.auth0.com/"]'
# On Lambda Managed Instances (a capacity provider in your subnets, 64 invocations at once per
# execution environment sharing one server process):
#   terraform apply -var memory_size=2048 \
#     -var 'capacity_provider_subnet_ids=["subnet-0123456789abcdef0","subnet-0fedcba9876543210"]' \
#     -var 'capacity_provider_security_group_ids=["sg-0123456789abcdef0"]'

provider "aws" {
  region = var.region
}

module "mcp" {
  source = "../../modules/mcp-lambda"

  function_name = var.function_name
  package       = var.package
  architecture  = "arm64"
  memory_size   = var.memory_size

  # null: the example server bundled in the binary. A server of your own must be in the package
  # (or a layer), e.g. server_command = "/var/task/my-server --stdio".
  server_command = var.server_command
  # A snapshot taken at build time and put in the package (docs/DEPLOY.md, Snapshot), e.g.
  # snapshot_file = "/var/task/mcp-snapshot.json"; null: none.
  snapshot_file = var.snapshot_file

  # Variables for the server; a value ssm:/name or secretsmanager:ID[#key] is read at INIT, e.g.
  # MCP_LAMBDA_ENV = "GITHUB_TOKEN=secretsmanager:prod/github#token" with its ARN in secret_arns.
  environment = var.environment

  auth_type          = var.auth_type
  invoke_mode        = var.invoke_mode
  sessions           = var.sessions
  cors_allow_origins = var.cors_allow_origins

  auth_mode      = var.auth_mode
  oauth_issuers  = var.oauth_issuers
  oauth_resource = var.oauth_resource
  oauth_scopes   = var.oauth_scopes
  tool_scopes    = var.tool_scopes

  secret_parameter_arns = var.secret_parameter_arns
  secret_arns           = var.secret_arns
  secret_kms_key_arns   = var.secret_kms_key_arns

  # Lambda Managed Instances (off unless a capacity provider is given).
  capacity_provider_arn                = var.capacity_provider_arn
  capacity_provider_subnet_ids         = var.capacity_provider_subnet_ids
  capacity_provider_security_group_ids = var.capacity_provider_security_group_ids
  managed_instances_max_concurrency    = var.managed_instances_max_concurrency

  log_retention_days = 30

  tags = {
    app = "mcp-lambda"
  }
}
