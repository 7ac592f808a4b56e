//! The deploy paths validate offline (`tests/iac/validate.py`, docs/DEPLOY.md): the SAM template
//! through the real SAM transform and cfn-lint, the Terraform module and example through
//! `terraform fmt -check`, an HCL parse with structural assertions, and checkov, the CDK app
//! through tsc, `cdk synth` and the same checks; each with its optional Lambda Managed
//! Instances settings.
//!
//! Each validation is also shown to fail: a copy of the real file gets one planted mistake and
//! the validator must fail naming it. A plant whose original text is gone fails the test, so an
//! edit of the template or module cannot silently turn a plant into a no-op.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_lambda_tests::{checkov, iac_python, path_str, root, run};

/// Longest a validator run may take (a Terraform target is ~4 s, mostly checkov).
const WITHIN: Duration = Duration::from_secs(600);

/// A fresh directory under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcp-lambda-iac-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".terraform" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Replaces `old` (which must occur) by `new` in `file`.
fn plant(file: &Path, old: &str, new: &str) {
    let text = fs::read_to_string(file).unwrap();
    assert!(
        text.contains(old),
        "{}: the text to plant a mistake in is gone: {old:?}",
        file.display()
    );
    fs::write(file, text.replacen(old, new, 1)).unwrap();
}

/// Output of one validator run: each target's section ("== TARGET" up to the next one).
struct Report {
    ok: bool,
    sections: HashMap<String, String>,
    all: String,
}

/// Runs `validate.py KIND TARGETS...` (one start-up for every target).
fn validate(kind: &str, targets: &[String]) -> Option<Report> {
    let python = iac_python()?;
    let checkov = checkov()?;
    let start = Instant::now();
    let (ok, out, err) = run(
        Command::new(python)
            .arg(root().join("tests/iac/validate.py"))
            .arg(kind)
            .args(targets)
            .arg("--checkov")
            .arg(checkov)
            .current_dir(root()),
        WITHIN,
    );
    eprintln!(
        "validate.py {kind} ({} target(s)): {:.1} s",
        targets.len(),
        start.elapsed().as_secs_f64()
    );
    let mut sections = HashMap::new();
    let mut current: Option<(String, String)> = None;
    for line in out.lines() {
        if let Some(target) = line.strip_prefix("== ") {
            if let Some((t, s)) = current.take() {
                sections.insert(t, s);
            }
            current = Some((target.to_string(), String::new()));
        } else if let Some((_, s)) = current.as_mut() {
            s.push_str(line);
            s.push('\n');
        }
    }
    if let Some((t, s)) = current {
        sections.insert(t, s);
    }
    Some(Report {
        ok,
        sections,
        all: format!("{out}\n--- stderr ---\n{err}"),
    })
}

impl Report {
    fn section(&self, target: &str) -> &str {
        self.sections
            .get(target)
            .unwrap_or_else(|| panic!("no report for {target}:\n{}", self.all))
    }

    /// The target passed: no finding at all.
    fn assert_clean(&self, target: &str) {
        let s = self.section(target);
        assert!(
            !s.contains("FAIL ") && s.trim_end().ends_with(": ok"),
            "{target} should validate:\n{}",
            self.all
        );
    }

    /// The target failed, and every needle is in one of its finding lines.
    fn assert_caught(&self, what: &str, target: &str, needles: &[&str]) {
        let s = self.section(target);
        assert!(
            s.contains(" finding(s)"),
            "planted {what}: {target} was not failed:\n{s}"
        );
        for needle in needles {
            assert!(
                s.lines()
                    .any(|l| l.starts_with("FAIL ") && l.contains(needle)),
                "planted {what}: no finding names {needle:?} in:\n{s}"
            );
        }
        eprintln!("caught planted {what}");
    }
}

#[test]
fn sam_template_validates() {
    let Some(r) = validate("sam", &["template.yaml".into()]) else {
        return;
    };
    r.assert_clean("template.yaml");
    assert!(r.ok, "{}", r.all);
}

