//! Secrets for the child: `--env NAME=ssm:/path` and `secretsmanager:ID[#key]` (also in an
//! `mcpServers` file's `env`) resolved at start-up from SSM Parameter Store and Secrets Manager
//! (moto, a wire-compatible server, behind real SigV4-signed calls), in `serve` and during a
//! Lambda function's INIT; a missing secret stops start-up with one line naming it; no value
//! ever appears in a log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use mcp_lambda_tests::{Mcp, Moto, Server, bin, run};
use serde_json::json;

/// moto with `/app/key` (SecureString) and secret `db` (a JSON object).
fn seeded() -> Option<Moto> {
    let moto = Moto::start()?;
    moto.call(
        "ssm",
        "AmazonSSM.PutParameter",
        &json!({"Name": "/app/key", "Value": "ssm-value-31337", "Type": "SecureString"}),
    );
    moto.call(
        "secretsmanager",
        "secretsmanager.CreateSecret",
        &json!({"Name": "db", "SecretString": r#"{"password":"sm-value-4242","port":5432}"#}),
    );
    Some(moto)
}

fn example() -> String {
    bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned()
}

fn env_of(m: &mut Mcp, name: &str) -> String {
    m.call_text("env", json!({"name": name}))
}

#[test]
fn references_reach_the_child_as_values_and_never_the_log() {
    let Some(moto) = seeded() else { return };
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = std::env::temp_dir().join(format!("mcp-lambda-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("servers.json");
    std::fs::write(
        &file,
        json!({"mcpServers": {"ex": {"command": example(),
            "env": {"FROM_FILE": "secretsmanager:db#port", "PLAIN": "ssm-not-a-reference"}}}})
        .to_string(),
    )
    .unwrap();
    let s = Server::start(
        &[
            "--config",
            file.to_str().unwrap(),
            "--env",
            "API_KEY=ssm:/app/key",
            "--env",
            "DB_PASSWORD=secretsmanager:db#password",
            "--env",
            "DB=secretsmanager:db",
        ],
        &env,
    );
    let mut m = Mcp::connect(&s.url, "2025-06-18", "secrets");
    assert_eq!(env_of(&mut m, "API_KEY"), "ssm-value-31337");
    assert_eq!(env_of(&mut m, "DB_PASSWORD"), "sm-value-4242");
    assert_eq!(env_of(&mut m, "FROM_FILE"), "5432");
    assert!(env_of(&mut m, "DB").contains("sm-value-4242"));
    assert_eq!(env_of(&mut m, "PLAIN"), "ssm-not-a-reference");
    let log = s.log();
    assert!(log.contains("secrets resolved"), "{log}");
    for secret in ["ssm-value-31337", "sm-value-4242"] {
        assert!(!log.contains(secret), "{secret} was logged:\n{log}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_secret_stops_start_up_with_one_line() {
    let Some(moto) = seeded() else { return };
    for (reference, says) in [
        ("ssm:/app/missing", "ParameterNotFound"),
        ("secretsmanager:nope", "ResourceNotFoundException"),
        ("secretsmanager:db#user", "no key \"user\""),
    ] {
        let mut cmd = Command::new(bin("mcp-lambda"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--env"])
            .arg(format!("TOKEN={reference}"))
            .arg("--")
            .arg(example());
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        let (ok, _out, err) = run(&mut cmd, Duration::from_secs(30));
        assert!(!ok, "{reference} started");
        let line = err
            .lines()
            .find(|l| l.contains("TOKEN="))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains(reference), "{line}");
        assert!(line.contains(says), "{line}");
        assert!(!err.contains("sm-value-4242"), "{err}");
    }
}

#[test]
fn a_function_resolves_its_secrets_during_init() {
    let Some(cl) = mcp_lambda_tests::cargo_lambda() else {
        return;
    };
    let Some(moto) = seeded() else { return };
    let emu = mcp_lambda_tests::Emulator::start(&cl);
    let mut env: Vec<(&str, String)> = moto.env();
    env.push((
        "MCP_LAMBDA_ENV",
        "API_KEY=ssm:/app/key,DB_PASSWORD=secretsmanager:db#password".into(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let f = mcp_lambda_tests::LambdaRuntime::start(&emu.runtime_api(), &env);
    let url = emu.function_url("/mcp");
    let mut m = Mcp::stateless(&url, "2025-06-18");
    assert_eq!(env_of(&mut m, "API_KEY"), "ssm-value-31337");
    assert_eq!(env_of(&mut m, "DB_PASSWORD"), "sm-value-4242");
    let log = f.log();
    assert!(log.contains("secrets resolved"), "{log}");
    assert!(
        !log.contains("ssm-value-31337") && !log.contains("sm-value-4242"),
        "{log}"
    );
}
