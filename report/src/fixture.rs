//! Step rows for unit tests.

use crate::row::StepRow;

/// A closed-loop step at `concurrency` users with `goodput` 2xx per second (all requests ok, over
/// 10 s) and `mean_ms` mean latency; percentiles follow the mean.
pub fn row(step: usize, concurrency: u32, goodput: f64, mean_ms: f64) -> StepRow {
    let requests = (goodput * 10.0).round() as u64;
    StepRow {
        step,
        concurrency: Some(concurrency),
        target_rps: None,
        duration_s: 10.0,
        requests,
        ok: requests,
        rejected_429: 0,
        rejected_503: 0,
        other_4xx: 0,
        other_5xx: 0,
        timeouts: 0,
        connect_errors: 0,
        io_errors: 0,
        success_rate: 1.0,
        throughput_rps: goodput,
        goodput_rps: goodput,
        mean_ms,
        p50_ms: mean_ms,
        p90_ms: mean_ms * 1.2,
        p95_ms: mean_ms * 1.3,
        p99_ms: mean_ms * 1.5,
        p999_ms: mean_ms * 1.6,
        max_ms: mean_ms * 2.0,
        stdev_ms: mean_ms * 0.2,
        uncorrected_p50_ms: None,
        uncorrected_p99_ms: None,
        uncorrected_max_ms: None,
        late_sends: 0,
        connections_opened: u64::from(concurrency),
        in_flight_at_end: 0,
        retry_after_count: 0,
        retry_after_mean_s: 0.0,
        retry_after_max_s: 0.0,
        interrupted: false,
        unsent_at_end: 0,
        unsent: 0,
        other_status: 0,
        resent: 0,
        all_p50_ms: mean_ms,
        all_p99_ms: mean_ms * 1.5,
        rejected_p50_ms: 0.0,
        rejected_p99_ms: 0.0,
        connect_p50_ms: None,
        connect_p99_ms: None,
        littles_law_error_pct: None,
        in_flight_mean: None,
        think_time_mean_ms: None,
        name: "*".into(),
    }
}
