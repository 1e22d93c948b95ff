//! Where results go: CSV and JSON summaries, the per-second time series, the HdrHistogram log,
//! live progress and the final table. Sinks only format; they never measure.

pub mod csv;
pub mod hdrlog;
pub mod json;
pub mod junit;
pub mod live;
pub mod progress;
pub mod table;
pub mod timeseries;

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}
