# ---- function ----------------------------------------------------------------------------------

variable "function_name" {
  description = "Name of the Lambda function (also names its role, log group and session table)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,56}$", var.function_name))
    error_message = "function_name: 1-56 letters, digits, '-' or '_' (the role and table names add a suffix)."
  }
}

variable "package" {
  description = "Path of the deployment zip holding the `bootstrap` binary: `cargo lambda build --release --arm64 --output-format zip` writes target/lambda/mcp-lambda/bootstrap.zip."
  type        = string

  validation {
    condition     = endswith(var.package, ".zip")
    error_message = "package: the path of a .zip file (cargo lambda build --output-format zip)."
  }
}

variable "architecture" {
  description = "Instruction set of the function; the binary in package must be built for it (arm64: cargo lambda build --arm64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU grows with it); the wrapped server runs in the same sandbox. On Lambda Managed Instances (capacity_provider_arn or capacity_provider_subnet_ids) at least 2048, shared by the concurrent invocations and their server processes."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 32768 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size: a whole number of MB from 128 to 10240 (Lambda Managed Instances: 2048 to 32768)."
  }

  validation {
    condition     = (var.capacity_provider_arn == null && length(var.capacity_provider_subnet_ids) == 0 && var.memory_size <= 10240) || ((var.capacity_provider_arn != null || length(var.capacity_provider_subnet_ids) > 0) && var.memory_size >= 2048)
    error_message = "memory_size: at most 10240 MB on Lambda, at least 2048 MB on Lambda Managed Instances."
  }
}

variable "timeout" {
  description = "Function timeout in seconds; each request is answered with a JSON-RPC timeout error before it."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout >= 3 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout: a whole number of seconds from 3 to 900."
  }
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the function; null: unreserved, share the account's pool. A cap bounds the cost of a public URL."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 0 && floor(var.reserved_concurrency) == var.reserved_concurrency, false)
    error_message = "reserved_concurrency: null or a whole number >= 0 (0 stops all invocations)."
  }
}

variable "log_level" {
  description = "Application log level; Lambda passes it as AWS_LAMBDA_LOG_LEVEL, which mcp-lambda follows."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level: TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "log_retention_days" {
  description = "Days the function's CloudWatch log group keeps its logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "kms_key_arn" {
  description = "Optional customer-managed KMS key for the function's environment, the log group and the session table (null: AWS-managed keys). Its key policy must allow Lambda, CloudWatch Logs and DynamoDB."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn: null or a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}

# ---- the stdio MCP server ----------------------------------------------------------------------

variable "server_command" {
  description = "The stdio MCP server's command line, shell-quoted (MCP_LAMBDA_COMMAND). Give at most one of server_command and server_config; neither serves the example server bundled in the binary."
  type        = string
  default     = null

  validation {
    condition     = var.server_command == null || trimspace(coalesce(var.server_command, " ")) != ""
    error_message = "server_command: null or a non-empty command line."
  }
}

variable "server_config" {
  description = "Path inside the function of an mcpServers JSON file (MCP_LAMBDA_CONFIG), e.g. /var/task/mcp.json."
  type        = string
  default     = null

  validation {
    condition     = var.server_config == null || var.server_command == null
    error_message = "server_config: give server_command or server_config, not both."
  }
}

variable "server_name" {
  description = "Which entry of the server_config file to serve (MCP_LAMBDA_SERVER); needed only when it has several."
  type        = string
  default     = null

  validation {
    condition     = var.server_name == null || var.server_config != null
    error_message = "server_name: selects an entry of server_config; set server_config too."
  }
}

variable "child_lifecycle" {
  description = "How the server process lives (MCP_LAMBDA_LIFECYCLE): reuse, per-request or per-session."
  type        = string
  default     = "reuse"

  validation {
    condition     = contains(["reuse", "per-request", "per-session"], var.child_lifecycle)
    error_message = "child_lifecycle: reuse, per-request or per-session."
  }
}

variable "snapshot_file" {
  description = "Absolute path inside the function of a snapshot taken at build time (`mcp-lambda snapshot -o mcp-snapshot.json -- SERVER COMMAND`) and shipped in package (MCP_LAMBDA_SNAPSHOT), e.g. /var/task/mcp-snapshot.json: a cold instance answers initialize and the lists from it while the server starts. A stale snapshot is logged and answered live. null or empty: none."
  type        = string
  default     = null

  validation {
    condition     = var.snapshot_file == null || startswith(coalesce(var.snapshot_file, "/"), "/")
    error_message = "snapshot_file: null, empty, or an absolute path inside the function (e.g. /var/task/mcp-snapshot.json)."
  }
}

variable "environment" {
  description = "Extra environment variables for the function (e.g. MCP_LAMBDA_PASS_ENV, MCP_LAMBDA_ENV, MCP_LAMBDA_REQUEST_TIMEOUT). The module's own settings win."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.environment), ["MCP_LAMBDA_INVOKE_MODE", "MCP_LAMBDA_SESSIONS", "MCP_LAMBDA_SESSION_TABLE", "MCP_LAMBDA_SESSION_KEYS"])) == 0
    error_message = "environment: MCP_LAMBDA_INVOKE_MODE and the session variables come from invoke_mode, sessions and session_keys."
  }

  validation {
    condition     = !contains(keys(var.environment), "AWS_LAMBDA_MAX_CONCURRENCY")
    error_message = "environment: Lambda sets AWS_LAMBDA_MAX_CONCURRENCY on a Managed Instance (managed_instances_max_concurrency); it cannot be set by hand."
  }

  validation {
    condition     = length(setintersection(keys(var.environment), ["MCP_LAMBDA_AUTH", "MCP_LAMBDA_OAUTH_ISSUER", "MCP_LAMBDA_OAUTH_RESOURCE", "MCP_LAMBDA_OAUTH_SCOPES", "MCP_LAMBDA_TOOL_SCOPE", "MCP_LAMBDA_ALLOW_ORIGIN"])) == 0
    error_message = "environment: the OAuth and Origin variables come from auth_mode, oauth_issuers, oauth_resource, oauth_scopes, tool_scopes and cors_allow_origins."
  }
}

