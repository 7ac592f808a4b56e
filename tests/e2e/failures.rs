//! Failures are answered, not swallowed: a misbehaving child (crash, abort, hang, freeze,
//! garbage, floods, refusing SIGTERM, grandchildren) always yields exactly one answer per
//! request, a useful error, and no leaked processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mcp_lambda_tests::{Mcp, Server, alive, bin, wait_gone};
use serde_json::json;

fn fixture(mode: &str) -> Vec<String> {
    vec![
        "--".into(),
        bin("fixture-server").to_string_lossy().into_owned(),
        mode.into(),
    ]
}

fn start(opts: &[&str], mode: &str) -> Server {
    let mut args: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    args.extend(fixture(mode));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&refs, &[])
}

fn pid(m: &mut Mcp) -> u32 {
    m.call_text("pid", json!({})).parse().unwrap()
}

#[test]
fn crash_and_abort_mid_request_name_the_exit_status() {
    let s = start(&[], "normal");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    let e = m.call_error("crash", json!({"code": 3}));
    assert_eq!(e["code"], -32603);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("exited with status 3"),
        "{e}"
    );
    let e = m.call_error("abort", json!({}));
    assert_eq!(e["code"], -32603);
    assert!(e["message"].as_str().unwrap().contains("SIGABRT"), "{e}");
    assert_eq!(
        m.call_text("echo", json!({"message": "still here"})),
        "still here"
    );
}

#[test]
fn hung_request_times_out_is_cancelled_and_the_child_survives() {
    let s = start(&["--request-timeout", "1s"], "normal");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    let before = pid(&mut m);
    let started = Instant::now();
    let e = m.call_error("hang", json!({}));
    let took = started.elapsed();
    assert_eq!(e["code"], -32001, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("did not answer"),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // The child still answers ping, so it is kept.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pid(&mut m), before);
    s.wait_for_log("cancelling", Duration::from_secs(1));
}

#[test]
fn frozen_child_is_killed_and_replaced() {
    let s = start(&["--request-timeout", "1s"], "normal");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    let before = pid(&mut m);
    let e = m.call_error("freeze", json!({}));
    assert_eq!(e["code"], -32001, "{e}");
    // The liveness ping goes unanswered (5 s), the child is killed...
    assert!(
        wait_gone(before, Duration::from_secs(10)),
        "frozen child killed"
    );
    // ...and the next request gets a fresh one.
    let after = pid(&mut m);
    assert_ne!(before, after);
}

#[test]
fn non_json_stdout_is_skipped() {
    let s = start(&[], "garbage-banner");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    assert_eq!(m.call_text("garbage", json!({})), "ok");
    assert_eq!(
        m.call_text("echo", json!({"message": "after garbage"})),
        "after garbage"
    );
    s.wait_for_log("non-JSON line", Duration::from_secs(2));
}

#[test]
fn answers_over_the_size_limit_become_errors_and_the_child_goes_on() {
    let s = start(&["--max-message-bytes", "65536"], "normal");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    let before = pid(&mut m);
    let ok = m.call_text("flood", json!({"bytes": 1000}));
    assert_eq!(ok.len(), 1000);
    let e = m.call_error("flood", json!({"bytes": 5_000_000}));
    assert_eq!(e["code"], -32603);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("over the 65536-byte limit"),
        "{e}"
    );
    assert_eq!(
        pid(&mut m),
        before,
        "the child is kept when the answer could be attributed"
    );
}

#[test]
fn child_stderr_is_forwarded_to_the_log() {
    let s = start(&[], "normal");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    assert_eq!(m.call_text("stderr", json!({"lines": 3})), "ok");
    s.wait_for_log("fixture stderr line 3", Duration::from_secs(2));
}

#[test]
fn a_child_that_cannot_start_is_reported() {
    let s = Server::start(&["--", "/nonexistent/mcp-server"], &[]);
    let r = mcp_lambda_tests::post(
        &s.url,
        &[],
        &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}).to_string(),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["id"], 1);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not start"),
        "{v}"
    );

    let s = start(&[], "exit-on-start");
    let r = mcp_lambda_tests::post(
        &s.url,
        &[],
        &json!({"jsonrpc":"2.0","id":"x","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}).to_string(),
    );
    let v = r.json();
    assert_eq!(v["id"], "x");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exited with status 7"),
        "{v}"
    );
    s.wait_for_log("fatal: cannot start", Duration::from_secs(2));
}

#[test]
fn shutdown_kills_children_that_ignore_sigterm_and_grandchildren() {
    let s = start(&["--kill-grace", "500ms"], "ignore-sigterm");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    let child = pid(&mut m);
    let grandchild: u32 = m.call_text("spawn_grandchild", json!({})).parse().unwrap();
    assert!(alive(child) && alive(grandchild));
    let started = Instant::now();
    let status = s.stop(Duration::from_secs(10));
    assert!(status.success(), "graceful exit: {status:?}");
    assert!(wait_gone(child, Duration::from_secs(2)), "child killed");
    assert!(
        wait_gone(grandchild, Duration::from_secs(2)),
        "grandchild killed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn per_request_children_with_grandchildren_leave_nothing_behind() {
    let s = start(
        &["--lifecycle", "per-request", "--kill-grace", "500ms"],
        "normal",
    );
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    let grandchild: u32 = m.call_text("spawn_grandchild", json!({})).parse().unwrap();
    assert!(
        wait_gone(grandchild, Duration::from_secs(5)),
        "the process group is terminated"
    );
}

#[test]
fn graceful_shutdown_lets_in_flight_requests_finish() {
    let s = start(&[], "normal");
    let mut m = Mcp::connect(&s.url, "2025-11-25", "t");
    let url = s.url.clone();
    let session = m.session.clone().unwrap();
    let version = m.version.clone();
    let slow = std::thread::spawn(move || {
        let mut c = Mcp::stateless(&url, &version);
        c.session = Some(session);
        c.call_text("slow", json!({"ms": 800}))
    });
    std::thread::sleep(Duration::from_millis(200));
    let _ = pid(&mut m);
    let status = s.stop(Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(slow.join().unwrap(), "slept");
}
