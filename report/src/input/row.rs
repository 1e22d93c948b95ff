//! The CSV row schema: one [`StepRow`] per step, written by loadgen's CSV sink (`ramp`, `run`,
//! `find-capacity`, `merge`) and read back by [`read_rows`] (`report`, `compare`), through one
//! serde struct with the `csv` crate, so the writer and the readers cannot disagree on a column.
//! The issue-4 columns come first, named exactly; later columns are only ever appended.

use serde::{Deserialize, Serialize};

/// One step's row. Field order is column order. Latency columns `mean_ms` … `max_ms` describe
/// 2xx responses only (the latency users were served); `all_*` every answered request;
/// `rejected_*` the 429 and 503 answers (how fast the target sheds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    /// 1-based step number.
    pub step: usize,
    /// Virtual users (closed loop) or the in-flight cap (open loop).
    pub concurrency: Option<u32>,
    /// Arrival rate asked for (open loop only).
    pub target_rps: Option<f64>,
    /// Measured seconds of the step (warm-up excluded).
    pub duration_s: f64,
    /// Requests sent in the step, whatever their outcome (the sum of the nine outcome columns).
    pub requests: u64,
    /// 2xx.
    pub ok: u64,
    /// 429.
    pub rejected_429: u64,
    /// 503.
    pub rejected_503: u64,
    /// Other 4xx.
    pub other_4xx: u64,
    /// Other 5xx.
    pub other_5xx: u64,
    /// No complete response within `--timeout`.
    pub timeouts: u64,
    /// Connection could not be made.
    pub connect_errors: u64,
    /// Connection failed mid-exchange.
    pub io_errors: u64,
    /// ok / (requests + unsent), 0..1.
    pub success_rate: f64,
    /// requests / duration_s.
    pub throughput_rps: f64,
    /// ok / duration_s.
    pub goodput_rps: f64,
    /// Mean latency of 2xx responses, ms.
    pub mean_ms: f64,
    /// Median latency of 2xx responses, ms.
    pub p50_ms: f64,
    /// p90 of 2xx responses, ms.
    pub p90_ms: f64,
    /// p95 of 2xx responses, ms.
    pub p95_ms: f64,
    /// p99 of 2xx responses, ms.
    pub p99_ms: f64,
    /// p99.9 of 2xx responses, ms.
    pub p999_ms: f64,
    /// Slowest 2xx response, ms.
    pub max_ms: f64,
    /// Standard deviation of 2xx latency, ms.
    pub stdev_ms: f64,
    /// Open loop: p50 of 2xx latency from the actual send (not corrected), ms.
    pub uncorrected_p50_ms: Option<f64>,
    /// Open loop: p99 from the actual send, ms.
    pub uncorrected_p99_ms: Option<f64>,
    /// Open loop: max from the actual send, ms.
    pub uncorrected_max_ms: Option<f64>,
    /// Open loop: sends that waited for a free connection.
    pub late_sends: u64,
    /// Connections opened during the step.
    pub connections_opened: u64,
    /// Requests of the step still unresolved when the run was interrupted (0 otherwise).
    pub in_flight_at_end: u64,
    /// 429/503 responses that carried a parsable Retry-After.
    pub retry_after_count: u64,
    /// Mean Retry-After, seconds.
    pub retry_after_mean_s: f64,
    /// Largest Retry-After, seconds.
    pub retry_after_max_s: f64,
    /// The run was interrupted (SIGINT/SIGTERM) before this step resolved.
    pub interrupted: bool,
    /// Same as `unsent` (kept for readers of the earlier column).
    pub unsent_at_end: u64,
    /// Open-loop sends due in the step that never went out.
    pub unsent: u64,
    /// 1xx finals, 3xx and unknown statuses (not ok).
    pub other_status: u64,
    /// Idempotent requests resent once after a reset on a reused connection.
    pub resent: u64,
    /// Median latency of every answered request, ms.
    pub all_p50_ms: f64,
    /// p99 of every answered request, ms.
    pub all_p99_ms: f64,
    /// Median latency of 429 + 503 answers, ms.
    pub rejected_p50_ms: f64,
    /// p99 of 429 + 503 answers, ms.
    pub rejected_p99_ms: f64,
    /// Median time to open a connection (TCP, plus TLS when https), ms.
    pub connect_p50_ms: Option<f64>,
    /// p99 time to open a connection, ms.
    pub connect_p99_ms: Option<f64>,
    /// Little's law on the step, percent (see `StepResult::littles_law_error_pct`); empty when
    /// the step was cut or nothing resolved. Absent in CSVs written before it.
    #[serde(default)]
    pub littles_law_error_pct: Option<f64>,
    /// Time-averaged requests in flight during the measured window. Absent in older CSVs.
    #[serde(default)]
    pub in_flight_mean: Option<f64>,
    /// Mean think time after the step's requests, ms; empty without --think-time. Absent in
    /// older CSVs.
    #[serde(default)]
    pub think_time_mean_ms: Option<f64>,
    /// `*` for the step's total; with a scenario of several requests, each step is followed by
    /// one row per request name (its own counts and latency; throughput and goodput its share of
    /// the step's; step-wide counters 0). Absent in older CSVs (read as `*`).
    #[serde(default = "total_name")]
    pub name: String,
    /// Open loop: the arrival process that ran (`constant`, `poisson`, `gamma:CV`); empty in
    /// closed loop. Absent in older CSVs.
    #[serde(default)]
    pub arrivals: Option<String>,
}

