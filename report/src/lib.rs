//! Capacity-planning reports from ramp CSVs: `loadgen report` (a fitted scalability model, knee,
//! Little's law, queueing view, provider ceiling and a recommendation, as Markdown, HTML, SVG and
//! `summary.json`) and `loadgen compare` (two runs side by side).
//!
//! A library crate of its own, called by the `loadgen` binary: no async code, and the only user
//! of plotters, nalgebra, levenberg-marquardt and statrs. It also owns what loadgen and the report
//! share, so the dependency runs one way, loadgen → report: the CSV row schema ([`row`], which
//! loadgen writes) and the SLO grammar ([`slo`], with which both parse `--slo`).
//!
//! Everything is computed in memory first and written into a temporary directory beside DIR,
//! which is then renamed into place: bad input leaves nothing behind, and DIR is never half
//! written.

pub mod analysis;
pub mod decide;
pub mod document;
pub mod input;
pub mod measure;
pub mod model;
pub mod verify;
pub mod verify_run;

// The paths loadgen uses: the row schema and SLO grammar it shares, `compare` and the tail
// share of Little's law.
pub use document::compare;
pub use input::{row, slo};
pub use measure::littles;

use std::path::{Path, PathBuf};

use clap::Args;

use crate::document::{html, markdown, out_dir, report_doc, summary};
use crate::input::row::ReadError;
use crate::input::run;
use crate::input::slo::Objective;
use crate::model::provider;

/// Flags of `loadgen report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Ramp CSVs written by `loadgen ramp --out` (several at the same server settings are pooled; at different settings, kept apart as configurations).
    #[arg(required = true)]
    pub csv: Vec<PathBuf>,
    /// Directory to write report.md, report.html, summary.json and the SVG charts into: a new
    /// directory, or an earlier report's (replaced). Refused when it holds an input or other files.
    /// (`--out` names a file the command writes; a directory is always `--out-dir`.)
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out: PathBuf,
    /// Objective, e.g. `p99<5s` or `success>=99%` (repeatable); the tightest latency bound sets
    /// the queue timeout and depth.
    #[arg(long, value_parser = clap::value_parser!(Objective))]
    pub slo: Vec<Objective>,
    /// Provider tier: model requests per minute (default: what the provider reported, from
    /// the server's `upstream_ratelimit_limit` in the /metrics snapshot).
    #[arg(long)]
    pub provider_rpm: Option<f64>,
    /// Provider tier: input tokens per minute (default: as reported, see --provider-rpm).
    #[arg(long)]
    pub provider_itpm: Option<f64>,
    /// Provider tier: output tokens per minute (default: as reported, see --provider-rpm).
    #[arg(long)]
    pub provider_otpm: Option<f64>,
    /// Average input tokens of one model call (default: measured, `upstream_tokens_total`).
    #[arg(long)]
    pub avg_input_tokens: Option<f64>,
    /// Average output tokens of one model call (default: measured; else 100).
    #[arg(long)]
    pub avg_output_tokens: Option<f64>,
    /// Model calls per analysis (default: measured, model calls / analyses served; else 2).
    #[arg(long)]
    pub calls_per_request: Option<f64>,
    /// Replicas of the service sharing the provider tier: the recommendation is per replica,
    /// with tier / R each.
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// The measured server's adaptive floor (`MIN_CONCURRENT_ANALYSES`): the report states how
    /// long a full queue waits when the limit falls to it. At least 1, as the server's is.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub adaptive_floor: u32,
    /// The run's `--json` summary to read (default: `<csv stem>.json` beside the first CSV).
    #[arg(long = "from-json", value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// The run's `--timeseries` CSV to read (default: `timeseries.csv` beside the first CSV).
    #[arg(long = "from-timeseries", value_name = "PATH")]
    pub timeseries: Option<PathBuf>,
    /// A snapshot of the server's /metrics to read (default: `server-metrics.prom` beside the
    /// first CSV).
    #[arg(long = "from-metrics", value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// `--json`, `--timeseries`, `--metrics`: not report's flags (a load command's outputs keep
    /// those names), refused pointing at `--from-*`; clap's own tip suggested `--slo`.
    #[command(flatten)]
    pub misnamed: MisnamedInputs,
}

