//! npm `oidc-provider` (a certified OpenID Provider) as the tests' authorization server
//! (`tests/oauth/provider.mjs`), with its token-forging side server for refusal tests.
//!
//! Contract: [`AuthServer::start`] runs the provider for `resources` (the audiences it issues
//! JWT access tokens for) and `scopes`, returns once it printed its addresses, and kills it
//! when dropped (it also exits when our end of its stdin closes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::paths::{bin, node, root};
use crate::process::{Log, ProcessGuard, collect_lines, free_port};
use crate::serve::Server;

/// A running authorization server.
pub struct AuthServer {
    _guard: ProcessGuard,
    /// Its issuer identifier (`http://127.0.0.1:PORT`).
    pub issuer: String,
    /// The side server that forges tokens (`POST /mint`) and counts key fetches (`GET /stats`).
    pub mint: String,
    /// Its stderr.
    pub log: Log,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
}

impl AuthServer {
    /// Starts the provider; `None` (skip) without Node, except under `CI=true` (panic).
    pub fn start(resources: &[&str], scopes: &str) -> Option<AuthServer> {
        let node = node()?;
        let mut cmd = Command::new(node);
        cmd.arg(root().join("tests/oauth/provider.mjs"))
            .env("PORT", "0")
            .env("RESOURCES", resources.join(","))
            .env("SCOPES", scopes)
            .env("EXIT_ON_STDIN_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ProcessGuard::spawn("oidc-provider", &mut cmd)
            .unwrap_or_else(|e| panic!("{e}"))
            .kill_on_drop();
        let log = Log::new();
        collect_lines(
            guard.child().stderr.take().unwrap(),
            "oidc-provider",
            None,
            log.clone(),
        );
        let mut line = String::new();
        let mut out = BufReader::new(guard.child().stdout.take().unwrap());
        out.read_line(&mut line)
            .unwrap_or_else(|e| panic!("oidc-provider: {e}"));
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("oidc-provider did not start ({e}): {line}\n{}", log.text())
        });
        Some(AuthServer {
            issuer: v["issuer"].as_str().unwrap().to_owned(),
            mint: v["mint"].as_str().unwrap().to_owned(),
            _guard: guard,
            log,
        })
    }

    /// A token forged by the side server: `mode` `sign` (the provider's own key), `none`,
    /// `hs256-public`, `bad-signature` or `foreign-key`; `claims` used as they are.
    pub fn mint(&self, claims: Value, mode: &str) -> String {
        agent()
            .post(&format!("{}/mint", self.mint))
            .send_json(json!({"claims": claims, "mode": mode}))
            .unwrap_or_else(|e| panic!("mint: {e}"))
            .into_string()
            .unwrap()
    }

    /// An access token from the provider's token endpoint (client credentials of the static
    /// client) for `resource` with `scope`.
    pub fn client_credentials(&self, resource: &str, scope: &str) -> String {
        let v: Value = agent()
            .post(&format!("{}/token", self.issuer))
            .set("authorization", "Basic dGVzdGVyOnRlc3Rlci1zZWNyZXQ=")
            .send_form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
            ])
            .unwrap_or_else(|e| panic!("token endpoint: {e}"))
            .into_json()
            .unwrap();
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {v}"))
            .to_owned()
    }

    /// How often the provider's key set and metadata were fetched.
    pub fn stats(&self) -> Value {
        agent()
            .get(&format!("{}/stats", self.mint))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    }

    /// Makes the key set and metadata answer 503 (`false`) or work again (`true`).
    pub fn keys_up(&self, up: bool) {
        let path = if up { "start-keys" } else { "stop-keys" };
        agent()
            .post(&format!("{}/{path}", self.mint))
            .call()
            .unwrap();
    }
}

/// `serve --auth oauth` on a fresh port wrapping the example server, every request needing
/// scope `mcp:tools` (`extra` arguments added before the command), with an authorization
/// server for its resource and for `others` (scopes `mcp:tools files:read`). Returns the
/// provider, the server and its resource URI; `None` (skip) without Node, except under
/// `CI=true` (panic).
pub fn oauth_serve(others: &[&str], extra: &[&str]) -> Option<(AuthServer, Server, String)> {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let mut resources = vec![resource.as_str()];
    resources.extend_from_slice(others);
    let auth = AuthServer::start(&resources, "mcp:tools files:read")?;
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let mut args = vec![
        "--auth",
        "oauth",
        "--oauth-issuer",
        &auth.issuer,
        "--oauth-scopes",
        "mcp:tools",
    ];
    args.extend_from_slice(extra);
    args.extend(["--", &example]);
    let s = Server::start_on(&format!("127.0.0.1:{port}"), &args, &[]);
    Some((auth, s, resource))
}
