//! One run of load, shared by `ramp`/`run` and `find-capacity` (k6's one test run per executor):
//! [`Session::open`] takes a validated [`RunConfig`] and goes engine → preflight → outputs →
//! signal handlers, the command drives its steps through [`Session::run_steps`], then
//! [`Session::stop`] and [`Session::close`] flush and write everything the run measured (time
//! series, `--scrape`, `--json`, `--hdr-log`, `--junit`) in [`Outputs::close`]'s one order. A new
//! output flag is wired once: its path in `config`, its file in `outputs`.

mod live;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Gate, RunConfig};
use crate::engine::timeline::Timeline;
use crate::engine::Engine;
use crate::error::{ConfigError, RunError};
use crate::hints;
use crate::outputs::staged::Staged;
use crate::outputs::{Closing, Outputs};
use crate::plan::{Load, Plan};
use crate::record::StepResult;
use crate::scrape;
use crate::signals;
use crate::sinks;
use crate::sinks::json::Uncounted;
use crate::sinks::live::StepCollector;
use crate::sinks::progress::Progress;

/// One run: opened once the target answered the preflight, closed once its outputs are written.
pub struct Session {
    plan: Arc<Plan>,
    /// The objectives `--junit` reports.
    gate: Gate,
    engine: Engine,
    cancel: CancellationToken,
    /// Requests the preflight sent (0 unless `--preflight-request`).
    preflight_requests: u64,
    outputs: Outputs,
    /// The exit code of the signal that stopped the run; 0 until one came.
    exit_signal: Arc<AtomicU8>,
    signals: JoinHandle<()>,
    quiet: bool,
    progress: Progress,
    /// Wall-clock instant the steps started on (`--start-at`, or when the first step began).
    started: Option<SystemTime>,
    /// Steps run so far: the next step is numbered one more.
    steps_run: usize,
    /// Set once the "most answers were errors" warning was printed: once per run.
    error_answers_warned: AtomicBool,
    /// `--dashboard` / `--metrics-addr`.
    live: Option<crate::live::Live>,
    /// A signal came while waiting for `--start-at`: no step ran.
    stopped_before_start: bool,
}

/// What a closed session leaves behind.
#[derive(Debug, Clone)]
pub struct Closed {
    /// The CSV the steps were written to.
    pub path: PathBuf,
    /// The exit code of the signal that stopped the run (130 SIGINT, 143 SIGTERM), if one did.
    pub signal: Option<u8>,
}

impl Session {
    /// Builds the engine of `config`'s plan, checks the target answers, creates the output
    /// files under temporary names (only then, so an unreachable target leaves no files behind)
    /// and installs the SIGINT/SIGTERM handlers.
    pub async fn open(config: &RunConfig) -> Result<Session, RunError> {
        let plan = config.plan.clone();
        hints::warn_long_timeout(&plan);
        let cancel = CancellationToken::new();
        let engine = Engine::new(plan.clone(), cancel.clone()).await?;
        let preflight = engine.preflight().await?;
        for w in hints::preflight(&preflight) {
            eprintln!("{w}");
        }
        let outputs = Outputs::create(config.outputs.paths.clone())?;
        let exit_signal = Arc::new(AtomicU8::new(0));
        let (signals, stop) = signals::stop_on_signal(
            cancel.clone(),
            engine.cut_token(),
            plan.timeout.min(signals::STOP_GRACE),
            exit_signal.clone(),
        )?;
        let live = live::start(config, &outputs, stop).await?;
        Ok(Session {
            plan,
            gate: config.gate.clone(),
            engine,
            cancel,
            preflight_requests: preflight.requests,
            outputs,
            exit_signal,
            signals,
            quiet: config.outputs.quiet,
            progress: Progress::Quiet,
            started: None,
            steps_run: 0,
            error_answers_warned: AtomicBool::new(false),
            live,
            stopped_before_start: false,
        })
    }

    /// The validated plan the session runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether a signal stopped the run (no new requests are sent).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The exit code of the signal that stopped the run (130 SIGINT, 143 SIGTERM), if one did.
    pub fn signal(&self) -> Option<u8> {
        match self.exit_signal.load(Ordering::SeqCst) {
            0 => None,
            code => Some(code),
        }
    }

    /// Why no step ran, when a signal came before `--start-at` (the `--json` documents'
    /// `not_run`): e.g. `interrupted by SIGINT before --start-at`.
    pub fn not_run(&self) -> Option<String> {
        self.stopped_before_start.then(|| {
            let code = self.signal().unwrap_or(signals::EXIT_SIGINT);
            format!("interrupted by {} before --start-at", signals::name(code))
        })
    }

    /// Requests that reached the target outside any step so far: the preflight's and the
    /// warm-ups'.
    pub fn uncounted(&self) -> Uncounted {
        Uncounted {
            preflight_requests: self.preflight_requests,
            warmup_requests: self.engine.warmup_requests(),
        }
    }

    /// Shows live progress from now on for `total` steps (0: an open-ended search's probes),
    /// unless `--quiet`.
    pub fn show_progress(&mut self, total: usize) {
        self.progress = Progress::new(self.quiet, total);
    }

