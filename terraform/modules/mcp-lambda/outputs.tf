output "mcp_endpoint" {
  description = "The MCP endpoint (the Function URL's /mcp path): point MCP clients here."
  value       = "${aws_lambda_function_url.this.function_url}mcp"
}

output "function_url" {
  description = "The function's URL."
  value       = aws_lambda_function_url.this.function_url
}

output "oauth_resource" {
  description = "auth_mode = \"oauth\": the resource URI tokens' aud must contain (register it at the authorization server as the API's audience): oauth_resource, else the Function URL + mcp. null without OAuth."
  value       = local.use_oauth ? coalesce(var.oauth_resource, "${aws_lambda_function_url.this.function_url}mcp") : null
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function (grant AWS_IAM callers lambda:InvokeFunctionUrl and lambda:InvokeFunction on it)."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "The function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "session_table_name" {
  description = "The DynamoDB session table (sessions = \"dynamodb\"), else null."
  value       = local.use_dynamodb ? aws_dynamodb_table.sessions[0].name : null
}

output "capacity_provider_arn" {
  description = "Lambda Managed Instances: the capacity provider the function runs on (capacity_provider_arn, or the one the module created); null on Lambda."
  value       = local.use_managed_instances ? local.capacity_provider_arn : null
}
