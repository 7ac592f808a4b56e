output "mcp_endpoint" {
  description = "The MCP endpoint: point MCP clients here (AWS_IAM: SigV4-signed, service lambda)."
  value       = module.mcp.mcp_endpoint
}

output "oauth_resource" {
  description = "auth_mode = \"oauth\": the resource URI tokens must be issued for (register it at the authorization server)."
  value       = module.mcp.oauth_resource
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = module.mcp.function_name
}

output "session_table_name" {
  description = "The DynamoDB session table, if any."
  value       = module.mcp.session_table_name
}

output "capacity_provider_arn" {
  description = "Lambda Managed Instances: the capacity provider the function runs on, if any."
  value       = module.mcp.capacity_provider_arn
}
