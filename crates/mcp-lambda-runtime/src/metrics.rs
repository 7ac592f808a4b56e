//! One CloudWatch Embedded Metric Format line per invocation.
//!
//! Contract: [`emf_line`] returns a single-line JSON object in EMF (namespace `mcp-lambda`,
//! dimension `FunctionName`) with `SpawnMs`, `InitializeMs`, `CallMs`, `TotalMs` and
//! `ChildRestarts`, plus the request id and event source as plain properties. CloudWatch turns
//! such lines into metrics with no agent and no extra dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_lambda_core::Stats;

/// The metric declarations, the same in every line (written once, not built per invocation).
const DECLARATION: &str = r#"{"Namespace":"mcp-lambda","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"SpawnMs","Unit":"Milliseconds"},{"Name":"InitializeMs","Unit":"Milliseconds"},{"Name":"CallMs","Unit":"Milliseconds"},{"Name":"TotalMs","Unit":"Milliseconds"},{"Name":"ChildRestarts","Unit":"Count"}]}"#;

/// The EMF JSON line for one invocation.
pub fn emf_line(
    function: &str,
    request_id: &str,
    source: &str,
    stats: &Stats,
    total: Duration,
) -> String {
    // Milliseconds with three decimals; `Display` of a finite f64 is a JSON number.
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    // A JSON string (the names come from Lambda, but quote them properly all the same).
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let spawn = stats.spawn();
    let init = stats.initialize();
    let call = total.saturating_sub(spawn + init);
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    format!(
        r#"{{"_aws":{{"Timestamp":{ts},"CloudWatchMetrics":[{DECLARATION}]}},"FunctionName":{},"requestId":{},"eventSource":{},"SpawnMs":{},"InitializeMs":{},"CallMs":{},"TotalMs":{},"ChildRestarts":{}}}"#,
        text(function),
        text(request_id),
        text(source),
        ms(spawn),
        ms(init),
        ms(call),
        ms(total),
        stats.restarts(),
    )
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
        assert_eq!(v["FunctionName"], "fn");
        assert_eq!(v["eventSource"], "http-v2");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["FunctionName"]])
        );
        assert!(v["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
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

    #[test]
    fn names_are_quoted_and_fractions_kept() {
        let stats = Stats::default();
        let line = emf_line("f\"n", "r\\1", "x", &stats, Duration::from_micros(1500));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["FunctionName"], "f\"n");
        assert_eq!(v["requestId"], "r\\1");
        assert_eq!(v["TotalMs"], 1.5);
        let line = emf_line("f", "r", "x", &stats, Duration::from_nanos(1));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["TotalMs"], 0.0);
    }
}
