//! The final human-readable table, one line per step, then each step's errors by status.

use std::io::{self, Write};

use crate::record::StepResult;

/// Writes the table.
pub fn write(mut out: impl Write, steps: &[StepResult]) -> io::Result<()> {
    writeln!(
        out,
        "{:>4} {:>6} {:>8} {:>9} {:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7}",
        "step",
        "conc",
        "rate",
        "requests",
        "success",
        "rps",
        "goodput",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "429",
        "503",
        "errors"
    )?;
    for s in steps {
        // Every attempt that was not a 2xx, 429 or 503 (so the three columns add up to the
        // progress line's `errors`).
        let other = s.errors() - s.rejected_429 - s.rejected_503;
        writeln!(
            out,
            "{:>4} {:>6} {:>8} {:>9} {:>7.2}% {:>10.1} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>7} {:>7}{}",
            s.step,
            // Open loop: the rate is the load; `concurrency` holds --max-in-flight, a cap.
            match (s.target_rps, s.concurrency) {
                (None, Some(c)) => c.to_string(),
                _ => "-".into(),
            },
            s.target_rps.map(|r| format!("{r}/s")).unwrap_or_else(|| "-".into()),
            s.requests,
            s.success_rate * 100.0,
            s.throughput_rps,
            s.goodput_rps,
            s.latency.p50_ms,
            s.latency.p90_ms,
            s.latency.p99_ms,
            s.latency.max_ms,
            s.rejected_429,
            s.rejected_503,
            other,
            if s.interrupted { "  (cut by Ctrl-C)" } else { "" },
        )?;
    }
    for s in steps {
        let b = crate::hints::breakdown(s);
        if !b.is_empty() {
            writeln!(out, "step {} errors: {b}", s.step)?;
        }
    }
    out.flush()
}
