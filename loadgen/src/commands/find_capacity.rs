//! `loadgen find-capacity`: a loop over [`Search::next`], each probe run in one session and
//! recorded back; each probe is a CSV row like a ramp step, and the answer is printed and written
//! as `--json`. Exit 0 when a capacity was found, 1 when even the lowest load fails.

use crate::capacity::{CapacityReport, Next, Probe, Search, MAX_PROBES};
use crate::config::CapacityConfig;
use crate::error::RunError;
use crate::gate;
use crate::record::StepResult;
use crate::row::StepRow;
use crate::session::Session;

/// Runs the search; exit 0 when a capacity was found, 1 when even the lowest load fails.
pub async fn find_capacity(config: CapacityConfig) -> Result<u8, RunError> {
    let settings = config.search;
    let objectives = &config.run.gate.objectives;
    let mut session = Session::open(&config.run).await?;
    session.show_progress(0);
    let mut search = Search::new(settings);
    let mut probes: Vec<Probe> = Vec::new();
    let mut results: Vec<StepResult> = Vec::new();
    let mut answer = None;
    while !session.is_cancelled() {
        let (load, phase) = match search.next() {
            Next::Probe(load, phase) => (load, phase),
            Next::Done(best) => {
                answer = Some(best);
                break;
            }
            Next::GaveUp => break,
        };
        // --start-at aligns the first probe; later probes follow back to back.
        let start = if results.is_empty() {
            match session.wait_for_start().await? {
                Some(start) => Some(start),
                None => break,
            }
        } else {
            None
        };
        let Some(result) = session
            .run_steps(&[settings.step(load)], start)
            .await?
            .pop()
        else {
            break;
        };
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
        search.record(load, phase, passed);
    }
    session.stop(&mut results).await?;
    let unit = settings.unit();
    let capacity = answer.flatten();
    let uncounted = session.uncounted();
    let report = CapacityReport {
        capacity,
        unit,
        objectives: objectives.iter().map(|o| o.text.clone()).collect(),
        capped_by_max: capacity.is_some_and(|c| c >= settings.max),
        probes,
        preflight_requests: uncounted.preflight_requests,
        warmup_requests: uncounted.warmup_requests,
        not_run: session.not_run(),
    };
    let closed = session.close(
        &results,
        |json| serde_json::to_writer_pretty(json, &report).map_err(std::io::Error::other),
        false,
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
                settings.confirm
            );
            println!("probes: {}", how.join(", "));
            Ok(0)
        }
        None if answer.is_some() => {
            println!(
                "capacity: none — objectives fail even at {} {unit}",
                settings.min
            );
            println!("probes: {}", how.join(", "));
            Ok(1)
        }
        None => {
            eprintln!("loadgen: the search did not converge within {MAX_PROBES} probes");
            Ok(1)
        }
    }
}
