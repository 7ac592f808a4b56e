//! One CloudWatch Embedded Metric Format line per invocation.
//!
//! Contract: [`emf_line`] returns a single-line JSON object in EMF (namespace `mcp-lambda`,
//! dimension `FunctionName`) with `SpawnMs`, `InitializeMs`, `CallMs`, `TotalMs` and
//! `ChildRestarts`, plus the request id and event source as plain properties. CloudWatch turns
//! such lines into metrics with no agent and no extra dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_lambda_core::Stats;
use serde_json::json;

/// The EMF JSON line for one invocation.
pub fn emf_line(
    function: &str,
    request_id: &str,
    source: &str,
    stats: &Stats,
    total: Duration,
) -> String {
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let spawn = stats.spawn();
    let init = stats.initialize();
    let call = total.saturating_sub(spawn + init);
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    json!({
        "_aws": {
            "Timestamp": ts,
            "CloudWatchMetrics": [{
                "Namespace": "mcp-lambda",
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "SpawnMs", "Unit": "Milliseconds"},
                    {"Name": "InitializeMs", "Unit": "Milliseconds"},
                    {"Name": "CallMs", "Unit": "Milliseconds"},
                    {"Name": "TotalMs", "Unit": "Milliseconds"},
                    {"Name": "ChildRestarts", "Unit": "Count"}
                ]
            }]
        },
        "FunctionName": function,
        "requestId": request_id,
        "eventSource": source,
        "SpawnMs": ms(spawn),
        "InitializeMs": ms(init),
        "CallMs": ms(call),
        "TotalMs": ms(total),
        "ChildRestarts": stats.restarts(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_one_line_of_emf() {
        let line = emf_line(
            "fn",
            "req-1",
            "http-v2",
            &Stats::default(),
            Duration::from_millis(12),
        );
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "mcp-lambda");
        assert_eq!(v["TotalMs"], 12.0);
        assert_eq!(v["CallMs"], 12.0);
        assert_eq!(v["ChildRestarts"], 0);
        assert_eq!(v["requestId"], "req-1");
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in &names {
            assert!(v.get(*n).is_some(), "metric {n} has a value");
        }
    }
}
