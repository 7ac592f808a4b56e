//! The official MCP conformance suites (npm `@modelcontextprotocol/conformance`, pinned in
//! `tests/conformance/package.json`) against the real binary: `mcp-lambda serve` in the default
//! `reuse` lifecycle, wrapping a stdio fixture that provides every tool, resource and prompt the
//! server scenarios use: `tests/conformance/fixture-server.mjs` (TypeScript SDK 1.x, an
//! initialize-era server, so the gateway translates for 2026-07-28 clients) or
//! `tests/conformance/fixture_modern.py` (Python SDK 2.x, a 2026-07-28 server: it answers the
//! gateway's `server/discover` probe, and 2026-07-28 traffic passes through unchanged).
//!
//! - `legacy`: conformance 0.1.16, all its active server scenarios (eras 2025-06-18 and
//!   2025-11-25, initialize handshake).
//! - `modern`: conformance 0.2.0-alpha.12 with `--requirements 2026-07-28`: exactly the server
//!   scenarios spec 2026-07-28 requires, as frozen at its release, run at the 2026-07-28 wire.
//!   (`--spec-version 2026-07-28` would filter the default "active" suite, which leaves out every
//!   scenario introduced by 2026-07-28 — server-stateless, caching, input-required-result-*;
//!   `--suite all --spec-version 2026-07-28` would follow whatever the suite adds.) The
//!   requirement set also runs the extension and pending scenarios (tasks, SEP-2243 headers,
//!   JSON Schema 2020-12) for visibility; the suite does not score them and neither do we.
//! - `modern-child`: the same `--requirements 2026-07-28` run against the 2026-07-28 fixture,
//!   which answers the InputRequiredResult scenarios itself; the test also checks from the
//!   gateway's log that the probe found a 2026-07-28 child.
//!
//! Each suite runs against its own server with its baseline
//! (`tests/conformance/expected-failures-<suite>.yaml`); the suite exits non-zero on a failure
//! not in the baseline and on a baseline entry that now passes, and so does the test. The test
//! prints the suite's summary and `conformance <suite>: N passed, N failed (M expected)`,
//! counted per scenario from the suite's `checks.json` files: a scenario fails when any check is
//! FAILURE or WARNING (the rule the suites apply to baselines) or it left no checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mcp_lambda_tests::{
    Server, conformance_dir, conformance_module, fixture_cmd, fixture_modern_cmd, node22, run,
};
use serde_json::Value;

/// One conformance package and how it is run.
struct Suite {
    name: &'static str,
    /// The npm alias in `tests/conformance/package.json`.
    package: &'static str,
    args: &'static [&'static str],
    /// In `tests/conformance`.
    baseline: &'static str,
    /// The requirement set (in the package) whose `server:` list is scored; `None`: all are.
    requirements: Option<&'static str>,
    /// The server behind the gateway.
    child: Child,
}

/// The stdio fixture `mcp-lambda serve` wraps.
#[derive(Clone, Copy, PartialEq)]
enum Child {
    /// `fixture-server.mjs` under Node 22: initialize era.
    Legacy,
    /// `fixture_modern.py` in the Python client venv: 2026-07-28.
    Modern,
}

/// What the gateway logs when its `server/discover` probe finds a 2026-07-28 child.
const MODERN_CHILD_LOG: &str = "MCP server speaks protocol 2026-07-28";

/// A whole suite normally takes a few seconds; this only bounds a hang.
const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn legacy_suite() {
    check(&Suite {
        name: "legacy",
        package: "conformance-legacy",
        args: &[],
        baseline: "expected-failures-legacy.yaml",
        requirements: None,
        child: Child::Legacy,
    });
}

#[test]
fn modern_suite_requirements_2026_07_28() {
    check(&Suite {
        name: "modern",
        package: "conformance-modern",
        args: &["--requirements", "2026-07-28"],
        baseline: "expected-failures-modern.yaml",
        requirements: Some("requirements/2026-07-28.yaml"),
        child: Child::Legacy,
    });
}

#[test]
fn modern_suite_against_a_2026_07_28_child() {
    check(&Suite {
        name: "modern-child",
        package: "conformance-modern",
        args: &["--requirements", "2026-07-28"],
        baseline: "expected-failures-modern-child.yaml",
        requirements: Some("requirements/2026-07-28.yaml"),
        child: Child::Modern,
    });
}

