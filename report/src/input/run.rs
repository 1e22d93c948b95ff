//! What a report reads: the ramp CSVs (with the writer's own [`StepRow`]), and when they sit
//! beside the first one, the run's `--json` summary, `--timeseries` CSV and the server's
//! `/metrics` snapshot. Only the step CSVs are required; a missing or unreadable companion file
//! is noted and skipped.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::input::row::{read_rows, StepRow};
use crate::input::server::{ReportedTier, ServerSnapshot};
use crate::ReportError;

/// One second of a `--timeseries` CSV (the columns the charts use).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Second {
    /// 1-based step.
    pub step: usize,
    /// Second within the step's measured part.
    pub second: u64,
    /// Requests per second.
    pub throughput_rps: f64,
    /// 2xx per second.
    pub goodput_rps: f64,
    /// Median latency of that second, ms.
    pub p50_ms: f64,
    /// p99 of that second, ms.
    pub p99_ms: f64,
}

/// The server's own view of one step, from `--scrape` (absent figures are `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScrapedStep {
    /// Model calls the provider pushed back during the step.
    pub pushbacks: Option<f64>,
    /// Mean requests waiting for a permit.
    pub queue_mean: Option<f64>,
    /// Mean live concurrency limit.
    pub limit_mean: Option<f64>,
    /// `/analyze` requests answered 200 during the step.
    pub analyses_ok: Option<f64>,
    /// Model calls answered 2xx during the step.
    pub model_calls_ok: Option<f64>,
    /// Input tokens billed during the step.
    pub input_tokens: Option<f64>,
    /// Output tokens billed during the step.
    pub output_tokens: Option<f64>,
    /// `analyze_capacity` (mean over the step).
    pub capacity: Option<f64>,
    /// CPU seconds the target spent in the step (`process_cpu_seconds_total`: the target's own
    /// export, or `--target-pid`'s samples).
    pub cpu_s: Option<f64>,
    /// Mean time of the target's calls to its upstreams in the step, seconds: the OpenTelemetry
    /// `http_client_request_duration_seconds`, else analyze-server's
    /// `upstream_call_duration_seconds` (increase of the sum over increase of the count).
    pub upstream_mean_s: Option<f64>,
    /// The tier the provider reported (`upstream_ratelimit_limit`, mean over the step).
    pub tier: Option<ReportedTier>,
}

impl ScrapedStep {
    fn of(scrape: &serde_json::Value) -> Self {
        let get = |series: &str, field: &str| scrape.get(series)?.get(field)?.as_f64();
        ScrapedStep {
            pushbacks: get(
                "upstream_calls_total{api=\"claude\",outcome=\"overloaded\"}",
                "delta",
            )
            .or_else(|| {
                // The counter exists once any call was made: no overloaded series is 0.
                get(
                    "upstream_calls_total{api=\"claude\",outcome=\"ok\"}",
                    "delta",
                )
                .map(|_| 0.0)
            }),
            queue_mean: get("analyze_queue_depth", "mean"),
            limit_mean: get("analyze_concurrency_limit", "mean"),
            analyses_ok: get(
                "analyze_requests_total{route=\"/analyze\",status=\"200\"}",
                "delta",
            ),
            model_calls_ok: get(
                "upstream_calls_total{api=\"claude\",outcome=\"ok\"}",
                "delta",
            ),
            input_tokens: get(
                "upstream_tokens_total{api=\"claude\",direction=\"input\"}",
                "delta",
            ),
            output_tokens: get(
                "upstream_tokens_total{api=\"claude\",direction=\"output\"}",
                "delta",
            ),
            capacity: get("analyze_capacity", "mean"),
            cpu_s: series_delta(scrape, "process_cpu_seconds_total", |_| true)
                .into_iter()
                .reduce(f64::max),
            upstream_mean_s: [
                "http_client_request_duration_seconds",
                "upstream_call_duration_seconds",
            ]
            .iter()
            .find_map(|m| {
                let sum = series_delta(scrape, &format!("{m}_sum"), |_| true);
                let count = series_delta(scrape, &format!("{m}_count"), |_| true);
                let (sum, count): (f64, f64) = (sum.iter().sum(), count.iter().sum());
                (count > 0.0).then(|| sum / count)
            }),
            tier: {
                let limit = |r: &str| {
                    get(
                        &format!("upstream_ratelimit_limit{{api=\"claude\",resource=\"{r}\"}}"),
                        "mean",
                    )
                    .filter(|&v| v > 0.0)
                };
                let t = ReportedTier {
                    rpm: limit("requests"),
                    itpm: limit("input_tokens"),
                    otpm: limit("output_tokens"),
                };
                (t != ReportedTier::default()).then_some(t)
            },
        }
    }
}

