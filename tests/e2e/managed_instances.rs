//! Lambda Managed Instances: one execution environment takes `AWS_LAMBDA_MAX_CONCURRENCY`
//! invocations at once. The real binary runs against the stand-in Runtime API
//! ([`MiniRuntimeApi`], which hands out as many invocations as are polled for; `cargo lambda
//! watch` hands out one at a time) with the bundled example server as its child.
//!
//! What is shown: 64 Function URL invocations in flight at once over one reused child, with the
//! same JSON-RPC id in every one, each answered with its own result; deadlines per invocation;
//! one EMF line per invocation with its own request id; response streaming for many
//! invocations at once, each stream carrying only its own progress; SIGTERM lets the
//! invocations in flight finish before the child is stopped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_lambda_tests::{
    Invocation, LambdaRuntime, MiniRuntimeApi, bin, child_pids, function_url_event, signal,
};
use serde_json::{Value, json};

/// The version the `reuse` child is prewarmed with (requests with it need no new child).
const VERSION: &str = "2025-11-25";

/// Invocations in flight at once.
const CONCURRENCY: usize = 64;

fn example() -> String {
    bin("mcp-lambda-example-server").display().to_string()
}

/// A runtime with `AWS_LAMBDA_MAX_CONCURRENCY=concurrency` over the example server.
fn managed_instance(
    concurrency: usize,
    env: &[(&str, &str)],
) -> (Arc<MiniRuntimeApi>, LambdaRuntime) {
    let api = Arc::new(MiniRuntimeApi::start());
    let concurrency = concurrency.to_string();
    let mut all = vec![
        ("MCP_LAMBDA_COMMAND", example()),
        ("AWS_LAMBDA_MAX_CONCURRENCY", concurrency),
        ("MCP_LAMBDA_LOG_FORMAT", "json".to_owned()),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let f = LambdaRuntime::start(&api.addr, &all);
    (api, f)
}

/// A Function URL invocation of `tools/call name(arguments)` with JSON-RPC id 7.
fn tool_call(name: &str, arguments: Value, deadline_in: Duration) -> Invocation {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
    .to_string();
    let event = function_url_event(&body, VERSION, "rq");
    Invocation {
        payload: serde_json::from_slice(&event).unwrap(),
        client_context: None,
        deadline_in,
    }
}

/// The JSON-RPC answer in a Function URL response envelope.
fn answer(envelope: &Value) -> Value {
    assert_eq!(envelope["statusCode"], 200, "{envelope}");
    serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap()
}

fn text(answer: &Value) -> String {
    assert_eq!(answer["id"], 7, "{answer}");
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result: {answer}"))
        .to_owned()
}

/// Runs `make(i)` for `i` in `0..n`, each invocation on a thread of its own, all released at
/// once; returns each answer with the instants the Runtime API handed its event to the runtime
/// and read its answer (what the runtime had in flight, not what the clients waited for).
fn invoke_all(
    api: &Arc<MiniRuntimeApi>,
    f: &LambdaRuntime,
    n: usize,
    make: impl Fn(usize) -> Invocation,
) -> Vec<(Value, Instant, Instant)> {
    let gate = Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (api, gate, inv) = (api.clone(), gate.clone(), make(i));
            std::thread::spawn(move || {
                gate.wait();
                api.deliver(inv, Duration::from_secs(60))
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| {
            let a = t.join().unwrap();
            let body = String::from_utf8_lossy(&a.body).into_owned();
            assert!(!a.error, "invocation error: {body}\n{}", f.log());
            let r: Value = serde_json::from_str(&body).unwrap();
            (r, a.handed, a.at)
        })
        .collect()
}

/// The most intervals that contain one instant (spans from the Runtime API's side: a runtime
/// that serves one invocation at a time gets 1).
fn max_overlap(spans: &[(Instant, Instant)]) -> usize {
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn sixty_four_invocations_at_once_share_one_child_and_none_is_crossed() {
    let (api, f) = managed_instance(CONCURRENCY, &[]);
    let children = child_pids(f.pid()).unwrap();
    // The prewarmed children (2026-07-28 and 2025-11-25).
    assert!(!children.is_empty(), "{}", f.log());

    // A tool that waits, as most real tools do (an API call): served side by side.
    let slow = invoke_all(&api, &f, CONCURRENCY, |_| {
        tool_call("slow", json!({"ms": 1000}), Duration::from_secs(60))
    });
    for (r, _, _) in &slow {
        assert_eq!(text(&answer(r)), "slept 1000 ms");
    }
    let spans: Vec<_> = slow.iter().map(|(_, s, d)| (*s, *d)).collect();
    let overlap = max_overlap(&spans);
    assert!(
        overlap >= CONCURRENCY / 2,
        "at most {overlap} of {CONCURRENCY} invocations were in flight at once\n{}",
        f.log()
    );

    // Every invocation gets its own answer although every one has JSON-RPC id 7.
    let echoes = invoke_all(&api, &f, CONCURRENCY, |i| {
        tool_call(
            "echo",
            json!({"message": format!("message {i}")}),
            Duration::from_secs(60),
        )
    });
    for (i, (r, _, _)) in echoes.iter().enumerate() {
        assert_eq!(text(&answer(r)), format!("message {i}"));
    }

    // All through one child: the prewarmed one, still the only ones there.
    let pids = invoke_all(&api, &f, CONCURRENCY, |_| {
        tool_call("pid", json!({}), Duration::from_secs(60))
    });
    let first = text(&answer(&pids[0].0));
    for (r, _, _) in &pids {
        assert_eq!(text(&answer(r)), first, "one child serves every invocation");
    }
    let first: u32 = first.parse().unwrap();
    assert!(children.contains(&first), "{first} not in {children:?}");
    assert_eq!(
        child_pids(f.pid()).unwrap(),
        children,
        "no child was started"
    );

    // One EMF line per invocation, each with its own request id.
    let emf = f.emf();
    let ids: std::collections::HashSet<_> =
        emf.iter().map(|e| e["requestId"].to_string()).collect();
    assert_eq!((emf.len(), ids.len()), (3 * CONCURRENCY, 3 * CONCURRENCY));
}

/// Each invocation keeps its own deadline: a slow call whose invocation ends soon times out
/// while a longer invocation beside it completes, and its log lines carry its own request id.
#[test]
fn deadlines_stay_per_invocation() {
    let (api, f) = managed_instance(8, &[("MCP_LAMBDA_REQUEST_TIMEOUT", "60s")]);
    let answers = invoke_all(&api, &f, 2, |i| {
        if i == 0 {
            tool_call("slow", json!({"ms": 5000}), Duration::from_millis(1500))
        } else {
            tool_call("slow", json!({"ms": 2500}), Duration::from_secs(60))
        }
    });
    let (short, short_handed, short_done) = &answers[0];
    let (long, long_handed, long_done) = &answers[1];
    let short = answer(short);
    assert_eq!(short["error"]["code"], -32001, "{short}");
    let took = *short_done - *short_handed;
    assert!(
        took < Duration::from_millis(1500),
        "answered before its own deadline: {took:?}"
    );
    assert_eq!(text(&answer(long)), "slept 2500 ms");
    assert!(
        long_handed < short_done && short_handed < long_done,
        "the two were served side by side"
    );
}

/// SIGTERM with invocations in flight: they finish and are answered, then the child stops.
#[test]
fn sigterm_lets_invocations_in_flight_finish() {
    let (api, mut f) = managed_instance(8, &[]);
    let children = child_pids(f.pid()).unwrap();
    let runtime = f.pid();
    // SIGTERM as soon as all four are in the runtime's hands.
    let killer = std::thread::spawn({
        let api = api.clone();
        move || {
            let start = Instant::now();
            while api.handed_out() < 4 {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "never handed out"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(signal(runtime, "TERM"));
        }
    });
    let answers = invoke_all(&api, &f, 4, |_| {
        tool_call("slow", json!({"ms": 150}), Duration::from_secs(60))
    });
    killer.join().unwrap();
    for (r, _, _) in &answers {
        assert_eq!(text(&answer(r)), "slept 150 ms", "{}", f.log());
    }
    let status = f
        .wait_exit(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("still running after SIGTERM:\n{}", f.log()));
    assert!(status.success(), "{status:?}\n{}", f.log());
    for child in children {
        assert!(
            mcp_lambda_tests::wait_gone(child, Duration::from_secs(2)),
            "child {child} outlived the runtime"
        );
    }
    assert!(f.log().contains("Lambda is shutting down"), "{}", f.log());
}

/// A `RESPONSE_STREAM` function on a Managed Instance: eight invocations stream at once, each
/// its own progress notifications and result.
#[test]
fn streamed_answers_flow_for_many_invocations_at_once() {
    let (api, f) = managed_instance(8, &[("MCP_LAMBDA_INVOKE_MODE", "RESPONSE_STREAM")]);
    let gate = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (api, gate) = (api.clone(), gate.clone());
            std::thread::spawn(move || {
                let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                    "params": {"name": "slow", "arguments": {"ms": 600},
                        "_meta": {"progressToken": format!("p{i}")}}})
                .to_string();
                let event = function_url_event(&body, VERSION, "rq");
                gate.wait();
                api.deliver(
                    Invocation {
                        payload: serde_json::from_slice(&event).unwrap(),
                        client_context: None,
                        deadline_in: Duration::from_secs(60),
                    },
                    Duration::from_secs(60),
                )
            })
        })
        .collect();
    let mut spans = Vec::new();
    for (i, t) in threads.into_iter().enumerate() {
        let a = t.join().unwrap();
        assert!(!a.error, "invocation error\n{}", f.log());
        spans.push((a.handed, a.at));
        let raw = a.body;
        let split = raw
            .windows(8)
            .position(|w| w == [0u8; 8])
            .unwrap_or_else(|| panic!("no prelude: {}", String::from_utf8_lossy(&raw)));
        let prelude: Value = serde_json::from_slice(&raw[..split]).unwrap();
        assert_eq!(prelude["statusCode"], 200, "{prelude}");
        let stream = String::from_utf8_lossy(&raw[split + 8..]).into_owned();
        assert!(
            stream.contains(&format!("\"progressToken\":\"p{i}\"")),
            "{stream}"
        );
        for other in (0..8).filter(|&o| o != i) {
            assert!(
                !stream.contains(&format!("\"p{other}\"")),
                "invocation {i} got p{other}'s progress: {stream}"
            );
        }
        assert!(stream.contains("slept 600 ms"), "{stream}");
    }
    assert!(max_overlap(&spans) >= 4, "{spans:?}");
}

/// `AWS_LAMBDA_MAX_CONCURRENCY=1` (a Managed Instance sized for one at a time) is served by the
/// sequential runner, without lambda_runtime's warning that concurrency is not compiled in.
#[test]
fn concurrency_one_is_served_without_a_false_warning() {
    let (api, f) = managed_instance(1, &[]);
    let r = api
        .invoke(
            tool_call("echo", json!({"message": "one"}), Duration::from_secs(60)),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("invocation error: {e}\n{}", f.log()));
    assert_eq!(text(&answer(&r)), "one");
    assert!(!f.log().contains("not enabled"), "{}", f.log());
}
