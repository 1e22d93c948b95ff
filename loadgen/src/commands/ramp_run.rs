//! `loadgen ramp` and `loadgen run`: the plan's steps back to back in one session, the table on
//! stdout, then the SLO gate. Exit 0 when every objective holds, 1 when one fails, 130/143 when
//! a signal cut the run (or came before `--start-at`: no step ran, the outputs say so).

use crate::config::RunConfig;
use crate::error::RunError;
use crate::gate;
use crate::session::Session;
use crate::signals::EXIT_SIGINT;
use crate::sinks;

/// Runs the ramp or the single step of `config`; returns the exit code.
pub async fn ramp_run(config: RunConfig) -> Result<u8, RunError> {
    let plan = config.plan.clone();
    let objectives = &config.gate.objectives;
    let until = config.gate.until;
    let mut session = Session::open(&config).await?;
    let mut results = match session.wait_for_start().await? {
        Some(start) => {
            session.show_progress(plan.steps.len());
            session.run_steps(&plan.steps, Some(start)).await?
        }
        None => Vec::new(),
    };
    session.stop(&mut results).await?;
    let config_doc = sinks::json::config(&plan, objectives, until);
    let uncounted = session.uncounted();
    let not_run = session.not_run();
    let closed = session.close(
        &results,
        |json| {
            sinks::json::write(
                json,
                &config_doc,
                Some(uncounted),
                not_run.as_deref(),
                &results,
            )
        },
        not_run.is_none(),
    )?;
    eprintln!("loadgen: results in {}", closed.path.display());
    if not_run.is_some() {
        return Ok(closed.signal.unwrap_or(EXIT_SIGINT));
    }
    let violations = gate::evaluate(objectives, &results, until);
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
