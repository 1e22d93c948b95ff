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

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::error::ConfigError;

/// Creates `path` (and its parent directories) for writing, or says which flag is at fault.
pub fn create(path: &Path, flag: &str) -> Result<BufWriter<File>, ConfigError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError::new(flag, format!("cannot create {}: {e}", dir.display())))?;
    }
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| ConfigError::new(flag, format!("cannot write {}: {e}", path.display())))
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}
