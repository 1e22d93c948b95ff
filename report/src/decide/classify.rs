//! What binds each step of a run: the context (permits, live limit, push-back) and each step's
//! evidence (CPU, upstream latency) gathered from the run's files, then [`binding::classify`].

use crate::decide::binding::{self, Binding, Source, StepBinding, StepEvidence};
use crate::input::row::StepRow;
use crate::input::run::RunInput;
use crate::measure::steps::goodput_within;

/// The live concurrency limit at the end of the run (`analyze_concurrency_limit`), when the
/// snapshot has one.
pub fn live_limit(input: &RunInput) -> Option<u32> {
    input
        .server
        .as_ref()
        .and_then(|s| s.limit)
        .filter(|&l| l >= 1.0)
        .map(|l| l.round() as u32)
}

/// The run-wide context: `inferred` is the limit inferred from the curves (no measured
/// permits), `judged` the steps as [`crate::decide::served::Served::judged`].
pub fn context(
    input: &RunInput,
    inferred: Option<u32>,
    service_ms: f64,
    judged: &[StepRow],
) -> binding::Context {
    binding::Context {
        permits: input.server_capacity.or(inferred),
        permits_measured: input.server_capacity.is_some(),
        live_limit: live_limit(input),
        pushed_back: input.server.as_ref().is_some_and(|s| s.pushbacks > 0.0),
        service_ms,
        // An inferred limit is X·S for the best goodput X: no step is above it.
        goodput_at_permits: match (input.server_capacity, inferred) {
            (Some(p), _) => goodput_within(judged, p),
            (None, Some(_)) => judged.iter().map(|r| r.goodput_rps).fold(0.0, f64::max),
            _ => 0.0,
        },
    }
}

/// Each judged step's binding. With --scrape, each step's own push-back and limit replace the
/// run-wide snapshot's.
pub fn classify(
    input: &RunInput,
    judged: &[StepRow],
    cx: &binding::Context,
) -> Vec<(Binding, Source)> {
    let cores = input
        .config
        .as_ref()
        .and_then(|c| c.get("target_cores")?.as_f64())
        .filter(|&c| c > 0.0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64));
    let light_upstream = judged
        .iter()
        .find_map(|r| input.scraped.get(&r.step)?.upstream_mean_s)
        .filter(|&u| u > 0.0);
    let evidence = |r: &StepRow| {
        let sc = input.scraped.get(&r.step);
        StepEvidence {
            cpu_share: sc
                .and_then(|sc| sc.cpu_s)
                .filter(|_| r.duration_s > 0.0)
                .map(|cpu| cpu / r.duration_s / cores),
            upstream_growth: sc
                .and_then(|sc| sc.upstream_mean_s)
                .zip(light_upstream)
                .map(|(u, light)| u / light),
            cpu_per_request_ms: sc
                .and_then(|sc| sc.cpu_s)
                .filter(|_| r.requests > 0)
                .map(|cpu| cpu * 1000.0 / r.requests as f64),
        }
    };
    judged
        .iter()
        .map(|r| {
            let mut c = *cx;
            if let Some(sc) = input.scraped.get(&r.step) {
                if let Some(p) = sc.pushbacks {
                    c.pushed_back = p > 0.0;
                }
                if let Some(l) = sc.limit_mean.filter(|&l| l >= 1.0) {
                    c.live_limit = Some(l.round() as u32);
                }
            }
            binding::classify(r, &c, &evidence(r))
        })
        .collect()
}

/// The bindings as `summary.json` lists them, one per step.
pub fn step_bindings(
    steps: &[StepRow],
    classified: &[(Binding, Source)],
    permits: Option<u32>,
) -> Vec<StepBinding> {
    steps
        .iter()
        .zip(classified)
        .map(|(r, &(b, source))| StepBinding {
            step: r.step,
            concurrency: r.concurrency.unwrap_or(0),
            binding: b,
            source,
            limit: matches!(b, Binding::ServerPermits | Binding::ConcurrencyLimit)
                .then_some(permits)
                .flatten(),
        })
        .collect()
}