/// The `name` of a step's total row.
pub const TOTAL: &str = "*";

fn total_name() -> String {
    TOTAL.to_string()
}

impl StepRow {
    /// Whether this is a step's total row (not one request name's).
    pub fn is_total(&self) -> bool {
        self.name == TOTAL
    }
}

/// The column names, in order (the serde field names of [`StepRow`]).
pub fn header() -> Vec<&'static str> {
    HEADER.split(',').collect()
}

/// The header line.
pub const HEADER: &str =
    "step,concurrency,target_rps,duration_s,requests,ok,rejected_429,rejected_503,\
other_4xx,other_5xx,timeouts,connect_errors,io_errors,success_rate,throughput_rps,goodput_rps,\
mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,p999_ms,max_ms,stdev_ms,uncorrected_p50_ms,uncorrected_p99_ms,\
uncorrected_max_ms,late_sends,connections_opened,in_flight_at_end,retry_after_count,\
retry_after_mean_s,retry_after_max_s,interrupted,unsent_at_end,unsent,other_status,resent,\
all_p50_ms,all_p99_ms,rejected_p50_ms,rejected_p99_ms,connect_p50_ms,connect_p99_ms,\
littles_law_error_pct,in_flight_mean,think_time_mean_ms,name,arrivals";

/// Columns appended after CSVs were already in use: a reader takes files without them.
pub const LATER_COLUMNS: &[&str] = &[
    "littles_law_error_pct",
    "in_flight_mean",
    "think_time_mean_ms",
    "name",
    "arrivals",
];

/// Why a CSV of step rows could not be read: the file, line and column at fault.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The header is not a step CSV's at all.
    #[error(
        "{path}: line 1: not a loadgen step CSV: expected the --out CSV of `loadgen ramp`, \
         `run` or `find-capacity` (one row per step, header `step,concurrency,target_rps,…`)"
    )]
    NotStepCsv {
        /// The file.
        path: String,
    },
    /// A header column is missing.
    #[error("{path}: line 1: missing column `{column}`")]
    MissingColumn {
        /// The file.
        path: String,
        /// The column.
        column: String,
    },
    /// A cell could not be parsed.
    #[error("{path}: line {line}: column `{column}`: {message}")]
    Cell {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// The column name (or `?` when unknown).
        column: String,
        /// What was wrong.
        message: String,
    },
    /// No rows.
    #[error("{path}: line 2: no step rows after the header")]
    Empty {
        /// The file.
        path: String,
    },
}

