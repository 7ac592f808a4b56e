//! The invocation deadline, end to end with a real child: a request that would outlive the
//! invocation's remaining time gets a JSON-RPC timeout error before Lambda would kill it, and
//! the warm child survives for the next invocation.
//!
//! The Runtime API emulator sends a relative deadline (which the runtime rightly ignores), so
//! this drives the real Lambda handler in-process with a real `Context` deadline instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use mcp_lambda_core::{ChildConfig, Gateway, GatewayConfig, Reuse, ServerCommand};
use mcp_lambda_runtime::{Handler, HandlerConfig};
use mcp_lambda_tests::bin;
use serde_json::{Value, json};

fn handler() -> Handler {
    let command = ServerCommand {
        program: bin("mcp-lambda-example-server")
            .to_string_lossy()
            .into_owned(),
        args: vec![],
        env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        cwd: None,
    };
    let upstream = Arc::new(Reuse::new(ChildConfig {
        command,
        max_message: 6 * 1024 * 1024,
        kill_grace: Duration::from_millis(300),
        verify_process: true,
        era: mcp_lambda_core::EraCache::new(mcp_lambda_core::EraPolicy::Auto),
        slots: mcp_lambda_core::ChildSlots::new(8),
        unrelated: None,
    }));
    let gateway = Arc::new(Gateway::new(
        GatewayConfig {
            request_timeout: Duration::from_secs(60),
            ..GatewayConfig::default()
        },
        upstream,
        None,
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

fn ctx(remaining: Duration) -> Context {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut c = Context::default();
    c.request_id = "deadline-test".into();
    c.deadline = (now + remaining).as_millis() as u64;
    c
}

fn call(tool: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":args}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_the_remaining_time_times_out_before_the_invocation_ends() {
    let h = handler();
    // Warm up: the child starts and answers.
    let ok = h
        .handle(
            call("echo", json!({"message": "warm"})),
            &ctx(Duration::from_secs(30)),
        )
        .await;
    assert_eq!(ok["result"]["content"][0]["text"], "warm", "{ok}");
    let pid = h
        .handle(call("pid", json!({})), &ctx(Duration::from_secs(30)))
        .await;

    // 2 s left in the invocation, a 10 s tool: the answer must come before the 2 s are up.
    let started = Instant::now();
    let out = h
        .handle(
            call("slow", json!({"ms": 10_000})),
            &ctx(Duration::from_secs(2)),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(out["error"]["code"], -32001, "{out}");
    assert!(took >= Duration::from_millis(1_300), "{took:?}");
    assert!(
        took < Duration::from_millis(2_000),
        "answered before the invocation deadline: {took:?}"
    );

    // The next invocation is served by the same warm child (it was cancelled, not killed).
    let again = h
        .handle(call("pid", json!({})), &ctx(Duration::from_secs(30)))
        .await;
    assert_eq!(again["result"], pid["result"]);
    h.gateway().upstream().shutdown().await;
}
