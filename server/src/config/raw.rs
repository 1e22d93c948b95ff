//! The command-line and environment surface: [`RawArgs`] exactly as the operator writes it,
//! each value already typed and checked on its own by clap.

use clap::{CommandFactory, FromArgMatches, Parser};

use super::groups::{Admission, Claude, Listener, LogFormat, Provider, Shutdown, Trading};
use super::parsers::between;

/// Most Tokio worker threads `WORKERS` may ask for: far above any core count this service runs
/// on, far below the ~15,000 threads at which `WORKERS=100000` exhausted memory and aborted.
pub const MAX_WORKERS: u64 = 1024;

/// Models the provider has announced retirement for (model id prefix, retirement date), from the
/// provider's model-deprecations page; extend as it announces more. Start-up warns on a match.
pub const DEPRECATED_MODELS: &[(&str, &str)] = &[
    ("claude-sonnet-4-5-20250929", "2026-11-30"),
    ("claude-sonnet-4-2025", "2026-06-15"),
    ("claude-opus-4-2025", "2026-06-15"),
    ("claude-3-7-sonnet", "2026-02-19"),
    ("claude-3-5-sonnet", "2025-10-22"),
];

/// Flags and environment variables as the operator writes them, grouped by concern; rules that
/// involve several settings are not checked yet ([`super::Settings::from_raw`] does).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "analyze-server",
    version,
    about = "The scaled /analyze service"
)]
pub struct RawArgs {
    // Before the groups: each group's help heading holds for the arguments after it.
    /// Tokio worker threads (default: the number of cores), at most [`MAX_WORKERS`].
    #[arg(long, env = "WORKERS", value_parser = between::<1, MAX_WORKERS, usize>)]
    pub workers: Option<usize>,
    /// Log format: text or json.
    #[arg(
        long,
        env = "LOG_FORMAT",
        default_value = "text",
        value_enum,
        hide_possible_values = true,
        ignore_case = true
    )]
    pub log_format: LogFormat,
    /// The pre-ticket behaviour, for before/after measurements.
    #[arg(
        long = "legacy",
        env = "LEGACY_MODE",
        default_value_t = false,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
    )]
    pub legacy_mode: bool,
    /// Listener and connections.
    #[command(flatten)]
    pub listener: Listener,
    /// Admission: permits, queue, deadline, per-client rate limit.
    #[command(flatten)]
    pub admission: Admission,
    /// The Messages API.
    #[command(flatten)]
    pub claude: Claude,
    /// The provider tier.
    #[command(flatten)]
    pub provider: Provider,
    /// The Trading API.
    #[command(flatten)]
    pub trading: Trading,
    /// Shutdown.
    #[command(flatten)]
    pub shutdown: Shutdown,
}

impl RawArgs {
    /// Parses flags only, ignoring the environment (tests and tools that must not inherit it).
    pub fn parse_flags_only<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = RawArgs::command().mut_args(|arg| arg.env(None));
        RawArgs::from_arg_matches(&command.try_get_matches_from(args)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_well_formed() {
        RawArgs::command().debug_assert();
    }

    #[test]
    fn every_flag_is_its_variable_in_kebab_case() {
        let command = RawArgs::command();
        let mut seen = 0;
        for arg in command.get_arguments().filter(|a| a.get_env().is_some()) {
            let variable = arg.get_env().expect("env").to_string_lossy().into_owned();
            let flag = match variable.as_str() {
                "LEGACY_MODE" => "legacy".to_string(),
                v => v.to_ascii_lowercase().replace('_', "-"),
            };
            assert_eq!(arg.get_long(), Some(flag.as_str()), "{variable}");
            assert_eq!(arg.get_id().as_str(), variable.to_ascii_lowercase());
            seen += 1;
        }
        assert_eq!(seen, 47, "every setting reads a variable");
    }
}
