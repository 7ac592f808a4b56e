# The smallest deployment of terraform/modules/mcp-lambda: the example stdio server bundled in
# the binary behind an IAM-authenticated Function URL. Build the package first (repository root):
#   cargo lambda build --release --arm64 --output-format zip -p mcp-lambda
# then: terraform init && terraform apply
# As an OAuth resource server (the Function URL open, the binary checking bearer tokens):
#   terraform apply -var auth_mode=oauth -var auth_type=NONE \
#     -var 'oauth_issuers=["https://YOUR-TENANT.eu.auth0.com/"]'

provider "aws" {
  region = var.region
}

module "mcp" {
  source = "../../modules/mcp-lambda"

  function_name = var.function_name
  package       = var.package
  architecture  = "arm64"

  # null: the example server bundled in the binary. A server of your own must be in the package
  # (or a layer), e.g. server_command = "/var/task/my-server --stdio".
  server_command = var.server_command

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

  log_retention_days = 30

  tags = {
    app = "mcp-lambda"
  }
}
