//! `loadgen`: a load generator for capacity planning. Closed-loop concurrency ramps and open-loop
//! rate steps, HdrHistograms per step, CSV/JSON/time-series output, an SLO gate for CI.
//!
//! Data flows one way: [`cli`] → [`plan`] → [`engine`] → [`record`] → [`sinks`] → [`gate`].
//! Exit codes: 0 all objectives hold, 1 an objective failed, 2 usage or configuration error,
//! 3 target unreachable before the run.

pub mod capacity;
pub mod cli;
pub mod engine;
pub mod error;
pub mod gate;
pub mod hints;
pub mod merge;
pub mod plan;
pub mod record;
pub mod scrape;
pub mod sinks;

/// The CSV row schema loadgen writes and the report reads: owned by the `report` crate, so the
/// two crates share it without depending on each other both ways.
pub use report::row;
/// The `--slo` grammar, shared with the report the same way; [`gate`] checks it on step results.
pub use report::slo;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use cli::Cli;
use engine::timeline::Timeline;
use engine::Engine;
use error::{ConfigError, RunError};
use plan::Plan;
use record::StepResult;
use sinks::live::StepCollector;
use sinks::progress::Progress;

/// Runtime threads to use: `--threads`, else the CPUs this process may run on.
pub fn threads(cli: &Cli) -> usize {
    cli.command
        .common()
        .and_then(|c| c.threads)
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

/// Longest grace the requests in flight get after the first SIGINT/SIGTERM (k6's graceful stop):
/// `--timeout` when shorter.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Stops the run on SIGINT (Ctrl-C) or SIGTERM as k6 does, and remembers which signal, for the
/// exit code (130 or 143, as shells report a process killed by that signal): `stop` ends sending
/// at once; the requests in flight get `grace` to finish, then `cut` abandons them (counted as
/// `in_flight_at_end`, not as failures); a second signal cuts at once. The handlers are
/// registered before this returns, so a signal sent once traffic flows is never missed.
pub(crate) fn stop_on_signal(
    stop: CancellationToken,
    cut: CancellationToken,
    grace: std::time::Duration,
    exit: Arc<AtomicU8>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let announce = move || {
        eprintln!(
            "loadgen: stopping: no new requests; those in flight get up to {} to finish \
             (press Ctrl-C again to cut them now)",
            humantime::format_duration(grace)
        );
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(tokio::spawn(async move {
            let code = tokio::select! {
                _ = int.recv() => EXIT_SIGINT,
                _ = term.recv() => EXIT_SIGTERM,
            };
            exit.store(code, Ordering::SeqCst);
            stop.cancel();
            announce();
            tokio::select! {
                _ = tokio::time::sleep(grace) => {}
                _ = int.recv() => eprintln!("loadgen: second signal: cutting the requests in flight"),
                _ = term.recv() => eprintln!("loadgen: second signal: cutting the requests in flight"),
            }
            cut.cancel();
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                exit.store(EXIT_SIGINT, Ordering::SeqCst);
                stop.cancel();
                announce();
                tokio::select! {
                    _ = tokio::time::sleep(grace) => {}
                    _ = tokio::signal::ctrl_c() => eprintln!("loadgen: second signal: cutting the requests in flight"),
                }
                cut.cancel();
            }
        }))
    }
}

/// Exit code of a run cut by SIGINT.
pub const EXIT_SIGINT: u8 = 130;
/// Exit code of a run cut by SIGTERM.
pub const EXIT_SIGTERM: u8 = 143;

fn default_out(command: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "");
    PathBuf::from("reports/runs")
        .join(stamp)
        .join(format!("{command}.csv"))
}

/// The run's output files, created once the target answered.
pub(crate) struct Outputs {
    pub(crate) path: PathBuf,
    pub(crate) csv: sinks::csv::CsvSink<BufWriter<File>>,
    pub(crate) timeseries: Option<Timeseries>,
    pub(crate) json: Option<BufWriter<File>>,
    pub(crate) hdr: Option<BufWriter<File>>,
    pub(crate) junit: Option<PathBuf>,
    /// `--scrape`: the target's metrics, sampled while the run lasts.
    pub(crate) scraper: Option<scrape::Scraper>,
}

