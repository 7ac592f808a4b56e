//! Interleaved measurement, and how every mode of the serve and the Lambda benchmarks takes one
//! sample ([`Driver`]).
//!
//! Contract: [`interleave`] warms every job up (untimed), then runs `blocks` rounds, each doing
//! `1/blocks` of every job's timed samples in a fixed order (earlier rounds take the
//! remainder), so slow drifts in machine load (a shared, noisy host) hit every job alike. When
//! a job names a process ([`Driver::cpu_pid`]), that process's CPU time is summed over its timed
//! samples.

use std::time::{Duration, Instant};

use anyhow::Context;
use mcp_lambda_bench::stats::Summary;
use mcp_lambda_testkit::{Function, StdioChild, cpu_ns_of};
use serde_json::json;

use crate::Options;
use crate::lambda::{self, Cold};
use crate::modes::Http;
use crate::report::Row;
use crate::target::{check_call, spawn_floor};

/// How a job takes one sample, in the serve and the Lambda benchmarks alike.
pub(crate) enum Driver {
    /// `bare-initialized`: a `tools/call` round trip on the stdio of one initialized child.
    Bare(StdioChild),
    /// `spawn-floor` ([`spawn_floor`]).
    Spawn,
    /// `spawn-init-floor`: [`spawn_floor`] without the call.
    SpawnInit,
    /// `exec-floor` ([`lambda::exec_floor`]).
    ExecFloor,
    /// A serve mode over HTTP.
    Http(Box<Http>),
    /// A fresh Lambda runtime per sample.
    Cold(Box<Cold>),
    /// A warm Lambda runtime, invoked once per sample.
    Warm(Box<Function>),
}

impl Driver {
    /// Takes sample number `id` (1, 2, ...; warm-ups included); `timed` is false in warm-up.
    fn once(&mut self, o: &Options, id: u64, timed: bool) -> anyhow::Result<Duration> {
        let t = &o.target;
        match self {
            Driver::Bare(child) => {
                let req = t.call_request(id);
                let start = Instant::now();
                let (msg, done) = child.roundtrip(&req, &json!(id))?;
                check_call(&msg)?;
                Ok(done - start)
            }
            Driver::Spawn => spawn_floor(t, true),
            Driver::SpawnInit => spawn_floor(t, false),
            Driver::ExecFloor => lambda::exec_floor(o),
            Driver::Http(h) => h.once(t, id),
            Driver::Cold(c) => c.once(o, id, timed),
            Driver::Warm(f) => lambda::invoke(t, f, id),
        }
    }

    /// The process whose CPU time is charged to the timed samples, if any.
    fn cpu_pid(&self) -> Option<u32> {
        match self {
            Driver::Http(h) => Some(h.pid),
            Driver::Warm(f) => Some(f.pid()),
            _ => None,
        }
    }
}

/// One measured mode.
pub(crate) struct Job {
    pub(crate) name: &'static str,
    pub(crate) work: Driver,
    total: usize,
    warmup: usize,
    next_id: u64,
    pub(crate) samples: Vec<Duration>,
    cpu_ns: u64,
}

impl Job {
    /// `total` timed samples after `warmup` untimed ones.
    pub(crate) fn new(name: &'static str, work: Driver, total: usize, warmup: usize) -> Self {
        let (next_id, samples, cpu_ns) = (0, Vec::with_capacity(total), 0);
        Self {
            name,
            work,
            total,
            warmup,
            next_id,
            samples,
            cpu_ns,
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

    /// The timed samples' row: their summary and, when [`Driver::cpu_pid`] names a process, its
    /// CPU µs per timed sample.
    pub(crate) fn row(&self) -> anyhow::Result<Row> {
        let summary = Summary::of(&self.samples).with_context(|| format!("mode {}", self.name))?;
        let n = self.samples.len().max(1) as f64;
        let server_cpu_us = self.work.cpu_pid().map(|_| self.cpu_ns as f64 / 1e3 / n);
        Ok(Row {
            mode: self.name,
            summary,
            server_cpu_us,
        })
    }
}

/// Warms every job up, then runs the interleaved blocks.
pub(crate) fn interleave(o: &Options, jobs: &mut [Job]) -> anyhow::Result<()> {
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
