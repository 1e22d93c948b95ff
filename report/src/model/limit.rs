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