/// Reads every row of a CSV written by loadgen's CSV sink, naming the file, line and column of
/// any fault.
pub fn read_rows(path: &std::path::Path) -> Result<Vec<StepRow>, ReadError> {
    let p = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: p.clone(),
        source,
    })?;
    let mut rdr = csv::Reader::from_reader(file);
    let headers = rdr
        .headers()
        .map_err(|e| ReadError::Cell {
            path: p.clone(),
            line: 1,
            column: "?".into(),
            message: e.to_string(),
        })?
        .clone();
    // No `step`, or most columns absent: some other CSV (a time series, a spreadsheet export),
    // not an older step CSV short of a column or two.
    let missing = header()
        .iter()
        .filter(|c| !LATER_COLUMNS.contains(c) && !headers.iter().any(|h| h == **c))
        .count();
    if !headers.iter().any(|h| h == "step") || missing * 2 > header().len() {
        return Err(ReadError::NotStepCsv { path: p });
    }
    for column in header() {
        if !LATER_COLUMNS.contains(&column) && !headers.iter().any(|h| h == column) {
            return Err(ReadError::MissingColumn {
                path: p,
                column: column.into(),
            });
        }
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| ReadError::Cell {
            path: p.clone(),
            line: e.position().map(|q| q.line()).unwrap_or(0),
            column: "?".into(),
            message: e.to_string(),
        })?;
        let line = rec.position().map(|q| q.line()).unwrap_or(0);
        let row: StepRow = rec.deserialize(Some(&headers)).map_err(|e| {
            let (column, message) = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => {
                    let column = err
                        .field()
                        .and_then(|i| headers.get(i as usize))
                        .unwrap_or("?")
                        .to_string();
                    let message = match err.kind() {
                        csv::DeserializeErrorKind::ParseInt(x) => format!("not an integer: {x}"),
                        csv::DeserializeErrorKind::ParseFloat(x) => format!("not a number: {x}"),
                        csv::DeserializeErrorKind::ParseBool(x) => format!("not true/false: {x}"),
                        other => other.to_string(),
                    };
                    (column, message)
                }
                other => ("?".to_string(), format!("{other:?}")),
            };
            ReadError::Cell {
                path: p.clone(),
                line,
                column,
                message,
            }
        })?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ReadError::Empty { path: p });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_row_fields_in_order() {
        // serialize a row with headers on and compare with HEADER: one source of truth.
        let row: StepRow = serde_json::from_str(
            r#"{
            "step": 1, "concurrency": 2, "target_rps": null, "duration_s": 1.0, "requests": 0,
            "ok": 0, "rejected_429": 0, "rejected_503": 0, "other_4xx": 0, "other_5xx": 0,
            "timeouts": 0, "connect_errors": 0, "io_errors": 0, "success_rate": 0.0,
            "throughput_rps": 0.0, "goodput_rps": 0.0, "mean_ms": 0.0, "p50_ms": 0.0,
            "p90_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "p999_ms": 0.0, "max_ms": 0.0,
            "stdev_ms": 0.0, "uncorrected_p50_ms": null, "uncorrected_p99_ms": null,
            "uncorrected_max_ms": null, "late_sends": 0, "connections_opened": 0,
            "in_flight_at_end": 0, "retry_after_count": 0, "retry_after_mean_s": 0.0,
            "retry_after_max_s": 0.0, "interrupted": false, "unsent_at_end": 0, "unsent": 0,
            "other_status": 0, "resent": 0, "all_p50_ms": 0.0, "all_p99_ms": 0.0,
            "rejected_p50_ms": 0.0, "rejected_p99_ms": 0.0, "connect_p50_ms": null,
            "connect_p99_ms": null
        }"#,
        )
        .unwrap();
        let mut w = csv::Writer::from_writer(vec![]);
        w.serialize(&row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), HEADER);
    }
}
