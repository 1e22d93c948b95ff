//! The crate's errors and their exit codes, in one place: a flag or file at fault
//! ([`ConfigError`], exit 2), a target unreachable before the run ([`Unreachable`], exit 3), and
//! [`RunError`], what a command returns. Every module below the commands reaches here; this
//! module reaches nothing of the crate, so no error type ties two modules into a cycle.

/// A configuration error: which flag, and what is wrong with it (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    /// The flag at fault, e.g. `--steps`.
    pub flag: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `flag`.
    pub fn new(flag: &str, message: impl Into<String>) -> Self {
        Self {
            flag: flag.to_string(),
            message: message.into(),
        }
    }
}

/// The target could not be reached before the run (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("target {url} is unreachable: {reason}")]
pub struct Unreachable {
    /// The URL tried.
    pub url: String,
    /// Why.
    pub reason: String,
}

/// Why a command could not complete normally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad flag or file (exit 2).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Target unreachable before the run (exit 3).
    #[error("{0}")]
    Unreachable(#[from] Unreachable),
    /// Writing results failed mid-run (exit 2: the output path is at fault).
    #[error("writing results: {0}")]
    Output(#[from] std::io::Error),
    /// `report` or `compare` refused its input or could not write (exit 2).
    #[error("{0}")]
    Report(#[from] report::ReportError),
    /// The async runtime of a load command could not start (exit 2).
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_)
            | RunError::Output(_)
            | RunError::Report(_)
            | RunError::Runtime(_) => 2,
            RunError::Unreachable(_) => 3,
        }
    }
}
