//! What binds a step: the constraint that keeps goodput from growing with more users, and how it
//! is known ([`Source`]): *measured* by the target's metrics or loadgen's own counts, *inferred*
//! from the curves alone (a FIFO queue's latency slope past the knee), or *unknown*. Nothing is
//! called upstream latency without a measured upstream time.

use serde::Serialize;

use crate::input::row::StepRow;
use crate::measure::littles;

/// The constraint that binds a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// More users than the server's permits: requests queue for a permit, the provider did not
    /// push back.
    ServerPermits,
    /// The provider pushed back (429/529) and the live limit sits below the ceiling, with more
    /// users than that limit.
    ProviderTier,
    /// Past about `c` requests in flight, requests queue in front of a concurrency limit inside
    /// the service (a worker pool, a gateway's connection cap): inferred from the curves when
    /// the target exports no permit count.
    ConcurrencyLimit,
    /// Latency grew well above the light-load service time with no queue, and the target's own
    /// measured upstream time grew with it.
    UpstreamLatency,
    /// The target's CPU (measured: `process_cpu_seconds_total` or `--target-pid`) was near its
    /// cores.
    TargetCpu,
    /// Latency grew well above the light-load service time, and nothing measured says why.
    Unknown,
    /// The generator did not keep its users busy (Little's law off by more than 5% below on a
    /// window long enough to judge, or open-loop sends late or unsent).
    Generator,
    /// More than [`RATE_LIMITED`] of the step's requests were answered 429: the target's
    /// per-client rate limit shaped the traffic, so the step measured the limiter, not the
    /// service's capacity (nothing is recommended from it).
    RateLimit,
    /// Nothing binds: goodput grows with the users.
    None,
}

impl Binding {
    /// A short name for tables and sentences.
    pub fn label(self) -> &'static str {
        match self {
            Binding::ServerPermits => "server permits",
            Binding::ProviderTier => "provider tier",
            Binding::ConcurrencyLimit => "a concurrency limit inside the service",
            Binding::UpstreamLatency => "upstream latency",
            Binding::TargetCpu => "target CPU",
            Binding::Unknown => "unknown (latency grew; nothing measured says why)",
            Binding::Generator => "generator",
            Binding::RateLimit => "per-client rate limit",
            Binding::None => "none",
        }
    }
}

/// How a step's binding is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// From the target's metrics (permits, push-back, CPU, upstream time) or loadgen's own
    /// counts (429s, late sends, Little's law, goodput).
    Measured,
    /// From the curves alone: the knee and a latency slope that matches a FIFO queue.
    Inferred,
    /// Latency grew and nothing measured says why.
    Unknown,
}

impl Source {
    /// A short name for tables.
    pub fn label(self) -> &'static str {
        match self {
            Source::Measured => "measured",
            Source::Inferred => "inferred",
            Source::Unknown => "unknown",
        }
    }
}

/// What the target's metrics said about one step, beside its row.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepEvidence {
    /// Share of the target's cores its process used in the step (CPU seconds per second per
    /// core).
    pub cpu_share: Option<f64>,
    /// The step's mean upstream time over the light-load step's.
    pub upstream_growth: Option<f64>,
    /// The target's CPU time per request of the step, ms.
    pub cpu_per_request_ms: Option<f64>,
}

/// Share of its cores above which the target's CPU binds.
pub const CPU_BUSY: f64 = 0.9;

/// Share of the light-load service time spent on the target's CPU above which a request is
/// compute-bound: past the limit the steps meet, its CPU, not a pool, is what binds (a Python
/// service under its GIL reaches one core's worth less what the machine leaves it).
pub const CPU_BOUND: f64 = 0.5;

