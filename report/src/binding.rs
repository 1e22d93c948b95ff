//! What binds a step: the constraint that keeps goodput from growing with more users. Read from
//! the step's row and the server's `/metrics` snapshot (its permits, live limit and whether the
//! provider pushed back during the run).

use serde::Serialize;

use crate::littles;
use crate::row::StepRow;

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
    /// Latency grew well above the light-load service time with no queue for permits.
    UpstreamLatency,
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
            Binding::UpstreamLatency => "upstream latency",
            Binding::Generator => "generator",
            Binding::RateLimit => "per-client rate limit",
            Binding::None => "none",
        }
    }
}

/// What the classification knows besides the row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// The measured server's permit ceiling (`None`: legacy mode or unknown).
    pub permits: Option<u32>,
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

/// Classifies one closed-loop step.
pub fn classify(r: &StepRow, cx: &Context) -> Binding {
    if rate_limited(r) {
        return Binding::RateLimit;
    }
    // Users who think hold no permit while thinking: what meets the permits is the requests in
    // flight (measured), not the users.
    let thinking = crate::analysis::thinks(r);
    let load = crate::analysis::in_flight(r);
    // The law says something about the generator only on a step in steady state: an overloaded
    // step (20 s analyses in a 30 s step) misses it by the requests straddling its edges alone.
    let law_short = r.littles_law_error_pct.is_some_and(|e| e < -5.0) && littles::judges(r);
    if law_short || r.unsent > 0 || r.late_sends > 0 {
        return Binding::Generator;
    }
    let limit = cx.live_limit.filter(|&l| cx.permits.is_some_and(|p| l < p));
    if cx.pushed_back && limit.is_some_and(|l| load > f64::from(l)) {
        return Binding::ProviderTier;
    }
    // Past the permits, a goodput still growing (more than 5% above the best within them) is
    // not held by the permits.
    // (With thinking users, goodput grows with users until every permit is busy: more requests
    // in flight than permits is the queue itself.)
    let held =
        thinking || cx.goodput_at_permits <= 0.0 || r.goodput_rps <= 1.05 * cx.goodput_at_permits;
    if cx.permits.is_some_and(|p| load > f64::from(p)) && held {
        return if cx.pushed_back {
            Binding::ProviderTier
        } else {
            Binding::ServerPermits
        };
    }
    if cx.service_ms > 0.0 && r.ok > 0 && r.mean_ms > LATENCY_GROWTH * cx.service_ms {
        return Binding::UpstreamLatency;
    }
    Binding::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::row;

    fn cx(permits: Option<u32>, live: Option<u32>, pushed_back: bool) -> Context {
        Context {
            permits,
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
        assert_eq!(classify(&light, &cx(Some(10), None, false)), Binding::None);
        assert_eq!(
            classify(&queued, &cx(Some(10), Some(10), false)),
            Binding::ServerPermits
        );
        assert_eq!(
            classify(&queued, &cx(Some(40), Some(14), true)),
            Binding::ProviderTier
        );
        assert_eq!(
            classify(&row(3, 8, 4.0, 2000.0), &cx(Some(10), None, false)),
            Binding::UpstreamLatency
        );
        let mut starved = light.clone();
        starved.littles_law_error_pct = Some(-12.0);
        assert_eq!(
            classify(&starved, &cx(None, None, false)),
            Binding::Generator
        );
        // Users thinking 10 s over 20 s analyses in a 30 s step: the law's miss is the window's
        // edges, and more users than permits with goodput held is the permits.
        let mut thinking = row(4, 700, 7.0, 20_000.0);
        thinking.duration_s = 30.0;
        thinking.think_time_mean_ms = Some(10_000.0);
        thinking.littles_law_error_pct = Some(-21.0);
        assert_eq!(
            classify(&thinking, &cx(Some(10), Some(10), false)),
            Binding::ServerPermits
        );
        // 100 thinking users with 1.6 requests in flight on average do not fill 10 permits.
        let mut light_users = row(5, 100, 1.0, 1000.0);
        light_users.think_time_mean_ms = Some(10_000.0);
        light_users.in_flight_mean = Some(1.6);
        assert_eq!(
            classify(&light_users, &cx(Some(10), Some(10), false)),
            Binding::None
        );
        let mut limited = queued.clone();
        (limited.rejected_429, limited.ok) = (limited.requests * 99 / 100, limited.requests / 100);
        assert_eq!(
            classify(&limited, &cx(Some(10), Some(10), false)),
            Binding::RateLimit
        );
        light_users.in_flight_mean = Some(24.0);
        assert_eq!(
            classify(&light_users, &cx(Some(10), Some(10), false)),
            Binding::ServerPermits
        );
    }
}
