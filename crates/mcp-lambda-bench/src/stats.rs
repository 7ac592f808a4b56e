//! Latency samples and their summary, and the machine's load.
//!
//! Contract: [`Summary::of`] takes per-request durations and reports n, p50, p90, p99 (nearest
//! rank on the sorted samples), mean, min and max, all in microseconds. An empty sample set is an
//! error, never a row of zeros.

use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

/// Summary of one mode's samples, in microseconds.
#[derive(Debug, Clone)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// Median (nearest rank).
    pub p50: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Fastest sample.
    pub min: f64,
    /// Slowest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples`; fails when there are none.
    pub fn of(samples: &[Duration]) -> anyhow::Result<Self> {
        if samples.is_empty() {
            bail!("no samples");
        }
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            // Nearest rank: the smallest sample with at least p% of samples at or below it.
            let idx = ((p / 100.0) * us.len() as f64).ceil() as usize;
            us[idx.clamp(1, us.len()) - 1]
        };
        Ok(Self {
            n: us.len(),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            mean: us.iter().sum::<f64>() / us.len() as f64,
            min: us[0],
            max: us[us.len() - 1],
        })
    }

    /// The summary as JSON (microseconds).
    pub fn to_json(&self) -> Value {
        json!({
            "n": self.n,
            "p50_us": round1(self.p50),
            "p90_us": round1(self.p90),
            "p99_us": round1(self.p99),
            "mean_us": round1(self.mean),
            "min_us": round1(self.min),
            "max_us": round1(self.max),
        })
    }
}

/// The median of `xs` (mean of the middle two for an even count); NaN when empty.
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The 1-, 5- and 15-minute load averages (`/proc/loadavg`), space-separated.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Rounds to one decimal place (for JSON output).
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Rounds to three decimal places (for ratios in JSON output).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let s = Summary::of(&samples).unwrap();
        assert_eq!(
            (s.n, s.p50, s.p90, s.p99, s.min, s.max),
            (100, 50.0, 90.0, 99.0, 1.0, 100.0)
        );
        assert!((s.mean - 50.5).abs() < 1e-9);
        let s = Summary::of(&[Duration::from_micros(7)]).unwrap();
        assert_eq!((s.p50, s.p90, s.p99), (7.0, 7.0, 7.0));
        assert!(Summary::of(&[]).is_err());
        assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), 2.5);
    }
}
