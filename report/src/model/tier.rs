//! The provider ceiling this run plans with: the tier and traffic shape from the flags and the
//! server's /metrics snapshot (its counts read from the steps that served when the run failed
//! many analyses), sized for the served request's service time, with the headroom of the
//! measured spread of demand.

use crate::input::row::StepRow;
use crate::input::run::{RunInput, ScrapedStep};
use crate::input::server::ServerSnapshot;
use crate::measure::spread::Spread;
use crate::model::headroom;
use crate::model::provider::{self, ProviderCeiling, ProviderFlags};

/// The spread of one analysis's demand, from the snapshot's histograms.
pub fn spread(input: &RunInput) -> Option<Spread> {
    input
        .server
        .as_ref()
        .and_then(|s| Spread::of(&s.histograms))
}

/// The ceiling for an analysis of `service_ms` (`None`: no tier given or reported).
pub fn ceiling(
    input: &RunInput,
    steps: &[StepRow],
    flags: &ProviderFlags,
    service_ms: f64,
) -> Option<ProviderCeiling> {
    let inputs = provider::resolve(flags, snapshot(input, steps).as_ref());
    (inputs.rpm.is_some() || inputs.itpm.is_some() || inputs.otpm.is_some())
        .then(|| provider::ceiling(&inputs, service_ms / 1000.0))
        .map(|c| headroom::apply(c, spread(input).as_ref()))
}

/// Calls and tokens per analysis from the run's totals (input.rs picks the evidence), when the
/// run served (almost) every request: per-step windows alias with the analyses' phases (2.24
/// calls per 2-call analysis at N=4). A run that failed many analyses (legacy mode under
/// overload) counts in its totals the calls of analyses that then failed (5.1 calls per served
/// 2-call analysis): there the steps that served ≥ 99% are read instead, with --scrape, window
/// by window.
fn snapshot(input: &RunInput, steps: &[StepRow]) -> Option<ServerSnapshot> {
    let (ok, attempts) = input
        .rows
        .iter()
        .filter(|r| !r.interrupted)
        .fold((0, 0), |(o, a), r| (o + r.ok, a + r.requests + r.unsent));
    let served_all = attempts > 0 && ok as f64 >= 0.99 * attempts as f64;
    let light = steps
        .iter()
        .filter(|_| !served_all)
        .filter(|r| r.success_rate >= 0.99)
        .filter_map(|r| input.scraped.get(&r.step))
        .filter(|sc| sc.analyses_ok.is_some() && sc.model_calls_ok.is_some())
        .fold(None::<ScrapedStep>, |acc, sc| {
            let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            Some(match acc {
                None => *sc,
                Some(a) => ScrapedStep {
                    analyses_ok: add(a.analyses_ok, sc.analyses_ok),
                    model_calls_ok: add(a.model_calls_ok, sc.model_calls_ok),
                    input_tokens: add(a.input_tokens, sc.input_tokens),
                    output_tokens: add(a.output_tokens, sc.output_tokens),
                    ..a
                },
            })
        })
        .filter(|sc| sc.analyses_ok.is_some_and(|a| a > 0.0));
    input.server.clone().map(|mut snap| {
        if let (Some(sc), true) = (light, snap.model_calls_ok > 0.0) {
            let calls = sc.model_calls_ok.unwrap_or(snap.model_calls_ok);
            // Tokens per call do not depend on the load: the steps' own when scraped, else the
            // run's per call, carried over to the steps' calls.
            let per_call = calls / snap.model_calls_ok;
            snap.input_tokens = sc.input_tokens.or(snap.input_tokens.map(|t| t * per_call));
            snap.output_tokens = sc
                .output_tokens
                .or(snap.output_tokens.map(|t| t * per_call));
            snap.analyses_ok = sc.analyses_ok.unwrap_or(snap.analyses_ok);
            snap.model_calls_ok = calls;
        }
        snap
    })
}
