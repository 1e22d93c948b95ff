//! Little's law per step: in a closed loop, concurrency ≈ throughput × mean latency. A step more
//! than [`REPORT_WARN_PCT`] off means client-side queueing, timeouts, or a measurement problem.

use serde::Serialize;

use crate::input::row::StepRow;

/// Relative error (percent, either way) above which the report flags a step in its Little's-law
/// table and findings: a statement in the report, so only a clear miss.
pub const REPORT_WARN_PCT: f64 = 10.0;

/// Relative error (percent) above which loadgen warns while the run goes on, and a step whose
/// requests in flight fall short of the law by more than it is bound by the generator (its users
/// could not keep their requests in flight): a hint to look, cheap to ignore, so it speaks at
/// half the report's margin. These two values differ by history, not measurement; kept as they
/// were so reports do not change.
pub const LIVE_WARN_PCT: f64 = 5.0;

/// Little's law on one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LittleCheck {
    /// 1-based step number.
    pub step: usize,
    /// The step's concurrency (virtual users).
    pub concurrency: u32,
    /// Resolved requests per second × their mean latency: the concurrency the law implies.
    pub predicted: f64,
    /// The concurrency the step ran at.
    pub measured: f64,
    /// (predicted − measured) / measured, in percent.
    pub error_pct: f64,
    /// The step's p99 latency (every answer) as a share of its duration.
    pub tail_share: Option<f64>,
    /// Whether the step is short-tailed enough ([`MAX_TAIL_SHARE`]) for the law to judge it.
    pub judged: bool,
    /// Judged and |error_pct| > 10.
    pub warning: bool,
}

/// The law judges a step only when its p99 latency is at most this share of the step's
/// duration. Over one window the law holds only for a system in steady state; requests lasting a
/// good part of the window straddle its edges (a step where a queue still grows, as an
/// overloaded one: 20 s analyses in a 30 s step), and the figure moves with them by more than
/// the tolerance, so a miss there says nothing about the generator.
pub const MAX_TAIL_SHARE: f64 = 0.25;

/// The step's p99 latency of every answer (else of its 2xx) as a share of its duration.
pub fn tail_share(r: &StepRow) -> Option<f64> {
    let p99_ms = if r.all_p99_ms > 0.0 {
        r.all_p99_ms
    } else {
        r.p99_ms
    };
    (r.duration_s > 0.0 && r.requests > 0).then(|| tail_share_of(p99_ms, r.duration_s))
}

/// A p99 latency, ms, as a share of a step of `duration_s` seconds (loadgen's console uses it
/// on its own step results, so both judge a step alike).
pub fn tail_share_of(p99_ms: f64, duration_s: f64) -> f64 {
    p99_ms / 1000.0 / duration_s.max(f64::MIN_POSITIVE)
}

/// Whether the step is short-tailed enough for the law to judge it (see [`MAX_TAIL_SHARE`]).
pub fn judges(r: &StepRow) -> bool {
    tail_share(r).is_none_or(|s| s <= MAX_TAIL_SHARE)
}

/// Mean latency of every answered request, seconds. The CSV has the 2xx mean; the other answers
/// are weighted by their medians (the best the columns offer).
pub fn mean_latency_s(r: &StepRow) -> Option<f64> {
    if r.requests == 0 {
        return None;
    }
    let rejected = r.rejected_429 + r.rejected_503;
    let rest = r.requests.saturating_sub(r.ok + rejected);
    let ms = (r.ok as f64 * r.mean_ms
        + rejected as f64 * r.rejected_p50_ms
        + rest as f64 * r.all_p50_ms)
        / r.requests as f64;
    Some(ms / 1000.0)
}

/// Requests of the step that resolved (answered or failed), per second: `requests` also counts
/// the ones still in flight when the step ended, which Little's law must not (they have no
/// latency yet).
pub fn resolved_rps(r: &StepRow) -> f64 {
    if r.duration_s > 0.0 {
        r.requests.saturating_sub(r.in_flight_at_end) as f64 / r.duration_s
    } else {
        0.0
    }
}

/// Checks each closed-loop step (open-loop steps set their own arrival rate, so the law says
/// nothing about the configured in-flight cap) that is not interrupted.
pub fn check(rows: &[StepRow]) -> Vec<LittleCheck> {
    rows.iter()
        .filter(|r| r.target_rps.is_none() && !r.interrupted)
        .filter_map(|r| {
            let c = r.concurrency?;
            let measured = f64::from(c);
            // loadgen measured it on the step (exact latencies, pauses, cycle shares); older
            // CSVs are checked from their columns.
            let (predicted, error_pct) = match r.littles_law_error_pct {
                Some(e) => (measured * (1.0 + e / 100.0), e),
                None => {
                    let predicted = resolved_rps(r) * mean_latency_s(r)?;
                    (predicted, (predicted - measured) / measured * 100.0)
                }
            };
            let judged = judges(r);
            Some(LittleCheck {
                step: r.step,
                concurrency: c,
                predicted,
                measured,
                error_pct,
                tail_share: tail_share(r),
                judged,
                warning: judged && error_pct.abs() > REPORT_WARN_PCT,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    #[test]
    fn consistent_steps_pass_and_a_doctored_step_is_flagged() {
        // 10 users, 200 ms each → 50/s; 20 users at 400 ms → 50/s.
        let mut rows = vec![row(1, 10, 50.0, 200.0), row(2, 20, 50.0, 400.0)];
        let ok = check(&rows);
        assert!(
            ok.iter().all(|c| !c.warning && c.error_pct.abs() < 1e-9),
            "{ok:?}"
        );
        // Requests cut at the step's end have no latency and do not count.
        rows[0].requests += 10;
        rows[0].in_flight_at_end = 10;
        assert!(!check(&rows)[0].warning);
        rows[1].mean_ms = 300.0; // the latency column no longer explains 20 users
        let flagged = check(&rows);
        assert!(!flagged[0].warning);
        assert!(flagged[1].warning);
        assert!((flagged[1].predicted - 15.0).abs() < 1e-9);
        assert!((flagged[1].error_pct + 25.0).abs() < 1e-9);
    }

    #[test]
    fn a_step_whose_tail_spans_the_window_is_not_judged() {
        // Overloaded: 20 s analyses (p99 30 s) in a 30 s step; the law is 20% off.
        let mut r = row(1, 100, 3.0, 20_000.0);
        r.duration_s = 30.0;
        r.think_time_mean_ms = Some(10_000.0);
        r.littles_law_error_pct = Some(-20.0);
        let c = &check(&[r.clone()])[0];
        assert!((c.tail_share.unwrap() - 1.0).abs() < 1e-9, "{c:?}");
        assert!(!c.judged && !c.warning, "{c:?}");
        // The same error with a tail of a tenth of the step is a warning.
        r.duration_s = 300.0;
        let c = &check(&[r])[0];
        assert!(c.judged && c.warning, "{c:?}");
    }
}
