//! The run's output files (`--out`, `--timeseries`, `--json`, `--hdr-log`, `--junit`,
//! `--scrape`). Their paths are checked before anything is sent or written ([`OutputPaths`]: no
//! two outputs on one file, `--scrape` a URL); once the target answered they are created under
//! temporary names ([`Staged`]) and renamed into place when the run closes, each failure naming
//! its flag.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::staged::Staged;
use crate::cli::CommonArgs;
use crate::error::{ConfigError, RunError};
use crate::scrape;
use crate::sinks;
use crate::target_proc::TargetProc;

fn default_out(command: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "");
    PathBuf::from("reports/runs")
        .join(stamp)
        .join(format!("{command}.csv"))
}

/// What names `--scrape`'s file, which has no flag of its own.
const SCRAPE_FILE: &str = "--scrape (scrape.csv beside --out)";

/// What `--scrape` and `--target-pid` sample, and the file both write.
#[derive(Debug, Clone)]
struct Sampled {
    /// `--scrape`'s URL.
    url: Option<String>,
    /// `--target-pid`'s process, checked to exist.
    target: Option<TargetProc>,
    /// scrape.csv beside the CSV.
    file: PathBuf,
}

/// Every output path of the run, checked: none shared by two outputs, `--scrape` a URL,
/// `--target-pid` a process of this machine.
#[derive(Debug, Clone)]
pub(crate) struct OutputPaths {
    csv: PathBuf,
    timeseries: Option<PathBuf>,
    json: Option<PathBuf>,
    hdr: Option<PathBuf>,
    junit: Option<PathBuf>,
    /// `--scrape`'s URL, `--target-pid`'s process and the file their samples go to.
    scrape: Option<Sampled>,
}

impl OutputPaths {
    /// The paths `common` asks for (the CSV's default named after `command`), refused when two
    /// outputs would write one file, `--scrape` is not an http(s) URL or `--target-pid` names
    /// no process here. Touches no file.
    pub(crate) fn resolve(common: &CommonArgs, command: &str) -> Result<OutputPaths, ConfigError> {
        let o = &common.output;
        let csv = o.out.clone().unwrap_or_else(|| default_out(command));
        if let Some(url) = &o.scrape {
            scrape::check_url(url).map_err(|e| ConfigError::new("--scrape", e))?;
        }
        let target = o
            .target_pid
            .map(TargetProc::open)
            .transpose()
            .map_err(|e| ConfigError::new("--target-pid", e.to_string()))?;
        let scrape = (o.scrape.is_some() || target.is_some()).then(|| Sampled {
            url: o.scrape.clone(),
            target,
            file: csv
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join("scrape.csv"),
        });
        let paths = OutputPaths {
            csv,
            timeseries: o.timeseries.clone(),
            json: o.json.clone(),
            hdr: o.hdr_log.clone(),
            junit: common.gate.junit.clone(),
            scrape,
        };
        paths.refuse_shared()?;
        Ok(paths)
    }

    /// Each output's flag and path.
    fn named(&self) -> Vec<(&'static str, &Path)> {
        let mut v = vec![("--out", self.csv.as_path())];
        let optional = [
            ("--timeseries", self.timeseries.as_deref()),
            ("--json", self.json.as_deref()),
            ("--hdr-log", self.hdr.as_deref()),
            ("--junit", self.junit.as_deref()),
            (SCRAPE_FILE, self.scrape.as_ref().map(|s| s.file.as_path())),
        ];
        v.extend(optional.into_iter().filter_map(|(f, p)| Some((f, p?))));
        v
    }

