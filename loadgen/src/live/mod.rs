//! The live view of a run: `--dashboard` (a page served by loadgen, updated every second over
//! Server-Sent Events, with a Stop button) and `--metrics-addr` (loadgen's own series for
//! Prometheus). The session feeds one [`Live`] with what it already has (the collectors'
//! per-second intervals, each step's start and result, a [`Probe`] of the running steps); a
//! ticker turns that into one update a second. Nothing here is on the request path.

pub mod board;
pub mod dashboard;
pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::Probe;
use crate::error::ConfigError;
use crate::plan::Load;
use crate::record::{Interval, OutcomeClass, StepResult};
use crate::scrape;
use crate::signals::StopRequest;
use crate::slo::Objective;
use board::{Board, ObjectiveView};

/// How often the page and the gauges are updated.
pub const TICK: Duration = Duration::from_secs(1);

/// Longest the run's end waits for the page to receive the final table and for a scraper of
/// `--metrics-addr` to read the final counts (Prometheus at a 1 s interval needs one more
/// scrape; after a short run, its first), before loadgen exits.
pub const LINGER: Duration = Duration::from_secs(3);

/// Series of the target (with `--scrape`) the page draws, by metric name.
pub const TARGET_SERIES: &[&str] = &[
    "analyze_queue_depth",
    "analyze_in_flight",
    "analyze_capacity",
    "analyze_concurrency_limit",
    "upstream_ratelimit_remaining",
];

/// What the live view is started with.
pub struct Config {
    /// `--dashboard`: where the page is served.
    pub dashboard: Option<SocketAddr>,
    /// `--metrics-addr`: where `/metrics` is served.
    pub metrics: Option<SocketAddr>,
    /// The run's id (a label of every series).
    pub run_id: String,
    /// `i/n` with `--instance`.
    pub generator: Option<String>,
    /// The command (`ramp`, `run`, `find-capacity`).
    pub command: &'static str,
    /// The target URL.
    pub target: String,
    /// Request names, in plan order.
    pub names: Vec<String>,
    /// The `--slo` objectives.
    pub objectives: Vec<Objective>,
    /// Steps planned (0: a search).
    pub steps_total: usize,
    /// Output files to name on the page when the run ends: (what, path).
    pub files: Vec<(String, PathBuf)>,
    /// With `--scrape`: the target's samples so far.
    pub scrape: Option<Arc<Mutex<Vec<scrape::Sample>>>>,
}

/// One message to the page: an SSE event name and its JSON data.
#[derive(Debug, Clone)]
pub struct Message {
    /// `init`, `tick` or `done`.
    pub kind: &'static str,
    /// The JSON data.
    pub json: Arc<str>,
}

/// State shared by the ticker and the HTTP handlers.
pub struct Shared {
    board: Mutex<Board>,
    exporter: Option<metrics::Exporter>,
    events: broadcast::Sender<Message>,
    /// The Stop button's secret, part of the page's URL.
    token: String,
    stop: StopRequest,
    meta: serde_json::Value,
    files: Vec<(String, PathBuf)>,
    scrape: Option<Arc<Mutex<Vec<scrape::Sample>>>>,
    /// The final message, once the run has ended.
    done: Mutex<Option<Message>>,
    /// `/metrics` answers so far.
    scrapes: AtomicU64,
    /// Event streams open now.
    streams: AtomicUsize,
}

impl Shared {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything so far, for a page that just connected.
    fn init(&self) -> Message {
        let board = self.board();
        let mut v = self.status(&board);
        v["meta"] = self.meta.clone();
        v["points"] = json!(board.all_points());
        v["rows"] = json!(board.rows);
        Message {
            kind: "init",
            json: v.to_string().into(),
        }
    }

