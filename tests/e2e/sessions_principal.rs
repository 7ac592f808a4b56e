//! Principal binding across instances: two Lambda handlers (two "instances", each with its own
//! real child) share a session store; a session opened by one IAM caller through a Function URL
//! is served by the other instance for that caller and is a 404 for anyone else. Driven
//! in-process because the Runtime API emulator cannot attach IAM identities to Function URL
//! events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::Context;
use mcp_lambda_core::token::parse_keys;
use mcp_lambda_core::{
    ChildConfig, Gateway, GatewayConfig, Reuse, ServerCommand, SessionStore, TokenStore,
};
use mcp_lambda_runtime::{Handler, HandlerConfig};
use mcp_lambda_tests::{bin, root};
use serde_json::{Value, json};

const KEY: &str = "6f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn instance(store: Arc<dyn SessionStore>) -> Handler {
    let command = ServerCommand {
        program: bin("mcp-lambda-example-server")
            .to_string_lossy()
            .into_owned(),
        args: vec![],
        env: vec![],
        cwd: None,
    };
    let upstream = Arc::new(Reuse::new(ChildConfig {
        command,
        max_message: 1 << 20,
        kill_grace: Duration::from_millis(300),
        verify_process: true,
        era: mcp_lambda_core::EraCache::new(mcp_lambda_core::EraPolicy::Auto),
        slots: mcp_lambda_core::ChildSlots::new(8),
        unrelated: None,
    }));
    let gateway = Arc::new(Gateway::new(
        GatewayConfig::default(),
        upstream,
        Some(store),
    ));
    Handler::new(
        gateway,
        HandlerConfig {
            path: "/mcp".into(),
            margin: Duration::from_millis(500),
            metrics: false,
            stream: false,
        },
    )
}

/// The Function URL fixture, as `arn` calling, carrying `body` and `session`.
fn event(arn: &str, body: Value, session: Option<&str>) -> Value {
    let text = std::fs::read_to_string(root().join("tests/data/function-url-iam.json")).unwrap();
    let mut e: Value = serde_json::from_str(&text).unwrap();
    e["requestContext"]["authorizer"]["iam"]["userArn"] = json!(arn);
    e["body"] = json!(body.to_string());
    if let Some(s) = session {
        e["headers"]["mcp-session-id"] = json!(s);
    }
    e
}

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB: &str = "arn:aws:iam::123456789012:user/bob";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_follows_its_principal_across_instances_and_no_one_else() {
    let keys = parse_keys(KEY).unwrap();
    let store_a: Arc<dyn SessionStore> =
        Arc::new(TokenStore::new(&keys, Duration::from_secs(60)).unwrap());
    let store_b: Arc<dyn SessionStore> =
        Arc::new(TokenStore::new(&keys, Duration::from_secs(60)).unwrap());
    let (a, b) = (instance(store_a), instance(store_b));
    let ctx = Context::default();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"alice-client","version":"1"}}});
    let opened = a.handle(event(ALICE, init, None), &ctx).await;
    assert_eq!(opened["statusCode"], 200, "{opened}");
    let session = opened["headers"]["mcp-session-id"]
        .as_str()
        .unwrap()
        .to_string();

    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"client_info","arguments":{}}});
    let on_b = b
        .handle(event(ALICE, call.clone(), Some(&session)), &ctx)
        .await;
    assert_eq!(on_b["statusCode"], 200, "{on_b}");
    let body: Value = serde_json::from_str(on_b["body"].as_str().unwrap()).unwrap();
    let seen: Value =
        serde_json::from_str(body["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        seen["clientInfo"]["name"], "alice-client",
        "B replayed alice's initialize"
    );

    let bob_on_b = b
        .handle(event(BOB, call.clone(), Some(&session)), &ctx)
        .await;
    assert_eq!(
        bob_on_b["statusCode"], 404,
        "another principal: exactly like an unknown id"
    );
    let bob_on_a = a.handle(event(BOB, call, Some(&session)), &ctx).await;
    assert_eq!(bob_on_a["statusCode"], 404);

    a.gateway().upstream().shutdown().await;
    b.gateway().upstream().shutdown().await;
}
