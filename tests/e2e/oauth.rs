//! `--auth oauth` end to end with a real authorization server (npm `oidc-provider`, a certified
//! OpenID Provider, issuing RS256 JWT access tokens bound to our resource) and real clients:
//! the TypeScript SDK's and the Python `mcp` client's OAuth flows (401 → protected resource
//! metadata → authorization server metadata → dynamic registration → PKCE authorization code,
//! the login and consent driven over HTTP → token → calls) against `serve`, and under the
//! Lambda emulator (Function URL). Then every refusal with the exact challenge, sessions bound
//! to the token's principal, and an issuer that is down failing closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_lambda_tests::{
    AuthServer, Emulator, LambdaRuntime, Mcp, Server, bin, cargo_lambda, http, node, post,
    py_oauth, python_client, ts_oauth,
};
use serde_json::{Value, json};

const SCOPE: &str = "mcp:tools";

/// An authorization server for this endpoint's resource (and another resource, for tokens
/// minted elsewhere) and `serve --auth oauth` on that resource's port, wrapping the example server.
fn secured(extra: &[&str]) -> Option<(AuthServer, Server, String)> {
    mcp_lambda_tests::oauth_serve(&[OTHER], extra)
}

const OTHER: &str = "http://127.0.0.1:9/other";

fn metadata_url(resource: &str) -> String {
    resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"oauth-e2e","version":"1"}}}"#;

#[test]
fn real_clients_sign_in_and_call_tools() {
    let Some((auth, s, resource)) = secured(&[]) else {
        return;
    };
    if let Some(node) = node() {
        let v = ts_oauth(&node, &s.url, "echo", &json!({"message": "ts"}));
        assert_eq!(v["result"]["content"][0]["text"], "ts", "{v}");
        assert!(v["tools"].as_array().unwrap().contains(&json!("echo")));
        let steps = v["steps"].as_array().unwrap();
        for step in [
            "401",
            "prm",
            "as-metadata",
            "registered",
            "authorized",
            "token",
        ] {
            assert!(steps.contains(&json!(step)), "{step}: {v}");
        }
        assert_eq!(v["authorization"]["resource"], resource.as_str(), "{v}");
    }
    if let Some(py) = python_client() {
        for mode in ["legacy", "auto"] {
            let v = py_oauth(&py, &s.url, mode, "echo", &json!({"message": mode}));
            assert_eq!(v["result"]["content"][0]["text"], mode, "{v}");
            assert!(
                v["steps"].as_array().unwrap().contains(&json!("token")),
                "{v}"
            );
        }
    }
    // The metadata both clients started from.
    let m = http("GET", &metadata_url(&resource), &[], None);
    assert_eq!(m.status, 200);
    assert_eq!(
        m.json(),
        json!({"resource": resource, "authorization_servers": [auth.issuer],
            "scopes_supported": [SCOPE], "bearer_methods_supported": ["header"]})
    );
    assert_eq!(m.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        http(
            "GET",
            &format!("{}/.well-known/oauth-protected-resource", s.base),
            &[],
            None
        )
        .json()["resource"],
        resource.as_str()
    );
    // The token never reached the server's log.
    assert!(!s.log().contains("eyJ"), "a token was logged");
}