/// What the classification knows besides the row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// The permit ceiling: the measured server's, or a concurrency limit inferred from the
    /// curves (`None`: legacy mode or unknown).
    pub permits: Option<u32>,
    /// Whether `permits` was measured (the server's `analyze_capacity`), not inferred.
    pub permits_measured: bool,
    /// The live concurrency limit at the end of the run.
    pub live_limit: Option<u32>,
    /// The provider pushed back during the run.
    pub pushed_back: bool,
    /// Mean served latency at light load, ms.
    pub service_ms: f64,
    /// The highest goodput of a step within the permits (every permit busy at best).
    pub goodput_at_permits: f64,
}

/// Latency this much above the light-load service time, with no queue, is upstream latency.
pub const LATENCY_GROWTH: f64 = 1.25;

/// Share of a step's requests answered 429 above which the per-client rate limit binds it.
pub const RATE_LIMITED: f64 = 0.05;

/// Whether more than [`RATE_LIMITED`] of the step's requests were answered 429.
pub fn rate_limited(r: &StepRow) -> bool {
    r.requests > 0 && r.rejected_429 as f64 > RATE_LIMITED * r.requests as f64
}

/// Classifies one closed-loop step, and says how the binding is known.
pub fn classify(r: &StepRow, cx: &Context, ev: &StepEvidence) -> (Binding, Source) {
    if rate_limited(r) {
        return (Binding::RateLimit, Source::Measured);
    }
    // Users who think hold no permit while thinking: what meets the permits is the requests in
    // flight (measured), not the users.
    let thinking = crate::measure::steps::thinks(r);
    let load = crate::measure::steps::in_flight(r);
    // The law says something about the generator only on a step in steady state: an overloaded
    // step (20 s analyses in a 30 s step) misses it by the requests straddling its edges alone.
    let law_short = r
        .littles_law_error_pct
        .is_some_and(|e| e < -littles::LIVE_WARN_PCT)
        && littles::judges(r);
    if law_short || r.unsent > 0 || r.late_sends > 0 {
        return (Binding::Generator, Source::Measured);
    }
    let limit = cx.live_limit.filter(|&l| cx.permits.is_some_and(|p| l < p));
    if cx.pushed_back && limit.is_some_and(|l| load > f64::from(l)) {
        return (Binding::ProviderTier, Source::Measured);
    }
    if ev.cpu_share.is_some_and(|c| c >= CPU_BUSY) {
        return (Binding::TargetCpu, Source::Measured);
    }
    // Past the permits, a goodput still growing (more than 5% above the best within them) is
    // not held by the permits.
    // (With thinking users, goodput grows with users until every permit is busy: more requests
    // in flight than permits is the queue itself.)
    let held =
        thinking || cx.goodput_at_permits <= 0.0 || r.goodput_rps <= 1.05 * cx.goodput_at_permits;
    let past_limit = cx.permits.is_some_and(|p| load > f64::from(p)) && held;
    let compute_bound = ev
        .cpu_per_request_ms
        .is_some_and(|c| cx.service_ms > 0.0 && c >= CPU_BOUND * cx.service_ms);
    if past_limit && compute_bound && !cx.permits_measured {
        return (Binding::TargetCpu, Source::Measured);
    }
    if past_limit {
        return match (cx.pushed_back, cx.permits_measured) {
            (true, _) => (Binding::ProviderTier, Source::Measured),
            (false, true) => (Binding::ServerPermits, Source::Measured),
            (false, false) => (Binding::ConcurrencyLimit, Source::Inferred),
        };
    }
    if cx.service_ms > 0.0 && r.ok > 0 && r.mean_ms > LATENCY_GROWTH * cx.service_ms {
        return if ev.upstream_growth.is_some_and(|g| g > LATENCY_GROWTH) {
            (Binding::UpstreamLatency, Source::Measured)
        } else {
            (Binding::Unknown, Source::Unknown)
        };
    }
    (Binding::None, Source::Measured)
}

