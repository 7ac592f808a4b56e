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

variable "server_command" {
  description = "The stdio MCP server's command line (null: the example server bundled in the binary)."
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