# ---- secrets the server's environment references -----------------------------------------------

variable "secret_parameter_arns" {
  description = "ARNs of the SSM parameters the server's environment references (a value ssm:/name in environment's MCP_LAMBDA_ENV or the mcpServers file's env); the role gets ssm:GetParameter on exactly these."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.secret_parameter_arns : can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", a))])
    error_message = "secret_parameter_arns: SSM parameter ARNs (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)."
  }
}

variable "secret_arns" {
  description = "ARNs of the Secrets Manager secrets the server's environment references (secretsmanager:ID[#key]); the role gets secretsmanager:GetSecretValue on exactly these."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", a))])
    error_message = "secret_arns: Secrets Manager secret ARNs (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX)."
  }
}

variable "secret_kms_key_arns" {
  description = "ARNs of the customer-managed KMS keys those parameters and secrets are encrypted with; the role gets kms:Decrypt on these, through SSM and Secrets Manager only. Empty for AWS-managed keys."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.secret_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", a))])
    error_message = "secret_kms_key_arns: KMS key ARNs (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

# ---- Function URL ------------------------------------------------------------------------------

variable "auth_type" {
  description = "Function URL authentication: AWS_IAM (SigV4; grant callers lambda:InvokeFunctionUrl and lambda:InvokeFunction; sessions bind to the caller's IAM ARN) or NONE (public URL)."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.auth_type)
    error_message = "auth_type: AWS_IAM or NONE."
  }
}

variable "invoke_mode" {
  description = "Function URL invoke mode, also passed to the binary as MCP_LAMBDA_INVOKE_MODE: BUFFERED (JSON answers) or RESPONSE_STREAM (SSE streaming, up to 15 minutes per request)."
  type        = string
  default     = "BUFFERED"

  validation {
    condition     = contains(["BUFFERED", "RESPONSE_STREAM"], var.invoke_mode)
    error_message = "invoke_mode: BUFFERED or RESPONSE_STREAM."
  }
}

variable "cors_allow_origins" {
  description = "Origins browser MCP clients call from (e.g. the MCP Inspector, http://localhost:6274); [\"*\"] allows any. Sets the Function URL's CORS (GET, POST, DELETE, the MCP headers, max age 600 s) and MCP_LAMBDA_ALLOW_ORIGIN (the binary answers other Origins 403). Empty: no CORS."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allow_origins : o == "*" || can(regex("^https?://[^/,\\s]+$", o))])
    error_message = "cors_allow_origins: \"*\" or origins such as https://app.example.com (scheme and host, no path)."
  }
}

# ---- OAuth resource server ---------------------------------------------------------------------