/// Where [`run_steps`] writes as steps resolve.
pub(crate) struct StepSinks<'a> {
    pub(crate) progress: &'a Progress,
    pub(crate) csv: &'a mut sinks::csv::CsvSink<BufWriter<File>>,
    pub(crate) timeseries: Option<&'a Timeseries>,
}

/// The time series sink, shared by the steps resolving at once.
pub(crate) type Timeseries = std::sync::Mutex<sinks::timeseries::TimeseriesSink<BufWriter<File>>>;

impl Outputs {
    pub(crate) fn create(common: &cli::CommonArgs, command: &str) -> Result<Outputs, RunError> {
        let path = common
            .output
            .out
            .clone()
            .unwrap_or_else(|| default_out(command));
        let csv = sinks::csv::CsvSink::new(sinks::create(&path, "--out")?)?;
        let timeseries = match &common.output.timeseries {
            Some(p) => Some(std::sync::Mutex::new(
                sinks::timeseries::TimeseriesSink::new(sinks::create(p, "--timeseries")?)?,
            )),
            None => None,
        };
        let json = match &common.output.json {
            Some(p) => Some(sinks::create(p, "--json")?),
            None => None,
        };
        let hdr = match &common.output.hdr_log {
            Some(p) => Some(sinks::create(p, "--hdr-log")?),
            None => None,
        };
        if let Some(p) = &common.gate.junit {
            // Fail on an unwritable path now, not after the run.
            sinks::create(p, "--junit")?;
        }
        let scraper = match &common.output.scrape {
            Some(url) => {
                let csv = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .join("scrape.csv");
                let file = sinks::create(&csv, "--scrape")?;
                Some(
                    scrape::Scraper::start(url, file)
                        .map_err(|e| ConfigError::new("--scrape", e.to_string()))?,
                )
            }
            None => None,
        };
        Ok(Outputs {
            path,
            csv,
            timeseries,
            json,
            hdr,
            junit: common.gate.junit.clone(),
            scraper,
        })
    }
}

/// Set once the "most answers were errors" warning was printed (once per process).
static ERROR_ANSWERS_WARNED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Prints the preflight's warnings (a `--preflight-request` answered 4xx/5xx).
pub(crate) fn warn_preflight(p: &engine::Preflight) {
    for w in hints::preflight(p) {
        eprintln!("{w}");
    }
}

/// Runs `steps` of `plan` back to back on one set of virtual users, writing each step's row as
/// it resolves. Returns the results of every step that began.
pub(crate) async fn run_steps(
    engine: &Engine,
    plan: &Plan,
    steps: &[plan::Load],
    sinks: StepSinks<'_>,
    step_offset: usize,
    start: Option<Instant>,
) -> Result<Vec<StepResult>, RunError> {
    let StepSinks {
        progress,
        csv,
        timeseries,
    } = sinks;
    // A short lead so every virtual user is spawned before the first window opens.
    let timeline = Timeline::new(
        start.unwrap_or_else(|| Instant::now() + std::time::Duration::from_millis(5)),
        steps,
        plan.warmup,
        plan.step_duration,
    );
    let mut txs = Vec::new();
    let mut collectors = Vec::new();
    for (i, w) in timeline.windows.iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        txs.push(tx);
        collectors.push(
            StepCollector {
                step: step_offset + i + 1,
                load: w.load,
                started: w.start,
                measure_start: w.measure_start,
                step_end: w.end,
                progress,
                timeseries,
            }
            .run(rx),
        );
    }
    let running = engine.start(timeline.clone(), txs);
    let announce = async {
        for (i, w) in timeline.windows.iter().enumerate() {
            tokio::select! {
                _ = tokio::time::sleep_until(w.start) => {}
                _ = engine.cancelled() => break,
            }
            progress.step_started(
                step_offset + i + 1,
                w.load,
                plan.warmup + plan.step_duration,
            );
        }
    };
    let finalize = async {
        let mut results = Vec::new();
        let mut failed = None;
        for i in 0..timeline.windows.len() {
            match running.finish_step(i).await {
                Some(mut r) => {
                    r.step += step_offset;
                    progress.step_finished(&r);
                    if let Some(w) = littles_law_warning(&r) {
                        progress.warn(&w);
                    }
                    // Once per run, at the first step where most answers were errors.
                    if let Some(w) = hints::answers(&r, plan) {
                        if !ERROR_ANSWERS_WARNED.swap(true, Ordering::SeqCst) {
                            progress.warn(&w);
                        }
                    }
                    if let Err(e) = csv.write_step(&r) {
                        failed.get_or_insert(e);
                    }
                    results.push(r);
                }
                None => break,
            }
        }
        running.join().await;
        (results, failed)
    };
    let ((results, failed), collected, ()) = tokio::join!(
        finalize,
        futures_util::future::join_all(collectors),
        announce
    );
    if let Some(e) = failed {
        return Err(e.into());
    }
    for c in collected {
        c?;
    }
    Ok(results)
}

