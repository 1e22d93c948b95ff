//! `loadgen verify`: reads a report's `summary.json` and the check runs' CSVs (and the /metrics
//! snapshots `--scrape` wrote beside them), runs [`crate::verify`]'s arithmetic, writes
//! `verify.md` / `verify.json` (or `users-verify.*`) into the report's directory and prints the
//! Markdown. Exit 0 when every prediction came true, 1 when one missed, 2 on bad input.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::input::row::read_rows;
use crate::input::server::ServerSnapshot;
use crate::verify::{self, OpenRun, PlanRuns, PlanSummary, UsersSummary, Verification};
use crate::ReportError;

/// What to verify.
#[derive(Subcommand, Debug, Clone)]
pub enum VerifyKind {
    /// The recommendation of `make plan`: closed loop at N, the queue full, Poisson arrivals at
    /// the open-loop rate and at 1.3× it, each against the report's prediction.
    Plan(PlanArgs),
    /// The users answer of `make demo-users`: a run at the predicted user count.
    Users(UsersArgs),
}

/// Flags of `loadgen verify plan`.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The report's directory (`loadgen report --out-dir`): its summary.json is read, and
    /// verify.md / verify.json are written into it.
    #[arg(long, value_name = "DIR")]
    pub report: PathBuf,
    /// CSV of the run at the recommended N users (`loadgen run -c N`).
    #[arg(long, value_name = "CSV")]
    pub recommended: PathBuf,
    /// CSV of the run with the queue full (N + depth users).
    #[arg(long, value_name = "CSV")]
    pub queue_full: Option<PathBuf>,
    /// CSV of Poisson arrivals at the report's open-loop rate, run with `--scrape` so that
    /// `<stem>-metrics-start.prom` and `<stem>-metrics.prom` give the provider's push-back.
    #[arg(long, value_name = "CSV")]
    pub open_loop: Option<PathBuf>,
    /// CSV of Poisson arrivals at 1.3× that rate (the server must shed, not serve late).
    #[arg(long, value_name = "CSV")]
    pub overload: Option<PathBuf>,
}

/// Flags of `loadgen verify users`.
#[derive(Args, Debug, Clone)]
pub struct UsersArgs {
    /// The report's directory: its summary.json is read, users-verify.md / .json written.
    #[arg(long, value_name = "DIR")]
    pub report: PathBuf,
    /// CSV of the run at the predicted user count.
    #[arg(long, value_name = "CSV")]
    pub predicted: PathBuf,
}

fn usage(flag: &str, message: String) -> ReportError {
    ReportError::Usage {
        flag: flag.into(),
        message,
    }
}

fn summary<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<T, ReportError> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| usage("--report", format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        usage(
            "--report",
            format!("{}: not a report's summary.json ({e})", path.display()),
        )
    })
}

fn snapshot(path: &Path) -> Result<Option<ServerSnapshot>, ReportError> {
    match std::fs::read_to_string(path) {
        Ok(text) => ServerSnapshot::parse(&text)
            .map(Some)
            .map_err(|e| usage("--open-loop", format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(usage("--open-loop", format!("{}: {e}", path.display()))),
    }
}

fn open_run(csv: &Path) -> Result<OpenRun, ReportError> {
    let (start, end) = crate::input::run::snapshot_paths(csv);
    Ok(OpenRun {
        rows: read_rows(csv)?,
        metrics_start: snapshot(&start)?,
        metrics_end: snapshot(&end)?,
    })
}

fn write(dir: &Path, stem: &str, v: &Verification) -> Result<(), ReportError> {
    let out = |name: String, body: String| {
        let path = dir.join(&name);
        std::fs::write(&path, body).map_err(|source| ReportError::Output {
            path: path.display().to_string(),
            source,
        })
    };
    out(format!("{stem}.md"), v.markdown())?;
    let json = serde_json::to_string_pretty(v).expect("a verification serializes");
    out(format!("{stem}.json"), json + "\n")
}

/// Runs the verification; `Ok(true)` when every prediction came true.
pub fn run(kind: &VerifyKind) -> Result<bool, ReportError> {
    let (dir, stem, v) = match kind {
        VerifyKind::Plan(a) => {
            let s: PlanSummary = summary(&a.report)?;
            let runs = PlanRuns {
                recommended: read_rows(&a.recommended)?,
                queue_full: a.queue_full.as_deref().map(read_rows).transpose()?,
                open_loop: a.open_loop.as_deref().map(open_run).transpose()?,
                overload: a.overload.as_deref().map(open_run).transpose()?,
            };
            let note = format!(
                " (a prediction comes true within {:.0}%)",
                verify::TOLERANCE * 100.0
            );
            let v =
                verify::plan(&s, &runs, &note).map_err(|e| usage("verify plan", e.to_string()))?;
            (&a.report, "verify", v)
        }
        VerifyKind::Users(a) => {
            let s: UsersSummary = summary(&a.report)?;
            let v = verify::users(&s, &read_rows(&a.predicted)?)
                .map_err(|e| usage("verify users", e.to_string()))?;
            (&a.report, "users-verify", v)
        }
    };
    write(dir, stem, &v)?;
    println!("{}", v.markdown());
    Ok(v.passed())
}
