# The smallest deployment of terraform/modules/mcp-lambda: the example stdio server bundled in
# the binary behind an IAM-authenticated Function URL. Build the package first (repository root):
#   cargo lambda build --release --arm64 --output-format zip -p mcp-lambda
# then: terraform init && terraform apply

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

  auth_type   = var.auth_type
  invoke_mode = var.invoke_mode
  sessions    = var.sessions

  log_retention_days = 30

  tags = {
    app = "mcp-lambda"
  }
}
