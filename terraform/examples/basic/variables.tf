variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "function_name" {
  description = "Name of the Lambda function."
  type        = string
  default     = "mcp-lambda-basic"
}

variable "package" {
  description = "The zip cargo lambda built (--output-format zip)."
  type        = string
  default     = "../../../target/lambda/mcp-lambda/bootstrap.zip"
}

variable "memory_size" {
  description = "Memory of the function in MB (at least 2048 on Lambda Managed Instances)."
  type        = number
  default     = 512
}

variable "server_command" {
  description = "The stdio MCP server's command line (null: the example server bundled in the binary)."
  type        = string
  default     = null
}

variable "snapshot_file" {
  description = "Absolute path inside the function of the snapshot in the package (MCP_LAMBDA_SNAPSHOT), e.g. /var/task/mcp-snapshot.json; null: none."
  type        = string
  default     = null
}

variable "auth_type" {
  description = "Function URL authentication: AWS_IAM or NONE."
  type        = string
  default     = "AWS_IAM"
}

variable "invoke_mode" {
  description = "Function URL invoke mode: BUFFERED or RESPONSE_STREAM."
  type        = string
  default     = "BUFFERED"
}

variable "sessions" {
  description = "Session store: none, memory, token or dynamodb (creates the session table)."
  type        = string
  default     = "dynamodb"
}

variable "environment" {
  description = "Extra environment variables for the function, e.g. { MCP_LAMBDA_ENV = \"GITHUB_TOKEN=secretsmanager:prod/github#token\" }."
  type        = map(string)
  default     = {}
}

variable "cors_allow_origins" {
  description = "Origins browser MCP clients call from (e.g. http://localhost:6274 for the MCP Inspector); empty: no CORS."
  type        = list(string)
  default     = []
}

variable "auth_mode" {
  description = "none, or oauth (the binary checks bearer tokens; needs auth_type = \"NONE\" and oauth_issuers)."
  type        = string
  default     = "none"
}

variable "oauth_issuers" {
  description = "oauth: the authorization servers' issuer URLs."
  type        = list(string)
  default     = []
}

variable "oauth_resource" {
  description = "oauth: the endpoint's canonical URI (null: the Function URL + mcp)."
  type        = string
  default     = null
}

variable "oauth_scopes" {
  description = "oauth: scopes every request needs."
  type        = list(string)
  default     = []
}

variable "tool_scopes" {
  description = "oauth: GLOB=SCOPE rules, scopes particular tools need."
  type        = list(string)
  default     = []
}

variable "secret_parameter_arns" {
  description = "ARNs of the SSM parameters the server's environment references (ssm:GetParameter on these)."
  type        = list(string)
  default     = []
}

variable "secret_arns" {
  description = "ARNs of the Secrets Manager secrets the server's environment references (secretsmanager:GetSecretValue on these)."
  type        = list(string)
  default     = []
}

variable "secret_kms_key_arns" {
  description = "Customer-managed KMS keys of those parameters and secrets (kms:Decrypt through SSM and Secrets Manager)."
  type        = list(string)
  default     = []
}

variable "capacity_provider_arn" {
  description = "Lambda Managed Instances on an existing capacity provider (null: an ordinary Lambda function)."
  type        = string
  default     = null
}

variable "capacity_provider_subnet_ids" {
  description = "Lambda Managed Instances on a capacity provider created in these subnets (with capacity_provider_security_group_ids)."
  type        = list(string)
  default     = []
}

variable "capacity_provider_security_group_ids" {
  description = "Security groups of the created capacity provider."
  type        = list(string)
  default     = []
}

variable "managed_instances_max_concurrency" {
  description = "Lambda Managed Instances: invocations one execution environment serves at once (1-1600)."
  type        = number
  default     = 64
}