/// One step's binding constraint.
#[derive(Debug, Clone, Serialize)]
pub struct StepBinding {
    /// 1-based step.
    pub step: usize,
    /// Its users.
    pub concurrency: u32,
    /// What binds it.
    pub binding: Binding,
    /// How that is known: measured (the target's metrics, loadgen's counts), inferred (the
    /// curves alone) or unknown.
    pub source: Source,
    /// The limit the step met, requests in flight: the server's permits (measured) or the
    /// concurrency limit inferred inside the service; `None` for other bindings.
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    /// The binding alone, with no target evidence.
    fn of(r: &StepRow, cx: &Context) -> Binding {
        classify(r, cx, &StepEvidence::default()).0
    }

    fn cx(permits: Option<u32>, live: Option<u32>, pushed_back: bool) -> Context {
        Context {
            permits,
            permits_measured: true,
            live_limit: live,
            pushed_back,
            service_ms: 1000.0,
            goodput_at_permits: 10.0,
        }
    }

    #[test]
    fn each_constraint_is_recognised() {
        let light = row(1, 5, 5.0, 1000.0);
        let queued = row(2, 20, 10.0, 2000.0);
        assert_eq!(of(&light, &cx(Some(10), None, false)), Binding::None);
        assert_eq!(
            of(&queued, &cx(Some(10), Some(10), false)),
            Binding::ServerPermits
        );
        assert_eq!(
            of(&queued, &cx(Some(40), Some(14), true)),
            Binding::ProviderTier
        );
        // Latency grew with no queue: upstream latency only when the upstream time was measured
        // to grow with it; else unknown, never guessed.
        let slow = row(3, 8, 4.0, 2000.0);
        assert_eq!(
            classify(&slow, &cx(Some(10), None, false), &StepEvidence::default()),
            (Binding::Unknown, Source::Unknown)
        );
        let upstream = StepEvidence {
            upstream_growth: Some(1.9),
            ..StepEvidence::default()
        };
        assert_eq!(
            classify(&slow, &cx(Some(10), None, false), &upstream),
            (Binding::UpstreamLatency, Source::Measured)
        );
        let busy = StepEvidence {
            cpu_share: Some(0.97),
            ..StepEvidence::default()
        };
        assert_eq!(
            classify(&slow, &cx(Some(10), None, false), &busy),
            (Binding::TargetCpu, Source::Measured)
        );
        // A limit inferred from the curves, not a server's permits.
        let mut inferred = cx(Some(10), None, false);
        inferred.permits_measured = false;
        assert_eq!(
            classify(&queued, &inferred, &StepEvidence::default()),
            (Binding::ConcurrencyLimit, Source::Inferred)
        );
        let mut starved = light.clone();
        starved.littles_law_error_pct = Some(-12.0);
        assert_eq!(of(&starved, &cx(None, None, false)), Binding::Generator);
        // Users thinking 10 s over 20 s analyses in a 30 s step: the law's miss is the window's
        // edges, and more users than permits with goodput held is the permits.
        let mut thinking = row(4, 700, 7.0, 20_000.0);
        thinking.duration_s = 30.0;
        thinking.think_time_mean_ms = Some(10_000.0);
        thinking.littles_law_error_pct = Some(-21.0);
        assert_eq!(
            of(&thinking, &cx(Some(10), Some(10), false)),
            Binding::ServerPermits
        );
        // 100 thinking users with 1.6 requests in flight on average do not fill 10 permits.
        let mut light_users = row(5, 100, 1.0, 1000.0);
        light_users.think_time_mean_ms = Some(10_000.0);
        light_users.in_flight_mean = Some(1.6);
        assert_eq!(
            of(&light_users, &cx(Some(10), Some(10), false)),
            Binding::None
        );
        let mut limited = queued.clone();
        (limited.rejected_429, limited.ok) = (limited.requests * 99 / 100, limited.requests / 100);
        assert_eq!(
            of(&limited, &cx(Some(10), Some(10), false)),
            Binding::RateLimit
        );
        light_users.in_flight_mean = Some(24.0);
        assert_eq!(
            of(&light_users, &cx(Some(10), Some(10), false)),
            Binding::ServerPermits
        );
    }
}
