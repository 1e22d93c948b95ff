//! The paths of a run's output files (`--out`, `--timeseries`, `--json`, `--hdr-log`, `--junit`,
//! `--scrape`'s file), checked before anything is sent or written: no two outputs on one file,
//! `--scrape` a URL, `--target-pid` a process of this machine. [`crate::outputs`] creates them.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::cli::CommonArgs;
use crate::error::ConfigError;
use crate::scrape;
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
pub const SCRAPE_FILE: &str = "--scrape (scrape.csv beside --out)";

/// What `--scrape` and `--target-pid` sample, and the file both write.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// `--scrape`'s URL.
    pub url: Option<String>,
    /// `--target-pid`'s process, checked to exist.
    pub target: Option<TargetProc>,
    /// scrape.csv beside the CSV.
    pub file: PathBuf,
}

/// One output file and the flag that named it (what an error about it names).
#[derive(Debug, Clone)]
pub struct Named {
    /// Where the file goes.
    pub path: PathBuf,
    /// The flag that chose it, e.g. `--json`.
    pub flag: &'static str,
}

/// Every output path of the run, checked: none shared by two outputs, `--scrape` a URL,
/// `--target-pid` a process of this machine.
#[derive(Debug, Clone)]
pub struct OutputPaths {
    /// The CSV, one row per step.
    pub csv: Named,
    /// `--timeseries`.
    pub timeseries: Option<Named>,
    /// `--json` (a merge's merged.json).
    pub json: Option<Named>,
    /// `--hdr-log`.
    pub hdr: Option<Named>,
    /// `--junit`.
    pub junit: Option<Named>,
    /// `--scrape`'s URL, `--target-pid`'s process and the file their samples go to.
    pub scrape: Option<Sampled>,
}

fn named(path: &Option<PathBuf>, flag: &'static str) -> Option<Named> {
    path.clone().map(|path| Named { path, flag })
}

impl OutputPaths {
    /// The paths `common` asks for (the CSV's default named after `command`), refused when two
    /// outputs would write one file, `--scrape` is not an http(s) URL or `--target-pid` names
    /// no process here. Touches no file.
    pub fn resolve(common: &CommonArgs, command: &str) -> Result<OutputPaths, ConfigError> {
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
            csv: Named {
                path: csv,
                flag: "--out",
            },
            timeseries: named(&o.timeseries, "--timeseries"),
            json: named(&o.json, "--json"),
            hdr: named(&o.hdr_log, "--hdr-log"),
            junit: named(&common.gate.junit, "--junit"),
            scrape,
        };
        paths.refuse_shared()?;
        Ok(paths)
    }

    /// `loadgen merge`'s outputs: `merged.csv` and `merged.json` in `--out`'s directory, and
    /// `--junit`; refused as [`OutputPaths::resolve`]'s when two are one file.
    pub fn merged(dir: &Path, junit: Option<&Path>) -> Result<OutputPaths, ConfigError> {
        let paths = OutputPaths {
            csv: Named {
                path: dir.join("merged.csv"),
                flag: "--out",
            },
            timeseries: None,
            json: Some(Named {
                path: dir.join("merged.json"),
                flag: "--out",
            }),
            hdr: None,
            junit: junit.map(|p| Named {
                path: p.to_path_buf(),
                flag: "--junit",
            }),
            scrape: None,
        };
        paths.refuse_shared()?;
        Ok(paths)
    }

    /// Each output's flag and path.
    fn named(&self) -> Vec<(&'static str, &Path)> {
        let mut v = vec![(self.csv.flag, self.csv.path.as_path())];
        let optional = [&self.timeseries, &self.json, &self.hdr, &self.junit];
        v.extend(
            optional
                .into_iter()
                .flatten()
                .map(|n| (n.flag, n.path.as_path())),
        );
        if let Some(s) = &self.scrape {
            v.push((SCRAPE_FILE, s.file.as_path()));
        }
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
    #[test]
    fn a_merge_refuses_a_junit_on_its_merged_csv_naming_both_flags() {
        let dir = std::env::temp_dir().join("loadgen-merged-paths");
        let e = OutputPaths::merged(&dir, Some(&dir.join("merged.csv"))).unwrap_err();
        assert_eq!(e.flag, "--out/--junit");
        assert!(e.message.contains("merged.csv"), "{e}");
        assert!(OutputPaths::merged(&dir, Some(&dir.join("gate.xml"))).is_ok());
    }
}