/// Runs the command: validate, preflight, steps, sinks, gate. Returns the exit code.
pub async fn execute(cli: Cli) -> Result<u8, RunError> {
    let common = match &cli.command {
        cli::Command::FindCapacity(args) => return capacity::find_capacity(args).await,
        cli::Command::Merge(args) => return merge::merge(args),
        other => other
            .common()
            .expect("ramp and run carry the common flags")
            .clone(),
    };
    let plan = Arc::new(Plan::from_command(&cli.command)?);
    let objectives = common.gate.slo.clone();
    let request_names: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
    gate::check_names(&objectives, &request_names)?;
    if let Some(u) = common.gate.slo_until {
        if !(u.is_finite() && u > 0.0) {
            return Err(ConfigError::new("--slo-until", "must be a positive number").into());
        }
    }
    warn_long_timeout(&plan);
    let cancel = CancellationToken::new();
    let engine = Engine::new(plan.clone(), cancel.clone()).await?;
    let preflight = engine.preflight().await?;
    warn_preflight(&preflight);
    // Outputs are created only once the target answered, so an unreachable target leaves no
    // empty files behind.
    let mut out = Outputs::create(&common, plan.command)?;
    let exit_signal = Arc::new(AtomicU8::new(0));
    let signals = stop_on_signal(
        cancel.clone(),
        engine.cut_token(),
        plan.timeout.min(STOP_GRACE),
        exit_signal.clone(),
    )?;

    let Some((start, started)) = wait_for_start(&plan, &cancel).await? else {
        eprintln!("loadgen: interrupted before --start-at");
        return Ok(exit_signal.load(Ordering::SeqCst).max(EXIT_SIGINT));
    };
    let progress = Progress::new(common.output.quiet, plan.steps.len());
    let results = run_steps(
        &engine,
        &plan,
        &plan.steps,
        StepSinks {
            progress: &progress,
            csv: &mut out.csv,
            timeseries: out.timeseries.as_ref(),
        },
        0,
        Some(start),
    )
    .await?;
    progress.finish();
    signals.abort();
    if let Some(ts) = &out.timeseries {
        ts.lock().unwrap_or_else(|e| e.into_inner()).flush()?;
    }

    let mut results = results;
    finish_scrape(out.scraper.take(), &mut results).await?;
    sinks::table::write(std::io::stdout().lock(), &results)?;
    if let Some(json) = out.json.take() {
        let config = sinks::json::config(&plan, &objectives, common.gate.slo_until);
        let uncounted = sinks::json::Uncounted {
            preflight_requests: preflight.requests,
            warmup_requests: engine.warmup_requests(),
        };
        sinks::json::write(json, &config, Some(uncounted), &results)?;
    }
    if let Some(hdr) = out.hdr.take() {
        sinks::hdrlog::write(hdr, &sinks::hdrlog::LogMeta::of(&plan), &results, started)?;
    }
    let violations = gate::evaluate(&objectives, &results, common.gate.slo_until);
    if let Some(path) = &out.junit {
        sinks::junit::write(
            sinks::create(path, "--junit")?,
            plan.command,
            &objectives,
            &results,
            common.gate.slo_until,
        )?;
    }
    eprintln!("loadgen: results in {}", out.path.display());
    let signal = exit_signal.load(Ordering::SeqCst);
    let code = gate::verdict(&objectives, &violations);
    if signal != 0 || results.iter().any(|r| r.interrupted) {
        eprintln!(
            "loadgen: interrupted: the cut step is marked interrupted and not gated as passed; \
             steps that had finished keep their results"
        );
        return Ok(if signal == 0 { EXIT_SIGINT } else { signal });
    }
    Ok(code)
}

