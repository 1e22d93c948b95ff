//! `loadgen ramp` and `loadgen run`: the plan's steps back to back in one session, the table on
//! stdout, then the SLO gate. Exit 0 when every objective holds, 1 when one fails, 130/143 when
//! a signal cut the run.

use std::sync::Arc;

use crate::cli::{Command, CommonArgs};
use crate::error::{ConfigError, RunError};
use crate::gate;
use crate::plan::Plan;
use crate::session::Session;
use crate::signals::EXIT_SIGINT;
use crate::sinks;

/// Runs the ramp or the single step of `command` (whose shared flags are `common`); returns the
/// exit code.
pub async fn ramp_run(command: &Command, common: &CommonArgs) -> Result<u8, RunError> {
    let plan = Arc::new(Plan::from_command(command)?);
    let objectives = &common.gate.slo;
    let until = common.gate.slo_until;
    let request_names: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
    gate::check_names(objectives, &request_names)?;
    if let Some(u) = until {
        if !(u.is_finite() && u > 0.0) {
            return Err(ConfigError::new("--slo-until", "must be a positive number").into());
        }
    }
    let mut session = Session::open(plan.clone(), common).await?;
    let Some(start) = session.wait_for_start().await? else {
        eprintln!("loadgen: interrupted before --start-at");
        return Ok(session.signal().unwrap_or(EXIT_SIGINT).max(EXIT_SIGINT));
    };
    session.show_progress(plan.steps.len());
    let mut results = session.run_steps(&plan.steps, Some(start)).await?;
    session.stop(&mut results).await?;
    sinks::table::write(std::io::stdout().lock(), &results)?;
    let config = sinks::json::config(&plan, objectives, until);
    let uncounted = session.uncounted();
    let violations = gate::evaluate(objectives, &results, until);
    let closed = session.close(
        &results,
        |json| sinks::json::write(json, &config, Some(uncounted), &results),
        objectives,
        until,
    )?;
    eprintln!("loadgen: results in {}", closed.path.display());
    let code = gate::verdict(objectives, &violations);
    if closed.signal.is_some() || results.iter().any(|r| r.interrupted) {
        eprintln!(
            "loadgen: interrupted: the cut step is marked interrupted and not gated as passed; \
             steps that had finished keep their results"
        );
        return Ok(closed.signal.unwrap_or(EXIT_SIGINT));
    }
    Ok(code)
}