/// (what, old text, new text, what a finding must name)
const SAM_PLANTS: &[(&str, &str, &str, &[&str])] = &[
    (
        "bad architecture",
        "Architectures: [!Ref Architecture]",
        "Architectures: [arm46]",
        &["cfn-lint: E3030 'arm46'"],
    ),
    (
        "bad runtime",
        "Runtime: provided.al2023",
        "Runtime: provided.al2024",
        &["cfn-lint: E3030 'provided.al2024'"],
    ),
    (
        "bad AuthType",
        "AuthType: !Ref AuthType",
        "AuthType: IAM",
        &["cfn-lint: E3030 'IAM'"],
    ),
    (
        "bad InvokeMode",
        "      InvokeMode: !Ref InvokeMode",
        "      InvokeMode: STREAMING",
        &["cfn-lint: E3030 'STREAMING'"],
    ),
    (
        "dangling GetAtt",
        "Resource: !GetAtt SessionTable.Arn",
        "Resource: !GetAtt SessionsTable.Arn",
        &["cfn-lint: E1010 'SessionsTable'"],
    ),
    (
        "wildcard IAM action",
        "- dynamodb:DeleteItem",
        "- dynamodb:*",
        &["wildcard IAM action 'dynamodb:*'"],
    ),
    (
        "IAM action the store does not use",
        "- dynamodb:DeleteItem",
        "- dynamodb:DeleteItem\n                    - dynamodb:Scan",
        &["dynamodb:Scan is not one of the session store's actions"],
    ),
    (
        "invoke mode not mirrored into MCP_LAMBDA_INVOKE_MODE",
        "MCP_LAMBDA_INVOKE_MODE: !Ref InvokeMode",
        "MCP_LAMBDA_INVOKE_MODE: BUFFERED",
        &["MCP_LAMBDA_INVOKE_MODE \"BUFFERED\" does not mirror"],
    ),
    (
        "TTL on another attribute",
        "AttributeName: expires_at",
        "AttributeName: expiry",
        &["not enabled on expires_at"],
    ),
    (
        "OAuth behind an AWS_IAM Function URL",
        "      - Assert: !Equals [!Ref AuthType, NONE]",
        "      - Assert: !Not [!Equals [!Ref AuthType, \"\"]]",
        &["OAuth mode (MCP_LAMBDA_AUTH oauth) with AuthType AWS_IAM"],
    ),
    (
        "secrets granted on every secret",
        "Resource: !Ref SecretArns",
        "Resource: \"*\"",
        &["secretsmanager:GetSecretValue granted on a wildcard resource '*'"],
    ),
    (
        "kms:Decrypt without kms:ViaService",
        "                    Condition:\n                      StringEquals:\n                        kms:ViaService:\n                          - !Sub ssm.${AWS::Region}.amazonaws.com\n                          - !Sub secretsmanager.${AWS::Region}.amazonaws.com\n",
        "",
        &["kms:Decrypt without a kms:ViaService condition"],
    ),
    (
        "CORS without the session id exposed",
        "ExposeHeaders: [mcp-session-id, mcp-protocol-version, www-authenticate]",
        "ExposeHeaders: [mcp-protocol-version, www-authenticate]",
        &["Cors.ExposeHeaders lacks ['mcp-session-id']"],
    ),
    (
        "CORS origins not mirrored into MCP_LAMBDA_ALLOW_ORIGIN",
        "MCP_LAMBDA_ALLOW_ORIGIN: !If [HasCors, !Join [\",\", !Ref CorsAllowOrigins], !Ref AWS::NoValue]",
        "MCP_LAMBDA_ALLOW_ORIGIN: !Ref AWS::NoValue",
        &["MCP_LAMBDA_ALLOW_ORIGIN is not set"],
    ),
    (
        "AWS_LAMBDA_MAX_CONCURRENCY set by hand",
        "          MCP_LAMBDA_LIFECYCLE: !Ref Lifecycle\n",
        "          MCP_LAMBDA_LIFECYCLE: !Ref Lifecycle\n          AWS_LAMBDA_MAX_CONCURRENCY: !Ref ManagedInstancesMaxConcurrency\n",
        &["AWS_LAMBDA_MAX_CONCURRENCY is set in Environment"],
    ),
    (
        "Managed Instances concurrency unbounded",
        "    Default: 64\n    MinValue: 1\n    MaxValue: 1600\n",
        "    Default: 64\n    MinValue: 1\n",
        &["parameter ManagedInstancesMaxConcurrency, not bounded to 1..1600"],
    ),
    (
        "Managed Instances on the ordinary memory (below 2 GB)",
        "MemorySize: !If [UseManagedInstances, !Ref ManagedInstancesMemorySize, !Ref MemorySize]",
        "MemorySize: !Ref MemorySize",
        &["MemorySize on Lambda Managed Instances is parameter MemorySize, not bounded"],
    ),
    (
        "capacity provider subnets without security groups",
        "      - Assert: !Not [!Contains [!Ref CapacityProviderSecurityGroupIds, \"\"]]\n",
        "      - Assert: !Not [!Contains [!Ref CapacityProviderSubnetIds, \"\"]]\n",
        &["no rule requires CapacityProviderSecurityGroupIds (security groups)"],
    ),
    (
        "Managed Instances on by default",
        "  UseManagedInstances: !Or [!Condition HasCapacityProviderArn, !Condition CreateCapacityProvider]",
        "  UseManagedInstances: !Not [!Or [!Condition HasCapacityProviderArn, !Condition CreateCapacityProvider]]",
        &["Lambda Managed Instances are not off by default"],
    ),
    (
        "the function's role as the capacity provider's operator",
        "CapacityProviderOperatorRoleArn: !GetAtt CapacityProviderOperatorRole.Arn",
        "CapacityProviderOperatorRoleArn: !GetAtt FunctionRole.Arn",
        &["the operator role is the function McpFunction's own role"],
    ),
    (
        "snapshot set whatever SnapshotFile says",
        "MCP_LAMBDA_SNAPSHOT: !If [HasSnapshot, !Ref SnapshotFile, !Ref AWS::NoValue]",
        "MCP_LAMBDA_SNAPSHOT: !Ref SnapshotFile",
        &["MCP_LAMBDA_SNAPSHOT is set whatever SnapshotFile says"],
    ),
    (
        "snapshot path not held to absolute paths",
        "    AllowedPattern: \"^(/.+)?$\"\n",
        "    AllowedPattern: \"^.*$\"\n",
        &["whose AllowedPattern accepts relative paths"],
    ),
    (
        "snapshot on by default",
        "  HasSnapshot: !Not [!Equals [!Ref SnapshotFile, \"\"]]",
        "  HasSnapshot: !Equals [!Ref SnapshotFile, \"\"]",
        &["MCP_LAMBDA_SNAPSHOT is set by default"],
    ),
];

