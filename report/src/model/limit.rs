//! A concurrency limit inside the service, inferred from the goodput and latency curves when
//! no permit count was measured.

use crate::input::row::StepRow;
use crate::measure::steps::{shed_fraction, SHED_LIMIT};
use crate::model::queueing;

/// A concurrency limit inside the service, inferred from the curves alone. By the utilization
/// law, the requests at work at the best goodput X are X × S (S the light-load service time):
/// c = X·S. It is accepted with evidence of what a limit does to the excess, on the steps with
/// more users than c: either it queues (FIFO in front of c workers: mean latency grows by S/c
/// per extra user, a straight line, R² ≥ 0.8, its slope within 25% of S/c) or it sheds (more
/// than 1% of the requests answered 503 or 429 past c: nginx's `limit_conn`, a full queue).
pub fn inferred_limit(steps: &[StepRow], service_ms: f64) -> Option<u32> {
    let goodput = steps.iter().map(|r| r.goodput_rps).fold(0.0, f64::max);
    let c = goodput * service_ms / 1000.0;
    if c < 0.5 || service_ms <= 0.0 {
        return None;
    }
    let floor = c.floor().max(1.0);
    let past: Vec<&StepRow> = steps
        .iter()
        .filter(|r| r.ok > 0 && r.concurrency.is_some_and(|u| f64::from(u) >= floor))
        .collect();
    let points: Vec<(f64, f64)> = past
        .iter()
        .filter(|r| shed_fraction(r) <= SHED_LIMIT)
        .map(|r| (f64::from(r.concurrency.unwrap_or(0)), r.mean_ms))
        .collect();
    let queues = points.iter().filter(|p| p.0 > c).count() >= 1
        && queueing::linear(&points).is_some_and(|(slope, _, r2)| {
            points.len() >= 2
                && r2 >= 0.8
                && slope > 0.0
                && ((service_ms / slope) / c - 1.0).abs() <= 0.25
        });
    let sheds = past
        .iter()
        .any(|r| r.concurrency.is_some_and(|u| f64::from(u) > c) && shed_fraction(r) > SHED_LIMIT);
    (queues || sheds).then(|| c.round().max(1.0) as u32)
}

/// The limit the steps meet, and how it is known.
#[derive(Debug, Clone, Default)]
pub struct Permits {
    /// The permit count: measured, inferred, or the knee (`None`: none of them).
    pub permits: Option<u32>,
    /// Where it comes from, as a phrase.
    pub source: String,
    /// The limit [`inferred_limit`] found (only without a measured permit count).
    pub inferred: Option<u32>,
}

/// The server's own permits (measured), else a concurrency limit inferred from the curves, when
/// the latency past the knee grows as a FIFO queue in front of about c workers would (slope
/// S/c), else the knee.
pub fn permits(
    measured: Option<u32>,
    steps: &[StepRow],
    service_ms: f64,
    knee: Option<u32>,
) -> Permits {
    let inferred = match measured {
        None => inferred_limit(steps, service_ms),
        Some(_) => None,
    };
    let (permits, source) = match (measured, inferred, knee) {
        (Some(n), _, _) => (
            Some(n),
            "analyze_capacity in the /metrics snapshot".to_string(),
        ),
        (None, Some(c), _) => (
            Some(c),
            format!(
                "inferred: the best goodput × the light-load service time keeps about {c} \
                 requests at work, and past {c} users the excess queues or is shed"
            ),
        ),
        (None, None, Some(k)) => (
            Some(k),
            "the knee (no /metrics snapshot beside the run; the latency past it does not match \
             a queue)"
                .to_string(),
        ),
        _ => (None, String::new()),
    };
    Permits {
        permits,
        source,
        inferred,
    }
}

/// The latency growth past the permits, from the steps that served and were not saturated by
/// shedding.
pub fn queueing_view(
    steps: &[StepRow],
    limit: &Permits,
    service_ms: f64,
) -> Option<queueing::QueueingView> {
    let points: Vec<(f64, f64)> = steps
        .iter()
        .filter(|r| r.ok > 0 && shed_fraction(r) <= SHED_LIMIT)
        .map(|r| (f64::from(r.concurrency.unwrap_or(0)), r.mean_ms))
        .collect();
    limit
        .permits
        .and_then(|n| queueing::view(&points, n, &limit.source, service_ms))
}