#[test]
fn every_refusal_carries_the_challenge() {
    let Some((auth, s, resource)) = secured(&[]) else {
        return;
    };
    let md = metadata_url(&resource);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |over: Value| {
        let mut c = json!({"iss": auth.issuer, "sub": "mallory", "aud": resource,
            "exp": now + 600, "iat": now, "scope": SCOPE});
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    // No token.
    let r = post(&s.url, &[], INIT);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(r#"Bearer resource_metadata="{md}", scope="{SCOPE}""#)
    );
    assert_eq!(r.json()["error"]["code"], -32600);
    // A good token from the provider's token endpoint passes.
    let good = auth.client_credentials(&resource, SCOPE);
    assert_eq!(
        post(&s.url, &[("authorization", &bearer(&good))], INIT).status,
        200
    );
    let before = auth.stats()["jwks_requests"].as_u64().unwrap();
    for (token, says) in [
        (
            auth.mint(claims(json!({"exp": now - 300})), "sign"),
            "expired",
        ),
        (
            auth.mint(claims(json!({"nbf": now + 600})), "sign"),
            "not valid yet",
        ),
        (
            auth.mint(claims(json!({"iss": "http://127.0.0.1:1"})), "sign"),
            "issuer is not trusted",
        ),
        // A real token of the same provider, minted for another resource.
        (
            auth.client_credentials(OTHER, SCOPE),
            "not issued for this resource",
        ),
        (
            auth.mint(claims(json!({})), "bad-signature"),
            "signature does not verify",
        ),
        (auth.mint(claims(json!({})), "none"), "malformed"),
        (auth.mint(claims(json!({})), "hs256-public"), "not accepted"),
        (auth.mint(claims(json!({})), "foreign-key"), "no key"),
        (auth.mint(claims(json!({"sub": null})), "sign"), "sub"),
    ] {
        let r = post(&s.url, &[("authorization", &bearer(&token))], INIT);
        assert_eq!(r.status, 401, "{says}: {r:?}");
        let c = r.header("www-authenticate").unwrap();
        assert!(
            c.starts_with(&format!(r#"Bearer resource_metadata="{md}", scope="{SCOPE}", error="invalid_token", error_description=""#)),
            "{says}: {c}"
        );
        assert!(c.contains(says), "{says}: {c}");
    }
    // The unknown kid made one refetch at most (and the rest none).
    let after = auth.stats()["jwks_requests"].as_u64().unwrap();
    assert!(after - before <= 1, "{before} -> {after}");
    // In the query string: refused even alongside a good header.
    let r = post(
        &format!("{}?access_token={good}", s.url),
        &[("authorization", &bearer(&good))],
        INIT,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
    // A valid token without the required scope: 403 naming it.
    let narrow = auth.client_credentials(&resource, "files:read");
    let r = post(&s.url, &[("authorization", &bearer(&narrow))], INIT);
    assert_eq!(r.status, 403, "{r:?}");
    let c = r.header("www-authenticate").unwrap();
    assert!(c.contains(r#"error="insufficient_scope""#), "{c}");
    assert!(c.ends_with(&format!(r#"scope="{SCOPE}""#)), "{c}");
    // A browser client can read the challenge.
    let r = post(&s.url, &[("origin", "http://localhost:6274")], INIT);
    assert_eq!(r.status, 401);
    assert!(
        r.header("access-control-expose-headers")
            .unwrap()
            .contains("www-authenticate")
    );
    // A foreign Origin is refused before any credential is looked at.
    let r = post(&s.url, &[("origin", "https://evil.example.com")], INIT);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.header("www-authenticate").is_none());
    // A preflight needs no token.
    let r = http(
        "OPTIONS",
        &s.url,
        &[
            ("origin", "http://localhost:6274"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(r.status, 204);
    assert!(!s.log().contains(&good), "a token was logged");
}

#[test]
fn sessions_belong_to_the_tokens_principal() {
    let Some((auth, s, resource)) = secured(&[]) else {
        return;
    };
    let alice = auth.mint(
        json!({"iss": auth.issuer, "sub": "alice", "aud": resource, "scope": SCOPE,
            "exp": 4_000_000_000u64}),
        "sign",
    );
    let bob = auth.mint(
        json!({"iss": auth.issuer, "sub": "bob", "aud": resource, "scope": SCOPE,
            "exp": 4_000_000_000u64}),
        "sign",
    );
    let r = post(&s.url, &[("authorization", &bearer(&alice))], INIT);
    assert_eq!(r.status, 200);
    let session = r.header("mcp-session-id").unwrap().to_owned();
    let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
    let with = |t: &str| {
        post(
            &s.url,
            &[
                ("authorization", &bearer(t)),
                ("mcp-session-id", &session),
                ("mcp-protocol-version", "2025-06-18"),
            ],
            ping,
        )
    };
    assert_eq!(with(&alice).status, 200);
    assert_eq!(with(&bob).status, 404, "another principal's session");
    let _ = Mcp::stateless(&s.url, "2025-06-18");
}

#[test]
fn an_issuer_that_is_down_fails_closed_and_recovers() {
    let Some((auth, s, resource)) = secured(&[]) else {
        return;
    };
    let good = auth.client_credentials(&resource, SCOPE);
    // Keys known: the issuer going down does not matter.
    assert_eq!(
        post(&s.url, &[("authorization", &bearer(&good))], INIT).status,
        200
    );
    auth.keys_up(false);
    assert_eq!(
        post(&s.url, &[("authorization", &bearer(&good))], INIT).status,
        200
    );
    drop(s);
    // Started while the issuer is down: 503 with a body, never open.
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let port = resource
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp")
        .to_owned();
    let s = Server::start_on(
        &format!("127.0.0.1:{port}"),
        &[
            "--auth",
            "oauth",
            "--oauth-issuer",
            &auth.issuer,
            "--",
            &example,
        ],
        &[],
    );
    let r = post(&s.url, &[("authorization", &bearer(&good))], INIT);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.json()["error"]["code"], -32603);
    assert!(
        s.log().contains("keys not fetched at start-up"),
        "{}",
        s.log()
    );
    auth.keys_up(true);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(
        post(&s.url, &[("authorization", &bearer(&good))], INIT).status,
        200
    );
}

#[test]
fn real_clients_sign_in_through_a_function_url() {
    let Some(cl) = cargo_lambda() else { return };
    let emu = Emulator::start(&cl);
    let resource = emu.function_url("/mcp");
    let Some(auth) = AuthServer::start(&[&resource], SCOPE) else {
        return;
    };
    let f = LambdaRuntime::start(
        &emu.runtime_api(),
        &[
            ("MCP_LAMBDA_AUTH", "oauth"),
            ("MCP_LAMBDA_OAUTH_ISSUER", &auth.issuer),
            ("MCP_LAMBDA_OAUTH_RESOURCE", &resource),
            ("MCP_LAMBDA_OAUTH_SCOPES", SCOPE),
        ],
    );
    // The metadata is served under the Function URL's prefix, where the challenge points.
    let r = post(&resource, &[], INIT);
    assert_eq!(r.status, 401, "{r:?}\n{}", f.log());
    let md = emu.function_url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(r#"Bearer resource_metadata="{md}", scope="{SCOPE}""#)
    );
    assert_eq!(
        http("GET", &md, &[], None).json()["resource"],
        resource.as_str()
    );
    if let Some(node) = node() {
        let v = ts_oauth(&node, &resource, "add", &json!({"a": 2, "b": 3}));
        assert_eq!(v["result"]["content"][0]["text"], "5", "{v}");
    }
    if let Some(py) = python_client() {
        let v = py_oauth(&py, &resource, "auto", "echo", &json!({"message": "λ"}));
        assert_eq!(v["result"]["content"][0]["text"], "λ", "{v}");
    }
    assert!(
        f.log().contains("authorization server keys fetched"),
        "keys are fetched during INIT: {}",
        f.log()
    );
}

#[test]
fn a_tool_with_its_own_scope_asks_for_it() {
    let Some((auth, s, resource)) = secured(&[
        "--tool-scope",
        "env=files:read",
        "--tool-scope",
        "pid=files:read",
    ]) else {
        return;
    };
    let narrow = auth.client_credentials(&resource, SCOPE);
    let wide = auth.client_credentials(&resource, &format!("{SCOPE} files:read"));
    let env = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "env", "arguments": {"name": "HOME"}}});
    let echo = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "e"}}});
    // Sessions are on in serve: open one per token.
    let open = |token: &str| {
        let r = post(&s.url, &[("authorization", &bearer(token))], INIT);
        assert_eq!(r.status, 200, "{r:?}");
        r.header("mcp-session-id").unwrap().to_owned()
    };
    let with_session = |token: &str, session: &str, body: &Value| {
        post(
            &s.url,
            &[
                ("authorization", &bearer(token)),
                ("mcp-protocol-version", "2025-03-26"),
                ("mcp-session-id", session),
            ],
            &body.to_string(),
        )
    };
    let sn = open(&narrow);
    let r = with_session(&narrow, &sn, &echo);
    assert_eq!(r.status, 200, "{r:?}");
    let r = with_session(&narrow, &sn, &env);
    assert_eq!(r.status, 403, "{r:?}");
    let c = r.header("www-authenticate").unwrap();
    assert!(c.contains(r#"error="insufficient_scope""#), "{c}");
    assert!(c.contains("this tool needs scope files:read"), "{c}");
    assert!(
        c.ends_with(&format!(r#"scope="{SCOPE} files:read""#)),
        "{c}"
    );
    // A batch with one such call is refused whole.
    let r = with_session(&narrow, &sn, &json!([echo, env]));
    assert_eq!(r.status, 403, "{r:?}");
    // The tool stays listed; the metadata names its scope.
    let r = with_session(
        &narrow,
        &sn,
        &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
    );
    assert!(r.body.contains("\"env\""), "{r:?}");
    let m = http("GET", &metadata_url(&resource), &[], None).json();
    assert_eq!(m["scopes_supported"], json!([SCOPE, "files:read"]));
    // Modern requests too.
    let mut modern = env.clone();
    modern["params"]["_meta"] = mcp_lambda_tests::modern_meta(json!({}), "scoped");
    let r = post(
        &s.url,
        &[
            ("authorization", &bearer(&narrow)),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "env"),
        ],
        &modern.to_string(),
    );
    assert_eq!(r.status, 403, "{r:?}");
    // With the scope, the call runs.
    let sw = open(&wide);
    let r = with_session(&wide, &sw, &env);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["result"].is_object(), "{r:?}");
}

/// A stranger's body is never read: the head alone is refused (here the body never comes, and
/// the 401 still does, at once).
#[test]
fn a_request_without_credentials_is_refused_before_its_body() {
    use std::io::{Read, Write};
    let Some((_auth, s, _)) = secured(&[]) else {
        return;
    };
    let mut sock = std::net::TcpStream::connect(s.addr()).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        sock,
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 1000000\r\n\r\n",
        s.addr()
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = sock
        .read(&mut buf)
        .expect("answered without waiting for the body");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer resource_metadata="),
        "{head}"
    );
}