#[test]
fn sam_validation_catches_planted_mistakes() {
    let scratch = Scratch::new("sam");
    let real = root().join("template.yaml");
    let mut targets = Vec::new();
    for (i, (_, old, new, _)) in SAM_PLANTS.iter().enumerate() {
        let copy = scratch.0.join(format!("template-{i}.yaml"));
        fs::copy(&real, &copy).unwrap();
        plant(&copy, old, new);
        targets.push(path_str(&copy));
    }
    let Some(r) = validate("sam", &targets) else {
        return;
    };
    assert!(!r.ok, "planted mistakes must fail the run:\n{}", r.all);
    for ((what, _, _, needles), target) in SAM_PLANTS.iter().zip(&targets) {
        r.assert_caught(what, target, needles);
    }
}

#[test]
fn terraform_module_and_example_validate() {
    let Some(r) = validate("terraform", &["terraform".into()]) else {
        return;
    };
    r.assert_clean("terraform");
    assert!(r.ok, "{}", r.all);
}

const MODULE_MAIN: &str = "modules/mcp-lambda/main.tf";
const MODULE_VARS: &str = "modules/mcp-lambda/variables.tf";

/// (what, file under terraform/, old text, new text, what a finding must name)
const TF_PLANTS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "unformatted HCL",
        MODULE_MAIN,
        "  runtime          = \"provided.al2023\"",
        "  runtime = \"provided.al2023\"",
        &["fmt: modules/mcp-lambda/main.tf is not formatted"],
    ),
    (
        "HCL syntax error",
        MODULE_MAIN,
        "resource \"aws_lambda_function_url\" \"this\" {",
        "resource \"aws_lambda_function_url\" \"this\" {{",
        &[
            "fmt: Error",
            "hcl: modules/mcp-lambda/main.tf",
            "checkov: parsing error",
        ],
    ),
    (
        "missing validation",
        MODULE_VARS,
        "\n  validation {\n    condition     = contains([\"BUFFERED\", \"RESPONSE_STREAM\"], var.invoke_mode)\n    error_message = \"invoke_mode: BUFFERED or RESPONSE_STREAM.\"\n  }\n",
        "",
        &["variable \"invoke_mode\" has no validation block"],
    ),
    (
        "x86_64 by default",
        MODULE_VARS,
        "  default     = \"arm64\"",
        "  default     = \"x86_64\"",
        &["architectures default to ['x86_64']"],
    ),
    (
        "bad runtime",
        MODULE_MAIN,
        "\"provided.al2023\"",
        "\"provided.al2\"",
        &["runtime is \"provided.al2\""],
    ),
    (
        "wildcard IAM action",
        MODULE_MAIN,
        "\"dynamodb:DeleteItem\"",
        "\"dynamodb:*\"",
        &["wildcard IAM action 'dynamodb:*'"],
    ),
    (
        "invoke mode not mirrored into MCP_LAMBDA_INVOKE_MODE",
        MODULE_MAIN,
        "MCP_LAMBDA_INVOKE_MODE = var.invoke_mode",
        "MCP_LAMBDA_INVOKE_MODE = \"BUFFERED\"",
        &["MCP_LAMBDA_INVOKE_MODE = \"BUFFERED\" does not mirror"],
    ),
    (
        "TTL on another attribute",
        MODULE_MAIN,
        "attribute_name = \"expires_at\"",
        "attribute_name = \"expiry\"",
        &["TTL is not enabled on expires_at"],
    ),
    (
        "log group without retention",
        MODULE_MAIN,
        "  retention_in_days = var.log_retention_days\n",
        "",
        &["has no retention_in_days", "checkov: CKV_AWS_66"],
    ),
    (
        "public Function URL in the example (checkov)",
        "examples/basic/variables.tf",
        "  default     = \"AWS_IAM\"",
        "  default     = \"NONE\"",
        &["checkov: CKV_AWS_258"],
    ),
    (
        "OAuth behind an AWS_IAM Function URL",
        MODULE_VARS,
        "var.auth_mode != \"oauth\" || var.auth_type == \"NONE\"",
        "var.auth_mode != \"oauth\" || var.auth_type != \"\"",
        &["auth_mode = \"oauth\" with auth_type = \"AWS_IAM\" is not refused"],
    ),
    (
        "secrets granted on every secret",
        MODULE_MAIN,
        "resources = var.secret_arns",
        "resources = [\"*\"]",
        &["grants secretsmanager:GetSecretValue on a wildcard resource"],
    ),
    (
        "function created before the secrets grant",
        MODULE_MAIN,
        ", aws_iam_role_policy.secrets]",
        "]",
        &["does not depend on aws_iam_role_policy.secrets"],
    ),
    (
        "CORS origins not mirrored into MCP_LAMBDA_ALLOW_ORIGIN",
        MODULE_MAIN,
        "MCP_LAMBDA_ALLOW_ORIGIN = local.use_cors ? join(\",\", var.cors_allow_origins) : null",
        "MCP_LAMBDA_ALLOW_ORIGIN = local.use_cors ? \"*\" : null",
        &["does not mirror aws_lambda_function_url.this cors allow_origins"],
    ),
    (
        "AWS_LAMBDA_MAX_CONCURRENCY set by hand",
        MODULE_MAIN,
        "    MCP_LAMBDA_LIFECYCLE     = var.child_lifecycle\n",
        "    MCP_LAMBDA_LIFECYCLE     = var.child_lifecycle\n    AWS_LAMBDA_MAX_CONCURRENCY = tostring(var.managed_instances_max_concurrency)\n",
        &["AWS_LAMBDA_MAX_CONCURRENCY is set in the function's environment"],
    ),
    (
        "Managed Instances concurrency unbounded",
        MODULE_VARS,
        "var.managed_instances_max_concurrency >= 1 && var.managed_instances_max_concurrency <= 1600 && ",
        "var.managed_instances_max_concurrency >= 1 && ",
        &["var.managed_instances_max_concurrency accepts [1601]"],
    ),
    (
        "Managed Instances below 2 GB",
        MODULE_VARS,
        "&& var.memory_size >= 2048)",
        "&& var.memory_size >= 128)",
        &["memory_size = 1024 is not refused on Lambda Managed Instances"],
    ),
    (
        "capacity provider subnets without security groups",
        MODULE_VARS,
        "(length(var.capacity_provider_subnet_ids) > 0) == (length(var.capacity_provider_security_group_ids) > 0)",
        "length(var.capacity_provider_security_group_ids) == 0 || length(var.capacity_provider_subnet_ids) > 0",
        &["capacity_provider_subnet_ids without capacity_provider_security_group_ids"],
    ),
    (
        "snapshot path not held to absolute paths",
        MODULE_VARS,
        "startswith(coalesce(var.snapshot_file, \"/\"), \"/\")",
        "length(coalesce(var.snapshot_file, \"/\")) > 0",
        &["snapshot_file accepts ['mcp-snapshot.json'"],
    ),
    (
        "snapshot not passed to the function",
        MODULE_MAIN,
        "    MCP_LAMBDA_SNAPSHOT      = var.snapshot_file == \"\" ? null : var.snapshot_file\n",
        "",
        &["MCP_LAMBDA_SNAPSHOT is not set in the function's environment"],
    ),
];