variable "auth_mode" {
  description = "MCP_LAMBDA_AUTH: none (auth_type is the gate) or oauth (the binary is an OAuth 2.1 resource server: it checks bearer JWT access tokens of oauth_issuers issued for this endpoint and answers 401 with a WWW-Authenticate challenge). oauth needs auth_type = \"NONE\"."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "oauth"], var.auth_mode)
    error_message = "auth_mode: none or oauth."
  }

  validation {
    condition     = var.auth_mode != "oauth" || var.auth_type == "NONE"
    error_message = "auth_mode: oauth needs auth_type = \"NONE\": the binary checks the bearer token itself, and an AWS_IAM Function URL would refuse every OAuth client before it."
  }
}

variable "oauth_issuers" {
  description = "oauth: the trusted authorization servers' issuer URLs, https (MCP_LAMBDA_OAUTH_ISSUER). Their access tokens must be JWTs whose aud holds the resource URI (output oauth_resource)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for i in var.oauth_issuers : can(regex("^https://[^,?#\\s]+$", i))])
    error_message = "oauth_issuers: https URLs without query or fragment."
  }

  validation {
    condition     = (var.auth_mode == "oauth") == (length(var.oauth_issuers) > 0)
    error_message = "oauth_issuers: auth_mode = \"oauth\" needs at least one issuer, and issuers need auth_mode = \"oauth\"."
  }
}

variable "oauth_resource" {
  description = "oauth: this endpoint's canonical URI, which tokens' aud must contain (MCP_LAMBDA_OAUTH_RESOURCE). null: the binary derives it from the Function URL (https://ID.lambda-url.REGION.on.aws/mcp); set it behind CloudFront or a custom domain."
  type        = string
  default     = null

  validation {
    condition     = var.oauth_resource == null || (var.auth_mode == "oauth" && can(regex("^https://[^,?#\\s]+$", coalesce(var.oauth_resource, "-"))))
    error_message = "oauth_resource: null, or with auth_mode = \"oauth\" an https URL without query or fragment."
  }
}

variable "oauth_scopes" {
  description = "oauth: scopes every request needs (MCP_LAMBDA_OAUTH_SCOPES)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.oauth_scopes : can(regex("^[!#-\\[\\]-~]+$", s))]) && (length(var.oauth_scopes) == 0 || var.auth_mode == "oauth")
    error_message = "oauth_scopes: scope tokens (no spaces, quotes or backslashes), with auth_mode = \"oauth\"."
  }
}

variable "tool_scopes" {
  description = "oauth: scopes particular tools need, GLOB=SCOPE[ SCOPE...] rules (MCP_LAMBDA_TOOL_SCOPE), e.g. [\"write_*=files:write\"]; a call without them gets 403 insufficient_scope."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.tool_scopes : can(regex("^[^=,]+=[^=,]+$", r))]) && (length(var.tool_scopes) == 0 || var.auth_mode == "oauth")
    error_message = "tool_scopes: GLOB=SCOPE rules, with auth_mode = \"oauth\"."
  }
}

# ---- sessions ----------------------------------------------------------------------------------

variable "sessions" {
  description = "Session store (MCP_LAMBDA_SESSIONS): none, memory (per instance), token (sealed client-carried tokens; set session_keys) or dynamodb (the module creates the table and grants the function its item actions)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "memory", "token", "dynamodb"], var.sessions)
    error_message = "sessions: none, memory, token or dynamodb."
  }
}

variable "session_ttl" {
  description = "An unused session expires after this (MCP_LAMBDA_SESSION_TTL), e.g. 30m, 1h."
  type        = string
  default     = "1h"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h|d)$", var.session_ttl))
    error_message = "session_ttl: a number and a unit (ms, s, m, h, d), e.g. 30m."
  }
}

variable "session_keys" {
  description = "token sessions: 32-byte keys as 64 hex characters or base64, comma-separated, the first seals (MCP_LAMBDA_SESSION_KEYS). Generate with `openssl rand -hex 32`."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.sessions != "token" || var.session_keys != null
    error_message = "session_keys: token sessions need at least one key (openssl rand -hex 32)."
  }
}

variable "session_table_name" {
  description = "dynamodb sessions: name of the table the module creates (default: <function_name>-sessions)."
  type        = string
  default     = null

  validation {
    condition     = var.session_table_name == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", coalesce(var.session_table_name, "xxx")))
    error_message = "session_table_name: 3-255 letters, digits, '_', '-' or '.'."
  }
}