/// The increases over the step of every series of `metric` (any labels) that `keep` accepts by
/// its label text; empty when none was scraped as a counter.
fn series_delta(scrape: &serde_json::Value, metric: &str, keep: impl Fn(&str) -> bool) -> Vec<f64> {
    let Some(map) = scrape.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(key, v)| {
            let labels = key.strip_prefix(metric)?;
            (labels.is_empty() || labels.starts_with('{')).then_some(())?;
            keep(labels).then_some(())?;
            v.get("delta")?.as_f64()
        })
        .collect()
}

/// Everything read for one report.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// The step CSVs, in the order given.
    pub csvs: Vec<PathBuf>,
    /// Every step's total row of every CSV.
    pub rows: Vec<StepRow>,
    /// Each total row's per-name rows (scenario requests), parallel to `rows`: empty when the
    /// run had one name.
    pub named: Vec<Vec<StepRow>>,
    /// The `config` object of the run's JSON summary, when found.
    pub config: Option<serde_json::Value>,
    /// The per-second series, when found.
    pub seconds: Vec<Second>,
    /// `analyze_capacity` (the permit ceiling) from a `/metrics` snapshot, when found and not
    /// legacy mode.
    pub server_capacity: Option<u32>,
    /// The whole snapshot, when found and readable.
    pub server: Option<ServerSnapshot>,
    /// `--scrape`: what the server's /metrics said during each step, by step number (from the
    /// run's JSON summary).
    pub scraped: std::collections::BTreeMap<usize, ScrapedStep>,
    /// What was looked for and not used, for the report's notes.
    pub notes: Vec<String>,
}