#[test]
fn terraform_validation_catches_planted_mistakes() {
    let scratch = Scratch::new("terraform");
    let real = root().join("terraform");
    let mut targets = Vec::new();
    for (i, (_, file, old, new, _)) in TF_PLANTS.iter().enumerate() {
        let copy = scratch.0.join(format!("terraform-{i}"));
        copy_dir(&real, &copy);
        plant(&copy.join(file), old, new);
        targets.push(path_str(&copy));
    }
    let Some(r) = validate("terraform", &targets) else {
        return;
    };
    assert!(!r.ok, "planted mistakes must fail the run:\n{}", r.all);
    for ((what, _, _, _, needles), target) in TF_PLANTS.iter().zip(&targets) {
        r.assert_caught(what, target, needles);
    }
}

/// A copy of `cdk/` without its `node_modules` (linked instead: 280 MB) and `cdk.out`.
fn copy_cdk(to: &Path) {
    let from = root().join("cdk");
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" || name == "cdk.out" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
    std::os::unix::fs::symlink(from.join("node_modules"), to.join("node_modules")).unwrap();
}

#[test]
fn cdk_app_synthesizes_and_validates() {
    if mcp_lambda_tests::cdk_modules().is_none() {
        return;
    }
    let Some(r) = validate("cdk", &["cdk".into()]) else {
        return;
    };
    r.assert_clean("cdk");
    assert!(r.ok, "{}", r.all);
}

