//! `loadgen`: a load generator for capacity planning. Closed-loop concurrency ramps and open-loop
//! rate steps, HdrHistograms per step, CSV/JSON/time-series output, an SLO gate for CI.
//!
//! Data flows one way: [`cli`] → [`plan`] → [`engine`] → [`record`] → [`sinks`] → [`gate`].
//! Exit codes: 0 all objectives hold, 1 an objective failed, 2 usage or configuration error,
//! 3 target unreachable before the run.

// serde_json::json! of a whole StepRow (44 fields, in sinks::csv's tests) needs more than 128.
#![recursion_limit = "256"]

pub mod cli;
pub mod engine;
pub mod gate;
pub mod plan;
pub mod record;
pub mod report;
pub mod sinks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use cli::Cli;
use engine::{Engine, Unreachable};
use gate::Objective;
use plan::{ConfigError, Plan};
use sinks::live::StepCollector;
use sinks::progress::Progress;

/// Why a run could not complete normally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad flag or file (exit 2).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Target unreachable before the run (exit 3).
    #[error("{0}")]
    Unreachable(#[from] Unreachable),
    /// Writing results failed mid-run (exit 2: the output path is at fault).
    #[error("writing results: {0}")]
    Output(#[from] std::io::Error),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_) | RunError::Output(_) => 2,
            RunError::Unreachable(_) => 3,
        }
    }
}

/// Runtime threads to use: `--threads`, else the CPUs this process may run on.
pub fn threads(cli: &Cli) -> usize {
    cli.command
        .common()
        .threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// Runs the command and returns the process exit code; errors are printed to stderr.
pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("loadgen: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Cancels the run on Ctrl-C (and SIGTERM on Unix). The handlers are registered before this
/// returns, so a signal sent once traffic flows is never missed.
fn stop_on_signal(cancel: CancellationToken) -> std::io::Result<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            cancel.cancel();
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        }))
    }
}

fn default_out(command: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "");
    PathBuf::from("reports/runs")
        .join(stamp)
        .join(format!("{command}.csv"))
}

/// Runs the command: validate, preflight, steps, sinks, gate. Returns the exit code.
pub async fn execute(cli: Cli) -> Result<u8, RunError> {
    let common = cli.command.common().clone();
    let plan = Arc::new(Plan::from_command(&cli.command)?);
    let objectives = common
        .gate
        .slo
        .iter()
        .map(|s| Objective::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(u) = common.gate.slo_until {
        if !(u.is_finite() && u > 0.0) {
            return Err(ConfigError::new("--slo-until", "must be a positive number").into());
        }
    }
    let cancel = CancellationToken::new();
    let engine = Engine::new(plan.clone(), cancel.clone()).await?;
    engine.preflight().await?;
    // Outputs are created only once the target answered, so an unreachable target leaves no
    // empty files behind.
    let out_path = common
        .output
        .out
        .clone()
        .unwrap_or_else(|| default_out(plan.command));
    let mut csv = sinks::csv::CsvSink::new(sinks::create(&out_path, "--out")?)?;
    let mut timeseries = match &common.output.timeseries {
        Some(p) => Some(sinks::timeseries::TimeseriesSink::new(sinks::create(
            p,
            "--timeseries",
        )?)?),
        None => None,
    };
    let json_out = match &common.output.json {
        Some(p) => Some(sinks::create(p, "--json")?),
        None => None,
    };
    let hdr_out = match &common.output.hdr_log {
        Some(p) => Some(sinks::create(p, "--hdr-log")?),
        None => None,
    };
    let ctrl_c = stop_on_signal(cancel.clone())?;

    let started = SystemTime::now();
    let progress = Progress::new(common.output.quiet, plan.steps.len());
    let mut results = Vec::new();
    for (i, &load) in plan.steps.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let step = i + 1;
        progress.step_started(step, load, plan.warmup + plan.step_duration);
        let (tx, rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let collector = StepCollector {
            step,
            load,
            started: now,
            measure_start: now + plan.warmup,
            step_end: now + plan.warmup + plan.step_duration,
            progress: &progress,
            timeseries: timeseries.as_mut(),
        };
        let (result, collected) = tokio::join!(engine.run_step(step, load, tx), collector.run(rx));
        collected?;
        progress.step_finished(&result);
        csv.write_step(&result)?;
        results.push(result);
    }
    progress.finish();
    ctrl_c.abort();

    sinks::table::write(std::io::stdout().lock(), &results)?;
    if let Some(out) = json_out {
        let config = sinks::json::config(&plan, &objectives, common.gate.slo_until);
        sinks::json::write(out, &config, &results)?;
    }
    if let Some(out) = hdr_out {
        sinks::hdrlog::write(out, &results, started)?;
    }
    eprintln!("loadgen: results in {}", out_path.display());

    let violations = gate::evaluate(&objectives, &results, common.gate.slo_until);
    if violations.is_empty() {
        if !objectives.is_empty() {
            eprintln!("loadgen: SLO passed ({} objectives)", objectives.len());
        }
        Ok(0)
    } else {
        eprintln!("loadgen: SLO failed:");
        for v in &violations {
            eprintln!("  {v}");
        }
        Ok(1)
    }
}
