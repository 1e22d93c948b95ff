//! `loadgen find-capacity`: the highest concurrency (or arrival rate) at which every objective
//! holds. Probes grow geometrically from `--min` until an objective fails (or `--max`), the
//! bracket is then bisected down to `--resolution`, and the best load is re-run `--confirm`
//! times: it is reported only if it holds every time; a failed confirmation makes it the new
//! upper bound and the search goes on below it. Every probe is a CSV row like a ramp step.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cli::{Command, FindCapacityArgs};
use crate::engine::Engine;
use crate::error::{ConfigError, RunError};
use crate::gate;
use crate::plan::{self, Plan};
use crate::record::StepResult;
use crate::row::StepRow;
use crate::sinks::progress::Progress;
use crate::{run_steps, stop_on_signal, warn_long_timeout, Outputs, EXIT_SIGINT};

/// One probe of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Concurrency or rate probed.
    pub load: f64,
    /// Whether every objective held.
    pub passed: bool,
    /// Why it was run: `grow`, `bisect` or `confirm`.
    pub phase: &'static str,
    /// The probe's CSV row.
    pub row: StepRow,
}

/// The search's answer, as `--json` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// Highest load at which every objective held in every run (`None`: even the lowest failed).
    pub capacity: Option<f64>,
    /// `concurrency` or `rps`.
    pub unit: &'static str,
    /// The objectives, as given.
    pub objectives: Vec<String>,
    /// True when the search stopped at `--max` without a failure (the capacity is at least that).
    pub capped_by_max: bool,
    /// Every probe, in order.
    pub probes: Vec<Probe>,
    /// Requests sent by `--preflight-request` (0 when the check only connected).
    pub preflight_requests: u64,
    /// Requests sent during the probes' warm-ups: with the probes' `requests` and the
    /// preflight's, what the target itself counted.
    pub warmup_requests: u64,
}

/// Pure search state: which load to probe next given the outcomes so far.
#[derive(Debug, Clone)]
pub struct Search {
    min: f64,
    max: f64,
    factor: f64,
    resolution: f64,
    integer: bool,
    /// Highest load that passed (and was not refuted by a confirmation).
    pub best: Option<f64>,
    /// Lowest load that failed.
    pub fail: Option<f64>,
    passes: Vec<f64>,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Probe this load (growing or bisecting).
    Probe(f64, &'static str),
    /// Confirm the best load.
    Confirm(f64),
    /// Done: the best load (if any).
    Done(Option<f64>),
}

impl Search {
    /// A search over `[min, max]`; `integer` for concurrency.
    pub fn new(min: f64, max: f64, factor: f64, resolution: f64, integer: bool) -> Self {
        Self {
            min,
            max,
            factor,
            resolution,
            integer,
            best: None,
            fail: None,
            passes: Vec::new(),
        }
    }

    fn round(&self, x: f64) -> f64 {
        if self.integer {
            x.round().max(1.0)
        } else {
            x
        }
    }

    /// Records a probe's outcome.
    pub fn record(&mut self, load: f64, passed: bool) {
        if passed {
            self.passes.push(load);
            if self.best.is_none_or(|b| load > b) && self.fail.is_none_or(|f| load < f) {
                self.best = Some(load);
            }
        } else {
            self.fail = Some(self.fail.map_or(load, |f| f.min(load)));
            if self.best.is_some_and(|b| b >= load) {
                // A refuted best: fall back to the highest pass below the failure.
                self.best = self
                    .passes
                    .iter()
                    .copied()
                    .filter(|&p| p < load)
                    .reduce(f64::max);
            }
        }
    }