/// Companion files looked for beside the first CSV, by name.
fn beside(csv: &Path, names: &[String]) -> Option<PathBuf> {
    let dir = csv.parent().unwrap_or(Path::new("."));
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

fn stem(csv: &Path) -> String {
    csv.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads the CSVs (errors name file, line and column) and the companions of the first one.
pub fn load(
    csvs: &[PathBuf],
    json: Option<&Path>,
    timeseries: Option<&Path>,
    metrics: Option<&Path>,
) -> Result<RunInput, ReportError> {
    let (mut rows, mut named) = (Vec::new(), Vec::new());
    for path in csvs {
        // Each step's total row, with that step's per-name rows of the same file beside it
        // (several CSVs share step numbers, so the file keeps them apart).
        let (total, by_name): (Vec<StepRow>, Vec<StepRow>) =
            read_rows(path)?.into_iter().partition(StepRow::is_total);
        for t in total {
            named.push(
                by_name
                    .iter()
                    .filter(|n| n.step == t.step)
                    .cloned()
                    .collect(),
            );
            rows.push(t);
        }
    }
    let first = csvs.first().ok_or(ReportError::NoInput)?;
    let counted = rows.iter().filter(|r| !r.interrupted).count();
    if counted < 2 {
        return Err(ReportError::OneStep {
            path: first.display().to_string(),
            interrupted: rows
                .iter()
                .filter(|r| r.interrupted)
                .map(|r| r.step)
                .collect(),
        });
    }
    let s = stem(first);
    let mut notes = Vec::new();
    let json = json
        .map(Path::to_path_buf)
        .or_else(|| beside(first, &[format!("{s}.json")]));
    let mut scraped = std::collections::BTreeMap::new();
    let config = json.and_then(|p| {
        let doc = std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        for step in doc
            .as_ref()
            .and_then(|d| d.get("steps")?.as_array().cloned())
            .unwrap_or_default()
        {
            if let (Some(n), Some(sc)) = (
                step.get("step").and_then(|v| v.as_u64()),
                step.get("scrape"),
            ) {
                scraped.insert(n as usize, ScrapedStep::of(sc));
            }
        }
        match doc.and_then(|d| d.get("config").cloned()) {
            Some(c) => Some(c),
            None => {
                notes.push(format!("{}: no readable `config`, skipped", p.display()));
                None
            }
        }
    });
    let ts = timeseries.map(Path::to_path_buf).or_else(|| {
        beside(
            first,
            &[
                format!("{s}.timeseries.csv"),
                format!("{s}-timeseries.csv"),
                "timeseries.csv".into(),
            ],
        )
    });
    let seconds = match ts {
        Some(p) => match read_seconds(&p) {
            Ok(v) => v,
            Err(e) => {
                notes.push(format!("{}: {e}, time series skipped", p.display()));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let metrics = metrics.map(Path::to_path_buf).or_else(|| {
        beside(
            first,
            &[
                format!("{s}-metrics.prom"),
                "server-metrics.prom".into(),
                "metrics.prom".into(),
            ],
        )
    });
    let server = server_evidence(first, metrics.as_deref(), &scraped, &mut notes);
    let server_capacity = server.as_ref().and_then(ServerSnapshot::permits);
    Ok(RunInput {
        csvs: csvs.to_vec(),
        rows,
        named,
        config,
        seconds,
        server_capacity,
        server,
        scraped,
        notes,
    })
}

/// The server's figures for the whole run, from the best evidence beside the run, so that
/// every combination of side files gives one answer:
/// 1. the `/metrics` snapshot (`--from-metrics`, or `<stem>-metrics.prom` that `--scrape`
///    writes), less the one taken at the run's start (`<stem>-metrics-start.prom`) when present;
/// 2. else `--scrape`'s samples (`scrape.csv`): the last scrape less the first;
/// 3. else the JSON's per-step `--scrape` windows: gauges as scraped, counters summed over the
///    measured windows (warm-ups left out, so approximate; noted).
///
/// Per-window counter increases are never used for the run's ratios (calls and tokens per
/// analysis): a window's edges cut through analyses in progress and alias with their phase.
fn server_evidence(
    first: &Path,
    metrics: Option<&Path>,
    scraped: &std::collections::BTreeMap<usize, ScrapedStep>,
    notes: &mut Vec<String>,
) -> Option<ServerSnapshot> {
    if let Some(p) = metrics {
        let end = match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| ServerSnapshot::parse(&t))
        {
            Ok(s) => s,
            Err(e) => {
                notes.push(format!("{}: {e}, skipped", p.display()));
                return None;
            }
        };
        note_capacity(&end, p, notes);
        let start = start_snapshot_of(p)
            .and_then(|sp| std::fs::read_to_string(sp).ok())
            .and_then(|t| ServerSnapshot::parse(&t).ok());
        return Some(match start {
            Some(start) => end.since(&start),
            None => end,
        });
    }
    let dir = first.parent().unwrap_or(Path::new("."));
    let samples = dir.join("scrape.csv");
    if samples.is_file() {
        match snapshots_from_samples(&samples) {
            Ok(Some((start, end))) => {
                note_capacity(&end, &samples, notes);
                return Some(end.since(&start));
            }
            Ok(None) => notes.push(format!("{}: no samples", samples.display())),
            Err(e) => notes.push(format!("{}: {e}, skipped", samples.display())),
        }
    }
    if scraped.is_empty() {
        return None;
    }
    notes.push(
        "the server's totals are the --scrape windows of the run's JSON summed (warm-ups left \
         out): approximate; keep the `-metrics.prom` snapshot or scrape.csv beside the CSV"
            .into(),
    );
    let mut snap = ServerSnapshot::default();
    let sum = |f: fn(&ScrapedStep) -> Option<f64>| {
        let v: Vec<f64> = scraped.values().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>())
    };
    snap.analyses_ok = sum(|s| s.analyses_ok).unwrap_or(0.0);
    snap.model_calls_ok = sum(|s| s.model_calls_ok).unwrap_or(0.0);
    snap.pushbacks = sum(|s| s.pushbacks).unwrap_or(0.0);
    snap.input_tokens = sum(|s| s.input_tokens);
    snap.output_tokens = sum(|s| s.output_tokens);
    let last = scraped.values().last();
    snap.capacity = scraped.values().rev().find_map(|s| s.capacity);
    snap.limit = last.and_then(|s| s.limit_mean);
    snap.tier = scraped
        .values()
        .rev()
        .find_map(|s| s.tier)
        .unwrap_or_default();
    Some(snap)
}

/// `x-metrics.prom` → `x-metrics-start.prom` beside it, when that file exists.
fn start_snapshot_of(end: &Path) -> Option<PathBuf> {
    let stem = end.file_stem()?.to_string_lossy().into_owned();
    Some(end.with_file_name(format!("{stem}-start.prom"))).filter(|p| p.is_file())
}

fn note_capacity(s: &ServerSnapshot, p: &Path, notes: &mut Vec<String>) {
    match s.capacity {
        None => notes.push(format!("{}: no analyze_capacity", p.display())),
        Some(v) if v < 1.0 => notes.push(format!(
            "{}: analyze_capacity {v} (legacy mode: no permit limit)",
            p.display()
        )),
        Some(_) => {}
    }
}

/// The first and the last scrape of a `scrape.csv` (`unix_s,series,kind,value`), each as a
/// snapshot; `None` when it holds no sample.
fn snapshots_from_samples(path: &Path) -> Result<Option<(ServerSnapshot, ServerSnapshot)>, String> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| e.to_string())?;
    let mut scrapes: Vec<(String, String)> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let (Some(at), Some(series), Some(value)) = (rec.get(0), rec.get(1), rec.get(3)) else {
            return Err("expected columns unix_s,series,kind,value".into());
        };
        match scrapes.last_mut() {
            Some((t, text)) if t == at => text.push_str(&format!("{series} {value}\n")),
            _ => scrapes.push((at.to_string(), format!("{series} {value}\n"))),
        }
    }
    let (Some((_, first)), Some((_, last))) = (scrapes.first(), scrapes.last()) else {
        return Ok(None);
    };
    Ok(Some((
        ServerSnapshot::parse(first)?,
        ServerSnapshot::parse(last)?,
    )))
}

