//! A run's output files, created once the target answered, each under a temporary name
//! (`<name>.partial`, see `staged`) until [`Outputs::close`] renames it into place, each failure
//! naming its flag.
//! `ramp`/`run`, `find-capacity` and `merge` close through the one sequence here: the CSV (and
//! the time series and `--scrape`'s samples, filled while the run lasted), `--json`, `--hdr-log`,
//! `--junit`, then the table on stdout.

pub(crate) mod staged;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::config::{OutputPaths, SCRAPE_FILE};
use crate::error::{ConfigError, RunError};
use crate::record::StepResult;
use crate::scrape;
use crate::sinks;
use crate::slo::Objective;
use staged::Staged;

/// A file being written and the writer filling it.
pub(crate) type StagedWriter = (Staged, BufWriter<File>);

/// The time series sink, shared by the steps resolving at once.
pub type Timeseries = std::sync::Mutex<sinks::timeseries::TimeseriesSink<BufWriter<File>>>;

/// The run's output files, created once the target answered, each under a temporary name until
/// [`Outputs::close`] renames it into place.
pub struct Outputs {
    /// Where the CSV goes.
    pub path: PathBuf,
    /// The CSV: each step's row is written as it resolves.
    pub csv: sinks::csv::CsvSink<BufWriter<File>>,
    csv_file: Option<Staged>,
    /// `--timeseries`: filled while the run lasts.
    pub timeseries: Option<Timeseries>,
    timeseries_file: Option<Staged>,
    json: Option<StagedWriter>,
    hdr: Option<StagedWriter>,
    junit: Option<StagedWriter>,
    /// `--scrape`: the target's metrics, sampled while the run lasts.
    pub scraper: Option<scrape::Scraper>,
    scrape_file: Option<Staged>,
}

/// What closing writes besides the rows: the documents only the command knows.
pub struct Closing<'a, J> {
    /// Writes the command's `--json` document into the file.
    pub json: J,
    /// `--hdr-log`'s header and the run's wall-clock start (`None` when nothing was asked to
    /// write one: a merge).
    pub hdr: Option<(sinks::hdrlog::LogMeta, std::time::SystemTime)>,
    /// The command, as `--junit` names its suite.
    pub command: &'static str,
    /// The objectives `--junit` reports per step.
    pub objectives: &'a [Objective],
    /// `--slo-until`: steps above it are left out of `--junit`.
    pub until: Option<f64>,
    /// Print the table of the steps on stdout, last.
    pub table: bool,
}

impl Outputs {
    /// Creates every output of `paths` under its temporary name; on any failure the ones
    /// already created are removed and no destination was touched. `--scrape`'s sampling starts.
    pub fn create(paths: OutputPaths) -> Result<Outputs, RunError> {
        let (csv_file, csv_writer) = Staged::create(&paths.csv.path, paths.csv.flag)?;
        let csv = sinks::csv::CsvSink::new(csv_writer)?;
        let (timeseries, timeseries_file) = match &paths.timeseries {
            Some(n) => {
                let (file, w) = Staged::create(&n.path, n.flag)?;
                let sink = sinks::timeseries::TimeseriesSink::new(w)?;
                (Some(std::sync::Mutex::new(sink)), Some(file))
            }
            None => (None, None),
        };
        let staged = |n: &Option<crate::config::Named>| {
            n.as_ref()
                .map(|n| Staged::create(&n.path, n.flag))
                .transpose()
        };
        let json = staged(&paths.json)?;
        let hdr = staged(&paths.hdr)?;
        let junit = staged(&paths.junit)?;
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
            path: paths.csv.path,
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

    /// Closes the run's outputs in one order, each renamed into place once complete: the CSV,
    /// the time series and `--scrape`'s samples (written while the run lasted), `--json`
    /// (`closing.json` writes the command's document), `--hdr-log`, `--junit` (one case per step
    /// × objective, steps above `until` left out); then the table of `results` on stdout when
    /// `closing.table`. Returns the CSV's path.
    pub fn close<J>(
        mut self,
        results: &[StepResult],
        closing: Closing<'_, J>,
    ) -> Result<PathBuf, RunError>
    where
        J: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
    {
        self.csv.flush()?;
        for file in [
            self.csv_file.take(),
            self.timeseries_file.take(),
            self.scrape_file.take(),
        ]
        .into_iter()
        .flatten()
        {
            file.commit()?;
        }
        if let Some((file, mut w)) = self.json.take() {
            (closing.json)(&mut w)?;
            w.flush()?;
            file.commit()?;
        }
        if let (Some((file, mut w)), Some((meta, started))) = (self.hdr.take(), &closing.hdr) {
            sinks::hdrlog::write(&mut w, meta, results, *started)?;
            w.flush()?;
            file.commit()?;
        }
        if let Some((file, mut w)) = self.junit.take() {
            sinks::junit::write(
                &mut w,
                closing.command,
                closing.objectives,
                results,
                closing.until,
            )?;
            w.flush()?;
            file.commit()?;
        }
        if closing.table {
            sinks::table::write(std::io::stdout().lock(), results)?;
        }
        Ok(self.path)
    }
}