    /// The next action; `confirmed` says whether the current best already passed its
    /// confirmation runs.
    pub fn next(&self, confirmed: bool) -> Next {
        match (self.best, self.fail) {
            (None, None) => Next::Probe(self.round(self.min), "grow"),
            (None, Some(f)) if f <= self.round(self.min) => Next::Done(None),
            (None, Some(f)) => {
                // Everything probed failed, but the minimum was not probed (after a refuted best).
                let lo = self.round(self.min);
                if f - lo <= self.resolution {
                    Next::Probe(lo, "bisect")
                } else {
                    Next::Probe(self.round((lo + f) / 2.0), "bisect")
                }
            }
            (Some(b), None) if b >= self.max => {
                if confirmed {
                    Next::Done(Some(b))
                } else {
                    Next::Confirm(b)
                }
            }
            (Some(b), None) => Next::Probe(self.round((b * self.factor).min(self.max)), "grow"),
            (Some(b), Some(f)) => {
                let mid = self.round((b + f) / 2.0);
                if f - b <= self.resolution || mid <= b || mid >= f {
                    if confirmed {
                        Next::Done(Some(b))
                    } else {
                        Next::Confirm(b)
                    }
                } else {
                    Next::Probe(mid, "bisect")
                }
            }
        }
    }
}

fn validate(a: &FindCapacityArgs) -> Result<(), ConfigError> {
    let finite_pos = |v: f64| v.is_finite() && v > 0.0;
    if !finite_pos(a.min) {
        return Err(ConfigError::new("--min", "must be a positive number"));
    }
    if !(a.max.is_finite() && a.max >= a.min) {
        return Err(ConfigError::new("--max", "must be at least --min"));
    }
    if !(a.factor.is_finite() && a.factor > 1.0) {
        return Err(ConfigError::new("--factor", "must be greater than 1"));
    }
    if !finite_pos(a.resolution) {
        return Err(ConfigError::new(
            "--resolution",
            "must be a positive number",
        ));
    }
    if a.common.gate.slo.is_empty() {
        return Err(ConfigError::new(
            "--slo",
            "find-capacity needs at least one objective (e.g. --slo 'p99<2s')",
        ));
    }
    if !a.rate && (a.max > f64::from(u32::MAX)) {
        return Err(ConfigError::new("--max", "concurrency too large"));
    }
    if a.rate && a.max > crate::plan::MAX_RATE {
        return Err(ConfigError::new(
            "--max",
            format!("a rate above {} per second", crate::plan::MAX_RATE),
        ));
    }
    Ok(())
}

/// Runs the search; exit 0 when a capacity was found, 1 when even the lowest load fails.
pub async fn find_capacity(args: &FindCapacityArgs) -> Result<u8, RunError> {
    validate(args)?;
    let common = &args.common;
    let objectives = common.gate.slo.clone();
    let plan = Arc::new(Plan::from_command(&Command::FindCapacity(args.clone()))?);
    let request_names: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
    gate::check_names(&objectives, &request_names)?;
    warn_long_timeout(&plan);
    let cancel = CancellationToken::new();
    let engine = Engine::new(plan.clone(), cancel.clone()).await?;
    let preflight = engine.preflight().await?;
    crate::warn_preflight(&preflight);
    let mut out = Outputs::create(common, "find-capacity")?;
    let exit_signal = Arc::new(AtomicU8::new(0));
    let signals = stop_on_signal(
        cancel.clone(),
        engine.cut_token(),
        plan.timeout.min(crate::STOP_GRACE),
        exit_signal.clone(),
    )?;
    let progress = Progress::new(common.output.quiet, 0);
    let integer = !args.rate;
    let mut search = Search::new(args.min, args.max, args.factor, args.resolution, integer);
    let mut probes: Vec<Probe> = Vec::new();
    let mut results: Vec<StepResult> = Vec::new();
    let mut confirmed = false;
    let mut answer = None;
    let mut run_started = None;
    // Bounded: each probe narrows the bracket or confirms; a generous cap guards the loop.
    for _ in 0..200 {
        if cancel.is_cancelled() {
            break;
        }
        let (load, phase) = match search.next(confirmed) {
            Next::Done(best) => {
                answer = Some(best);
                break;
            }
            Next::Probe(l, phase) => (l, phase),
            Next::Confirm(l) => (l, "confirm"),
        };
        let runs = if phase == "confirm" { args.confirm } else { 1 };
        let mut all_passed = true;
        for _ in 0..runs {
            let mut step_load = if integer {
                plan::closed(load as u32, "--min/--max")?
            } else {
                plan::open(load, common.max_in_flight, "--min/--max")?
            };
            if let Some(inst) = plan.instance {
                step_load = plan::share(step_load, inst);
            }
            // --start-at aligns the first probe; later probes follow back to back.
            let start = if results.is_empty() {
                match crate::wait_for_start(&plan, &cancel).await? {
                    Some((start, wall)) => {
                        run_started = Some(wall);
                        Some(start)
                    }
                    None => break,
                }
            } else {
                None
            };
            let mut r = run_steps(
                &engine,
                &plan,
                &[step_load],
                crate::StepSinks {
                    progress: &progress,
                    csv: &mut out.csv,
                    timeseries: out.timeseries.as_ref(),
                },
                results.len(),
                start,
            )
            .await?;
            let Some(result) = r.pop() else { break };
            let failed: Vec<String> = objectives
                .iter()
                .filter_map(|o| {
                    let (ok, measured) = gate::check(o, &result);
                    (!ok).then(|| format!("{} (measured {measured})", o.text))
                })
                .collect();
            let passed = failed.is_empty();
            eprintln!(
                "loadgen: probe {} {} {}: {}",
                results.len() + 1,
                phase,
                load,
                if passed {
                    "passed".to_string()
                } else {
                    format!("failed: {}", failed.join(", "))
                }
            );
            probes.push(Probe {
                load,
                passed,
                phase,
                row: StepRow::from(&result),
            });
            results.push(result);
            all_passed &= passed;
            if !passed || cancel.is_cancelled() {
                break;
            }
        }
        if phase == "confirm" {
            if all_passed {
                confirmed = true;
            } else {
                search.record(load, false);
                confirmed = false;
            }
        } else {
            search.record(load, all_passed);
            confirmed = false;
        }
    }
    progress.finish();
    signals.abort();
    crate::finish_scrape(out.scraper.take(), &mut results).await?;
    if let Some(ts) = &out.timeseries {
        ts.lock().unwrap_or_else(|e| e.into_inner()).flush()?;
    }
    let unit = if integer { "concurrency" } else { "rps" };
    let capacity = answer.flatten();
    let report = CapacityReport {
        capacity,
        unit,
        objectives: objectives.iter().map(|o| o.text.clone()).collect(),
        capped_by_max: capacity.is_some_and(|c| c >= args.max),
        probes,
        preflight_requests: preflight.requests,
        warmup_requests: engine.warmup_requests(),
    };
    if let Some(json) = out.json.take() {
        serde_json::to_writer_pretty(json, &report).map_err(std::io::Error::other)?;
    }
    if let Some(hdr) = out.hdr.take() {
        crate::sinks::hdrlog::write(
            hdr,
            &crate::sinks::hdrlog::LogMeta::of(&plan),
            &results,
            run_started.unwrap_or_else(std::time::SystemTime::now),
        )?;
    }
    if let Some(path) = &out.junit {
        crate::sinks::junit::write(
            crate::sinks::create(path, "--junit")?,
            "find-capacity",
            &objectives,
            &results,
            None,
        )?;
    }
    eprintln!("loadgen: probes in {}", out.path.display());
    let signal = exit_signal.load(Ordering::SeqCst);
    if signal != 0 {
        eprintln!("loadgen: interrupted before the search ended");
        return Ok(signal);
    }
    let how: Vec<String> = report
        .probes
        .iter()
        .map(|p| {
            format!(
                "{} {}{}",
                p.phase,
                p.load,
                if p.passed { " ok" } else { " FAIL" }
            )
        })
        .collect();
    match capacity {
        Some(c) => {
            println!(
                "capacity: {c} {unit}{} (every objective held at {c} in {} confirmation run(s))",
                if report.capped_by_max {
                    " or more (--max reached)"
                } else {
                    ""
                },
                args.confirm
            );
            println!("probes: {}", how.join(", "));
            Ok(0)
        }
        None if answer.is_some() => {
            println!(
                "capacity: none — objectives fail even at {} {unit}",
                args.min
            );
            println!("probes: {}", how.join(", "));
            Ok(1)
        }
        None => {
            eprintln!("loadgen: the search did not converge within 200 probes");
            Ok(if signal == 0 { 1 } else { EXIT_SIGINT })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the search against a target whose true capacity is `cap`.
    fn converge(cap: f64, min: f64, max: f64, integer: bool) -> (Option<f64>, usize) {
        let mut s = Search::new(min, max, 2.0, 1.0, integer);
        let mut confirmed = false;
        for n in 0..100 {
            match s.next(confirmed) {
                Next::Done(b) => return (b, n),
                Next::Probe(l, _) => {
                    s.record(l, l <= cap);
                    confirmed = false;
                }
                Next::Confirm(l) => {
                    if l <= cap {
                        confirmed = true
                    } else {
                        s.record(l, false)
                    }
                }
            }
        }
        panic!("no convergence");
    }

    #[test]
    fn the_search_lands_within_one_resolution_step_of_the_capacity() {
        for cap in [1.0, 3.0, 7.0, 16.0, 37.0, 100.0] {
            let (found, probes) = converge(cap, 1.0, 1000.0, true);
            let found = found.expect("found");
            assert!(
                found <= cap && cap - found <= 1.0,
                "cap {cap}: found {found}"
            );
            assert!(probes < 25, "cap {cap}: {probes} probes");
        }
    }

    #[test]
    fn a_failing_minimum_means_no_capacity() {
        assert_eq!(converge(0.5, 1.0, 100.0, true).0, None);
    }

    #[test]
    fn a_capacity_above_max_stops_at_max() {
        assert_eq!(converge(500.0, 1.0, 64.0, true).0, Some(64.0));
    }

    #[test]
    fn a_refuted_confirmation_searches_below_it() {
        let mut s = Search::new(1.0, 100.0, 2.0, 1.0, true);
        s.record(1.0, true);
        s.record(2.0, true);
        s.record(4.0, false);
        s.record(3.0, true);
        assert_eq!(s.next(false), Next::Confirm(3.0));
        s.record(3.0, false);
        assert_eq!(s.best, Some(2.0));
        assert_eq!(s.next(false), Next::Confirm(2.0));
    }
}
