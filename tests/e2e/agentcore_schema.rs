//! `mcp-lambda agentcore-schema -- CMD`: the Bedrock AgentCore Gateway tool schema of real
//! servers (npm server-everything, PyPI mcp-server-time), every schema node reduced to what an
//! AgentCore `SchemaDefinition` accepts, the changes listed on stderr.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use mcp_lambda_tests::{bin, everything_cmd, run, time_cmd};
use serde_json::Value;

const ALLOWED: &[&str] = &["type", "description", "properties", "items", "required"];
const TYPES: &[&str] = &["string", "number", "object", "array", "boolean", "integer"];

fn assert_clean(schema: &Value) {
    let obj = schema.as_object().unwrap_or_else(|| panic!("{schema}"));
    for k in obj.keys() {
        assert!(ALLOWED.contains(&k.as_str()), "{k} in {schema}");
    }
    assert!(TYPES.contains(&obj["type"].as_str().unwrap()), "{schema}");
    if let Some(Value::Object(p)) = obj.get("properties") {
        p.values().for_each(assert_clean);
    }
    if let Some(items) = obj.get("items") {
        assert_clean(items);
    }
}

fn schema_of(cmd: &[String]) -> (Vec<Value>, String) {
    let (ok, out, err) = run(
        Command::new(bin("mcp-lambda"))
            .arg("agentcore-schema")
            .arg("--")
            .args(cmd),
        Duration::from_secs(60),
    );
    assert!(ok, "agentcore-schema failed:\n{out}\n{err}");
    let defs: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (defs, err)
}

#[test]
fn real_servers_schemas_fit_agentcore() {
    for cmd in [everything_cmd(), time_cmd()].into_iter().flatten() {
        let (defs, err) = schema_of(&cmd);
        assert!(!defs.is_empty(), "{cmd:?}");
        for d in &defs {
            assert!(d["name"].is_string() && d["description"].is_string(), "{d}");
            assert_eq!(d["inputSchema"]["type"], "object", "{d}");
            assert_clean(&d["inputSchema"]);
            if let Some(o) = d.get("outputSchema") {
                assert_clean(o);
            }
        }
        if cmd[0].ends_with("node") {
            let echo = defs.iter().find(|d| d["name"] == "echo").unwrap();
            assert_eq!(echo["inputSchema"]["required"][0], "message");
            // server-everything's zod schemas carry `$schema`: reported as dropped.
            assert!(err.contains("echo: inputSchema: dropped $schema"), "{err}");
        } else {
            assert!(
                defs.iter().any(|d| d["name"] == "get_current_time"),
                "{defs:?}"
            );
        }
    }
}

#[test]
fn a_broken_server_is_a_clear_failure() {
    let (ok, out, err) = run(
        Command::new(bin("mcp-lambda")).args(["agentcore-schema", "--", "/nonexistent/mcp-server"]),
        Duration::from_secs(30),
    );
    assert!(!ok, "{out}");
    assert!(out.trim().is_empty(), "{out}");
    assert!(err.contains("tools/list failed"), "{err}");
}