fn check(suite: &Suite) {
    let Some(node) = node22() else { return };
    let Some(cli) = conformance_module(&format!("{}/dist/index.js", suite.package)) else {
        return;
    };
    let child = match suite.child {
        Child::Legacy => fixture_cmd(),
        Child::Modern => fixture_modern_cmd(),
    };
    let Some(child) = child else { return };
    let dir = conformance_dir();
    let mut args = vec!["--"];
    args.extend(child.iter().map(String::as_str));
    let server = Server::start(&args, &[]);

    let out_dir = std::env::temp_dir().join(format!(
        "mcp-lambda-conformance-{}-{}",
        suite.name,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&out_dir);
    let baseline = dir.join(suite.baseline);
    let start = Instant::now();
    let (ok, stdout, stderr) = run(
        Command::new(&node)
            .current_dir(&dir)
            .arg(&cli)
            .args(["server", "--url", &server.url])
            .args(suite.args)
            .arg("--expected-failures")
            .arg(&baseline)
            .arg("-o")
            .arg(&out_dir),
        SUITE_TIMEOUT,
    );
    let took = start.elapsed();

    let summary = stdout
        .find("=== SUMMARY ===")
        .map_or(stdout.as_str(), |i| &stdout[i..]);
    println!("{summary}");

    let results = scenario_results(&out_dir);
    let expected = yaml_list(&baseline, "server");
    let scored = suite.requirements.map(|r| {
        let set = dir.join("node_modules").join(suite.package).join(r);
        yaml_list(&set, "server")
    });
    let is_scored = |s: &str| {
        scored
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == s))
    };
    let count = |scored_part: bool| {
        let (mut passed, mut failed, mut known) = (0, 0, 0);
        for (scenario, pass) in results.iter().filter(|(s, _)| is_scored(s) == scored_part) {
            if *pass {
                passed += 1;
            } else {
                failed += 1;
                known += usize::from(expected.iter().any(|e| e == scenario));
            }
        }
        (passed, failed, known)
    };
    let (passed, failed, known) = count(true);
    println!(
        "conformance {}: {passed} passed, {failed} failed ({known} expected) in {:.1} s",
        suite.name,
        took.as_secs_f64()
    );
    if scored.is_some() {
        let (p, f, _) = count(false);
        println!(
            "conformance {} not scored (extensions, pending): {p} passed, {f} failed",
            suite.name
        );
    }

    let log = server.log();
    let log_tail: Vec<&str> = log.lines().rev().take(40).collect();
    let context = || {
        format!(
            "conformance {} output (results kept in {}):\n{stdout}\n{stderr}\n\
             mcp-lambda log (last lines):\n{}",
            suite.name,
            out_dir.display(),
            log_tail
                .iter()
                .rev()
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    assert!(
        !results.is_empty(),
        "no scenario results in {}\n{}",
        out_dir.display(),
        context()
    );
    if suite.child == Child::Modern {
        assert!(
            log.contains(MODERN_CHILD_LOG),
            "the gateway did not take the fixture for a 2026-07-28 server (no {MODERN_CHILD_LOG:?} \
             in its log): this run measured translation, not pass-through\n{}",
            context()
        );
    }
    if let Some(list) = &scored {
        let missing: Vec<&String> = list.iter().filter(|s| !results.contains_key(*s)).collect();
        assert!(
            missing.is_empty(),
            "required scenarios that did not run: {missing:?}\n{}",
            context()
        );
    }
    assert!(
        ok,
        "the {} conformance suite failed: a scenario failed that {} does not list, or an entry \
         there now passes (remove it)\n{}",
        suite.name,
        baseline.display(),
        context()
    );
    let _ = fs::remove_dir_all(&out_dir);
}

/// Scenario name → passed, from the `-o` directory: one `server-<scenario>-<time>/checks.json`
/// per scenario.
fn scenario_results(out_dir: &Path) -> BTreeMap<String, bool> {
    let Ok(entries) = fs::read_dir(out_dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let scenario = scenario_of(&name)?.to_string();
            // A scenario that crashed leaves its directory without checks: a failure.
            let checks: Value = fs::read_to_string(e.path().join("checks.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            let passed = checks.as_array().is_some_and(|checks| {
                checks
                    .iter()
                    .all(|c| !matches!(c["status"].as_str(), Some("FAILURE" | "WARNING")))
            });
            Some((scenario, passed))
        })
        .collect()
}

/// `server-<scenario>-<ISO time with ':' and '.' as '-'>` → `<scenario>`.
fn scenario_of(dir_name: &str) -> Option<&str> {
    let rest = dir_name.strip_prefix("server-")?;
    let cut = rest.len().checked_sub("-2026-07-28T10-00-00-000Z".len())?;
    (rest.ends_with('Z') && rest.as_bytes()[cut] == b'-').then(|| &rest[..cut])
}

/// The scenario names listed under the top-level `key:` of a plain YAML file (`- name` items,
/// `#` comments; a `scenario:check-id` entry counts for its scenario).
fn yaml_list(path: &Path, key: &str) -> Vec<String> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let header = format!("{key}:");
    let mut inside = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let content = line.split('#').next().unwrap_or("").trim_end();
        if content.trim().is_empty() {
            continue;
        }
        if !content.starts_with([' ', '-']) {
            inside = content == header;
        } else if let Some(item) = content.trim().strip_prefix("- ").filter(|_| inside) {
            let item = item.trim().trim_matches(['"', '\'']);
            names.push(item.split(':').next().unwrap_or(item).to_string());
        }
    }
    names
}

#[test]
fn result_directory_names() {
    assert_eq!(
        scenario_of("server-tools-list-2026-11-24T01-12-31-861Z"),
        Some("tools-list")
    );
    assert_eq!(
        scenario_of("server-input-required-result-multi-round-2026-11-24T01-13-06-458Z"),
        Some("input-required-result-multi-round")
    );
    assert_eq!(
        scenario_of("client-initialize-2026-11-24T01-12-31-861Z"),
        None
    );
    assert_eq!(scenario_of("server-x"), None);
}