/// Stops `--scrape` and attaches, to each step, its series over the step's measured window.
pub(crate) async fn finish_scrape(
    scraper: Option<scrape::Scraper>,
    results: &mut [StepResult],
) -> Result<(), RunError> {
    let Some(scraper) = scraper else {
        return Ok(());
    };
    let (samples, failed, why) = scraper.finish().await?;
    if failed > 0 {
        eprintln!(
            "loadgen: warning: --scrape failed {failed} time(s){}",
            why.map_or(String::new(), |w| format!(", last: {w}"))
        );
    }
    for r in results.iter_mut() {
        if let Some(from) = r.started_at {
            let to = from + std::time::Duration::from_secs_f64(r.duration_s.max(0.0));
            r.scrape = Some(scrape::summarize(&samples, from, to));
        }
    }
    Ok(())
}

/// With `--start-at`, waits (cancellably) until that wall-clock instant. Returns the instant the
/// steps start on both clocks, or `None` when interrupted first.
pub(crate) async fn wait_for_start(
    plan: &Plan,
    cancel: &CancellationToken,
) -> Result<Option<(Instant, SystemTime)>, RunError> {
    let lead = std::time::Duration::from_millis(5);
    let Some(at) = plan.start_at else {
        return Ok(Some((Instant::now() + lead, SystemTime::now() + lead)));
    };
    let now = SystemTime::now();
    let wait = match at.duration_since(now) {
        Ok(d) => d,
        Err(e) if e.duration() <= std::time::Duration::from_secs(1) => std::time::Duration::ZERO,
        Err(e) => {
            return Err(ConfigError::new(
                "--start-at",
                format!(
                    "{} is {} in the past",
                    humantime::format_rfc3339_millis(at),
                    humantime::format_duration(std::time::Duration::from_millis(
                        e.duration().as_millis() as u64
                    ))
                ),
            )
            .into())
        }
    };
    eprintln!(
        "loadgen: waiting {} for --start-at {}",
        humantime::format_duration(std::time::Duration::from_millis(wait.as_millis() as u64)),
        humantime::format_rfc3339_millis(at)
    );
    let start = Instant::now() + wait;
    tokio::select! {
        _ = tokio::time::sleep_until(start) => Ok(Some((start, at))),
        _ = cancel.cancelled() => Ok(None),
    }
}

/// A step's Little's law error (in percent) above which loadgen warns.
pub const LITTLES_LAW_WARN_PCT: f64 = 5.0;

/// The warning for a step whose Little's law error is past [`LITTLES_LAW_WARN_PCT`].
pub(crate) fn littles_law_warning(r: &StepResult) -> Option<String> {
    let e = r.littles_law_error_pct?;
    if e.abs() <= LITTLES_LAW_WARN_PCT {
        return None;
    }
    let what = match r.target_rps {
        Some(_) => "throughput × mean latency against the time-averaged requests in flight",
        None => "throughput × (mean latency + mean pause) against the virtual users",
    };
    Some(format!(
        "loadgen: warning: step {}: Little's law is off by {e:+.1}% ({what}): users that were \
         not all busy (connect failures, --spawn-over longer than the warm-up), a generator \
         short of CPU, or a step too short for its latency",
        r.step
    ))
}

/// The default `--timeout`, `--step-duration` and `--warmup` of `ramp` and `find-capacity`
/// (as their clap defaults say): defaults never warn about each other.
pub(crate) const DEFAULT_TIMINGS: [std::time::Duration; 3] = [
    std::time::Duration::from_secs(30),
    std::time::Duration::from_secs(10),
    std::time::Duration::from_secs(2),
];

/// In a ramp, a timeout longer than a step means a step's last requests may resolve well into
/// the next step (they still count in their own step, but the step's row waits for them).
/// Silent when the three are all at their defaults.
pub(crate) fn warn_long_timeout(plan: &Plan) {
    let defaults = [plan.timeout, plan.step_duration, plan.warmup] == DEFAULT_TIMINGS;
    if !defaults && plan.steps.len() > 1 && plan.timeout > plan.warmup + plan.step_duration {
        eprintln!(
            "loadgen: warning: --timeout {} is longer than a step ({}): each step's row waits up \
             to that long for its slowest requests",
            humantime::format_duration(plan.timeout),
            humantime::format_duration(plan.warmup + plan.step_duration)
        );
    }
}
