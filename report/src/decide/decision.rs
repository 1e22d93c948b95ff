//! Whether the run gets a recommendation: none for a run whose steps are all open loop, none
//! when the per-client rate limit bound every step that served or no step served; otherwise the
//! recommendation made on the steps that measured the service (those the rate limiter bound are
//! left out, and its reasoning says so).

use crate::decide::binding::{Binding, RATE_LIMITED};
use crate::decide::recommend::{recommend, Inputs};
use crate::decide::recommendation::Recommendation;
use crate::input::row::StepRow;
use crate::measure::knee;
use crate::measure::steps::goodput_curve;

/// The recommendation, or why there is none. `rates`: the offered rates of an open-loop run.
pub fn decide(i: &Inputs, open_loop_only: bool, rates: &[f64]) -> Result<Recommendation, String> {
    if open_loop_only {
        let rates: Vec<String> = rates.iter().map(|r| format!("{r}/s")).collect();
        return Err(format!(
            "No recommendation: every step of this run is open loop (--rate: {}), and the \
             capacity report sizes concurrency (knee, fit, N) from closed-loop steps, where a \
             step's users are its concurrency; an open-loop step's in-flight cap is not. \
             Ramp users (`loadgen ramp --steps …`) for the sizing; this run's measured rates \
             are in the Steps table.",
            rates.join(", ")
        ));
    }
    let keep: Vec<usize> = (0..i.steps.len())
        .filter(|&k| i.bindings.get(k) != Some(&Binding::RateLimit))
        .collect();
    let limited: Vec<&StepRow> = (0..i.steps.len())
        .filter(|k| !keep.contains(k))
        .map(|k| &i.steps[k])
        .collect();
    let steps: Vec<StepRow> = keep.iter().map(|&k| i.steps[k].clone()).collect();
    if !steps.iter().any(|r| r.ok > 0) {
        let why = if let Some(worst) = limited.iter().max_by(|a, b| {
            let share = |r: &StepRow| r.rejected_429 as f64 / r.requests.max(1) as f64;
            share(a).total_cmp(&share(b))
        }) {
            format!(
                "No recommendation: the per-client rate limit bound every step that served \
                 (more than {:.0}% of requests answered 429; {:.0}% at {} users), so the run \
                 measured the limiter, not the service's capacity. Re-run with the limit lifted \
                 for the generator (analyze-server: RATE_LIMIT_PER_MINUTE=0) or from as many \
                 client addresses as production has.",
                RATE_LIMITED * 100.0,
                worst.rejected_429 as f64 / worst.requests.max(1) as f64 * 100.0,
                worst.concurrency.unwrap_or(0)
            )
        } else {
            let errors: u64 = i.steps.iter().map(|r| r.requests).sum();
            format!(
                "No recommendation: no step served a request ({errors} requests, none answered \
                 2xx), so there is no service time, goodput or latency to size from. Fix what \
                 the target answers first (loadgen's table breaks the errors down by status)."
            )
        };
        return Err(why);
    }
    let named: Vec<Vec<StepRow>> = keep
        .iter()
        .map(|&k| i.named.get(k).cloned().unwrap_or_default())
        .collect();
    let bindings: Vec<Binding> = keep.iter().map(|&k| i.bindings[k]).collect();
    let curve = goodput_curve(&steps);
    let users: Vec<u32> = limited.iter().map(|r| r.concurrency.unwrap_or(0)).collect();
    Ok(recommend(&Inputs {
        steps: &steps,
        named: &named,
        curve: &curve,
        knee: if limited.is_empty() {
            i.knee
        } else {
            knee::knee(&curve).map(|c| c as u32)
        },
        bindings: &bindings,
        rate_limited_users: &users,
        ..*i
    }))
}
