//! `report --out-dir` and `compare --out-dir` replace a directory wholesale, so before anything is written
//! they check that the directory holds nothing the command did not write: not one of its inputs,
//! not a file, and no file outside an earlier report (or comparison) of the same kind.

use std::path::{Path, PathBuf};

use crate::ReportError;

/// Which command writes the directory, to recognise an earlier one of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// `loadgen report`: report.md, report.html, summary.json and SVG charts.
    Report,
    /// `loadgen compare`: compare.md, compare.html, compare.svg and compare.json.
    Compare,
}

impl OutKind {
    fn command(self) -> &'static str {
        match self {
            OutKind::Report => "loadgen report",
            OutKind::Compare => "loadgen compare",
        }
    }

    /// Whether a file of this name is one this command writes.
    fn owns(self, name: &str) -> bool {
        match self {
            OutKind::Report => {
                matches!(name, "report.md" | "report.html" | "summary.json")
                    || (name.ends_with(".svg") && !name.starts_with('.'))
            }
            OutKind::Compare => matches!(
                name,
                "compare.md" | "compare.html" | "compare.svg" | "compare.json"
            ),
        }
    }
}

fn refuse(out: &Path, message: String) -> ReportError {
    ReportError::Usage {
        flag: "--out-dir".into(),
        message: format!(
            "{message}; nothing was written or removed (give a new or empty directory, e.g. {})",
            suggestion(out).display()
        ),
    }
}

/// A directory beside `out` (or inside, when `out` is a run's directory) that is free.
fn suggestion(out: &Path) -> PathBuf {
    let base = if out.is_dir() {
        out.to_path_buf()
    } else {
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    (0..)
        .map(|i| {
            base.join(if i == 0 {
                "report".into()
            } else {
                format!("report-{i}")
            })
        })
        .find(|p| !p.exists())
        .unwrap_or(base)
}

/// The absolute form of `p` even when it does not exist yet (its nearest existing ancestor
/// canonicalized, the rest appended).
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => absolute(parent).join(name),
        (_, Some(name)) => std::env::current_dir()
            .map(|d| d.join(name))
            .unwrap_or_else(|_| p.to_path_buf()),
        _ => p.to_path_buf(),
    }
}

/// Refuses (exit 2, naming the path) when `out` is a file, is or holds one of `inputs`, or holds
/// anything but an earlier output of `kind`.
pub fn check(out: &Path, inputs: &[&Path], kind: OutKind) -> Result<(), ReportError> {
    let out_abs = absolute(out);
    for input in inputs {
        let input_abs = absolute(input);
        if input_abs.starts_with(&out_abs) {
            let what = if input_abs == out_abs {
                format!("{} is an input of this command", out.display())
            } else {
                format!("{} holds the input {}", out.display(), input.display())
            };
            return Err(refuse(
                out,
                format!("{what} (--out-dir is replaced wholesale)"),
            ));
        }
    }
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if !meta.is_dir() {
        return Err(refuse(
            out,
            format!("{} exists and is not a directory", out.display()),
        ));
    }
    let entries = std::fs::read_dir(out).map_err(|source| ReportError::Output {
        path: out.display().to_string(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ReportError::Output {
            path: out.display().to_string(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !(is_file && kind.owns(&name)) {
            return Err(refuse(
                out,
                format!(
                    "{} holds {name}, which is not part of an earlier `{}` output",
                    out.display(),
                    kind.command()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_owns_only_its_own_files() {
        assert!(OutKind::Report.owns("throughput.svg"));
        assert!(OutKind::Report.owns("summary.json"));
        assert!(!OutKind::Report.owns("ramp.csv"));
        assert!(!OutKind::Report.owns("compare.json"));
        assert!(OutKind::Compare.owns("compare.svg"));
        assert!(!OutKind::Compare.owns("timeseries.csv"));
    }
}
