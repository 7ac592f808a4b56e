output "mcp_endpoint" {
  description = "The MCP endpoint: point MCP clients here (AWS_IAM: SigV4-signed, service lambda)."
  value       = module.mcp.mcp_endpoint
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = module.mcp.function_name
}

output "session_table_name" {
  description = "The DynamoDB session table, if any."
  value       = module.mcp.session_table_name
}