const CONSTRUCT: &str = "lib/mcp-lambda.ts";

/// (what, file under cdk/, old text, new text, what a finding must name)
const CDK_PLANTS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "invalid InvokeMode",
        CONSTRUCT,
        "invokeMode === 'RESPONSE_STREAM' ? lambda.InvokeMode.RESPONSE_STREAM",
        "invokeMode === 'RESPONSE_STREAM' ? ('STREAMING' as lambda.InvokeMode)",
        &["cfn-lint: E3030 'STREAMING'", "does not mirror"],
    ),
    (
        "wildcard IAM action",
        CONSTRUCT,
        "actions: [...SESSION_STORE_ACTIONS]",
        "actions: ['dynamodb:*']",
        &["wildcard IAM action 'dynamodb:*'"],
    ),
    (
        "grantReadWriteData instead of the store's four actions",
        CONSTRUCT,
        "role.addToPolicy(\n        new iam.PolicyStatement({ actions: [...SESSION_STORE_ACTIONS], resources: [this.table.tableArn] }),\n      );",
        "this.table.grantReadWriteData(role);",
        &["dynamodb:BatchGetItem is not one of the session store's actions"],
    ),
    (
        "log group kept forever",
        CONSTRUCT,
        "retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,",
        "retention: logs.RetentionDays.INFINITE,",
        &["log group has no RetentionInDays"],
    ),
    (
        "type error (tsx alone would run it)",
        CONSTRUCT,
        "const invokeMode = props.invokeMode ?? 'BUFFERED';",
        "const invokeMode: InvokeMode = props.invokeMode ?? 'STREAMING';",
        &["tsc: lib/mcp-lambda.ts", "TS2322"],
    ),
    (
        "OAuth behind an AWS_IAM Function URL",
        CONSTRUCT,
        "const authType = props.authType ?? (props.oauth ? 'NONE' : 'AWS_IAM');",
        "const authType = props.authType ?? 'AWS_IAM';",
        &["OAuth mode (MCP_LAMBDA_AUTH oauth) with AuthType AWS_IAM"],
    ),
    (
        "secrets granted on every secret",
        CONSTRUCT,
        "resources: [...secrets.secretArns]",
        "resources: ['*']",
        &["secretsmanager:GetSecretValue granted on a wildcard resource '*'"],
    ),
    (
        "CORS without the session id exposed",
        CONSTRUCT,
        "export const CORS_EXPOSE_HEADERS = ['mcp-session-id', 'mcp-protocol-version', 'www-authenticate'] as const;",
        "export const CORS_EXPOSE_HEADERS = ['mcp-protocol-version', 'www-authenticate'] as const;",
        &["Cors.ExposeHeaders lacks ['mcp-session-id']"],
    ),
    (
        "AWS_LAMBDA_MAX_CONCURRENCY set by hand",
        CONSTRUCT,
        "      MCP_LAMBDA_LIFECYCLE: props.lifecycle ?? 'reuse',\n",
        "      MCP_LAMBDA_LIFECYCLE: props.lifecycle ?? 'reuse',\n      AWS_LAMBDA_MAX_CONCURRENCY: '64',\n",
        &["AWS_LAMBDA_MAX_CONCURRENCY is set in Environment"],
    ),
    (
        "Managed Instances on the ordinary memory (below 2 GB)",
        CONSTRUCT,
        "memorySize: props.memorySize ?? (managed ? 2048 : 512),",
        "memorySize: props.memorySize ?? 512,",
        &["MemorySize on Lambda Managed Instances is 512, not within 2048..32768"],
    ),
    (
        "snapshotFile not passed to the function",
        CONSTRUCT,
        "      ...(props.snapshotFile ? { MCP_LAMBDA_SNAPSHOT: props.snapshotFile } : {}),\n",
        "",
        &["snapshotFile=/var/task/mcp-snapshot.json did not reach MCP_LAMBDA_SNAPSHOT"],
    ),
];

#[test]
fn cdk_validation_catches_planted_mistakes() {
    if mcp_lambda_tests::cdk_modules().is_none() {
        return;
    }
    let scratch = Scratch::new("cdk");
    // The configuration with the table, RESPONSE_STREAM and Lambda Managed Instances shows every
    // plant (one synth each).
    let mut targets = vec!["--config".to_string(), "full".to_string()];
    for (i, (_, file, old, new, _)) in CDK_PLANTS.iter().enumerate() {
        let copy = scratch.0.join(format!("cdk-{i}"));
        copy_cdk(&copy);
        plant(&copy.join(file), old, new);
        targets.push(path_str(&copy));
    }
    let Some(r) = validate("cdk", &targets) else {
        return;
    };
    assert!(!r.ok, "planted mistakes must fail the run:\n{}", r.all);
    for ((what, _, _, _, needles), target) in CDK_PLANTS.iter().zip(&targets[2..]) {
        r.assert_caught(what, target, needles);
    }
}
