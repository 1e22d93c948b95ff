//! Configuration errors as the operator set the value: the environment variable (or the flag,
//! when it came from the command line), what is wrong, and an example of a valid value.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use super::parsers::ValueError;
use super::RawArgs;

/// Examples for settings without a default.
const EXAMPLES: &[(&str, &str)] = &[
    ("TRADING_API_BASE_URL", "http://127.0.0.1:8081"),
    ("ANTHROPIC_API_KEY", "sk-ant-…"),
    ("WORKERS", "4"),
    ("TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.5"),
    ("PROVIDER_SHARE", "1/3"),
    ("MAX_TURNS", "6"),
];

/// The clap argument read from `variable`.
fn arg_of(variable: &str) -> Option<clap::Arg> {
    RawArgs::command()
        .get_arguments()
        .find(|a| a.get_env().is_some_and(|e| e == variable))
        .cloned()
}

/// A valid value of the setting read from `variable`: its default, or a listed example.
pub fn example(variable: &str) -> Option<String> {
    let default = arg_of(variable).and_then(|a| {
        a.get_default_values()
            .first()
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    });
    default.or_else(|| {
        EXAMPLES
            .iter()
            .find(|(v, _)| *v == variable)
            .map(|(_, e)| e.to_string())
    })
}

/// `--long` of the setting read from `variable`.
fn flag_of(variable: &str) -> Option<String> {
    arg_of(variable).and_then(|a| a.get_long().map(|l| format!("--{l}")))
}

/// Whether `flag` was given on the command line `argv`.
fn on_command_line(flag: &str, argv: &[String]) -> bool {
    argv.iter()
        .skip(1)
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

/// `NAME=value` or `--flag value` (as the operator set it) and, when known, an example.
fn setting(variable: &str, value: Option<&str>, argv: &[String]) -> (String, String) {
    let flag = flag_of(variable).filter(|f| on_command_line(f, argv));
    let shown = match (&flag, value) {
        (Some(f), Some(v)) => format!("{f} {v:?}"),
        (Some(f), None) => f.clone(),
        (None, Some(v)) => format!("{variable}={v:?}"),
        (None, None) => variable.to_string(),
    };
    let eg = match (example(variable), &flag) {
        (Some(e), Some(f)) => format!("; e.g. {f} {e}"),
        (Some(e), None) => format!("; e.g. {variable}={e}"),
        (None, _) => String::new(),
    };
    (shown, eg)
}

/// A setting that breaks a rule (from [`super::Settings::from_raw`], or from a value parser),
/// with the name the operator used and an example.
pub fn explain_invalid(variable: &str, reason: &str, argv: &[String]) -> String {
    let (shown, eg) = setting(variable, None, argv);
    format!("invalid configuration: {shown}: {reason}{eg}")
}

/// A value clap rejected (`MAX_CONCURRENT_ANALYSES=ten`, `QUEUE_TIMEOUT_MS=0`) or a required
/// setting left out, named by the variable (or the flag, when it came from a flag) with an
/// example; `None` for other clap errors (`--help`, an unknown flag), which clap reports itself.
pub fn explain_parse_error(e: &clap::Error, argv: &[String]) -> Option<String> {
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(s)) => s.first().cloned(),
        _ => None,
    };
    let missing = match e.kind() {
        ErrorKind::MissingRequiredArgument => true,
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => false,
        _ => return None,
    };
    let variable = variable_of(&text(ContextKind::InvalidArg)?)?;
    if missing {
        return Some(explain_invalid(&variable, "is required", argv));
    }
    let source = std::error::Error::source(e);
    // A value that parses but breaks the setting's rule reads as before parsing moved into clap.
    if let Some(ValueError::Rule(reason)) = source.and_then(|s| s.downcast_ref::<ValueError>()) {
        return Some(explain_invalid(&variable, reason, argv));
    }
    let reason = match (source, e.get(ContextKind::ValidValue)) {
        (Some(source), _) => source.to_string(),
        (None, Some(ContextValue::Strings(words))) => format!("must be {}", one_of(words)),
        // clap's own reason: the text after the quoted argument.
        (None, _) => e
            .to_string()
            .lines()
            .next()
            .and_then(|first| first.rsplit_once("': "))
            .map(|(_, r)| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "not a valid value".into()),
    };
    let value = text(ContextKind::InvalidValue).unwrap_or_default();
    let (shown, eg) = setting(&variable, Some(&value), argv);
    Some(format!("invalid configuration: {shown}: {reason}{eg}"))
}

/// The variable read by the argument clap renders as `--long <VALUE>`.
fn variable_of(rendered: &str) -> Option<String> {
    let long = rendered.split_whitespace().next()?.trim_start_matches("--");
    let arg = RawArgs::command()
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .cloned()?;
    Some(arg.get_env()?.to_string_lossy().into_owned())
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_come_from_defaults_or_the_list() {
        assert_eq!(example("MAX_CONCURRENT_ANALYSES").as_deref(), Some("10"));
        assert_eq!(example("QUEUE_TIMEOUT_MS").as_deref(), Some("30000"));
        assert_eq!(
            example("TRADING_API_BASE_URL").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(example("LOG_FORMAT").as_deref(), Some("text"));
    }

    #[test]
    fn word_lists_read_as_a_sentence() {
        let words = |w: &[&str]| one_of(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(words(&["text", "json"]), "text or json");
        assert_eq!(words(&["a", "b", "c"]), "a, b or c");
        assert_eq!(words(&["only"]), "only");
    }
}