    /// The figures of now (not the per-second points).
    fn status(&self, board: &Board) -> serde_json::Value {
        let mut totals = [0u64; crate::record::CLASSES];
        for name in board.totals() {
            for (t, c) in totals.iter_mut().zip(name) {
                *t += c;
            }
        }
        let c = |k: OutcomeClass| totals[k.index()];
        let requests: u64 = totals.iter().sum();
        let (ok, r429, r503) = (
            c(OutcomeClass::Ok),
            c(OutcomeClass::Rejected429),
            c(OutcomeClass::Rejected503),
        );
        let load = board.current.map(|cur| match cur.load {
            Load::Closed { concurrency } => json!({"step": cur.step, "users": concurrency}),
            Load::Open { rate, .. } => json!({"step": cur.step, "rate": rate}),
        });
        json!({
            "t": board.now(),
            "current": load,
            "in_flight": board.in_flight,
            "late_sends": board.late_sends,
            "totals": {
                "requests": requests, "ok": ok, "rejected_429": r429, "rejected_503": r503,
                "errors": requests - ok - r429 - r503,
            },
            "target": self.target_series(board.now()),
        })
    }

    /// The target's latest sample of each drawn series, with `--scrape`.
    fn target_series(&self, t: f64) -> serde_json::Value {
        let Some(samples) = &self.scrape else {
            return serde_json::Value::Null;
        };
        let samples = samples.lock().unwrap_or_else(|e| e.into_inner());
        let Some(last) = samples.last().map(|s| s.at) else {
            return serde_json::Value::Null;
        };
        let mut series = serde_json::Map::new();
        for s in samples.iter().rev().take_while(|s| s.at == last) {
            let metric = s.series.split('{').next().unwrap_or_default();
            if TARGET_SERIES.contains(&metric) {
                series.insert(s.series.clone(), json!(s.value));
            }
        }
        json!({"t": t, "series": series})
    }

    /// Reads the probe, updates the gauges, and sends the page what changed.
    fn tick(&self) {
        let msg = {
            let mut board = self.board();
            board.refresh();
            if let Some(e) = &self.exporter {
                e.update(&board);
            }
            let mut v = self.status(&board);
            v["points"] = json!(board.take_dirty());
            v["rows"] = json!(board.take_new_rows());
            Message {
                kind: "tick",
                json: v.to_string().into(),
            }
        };
        let _ = self.events.send(msg);
    }

    /// The `/metrics` text, counts read now.
    pub fn render_metrics(&self) -> Option<String> {
        let e = self.exporter.as_ref()?;
        {
            let mut board = self.board();
            board.refresh();
            e.update(&board);
        }
        self.scrapes.fetch_add(1, Ordering::SeqCst);
        Some(e.render())
    }
}

/// The live view of one run: its servers and its ticker.
pub struct Live {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The page's URL, token included.
    pub dashboard_url: Option<String>,
    /// Where `/metrics` is served.
    pub metrics_url: Option<String>,
}

/// A random secret for the Stop button: 128 bits from the operating system's generator, hex.
fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn bind(addr: SocketAddr, flag: &str) -> Result<tokio::net::TcpListener, ConfigError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ConfigError::new(flag, format!("cannot listen on {addr}: {e}")))
}