fn read_seconds(path: &Path) -> Result<Vec<Second>, String> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| e.to_string())?;
    rdr.deserialize()
        .collect::<Result<Vec<Second>, _>>()
        .map_err(|e| e.to_string())
}

/// The server settings a CSV was measured at, from the `/metrics` snapshot beside it: runs at
/// different settings are configurations to keep apart, not points of one curve.
pub fn configuration_of(csv: &Path) -> String {
    let s = stem(csv);
    let snapshot = beside(
        csv,
        &[
            format!("{s}-metrics.prom"),
            "server-metrics.prom".into(),
            "metrics.prom".into(),
        ],
    )
    .and_then(|p| std::fs::read_to_string(p).ok())
    .and_then(|t| ServerSnapshot::parse(&t).ok());
    match snapshot {
        None => "settings unknown (no /metrics snapshot beside the CSV)".into(),
        Some(snap) => match (snap.permits(), snap.capacity) {
            (Some(n), _) => format!("MAX_CONCURRENT_ANALYSES={n}"),
            (None, Some(_)) => "legacy mode (no permit limit)".into(),
            (None, None) => "settings unknown (no analyze_capacity)".into(),
        },
    }
}

/// Where `--scrape` keeps the server's `/metrics` at a run's start and end, beside its CSV:
/// `<stem>-metrics-start.prom` and `<stem>-metrics.prom` (loadgen writes them; the report and
/// `loadgen verify` read them).
pub fn snapshot_paths(csv: &Path) -> (PathBuf, PathBuf) {
    let stem = csv
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (
        csv.with_file_name(format!("{stem}-metrics-start.prom")),
        csv.with_file_name(format!("{stem}-metrics.prom")),
    )
}
