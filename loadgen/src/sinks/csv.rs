//! The CSV summary (`--out`): one [`StepRow`] per step, and with a scenario of several requests
//! one more per request name, each flushed as its step resolves. The row schema and its reader
//! are [`crate::row`], shared with the report.

use std::io::Write;

use crate::record::StepResult;
use crate::row::{header, StepRow, TOTAL};

impl From<&StepResult> for StepRow {
    /// The row of a step's result.
    fn from(s: &StepResult) -> Self {
        let l = &s.latency;
        let u = s.uncorrected.as_ref();
        let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
        StepRow {
            step: s.step,
            concurrency: s.concurrency,
            target_rps: s.target_rps,
            duration_s: r3(s.duration_s),
            requests: s.requests,
            ok: s.ok,
            rejected_429: s.rejected_429,
            rejected_503: s.rejected_503,
            other_4xx: s.other_4xx,
            other_5xx: s.other_5xx,
            timeouts: s.timeouts,
            connect_errors: s.connect_errors,
            io_errors: s.io_errors,
            success_rate: (s.success_rate * 10_000.0).round() / 10_000.0,
            throughput_rps: (s.throughput_rps * 100.0).round() / 100.0,
            goodput_rps: (s.goodput_rps * 100.0).round() / 100.0,
            mean_ms: l.mean_ms,
            p50_ms: l.p50_ms,
            p90_ms: l.p90_ms,
            p95_ms: l.p95_ms,
            p99_ms: l.p99_ms,
            p999_ms: l.p999_ms,
            max_ms: l.max_ms,
            stdev_ms: l.stdev_ms,
            uncorrected_p50_ms: u.map(|u| u.p50_ms),
            uncorrected_p99_ms: u.map(|u| u.p99_ms),
            uncorrected_max_ms: u.map(|u| u.max_ms),
            late_sends: s.late_sends,
            connections_opened: s.connections_opened,
            in_flight_at_end: s.in_flight_at_end,
            retry_after_count: s.retry_after.count,
            retry_after_mean_s: r3(s.retry_after.mean_s()),
            retry_after_max_s: s.retry_after.max_s,
            interrupted: s.interrupted,
            unsent_at_end: s.unsent,
            unsent: s.unsent,
            other_status: s.other_status,
            resent: s.resent,
            all_p50_ms: s.all_latency.p50_ms,
            all_p99_ms: s.all_latency.p99_ms,
            rejected_p50_ms: s.rejected_latency.p50_ms,
            rejected_p99_ms: s.rejected_latency.p99_ms,
            connect_p50_ms: s.connect_latency.as_ref().map(|c| c.p50_ms),
            connect_p99_ms: s.connect_latency.as_ref().map(|c| c.p99_ms),
            littles_law_error_pct: s.littles_law_error_pct.map(|v| (v * 100.0).round() / 100.0),
            in_flight_mean: s.in_flight_mean.map(|v| (v * 1000.0).round() / 1000.0),
            think_time_mean_ms: s.think_time_mean_ms.map(|v| (v * 1000.0).round() / 1000.0),
            name: TOTAL.to_string(),
            arrivals: s.arrivals.map(|a| a.to_string()),
        }
    }
}

/// Writes rows as steps finish, flushing each so a cut run keeps what it measured.
pub struct CsvSink<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> CsvSink<W> {
    /// Writes the header.
    pub fn new(out: W) -> std::io::Result<Self> {
        let mut out = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        out.write_record(header())?;
        out.flush()?;
        Ok(Self { out })
    }

    /// Writes one step's row.
    pub fn write_step(&mut self, s: &StepResult) -> std::io::Result<()> {
        self.write_row(&StepRow::from(s))?;
        for (name, r) in &s.per_name {
            let mut row = StepRow::from(r);
            row.name = name.clone();
            self.write_row(&row)?;
        }
        Ok(())
    }

    /// Flushes every row written so far to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// Writes one row.
    pub fn write_row(&mut self, row: &StepRow) -> std::io::Result<()> {
        self.out.serialize(row).map_err(std::io::Error::other)?;
        self.out.flush()
    }
}