    /// Two outputs on one file would overwrite each other: refused, naming both flags.
    fn refuse_shared(&self) -> Result<(), ConfigError> {
        let named = self.named();
        for (i, (flag, path)) in named.iter().enumerate() {
            let key = same_file_key(path);
            if let Some((first, _)) = named[..i].iter().find(|(_, p)| same_file_key(p) == key) {
                return Err(ConfigError::new(
                    &format!("{first}/{flag}"),
                    format!(
                        "both write {}: one would overwrite the other; give each its own file",
                        path.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A path's identity for comparison: absolute, its existing parent resolved (symbolic links,
/// `..`), so `out.csv` and `./x/../out.csv` compare equal.
fn same_file_key(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

/// A file being written and the writer filling it.
pub(crate) type StagedWriter = (Staged, BufWriter<File>);

/// The run's output files, created once the target answered, each under a temporary name until
/// [`super::Session::close`] renames it into place.
pub(crate) struct Outputs {
    pub(crate) path: PathBuf,
    pub(crate) csv: sinks::csv::CsvSink<BufWriter<File>>,
    pub(crate) csv_file: Option<Staged>,
    pub(crate) timeseries: Option<Timeseries>,
    pub(crate) timeseries_file: Option<Staged>,
    pub(crate) json: Option<StagedWriter>,
    pub(crate) hdr: Option<StagedWriter>,
    pub(crate) junit: Option<StagedWriter>,
    /// `--scrape`: the target's metrics, sampled while the run lasts.
    pub(crate) scraper: Option<scrape::Scraper>,
    pub(crate) scrape_file: Option<Staged>,
}

/// The time series sink, shared by the steps resolving at once.
pub(crate) type Timeseries = std::sync::Mutex<sinks::timeseries::TimeseriesSink<BufWriter<File>>>;

impl Outputs {
    /// Creates every output of `paths` under its temporary name; on any failure the ones
    /// already created are removed and no destination was touched.
    pub(crate) fn create(paths: OutputPaths) -> Result<Outputs, RunError> {
        let (csv_file, csv_writer) = Staged::create(&paths.csv, "--out")?;
        let csv = sinks::csv::CsvSink::new(csv_writer)?;
        let (timeseries, timeseries_file) = match &paths.timeseries {
            Some(p) => {
                let (file, w) = Staged::create(p, "--timeseries")?;
                let sink = sinks::timeseries::TimeseriesSink::new(w)?;
                (Some(std::sync::Mutex::new(sink)), Some(file))
            }
            None => (None, None),
        };
        let staged = |p: &Option<PathBuf>, flag| p.as_deref().map(|p| Staged::create(p, flag));
        let json = staged(&paths.json, "--json").transpose()?;
        let hdr = staged(&paths.hdr, "--hdr-log").transpose()?;
        let junit = staged(&paths.junit, "--junit").transpose()?;
        let (scraper, scrape_file) = match paths.scrape {
            Some(sampled) => {
                let (file, w) = Staged::create(&sampled.file, SCRAPE_FILE)?;
                let probe = sampled
                    .target
                    .map(|t| Box::new(t) as Box<dyn scrape::Probe>);
                let scraper = scrape::Scraper::start(sampled.url.as_deref(), probe, w)
                    .map_err(|e| ConfigError::new("--scrape", e.to_string()))?;
                (Some(scraper), Some(file))
            }
            None => (None, None),
        };
        Ok(Outputs {
            path: paths.csv,
            csv,
            csv_file: Some(csv_file),
            timeseries,
            timeseries_file,
            json,
            hdr,
            junit,
            scraper,
            scrape_file,
        })
    }
}

/// `--dashboard` / `--metrics-addr`: starts the live view (printing where it is served), fed by
/// `outputs` (`--scrape`'s samples) and stopping the run through `stop`, as SIGINT does.
pub(crate) async fn start_live(
    common: &CommonArgs,
    plan: &crate::plan::Plan,
    outputs: &Outputs,
    stop: crate::signals::StopRequest,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_by_two_spellings_is_one_key() {
        let dir = std::env::temp_dir();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let a = dir.join("loadgen-same.csv");
        let b = dir.join("sub").join("..").join("loadgen-same.csv");
        assert_eq!(same_file_key(&a), same_file_key(&b));
        assert_ne!(same_file_key(&a), same_file_key(&dir.join("other.csv")));
    }
}
