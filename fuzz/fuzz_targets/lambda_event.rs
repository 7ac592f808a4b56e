//! Fuzz target: a whole Lambda invocation — any JSON event (Function URL, API Gateway, ALB,
//! direct Invoke, AgentCore, or none of them) through the handler and the gateway over the
//! in-process echo upstream. Invariant: the handler answers every event with a JSON payload,
//! and never panics.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use mcp_lambda_core::fuzzing::Echo;
use mcp_lambda_core::{Gateway, GatewayConfig};
use mcp_lambda_runtime::{Handler, HandlerConfig};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((flags, event)) = data.split_first() else {
        return;
    };
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(event) else {
        return;
    };
    let gateway = Gateway::new(GatewayConfig::default(), Arc::new(Echo), None);
    let handler = Handler::new(
        Arc::new(gateway),
        HandlerConfig {
            path: "/mcp".into(),
            margin: Duration::from_millis(100),
            metrics: false,
            stream: flags & 1 != 0,
        },
    );
    let mut ctx = Context::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    ctx.deadline = now + 30_000;
    if flags & 2 != 0 {
        // An AgentCore Gateway target's call (the type is not exported: built from its JSON).
        ctx.client_context = serde_json::from_value(serde_json::json!({
            "custom": {"bedrockAgentCoreToolName": "target___echo"}
        }))
        .ok();
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    let payload = rt.block_on(handler.handle(event, &ctx));
    assert!(serde_json::to_vec(&payload).is_ok());
});
