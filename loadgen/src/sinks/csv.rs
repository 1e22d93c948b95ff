//! The CSV summary: one row per step, the columns first (named exactly), extras after.

use std::io::{self, Write};

use super::opt;
use crate::record::StepResult;

/// The header line.
pub const HEADER: &str =
    "step,concurrency,target_rps,duration_s,requests,ok,rejected_429,rejected_503,\
other_4xx,other_5xx,timeouts,connect_errors,io_errors,success_rate,throughput_rps,goodput_rps,\
mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,p999_ms,max_ms,stdev_ms,uncorrected_p50_ms,uncorrected_p99_ms,\
uncorrected_max_ms,late_sends,connections_opened,in_flight_at_end,retry_after_count,\
retry_after_mean_s,retry_after_max_s,interrupted,unsent_at_end";

/// Writes rows as steps finish, flushing each so a cut run keeps what it measured.
pub struct CsvSink<W: Write> {
    out: W,
}

impl<W: Write> CsvSink<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{HEADER}")?;
        out.flush()?;
        Ok(Self { out })
    }

    /// Writes one step's row.
    pub fn write_step(&mut self, s: &StepResult) -> io::Result<()> {
        let l = &s.latency;
        let u = s.uncorrected.as_ref();
        writeln!(
            self.out,
            "{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{:.4},{:.2},{:.2},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{},{},{}",
            s.step,
            opt(s.concurrency),
            opt(s.target_rps),
            s.duration_s,
            s.requests,
            s.ok,
            s.rejected_429,
            s.rejected_503,
            s.other_4xx,
            s.other_5xx,
            s.timeouts,
            s.connect_errors,
            s.io_errors,
            s.success_rate,
            s.throughput_rps,
            s.goodput_rps,
            l.mean_ms,
            l.p50_ms,
            l.p90_ms,
            l.p95_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            l.stdev_ms,
            opt(u.map(|u| u.p50_ms)),
            opt(u.map(|u| u.p99_ms)),
            opt(u.map(|u| u.max_ms)),
            s.late_sends,
            s.connections_opened,
            s.in_flight_at_end,
            s.retry_after.count,
            s.retry_after.mean_s(),
            s.retry_after.max_s,
            s.interrupted,
            s.unsent_at_end,
        )?;
        self.out.flush()
    }
}
