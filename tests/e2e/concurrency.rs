//! 64 concurrent clients with overlapping JSON-RPC ids against one reused child: every answer
//! reaches its sender, none is lost or crossed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use mcp_lambda_tests::{Mcp, Server, bin, post};
use serde_json::{Value, json};

const CLIENTS: usize = 64;
const REQUESTS: usize = 10;

fn run_clients(s: &Server, sessions: bool) {
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let url = s.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let m = if sessions {
                    Mcp::connect(&url, "2025-06-18", &format!("client-{c}"))
                } else {
                    Mcp::stateless(&url, "2025-06-18")
                };
                barrier.wait();
                let mut pids = Vec::new();
                for r in 0..REQUESTS {
                    // Every client uses the same ids (1..=REQUESTS) and sometimes the same id
                    // as a string, so only id rewriting keeps answers apart.
                    let id = if r % 2 == 0 { json!(r) } else { json!(format!("{r}")) };
                    let message = format!("client {c} request {r}");
                    let (tool, args) = if r % 3 == 0 {
                        ("slow", json!({"ms": 20}))
                    } else {
                        ("echo", json!({"message": message}))
                    };
                    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}});
                    let resp = m.post_raw(&body);
                    assert_eq!(resp.status, 200, "{resp:?}");
                    let v: Value = resp.json();
                    assert_eq!(v["id"], id, "id comes back unchanged");
                    let text = v["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string();
                    if tool == "echo" {
                        assert_eq!(text, message, "answer reached its own sender");
                    } else {
                        assert_eq!(text, "slept 20 ms");
                    }
                    let pid = m.post_raw(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pid","arguments":{}}}));
                    pids.push(pid.json()["result"]["content"][0]["text"].as_str().unwrap().to_string());
                }
                pids
            })
        })
        .collect();
    let mut all_pids = std::collections::BTreeSet::new();
    for h in handles {
        all_pids.extend(h.join().expect("a client thread failed"));
    }
    assert_eq!(
        all_pids.len(),
        1,
        "all clients shared one reused child: {all_pids:?}"
    );
}

#[test]
fn sixty_four_stateless_clients_with_overlapping_ids() {
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let s = Server::start(&["--sessions", "none", "--", &example], &[]);
    // Warm the child so all clients hit the same one.
    let r = post(
        &s.url,
        &[("mcp-protocol-version", "2025-06-18")],
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    );
    assert_eq!(r.status, 200);
    run_clients(&s, false);
}

#[test]
fn sixty_four_session_clients_with_overlapping_ids() {
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let s = Server::start(&["--", &example], &[]);
    run_clients(&s, true);
}
