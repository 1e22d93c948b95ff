//! The run's output files (`--out`, `--timeseries`, `--json`, `--hdr-log`, `--junit`,
//! `--scrape`), created together once the target answered, each failure naming its flag.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::cli::CommonArgs;
use crate::error::{ConfigError, RunError};
use crate::scrape;
use crate::sinks;

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

/// The time series sink, shared by the steps resolving at once.
pub(crate) type Timeseries = std::sync::Mutex<sinks::timeseries::TimeseriesSink<BufWriter<File>>>;

impl Outputs {
    pub(crate) fn create(common: &CommonArgs, command: &str) -> Result<Outputs, RunError> {
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

/// `--dashboard` / `--metrics-addr`: starts the live view (printing where it is served), fed by
/// `outputs` (`--scrape`'s samples) and stopping the run through `stop`, as SIGINT does.
pub(crate) async fn start_live(
    common: &CommonArgs,
    plan: &crate::plan::Plan,
    outputs: &Outputs,
    stop: super::signals::StopRequest,
) -> Result<Option<crate::live::Live>, RunError> {
    let o = &common.output;
    if o.dashboard.is_none() && o.metrics_addr.is_none() {
        return Ok(None);
    }
    let mut files = vec![("CSV".to_string(), outputs.path.clone())];
    for (what, p) in [("JSON", &o.json), ("time series", &o.timeseries)] {
        if let Some(p) = p {
            files.push((what.to_string(), p.clone()));
        }
    }
    let cfg = crate::live::Config {
        dashboard: o.dashboard,
        metrics: o.metrics_addr,
        run_id: plan.run_id.clone(),
        generator: plan.instance.map(|i| format!("{}/{}", i.index, i.count)),
        command: plan.command,
        target: common.url().to_string(),
        names: plan.requests.iter().map(|r| r.name.clone()).collect(),
        objectives: common.gate.slo.clone(),
        steps_total: if plan.command == "find-capacity" {
            0
        } else {
            plan.steps.len()
        },
        files,
        scrape: outputs.scraper.as_ref().map(|s| s.live_samples()),
    };
    let live = crate::live::Live::start(cfg, stop).await?;
    if let Some(u) = &live.dashboard_url {
        eprintln!("loadgen: dashboard at {u}");
    }
    if let Some(u) = &live.metrics_url {
        eprintln!("loadgen: metrics at {u}");
    }
    Ok(Some(live))
}