    /// With `--start-at`, waits (cancellably) until that wall-clock instant. Returns the instant
    /// the steps start, or `None` when a signal came first: the command then runs no step and
    /// closes its outputs as usual, which record why ([`Session::not_run`]).
    pub async fn wait_for_start(&mut self) -> Result<Option<Instant>, RunError> {
        let Some((start, wall)) = wait_for_start(&self.plan, &self.cancel).await? else {
            eprintln!("loadgen: interrupted before --start-at: no step ran");
            self.stopped_before_start = true;
            return Ok(None);
        };
        self.started = Some(wall);
        Ok(Some(start))
    }

    /// Runs `steps` back to back on one set of virtual users, numbered after the steps already
    /// run, writing each step's row as it resolves. Returns the results of every step that
    /// began.
    pub async fn run_steps(
        &mut self,
        steps: &[Load],
        start: Option<Instant>,
    ) -> Result<Vec<StepResult>, RunError> {
        let step_offset = self.steps_run;
        let plan: &Plan = &self.plan;
        let engine = &self.engine;
        let progress = &self.progress;
        let error_answers_warned = &self.error_answers_warned;
        let timeseries = self.outputs.timeseries.as_ref();
        let live = self.live.as_ref();
        let csv = &mut self.outputs.csv;
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
                    live,
                }
                .run(rx),
            );
        }
        let running = engine.start(timeline.clone(), txs);
        if let Some(l) = live {
            let starts: Vec<Instant> = timeline.windows.iter().map(|w| w.measure_start).collect();
            l.attach(running.probe(), step_offset, &starts);
        }
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
                if let Some(l) = live {
                    l.step_started(step_offset + i + 1, w.load);
                }
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
                        if let Some(l) = live {
                            l.step_finished(&r);
                        }
                        if let Some(w) = hints::overrun_warning(&r) {
                            progress.warn(&w);
                        }
                        if let Some(w) = hints::littles_law_warning(&r) {
                            progress.warn(&w);
                        }
                        // Once per run, at the first step where most answers were errors.
                        if let Some(w) = hints::answers(&r, plan) {
                            if !error_answers_warned.swap(true, Ordering::SeqCst) {
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
        self.steps_run += results.len();
        Ok(results)
    }

    /// Ends the run: the progress display and the signal handlers stop, the time series is
    /// flushed, and `--scrape` stops and attaches to each of `results` its series.
    pub async fn stop(&mut self, results: &mut [StepResult]) -> Result<(), RunError> {
        self.progress.finish();
        self.signals.abort();
        if let Some(ts) = &self.outputs.timeseries {
            ts.lock().unwrap_or_else(|e| e.into_inner()).flush()?;
        }
        finish_scrape(self.outputs.scraper.take(), results, &self.outputs.path).await?;
        if let Some(live) = self.live.take() {
            live.finish(self.signal()).await;
        }
        Ok(())
    }

    /// Closes the run's outputs through [`Outputs::close`]'s one sequence: the CSV, time series
    /// and `--scrape`'s samples, `--json` (`json` writes the command's document into the file),
    /// `--hdr-log`, `--junit`, then the table of `results` on stdout when `table`.
    pub fn close(
        self,
        results: &[StepResult],
        json: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
        table: bool,
    ) -> Result<Closed, RunError> {
        let signal = self.signal();
        let hdr = sinks::hdrlog::LogMeta::of(&self.plan);
        let started = self.started.unwrap_or_else(SystemTime::now);
        let path = self.outputs.close(
            results,
            Closing {
                json,
                hdr: Some((hdr, started)),
                command: self.plan.command,
                objectives: &self.gate.objectives,
                until: self.gate.until,
                table,
            },
        )?;
        Ok(Closed { path, signal })
    }
}

/// Stops `--scrape`, attaches to each step its series over the step's measured window, and
/// writes the target's exposition text at the run's two ends beside the CSV `csv`
/// ([`report::input::run::snapshot_paths`]), the evidence `loadgen report` reads for the run's totals.
async fn finish_scrape(
    scraper: Option<scrape::Scraper>,
    results: &mut [StepResult],
    csv: &std::path::Path,
) -> Result<(), RunError> {
    let Some(scraper) = scraper else {
        return Ok(());
    };
    let done = scraper.finish().await?;
    if done.failed > 0 {
        eprintln!(
            "loadgen: warning: --scrape failed {} time(s){}",
            done.failed,
            done.why.map_or(String::new(), |w| format!(", last: {w}"))
        );
    }
    if let Some(why) = done.probe_why.filter(|_| done.probe_failed > 0) {
        eprintln!(
            "loadgen: warning: {} reading(s) of the target process failed, last: {why}",
            done.probe_failed
        );
    }
    for r in results.iter_mut() {
        if let Some(from) = r.started_at {
            let to = from + std::time::Duration::from_secs_f64(r.duration_s.max(0.0));
            r.scrape = Some(scrape::summarize(&done.samples, from, to));
        }
    }
    let (start, end) = report::input::run::snapshot_paths(csv);
    for (text, path) in [(done.snapshots.start, start), (done.snapshots.end, end)] {
        if let Some(text) = text {
            // Through the same temporary-name-then-rename as every other output.
            let (staged, mut file) = Staged::create(&path, "--scrape")?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            std::io::Write::flush(&mut file)?;
            drop(file);
            staged.commit()?;
        }
    }
    Ok(())
}

/// With `--start-at`, waits (cancellably) until that wall-clock instant. Returns the instant the
/// steps start on both clocks, or `None` when interrupted first.
async fn wait_for_start(
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
