//! The per-second time series: one CSV row per second of each step's measured part, with the
//! percentiles of that second alone (not cumulative).

use std::io::{self, Write};

use super::opt;
use crate::plan::Load;
use crate::record::{Interval, LatencySummary, OutcomeClass};

/// The header line.
pub const HEADER: &str = "step,second,concurrency,target_rps,requests,ok,errors,throughput_rps,\
goodput_rps,mean_ms,p50_ms,p90_ms,p99_ms,max_ms";

/// Writes per-second rows.
pub struct TimeseriesSink<W: Write> {
    out: W,
}

impl<W: Write> TimeseriesSink<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{HEADER}")?;
        Ok(Self { out })
    }

    /// Writes one second of step `step`. `seconds` is the interval's length (the last may be short).
    pub fn write_interval(
        &mut self,
        step: usize,
        load: Load,
        iv: &Interval,
        seconds: f64,
    ) -> io::Result<()> {
        let (concurrency, rate) = match load {
            Load::Closed { concurrency } => (Some(concurrency), None),
            Load::Open {
                rate,
                max_in_flight,
                ..
            } => (Some(max_in_flight), Some(rate)),
        };
        let total = iv.total();
        let ok = iv.counts[OutcomeClass::Ok.index()];
        let l = LatencySummary::from_histogram(&iv.latency);
        let per_s = |v: u64| {
            if seconds > 0.0 {
                v as f64 / seconds
            } else {
                0.0
            }
        };
        writeln!(
            self.out,
            "{},{},{},{},{},{},{},{:.2},{:.2},{},{},{},{},{}",
            step,
            iv.second,
            opt(concurrency),
            opt(rate),
            total,
            ok,
            total - ok,
            per_s(total),
            per_s(ok),
            l.mean_ms,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms
        )
    }

    /// Flushes buffered rows.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
