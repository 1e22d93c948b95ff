//! `loadgen find-capacity`: probes chosen by [`crate::capacity::Search`] run one by one in one
//! session; each probe is a CSV row like a ramp step, and the answer is printed and written as
//! `--json`. Exit 0 when a capacity was found, 1 when even the lowest load fails.

use std::sync::Arc;

use crate::capacity::{CapacityReport, Next, Phase, Probe, Search};
use crate::cli::{Command, FindCapacityArgs};
use crate::error::{ConfigError, RunError};
use crate::gate;
use crate::plan::{self, Plan};
use crate::record::StepResult;
use crate::row::StepRow;
use crate::session::Session;

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
    if a.common.gate.slo_until.is_some() {
        return Err(ConfigError::new(
            "--slo-until",
            "does not apply to find-capacity: every probe is gated whole (use --max to bound the search)",
        ));
    }
    if !a.rate() && (a.max > f64::from(u32::MAX)) {
        return Err(ConfigError::new("--max", "concurrency too large"));
    }
    if a.rate() && a.max > crate::plan::MAX_RATE {
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
    let objectives = &common.gate.slo;
    let plan = Arc::new(Plan::from_command(&Command::FindCapacity(args.clone()))?);
    let request_names: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
    gate::check_names(objectives, &request_names)?;
    let mut session = Session::open(plan.clone(), common).await?;
    session.show_progress(0);
    let integer = !args.rate();
    let mut search = Search::new(args.min, args.max, args.factor, args.resolution, integer);
    let mut probes: Vec<Probe> = Vec::new();
    let mut results: Vec<StepResult> = Vec::new();
    let mut confirmed = false;
    let mut answer = None;
    // Bounded: each probe narrows the bracket or confirms; a generous cap guards the loop.
    for _ in 0..200 {
        if session.is_cancelled() {
            break;
        }
        let (load, phase) = match search.next(confirmed) {
            Next::Done(best) => {
                answer = Some(best);
                break;
            }
            Next::Probe(l, phase) => (l, phase),
            Next::Confirm(l) => (l, Phase::Confirm),
        };
        let runs = if phase == Phase::Confirm {
            args.confirm
        } else {
            1
        };
        let mut all_passed = true;
        for _ in 0..runs {
            let mut step_load = if integer {
                plan::closed(load as u32, "--min/--max")?
            } else {
                plan::open(
                    load,
                    common.max_in_flight,
                    plan::arrivals(common),
                    "--min/--max",
                )?
            };
            if let Some(inst) = plan.instance {
                step_load = plan::share(step_load, inst);
            }
            // --start-at aligns the first probe; later probes follow back to back.
            let start = if results.is_empty() {
                match session.wait_for_start().await? {
                    Some(start) => Some(start),
                    None => break,
                }
            } else {
                None
            };
            let mut r = session.run_steps(&[step_load], start).await?;
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
            if !passed || session.is_cancelled() {
                break;
            }
        }
        if phase == Phase::Confirm {
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
    session.stop(&mut results).await?;
    let unit = if integer { "concurrency" } else { "rps" };
    let capacity = answer.flatten();
    let uncounted = session.uncounted();
    let report = CapacityReport {
        capacity,
        unit,
        objectives: objectives.iter().map(|o| o.text.clone()).collect(),
        capped_by_max: capacity.is_some_and(|c| c >= args.max),
        probes,
        preflight_requests: uncounted.preflight_requests,
        warmup_requests: uncounted.warmup_requests,
    };
    let closed = session.close(
        &results,
        |json| serde_json::to_writer_pretty(json, &report).map_err(std::io::Error::other),
        objectives,
        None,
    )?;
    eprintln!("loadgen: probes in {}", closed.path.display());
    if let Some(signal) = closed.signal {
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
            Ok(1)
        }
    }
}