# ---- Lambda Managed Instances (optional) -------------------------------------------------------

variable "capacity_provider_arn" {
  description = "Lambda Managed Instances on an existing capacity provider (its ARN; its architecture must be architecture). null, with capacity_provider_subnet_ids empty: an ordinary Lambda function (the default). Give this or capacity_provider_subnet_ids, not both."
  type        = string
  default     = null

  validation {
    condition     = var.capacity_provider_arn == null || can(regex("^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:capacity-provider:[a-zA-Z0-9-_]+$", coalesce(var.capacity_provider_arn, "-")))
    error_message = "capacity_provider_arn: null or a capacity provider ARN (arn:aws:lambda:REGION:ACCOUNT:capacity-provider:NAME)."
  }
}

variable "capacity_provider_subnet_ids" {
  description = "Lambda Managed Instances on a capacity provider the module creates in these subnets (1-16, several Availability Zones; they need a route to the internet or VPC endpoints for CloudWatch Logs and what the server calls), with capacity_provider_security_group_ids. Empty: none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.capacity_provider_subnet_ids : can(regex("^subnet-[0-9a-z]+$", s))]) && length(var.capacity_provider_subnet_ids) <= 16
    error_message = "capacity_provider_subnet_ids: at most 16 subnet IDs (subnet-...)."
  }

  validation {
    condition     = length(var.capacity_provider_subnet_ids) == 0 || var.capacity_provider_arn == null
    error_message = "capacity_provider_subnet_ids: give capacity_provider_arn (an existing capacity provider) or capacity_provider_subnet_ids (the module creates one), not both."
  }
}

variable "capacity_provider_security_group_ids" {
  description = "Security groups (1-5; outbound traffic allowed) of the capacity provider the module creates; only with capacity_provider_subnet_ids."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for g in var.capacity_provider_security_group_ids : can(regex("^sg-[0-9a-zA-Z]+$", g))]) && length(var.capacity_provider_security_group_ids) <= 5
    error_message = "capacity_provider_security_group_ids: at most 5 security group IDs (sg-...)."
  }

  validation {
    condition     = (length(var.capacity_provider_subnet_ids) > 0) == (length(var.capacity_provider_security_group_ids) > 0)
    error_message = "capacity_provider_security_group_ids: the capacity provider the module creates needs both subnets and security groups, and security groups need capacity_provider_subnet_ids."
  }
}

variable "capacity_provider_max_vcpu_count" {
  description = "Most vCPUs the created capacity provider scales to (caps its EC2 cost); null: the service's limit. Only with capacity_provider_subnet_ids."
  type        = number
  default     = null

  validation {
    condition     = var.capacity_provider_max_vcpu_count == null || (length(var.capacity_provider_subnet_ids) > 0 && try(var.capacity_provider_max_vcpu_count >= 2 && var.capacity_provider_max_vcpu_count <= 15000 && floor(var.capacity_provider_max_vcpu_count) == var.capacity_provider_max_vcpu_count, false))
    error_message = "capacity_provider_max_vcpu_count: null, or with capacity_provider_subnet_ids a whole number from 2 to 15000."
  }
}

variable "managed_instances_max_concurrency" {
  description = "Lambda Managed Instances: invocations one execution environment serves at once (per_execution_environment_max_concurrency; Lambda passes it as AWS_LAMBDA_MAX_CONCURRENCY). With child_lifecycle reuse they share one server process; 64 suits an I/O-bound server."
  type        = number
  default     = 64

  validation {
    condition     = var.managed_instances_max_concurrency >= 1 && var.managed_instances_max_concurrency <= 1600 && floor(var.managed_instances_max_concurrency) == var.managed_instances_max_concurrency
    error_message = "managed_instances_max_concurrency: a whole number from 1 to 1600."
  }
}

variable "managed_instances_memory_gib_per_vcpu" {
  description = "Lambda Managed Instances: GiB of memory per vCPU of an execution environment (execution_environment_memory_gib_per_vcpu, 2 to 8)."
  type        = number
  default     = 2

  validation {
    condition     = var.managed_instances_memory_gib_per_vcpu >= 2 && var.managed_instances_memory_gib_per_vcpu <= 8
    error_message = "managed_instances_memory_gib_per_vcpu: from 2 to 8."
  }
}