impl Live {
    /// Binds the listeners (a taken port fails here, naming its flag), starts serving and the
    /// ticker. `stop` is the path SIGINT takes.
    pub async fn start(cfg: Config, stop: StopRequest) -> Result<Live, ConfigError> {
        let dashboard = match cfg.dashboard {
            Some(a) => Some(bind(a, "--dashboard").await?),
            None => None,
        };
        let metrics = match cfg.metrics {
            Some(a) => Some(bind(a, "--metrics-addr").await?),
            None => None,
        };
        let objectives: Vec<ObjectiveView> = cfg.objectives.iter().map(ObjectiveView::of).collect();
        let meta = json!({
            "command": cfg.command,
            "target": cfg.target,
            "run_id": cfg.run_id,
            "generator": cfg.generator,
            "steps_total": cfg.steps_total,
            "objectives": objectives,
            "scrape": cfg.scrape.is_some(),
        });
        let exporter = cfg
            .metrics
            .is_some()
            .then(|| metrics::Exporter::new(&cfg.run_id, cfg.generator.clone()));
        let (events, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            board: Mutex::new(Board::new(
                cfg.names,
                cfg.objectives,
                cfg.steps_total,
                Instant::now(),
            )),
            exporter,
            events,
            token: new_token(),
            stop,
            meta,
            files: cfg.files,
            scrape: cfg.scrape,
            done: Mutex::new(None),
            scrapes: AtomicU64::new(0),
            streams: AtomicUsize::new(0),
        });
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut serve = |listener: tokio::net::TcpListener, router: axum::Router| {
            let cancel = cancel.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(cancel.cancelled_owned())
                    .await;
            }));
        };
        let mut dashboard_url = None;
        let mut metrics_url = None;
        if let Some(l) = dashboard {
            let addr = l
                .local_addr()
                .map_err(|e| ConfigError::new("--dashboard", e.to_string()))?;
            dashboard_url = Some(format!("http://{addr}/?token={}", shared.token));
            serve(l, dashboard::router(shared.clone(), true));
        }
        if let Some(l) = metrics {
            let addr = l
                .local_addr()
                .map_err(|e| ConfigError::new("--metrics-addr", e.to_string()))?;
            metrics_url = Some(format!("http://{addr}/metrics"));
            serve(l, dashboard::router(shared.clone(), false));
        }
        {
            let (shared, cancel) = (shared.clone(), cancel.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(TICK);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = tick.tick() => shared.tick(),
                        _ = cancel.cancelled() => break,
                    }
                }
            }));
        }
        Ok(Live {
            shared,
            cancel,
            tasks,
            dashboard_url,
            metrics_url,
        })
    }

    /// A new engine run begins (see [`Board::attach`]).
    pub fn attach(&self, probe: Probe, step_offset: usize, measure_starts: &[Instant]) {
        self.shared
            .board()
            .attach(probe, step_offset, measure_starts);
    }

    /// Step `step` began sending at `load`.
    pub fn step_started(&self, step: usize, load: Load) {
        self.shared.board().step_started(step, load);
    }

    /// A collector received part of a second of step `step`.
    pub fn interval(&self, step: usize, iv: &Interval) {
        self.shared.board().interval(step, iv);
        if let Some(e) = &self.shared.exporter {
            e.interval(iv);
        }
    }

    /// Step `r.step` is final.
    pub fn step_finished(&self, r: &StepResult) {
        self.shared.board().step_finished(r);
    }

    /// The run is over (`signal`: the exit code of the stop that ended it): the page gets the
    /// last seconds and the final table, a scraper (with `--metrics-addr`) the final counts,
    /// even a scraper that has not come yet; waits up to [`LINGER`] for both, then stops serving.
    pub async fn finish(self, signal: Option<u8>) {
        self.shared.tick();
        let scrapes_before = self.shared.scrapes.load(Ordering::SeqCst);
        let done = {
            let board = self.shared.board();
            let files: Vec<_> = self
                .shared
                .files
                .iter()
                .map(|(what, p)| {
                    let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                    json!({"what": what, "path": abs.display().to_string()})
                })
                .collect();
            Message {
                kind: "done",
                json: json!({
                    "rows": board.rows,
                    "signal": signal,
                    "files": files,
                    "t": board.now(),
                })
                .to_string()
                .into(),
            }
        };
        *self.shared.done.lock().unwrap_or_else(|e| e.into_inner()) = Some(done.clone());
        let _ = self.shared.events.send(done);
        let deadline = Instant::now() + LINGER;
        // Also when no scrape came during the run: a run shorter than the scraper's first visit
        // would otherwise end before the scraper ever saw a count.
        let waits_for_scrape = self.shared.exporter.is_some();
        while Instant::now() < deadline {
            let pages = self.shared.streams.load(Ordering::SeqCst) == 0;
            let scraped =
                !waits_for_scrape || self.shared.scrapes.load(Ordering::SeqCst) > scrapes_before;
            if pages && scraped {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.cancel.cancel();
        for t in self.tasks {
            // Graceful shutdown waits for open connections: bounded, as a page may hold one.
            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
        }
    }
}
