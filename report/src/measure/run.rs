//! The run as a whole: the closed-loop steps the concurrency analysis reads (by users), whether
//! every step was open loop, its peaks, and an open-loop run's objectives per offered rate.

use crate::input::row::StepRow;
use crate::input::run::RunInput;
use crate::input::slo::Objective;
use crate::measure::steps::last_holding;

/// The closed-loop steps that were not interrupted, by users (then step), each with its
/// per-name rows (parallel; empty vectors: one name).
#[derive(Debug, Clone, Default)]
pub struct ClosedLoop {
    /// The total rows.
    pub steps: Vec<StepRow>,
    /// Each step's per-name rows.
    pub named: Vec<Vec<StepRow>>,
}

/// The closed-loop steps. An open-loop step's `concurrency` is its in-flight cap, not users, so
/// it is left out.
pub fn closed_loop(input: &RunInput) -> ClosedLoop {
    let mut order: Vec<usize> = (0..input.rows.len())
        .filter(|&k| {
            let r = &input.rows[k];
            !r.interrupted && r.concurrency.is_some() && r.target_rps.is_none()
        })
        .collect();
    order.sort_by_key(|&k| (input.rows[k].concurrency, input.rows[k].step));
    ClosedLoop {
        steps: order.iter().map(|&k| input.rows[k].clone()).collect(),
        named: order
            .iter()
            .map(|&k| input.named.get(k).cloned().unwrap_or_default())
            .collect(),
    }
}

/// Whether every step that was not interrupted is open loop (then nothing is sized from them).
pub fn open_loop_only(input: &RunInput) -> bool {
    input
        .rows
        .iter()
        .filter(|r| !r.interrupted)
        .all(|r| r.target_rps.is_some())
}

/// The run's highest throughput and goodput.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    /// Highest throughput of a counted step, per second.
    pub max_throughput_rps: f64,
    /// Highest goodput of a counted step, per second.
    pub max_goodput_rps: f64,
    /// Users of that step (`None` for an open-loop step).
    pub max_goodput_concurrency: Option<u32>,
}

/// The peaks over the steps not interrupted: closed-loop ones, or the open-loop ones in a run that
/// has no other. Of steps of equal goodput the first in file order (the lower load) counts.
pub fn peaks(input: &RunInput, open_loop_only: bool) -> Peaks {
    let counted = input
        .rows
        .iter()
        .filter(|r| !r.interrupted && (open_loop_only || r.target_rps.is_none()));
    let max_throughput_rps = counted
        .clone()
        .map(|r| r.throughput_rps)
        .fold(0.0, f64::max);
    let best = counted.fold(None::<&StepRow>, |best, r| match best {
        Some(b) if b.goodput_rps >= r.goodput_rps => Some(b),
        _ => Some(r),
    });
    Peaks {
        max_throughput_rps,
        max_goodput_rps: best.map_or(0.0, |r| r.goodput_rps),
        max_goodput_concurrency: best
            .filter(|r| r.target_rps.is_none())
            .and_then(|r| r.concurrency),
    }
}

/// Mean served latency of the lightest step that served a request, ms (0: none did): the
/// uncontended service time.
pub fn light_service_ms(steps: &[StepRow]) -> f64 {
    steps.iter().find(|r| r.ok > 0).map_or(0.0, |r| r.mean_ms)
}

/// An open-loop run's objectives per offered rate, measured on the rate steps themselves: the
/// highest rate up to which every objective held (`None`: they fail from the lowest rate).
pub fn open_loop_held(input: &RunInput, objectives: &[Objective]) -> Option<f64> {
    let mut order: Vec<usize> = (0..input.rows.len())
        .filter(|&k| !input.rows[k].interrupted)
        .collect();
    let rate = |k: usize| input.rows[k].target_rps.unwrap_or(0.0);
    order.sort_by(|&a, &b| rate(a).total_cmp(&rate(b)));
    let rows: Vec<StepRow> = order.iter().map(|&k| input.rows[k].clone()).collect();
    let named: Vec<Vec<StepRow>> = order
        .iter()
        .map(|&k| input.named.get(k).cloned().unwrap_or_default())
        .collect();
    last_holding(&rows, &named, objectives).and_then(|r| r.target_rps)
}
