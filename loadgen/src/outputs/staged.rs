//! An output file written under `<name>.partial` beside its destination and renamed into place
//! only when complete, so a run that fails (an unwritable `--json`, a target that stops
//! answering the preflight) never truncates or half-writes the file an earlier run left there.
//! A run cut by Ctrl-C still closes its outputs, so its CSV of what ran is renamed into place.
//!
//! Hand-written rather than `tempfile`'s `NamedTempFile`: that creates its files with mode 0600
//! and a random name, where a run's outputs should get the permissions a plain create gives, and
//! a run killed outright should leave a `.partial` file a user can find beside the destination.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// A file being written under its temporary name; removed on drop unless [`Staged::commit`]ted.
#[derive(Debug)]
pub(crate) struct Staged {
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Staged {
    /// Creates `<dest>.partial` (and `dest`'s parent directories) for writing; `dest` itself is
    /// not touched. Errors name `flag`.
    pub(crate) fn create(
        dest: &Path,
        flag: &str,
    ) -> Result<(Staged, BufWriter<File>), ConfigError> {
        if dest.is_dir() {
            return Err(ConfigError::new(
                flag,
                format!("{} is a directory, not a file", dest.display()),
            ));
        }
        let Some(name) = dest.file_name() else {
            return Err(ConfigError::new(
                flag,
                format!("{} names no file", dest.display()),
            ));
        };
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                ConfigError::new(flag, format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut temp_name = name.to_os_string();
        temp_name.push(".partial");
        let temp = dest.with_file_name(temp_name);
        let file = File::create(&temp)
            .map_err(|e| ConfigError::new(flag, format!("cannot write {}: {e}", dest.display())))?;
        Ok((
            Staged {
                temp,
                dest: dest.to_path_buf(),
                committed: false,
            },
            BufWriter::new(file),
        ))
    }

    /// Renames the complete file into place (its writer flushed first by the caller).
    pub(crate) fn commit(mut self) -> std::io::Result<()> {
        std::fs::rename(&self.temp, &self.dest).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "renaming {} to {}: {e}",
                    self.temp.display(),
                    self.dest.display()
                ),
            )
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("loadgen-staged-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_destination_changes_only_on_commit() {
        let d = dir("commit");
        let dest = d.join("out.csv");
        std::fs::write(&dest, "old").unwrap();
        let (staged, mut w) = Staged::create(&dest, "--out").unwrap();
        w.write_all(b"new").unwrap();
        w.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
        assert_eq!(
            std::fs::read_to_string(d.join("out.csv.partial")).unwrap(),
            "new"
        );
        staged.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert!(!d.join("out.csv.partial").exists());
    }

    #[test]
    fn dropped_uncommitted_it_leaves_the_old_file_and_no_partial() {
        let d = dir("drop");
        let dest = d.join("out.csv");
        std::fs::write(&dest, "old").unwrap();
        let (staged, mut w) = Staged::create(&dest, "--out").unwrap();
        w.write_all(b"half").unwrap();
        drop((staged, w));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
        assert!(!d.join("out.csv.partial").exists());
    }

    #[test]
    fn a_directory_is_refused_naming_the_flag() {
        let d = dir("isdir");
        let e = Staged::create(&d, "--json").unwrap_err();
        assert_eq!(e.flag, "--json");
        assert!(e.message.contains("is a directory"), "{e}");
    }
}