/// Hidden flags that only refuse: what a user reaches for instead of `--from-json`,
/// `--from-timeseries` and `--from-metrics`. Never holds a value.
#[derive(Args, Debug, Clone, Default)]
pub struct MisnamedInputs {
    /// Refused: see `--from-json`.
    #[arg(long = "json", id = "misnamed_json", hide = true, value_name = "PATH", value_parser = misnamed_json)]
    pub json: Option<String>,
    /// Refused: see `--from-timeseries`.
    #[arg(long = "timeseries", id = "misnamed_timeseries", hide = true, value_name = "PATH", value_parser = misnamed_timeseries)]
    pub timeseries: Option<String>,
    /// Refused: see `--from-metrics`.
    #[arg(long = "metrics", id = "misnamed_metrics", hide = true, value_name = "PATH", value_parser = misnamed_metrics)]
    pub metrics: Option<String>,
}

fn misnamed(what: &str, flag: &str) -> String {
    format!(
        "report reads {what} with --{flag} (--{} names a load command's output)",
        &flag[5..]
    )
}

fn misnamed_json(_: &str) -> Result<String, String> {
    Err(misnamed("the run's JSON summary", "from-json"))
}

fn misnamed_timeseries(_: &str) -> Result<String, String> {
    Err(misnamed("the run's time series", "from-timeseries"))
}

fn misnamed_metrics(_: &str) -> Result<String, String> {
    Err(misnamed("a /metrics snapshot", "from-metrics"))
}

/// Flags of `loadgen compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// The run before the change.
    pub before: PathBuf,
    /// The run after the change.
    pub after: PathBuf,
    /// Directory to write compare.md, compare.html, compare.svg and compare.json into: a new
    /// directory, or an earlier comparison's (replaced). Refused when it holds an input or other
    /// files.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out: PathBuf,
}

