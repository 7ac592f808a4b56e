//! Interleaved measurement, shared by the serve and the Lambda benchmarks.
//!
//! Contract: [`interleave`] warms every job up (untimed), then runs `blocks` rounds, each doing
//! `1/blocks` of every job's timed samples in a fixed order (earlier rounds take the
//! remainder), so slow drifts in machine load (a shared, noisy host) hit every job alike. When
//! a job names a process ([`Work::cpu_pid`]), that process's CPU time is summed over its timed
//! samples.

use std::time::Duration;

use anyhow::Context;
use mcp_lambda_bench::stats::Summary;
use mcp_lambda_testkit::cpu_ns_of;

use crate::Options;

/// How a job takes one sample.
pub(crate) trait Work {
    /// Takes sample number `id` (1, 2, ...; warm-ups included); `timed` is false in warm-up.
    fn once(&mut self, o: &Options, id: u64, timed: bool) -> anyhow::Result<Duration>;

    /// The process whose CPU time is charged to the timed samples, if any.
    fn cpu_pid(&self) -> Option<u32> {
        None
    }
}

/// One measured mode.
pub(crate) struct Job<W> {
    pub(crate) name: &'static str,
    pub(crate) work: W,
    total: usize,
    warmup: usize,
    next_id: u64,
    pub(crate) samples: Vec<Duration>,
    cpu_ns: u64,
}

impl<W: Work> Job<W> {
    /// `total` timed samples after `warmup` untimed ones.
    pub(crate) fn new(name: &'static str, work: W, total: usize, warmup: usize) -> Self {
        let samples = Vec::with_capacity(total);
        Self {
            name,
            work,
            total,
            warmup,
            next_id: 0,
            samples,
            cpu_ns: 0,
        }
    }

    fn run(&mut self, o: &Options, count: usize, timed: bool) -> anyhow::Result<()> {
        let pid = self.work.cpu_pid().filter(|_| timed);
        let cpu_before = pid.map(cpu_ns_of).transpose()?;
        for _ in 0..count {
            self.next_id += 1;
            let took = (self.work.once(o, self.next_id, timed))
                .with_context(|| format!("mode {}", self.name))?;
            if timed {
                self.samples.push(took);
            }
        }
        if let (Some(before), Some(pid)) = (cpu_before, pid) {
            self.cpu_ns += cpu_ns_of(pid)?.saturating_sub(before);
        }
        Ok(())
    }

    /// The timed samples' summary.
    pub(crate) fn summary(&self) -> anyhow::Result<Summary> {
        Summary::of(&self.samples).with_context(|| format!("mode {}", self.name))
    }

    /// CPU µs of [`Work::cpu_pid`] per timed sample, when it names a process.
    pub(crate) fn cpu_us(&self) -> Option<f64> {
        let n = self.samples.len().max(1) as f64;
        self.work.cpu_pid().map(|_| self.cpu_ns as f64 / 1e3 / n)
    }
}

/// Warms every job up, then runs the interleaved blocks.
pub(crate) fn interleave<W: Work>(o: &Options, jobs: &mut [Job<W>]) -> anyhow::Result<()> {
    eprintln!("bench: warming up");
    for j in jobs.iter_mut() {
        j.run(o, j.warmup, false)?;
    }
    for b in 0..o.blocks {
        for j in jobs.iter_mut() {
            let count = j.total / o.blocks + usize::from(b < j.total % o.blocks);
            j.run(o, count, true)?;
        }
        eprint!("\rbench: block {}/{}", b + 1, o.blocks);
    }
    eprintln!();
    Ok(())
}