/// Why a report could not be written. Every variant exits 2.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A CSV could not be read (names file, line and column).
    #[error("{0}")]
    Read(#[from] ReadError),
    /// No CSV given.
    #[error("no CSV given")]
    NoInput,
    /// Fewer than two usable steps.
    #[error("{}", one_step(path, interrupted))]
    OneStep {
        /// The file.
        path: String,
        /// The steps left out because a signal cut them (`interrupted` true), by number.
        interrupted: Vec<usize>,
    },
    /// `compare` on a run whose steps are all open loop.
    #[error(
        "{path}: every step is open loop (--rate: {rates}); compare matches the two runs' \
         closed-loop steps by their users, and an open-loop step's in-flight cap is not users: \
         compare two `loadgen ramp --steps …` runs, or read the rates' rows side by side"
    )]
    OpenLoop {
        /// The file.
        path: String,
        /// Its steps' rates.
        rates: String,
    },
    /// A flag is invalid.
    #[error("{flag}: {message}")]
    Usage {
        /// The flag.
        flag: String,
        /// What is wrong.
        message: String,
    },
    /// A chart could not be drawn.
    #[error("drawing a chart: {0}")]
    Chart(String),
    /// The output directory could not be written.
    #[error("writing {path}: {source}")]
    Output {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The [`ReportError::OneStep`] message: with interrupted steps, which ones, since the file
/// then holds more steps than the one the report could use.
fn one_step(path: &str, interrupted: &[usize]) -> String {
    let steps = |v: &[usize]| {
        let n: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        match n.as_slice() {
            [one] => format!("step {one} was"),
            [rest @ .., last] => format!("steps {} and {last} were", rest.join(", ")),
            [] => String::new(),
        }
    };
    if interrupted.is_empty() {
        format!("{path}: line 2: column `step`: only one step; a report needs at least two")
    } else {
        format!(
            "{path}: column `interrupted`: {} interrupted (cut by Ctrl-C or SIGTERM) and left \
             out, which leaves fewer than two complete steps; a report needs at least two: \
             re-run the ramp to its end",
            steps(interrupted)
        )
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Output {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `files` (name, content) as the directory `dir`, atomically: into a fresh temporary
/// directory beside it, then renamed into place (an existing `dir` is replaced: callers check it
/// first with [`out_dir::check`]).
pub fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), ReportError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| {
        std::fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        for (file, bytes) in files {
            let p = tmp.join(file);
            std::fs::write(&p, bytes).map_err(io_err(&p))?;
        }
        if dir.exists() {
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(dir, &old).map_err(io_err(dir))?;
            std::fs::rename(&tmp, dir).map_err(io_err(dir))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&tmp, dir).map_err(io_err(dir))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn settings(args: &ReportArgs) -> Result<analysis::Settings, ReportError> {
    let objectives = args.slo.clone();
    let positive = |flag: &str, v: Option<f64>| match v {
        Some(x) if !(x.is_finite() && x > 0.0) => Err(ReportError::Usage {
            flag: flag.into(),
            message: "must be a positive number".into(),
        }),
        _ => Ok(()),
    };
    positive("--provider-rpm", args.provider_rpm)?;
    positive("--provider-itpm", args.provider_itpm)?;
    positive("--provider-otpm", args.provider_otpm)?;
    positive("--avg-input-tokens", args.avg_input_tokens)?;
    positive("--avg-output-tokens", args.avg_output_tokens)?;
    positive("--calls-per-request", args.calls_per_request)?;
    if args.replicas == 0 {
        return Err(ReportError::Usage {
            flag: "--replicas".into(),
            message: "must be at least 1".into(),
        });
    }
    Ok(analysis::Settings {
        objectives,
        provider: provider::ProviderFlags {
            rpm: args.provider_rpm,
            itpm: args.provider_itpm,
            otpm: args.provider_otpm,
            avg_input_tokens: args.avg_input_tokens,
            avg_output_tokens: args.avg_output_tokens,
            calls_per_request: args.calls_per_request,
            replicas: args.replicas,
        },
        adaptive_floor: args.adaptive_floor,
    })
}

/// Reads, analyses and writes a report; returns the summary.
pub fn report(args: &ReportArgs) -> Result<summary::Summary, ReportError> {
    let settings = settings(args)?;
    let inputs: Vec<&Path> = args
        .csv
        .iter()
        .map(PathBuf::as_path)
        .chain(args.json.as_deref())
        .chain(args.timeseries.as_deref())
        .chain(args.metrics.as_deref())
        .collect();
    out_dir::check(&args.out, &inputs, out_dir::OutKind::Report)?;
    // CSVs measured at different server settings are kept apart: each is analysed alone, the
    // report's body is the first configuration's, and a table sets them side by side.
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    if args.metrics.is_none() {
        for csv in &args.csv {
            let key = run::configuration_of(csv);
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1.push(csv.clone()),
                None => groups.push((key, vec![csv.clone()])),
            }
        }
    }
    let first_group = match groups.len() {
        0 | 1 => args.csv.clone(),
        _ => groups[0].1.clone(),
    };
    let mut input = run::load(
        &first_group,
        args.json.as_deref(),
        args.timeseries.as_deref(),
        args.metrics.as_deref(),
    )?;
    let mut configurations = Vec::new();
    if groups.len() > 1 {
        for (key, csvs) in &groups {
            let one = run::load(csvs, None, None, None)?;
            let s = analysis::analyze(&one, &settings).summary;
            configurations.push(summary::Configuration::of(key, &s));
        }
        input.notes.push(format!(
            "{} configurations kept apart (not pooled into one curve); the analysis above is of \
             the first, {}",
            groups.len(),
            groups[0].0
        ));
    }
    let mut a = analysis::analyze(&input, &settings);
    a.summary.configurations = configurations;
    let d = report_doc::build(&input, &a).map_err(ReportError::Chart)?;
    let mut files: Vec<(String, Vec<u8>)> = d
        .charts()
        .into_iter()
        .map(|(f, svg)| (f.to_string(), svg.as_bytes().to_vec()))
        .collect();
    files.push(("report.md".into(), markdown::render(&d).into_bytes()));
    files.push(("report.html".into(), html::render(&d).into_bytes()));
    let json =
        serde_json::to_vec_pretty(&a.summary).map_err(|e| ReportError::Chart(e.to_string()))?;
    files.push(("summary.json".into(), json));
    write_dir(&args.out, &files)?;
    Ok(a.summary)
}
