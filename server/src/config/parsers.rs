//! clap value parsers for the settings: each turns the operator's text into a typed value or a
//! [`ValueError`], which clap keeps as the error's source so that [`super::explain_parse_error`]
//! can tell a value that is not a number from one that breaks the setting's rule.

use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::admission::client_ip::TrustedProxies;

/// Why a setting's text is not a usable value.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ValueError {
    /// Not a whole number (`ten`, `5s`, `-1`): says what the setting takes, e.g. "a whole
    /// number from 1 to 50" (the parser's own "invalid digit found in string" told nobody that a
    /// negative value is out of range).
    #[error("not {0}")]
    Number(String),
    /// Well formed, but against the setting's rule (`0` where at least 1 is needed).
    #[error("{0}")]
    Rule(String),
}

fn rule(reason: impl Into<String>) -> ValueError {
    ValueError::Rule(reason.into())
}

/// `text` as a whole number, or [`ValueError::Number`] saying that the setting takes `range`.
fn whole<T: FromStr>(text: &str, range: impl FnOnce() -> String) -> Result<T, ValueError> {
    text.parse().map_err(|_| ValueError::Number(range()))
}

/// An unsigned integer type a count is read into, with its largest value for messages.
pub trait Count: FromStr + Default + PartialEq {
    /// The largest value the type holds.
    const MAX: u64;
}

impl Count for u32 {
    const MAX: u64 = u32::MAX as u64;
}

impl Count for u64 {
    const MAX: u64 = u64::MAX;
}

impl Count for usize {
    const MAX: u64 = usize::MAX as u64;
}

/// A count of at least 1.
pub fn positive<T: Count>(text: &str) -> Result<T, ValueError> {
    let value: T = whole(text, || format!("a whole number from 1 to {}", T::MAX))?;
    if value == T::default() {
        return Err(rule("must be greater than 0"));
    }
    Ok(value)
}

/// A whole number from `LO` to `HI` (inclusive).
pub fn between<const LO: u64, const HI: u64, T: TryFrom<u64>>(text: &str) -> Result<T, ValueError> {
    let value: u64 = whole(text, || format!("a whole number from {LO} to {HI}"))?;
    let out_of_range = || rule(format!("must be between {LO} and {HI}"));
    if !(LO..=HI).contains(&value) {
        return Err(out_of_range());
    }
    T::try_from(value).map_err(|_| out_of_range())
}

/// The one milliseconds → [`Duration`] parser: whole milliseconds, at least `MIN` (0 or 1).
pub fn millis<const MIN: u64>(text: &str) -> Result<Duration, ValueError> {
    let ms: u64 = whole(text, || {
        format!("a whole number of milliseconds, at least {MIN}")
    })?;
    if ms < MIN {
        return Err(match MIN {
            1 => rule("must be greater than 0"),
            _ => rule(format!("must be at least {MIN}")),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// An `http://` or `https://` URL with a host, returned without trailing slash.
pub fn base_url(text: &str) -> Result<String, ValueError> {
    let trimmed = text.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| rule(format!("{text:?} must start with http:// or https://")))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(rule(format!("{text:?} has no host")));
    }
    reqwest::Url::parse(trimmed).map_err(|e| rule(format!("{text:?}: {e}")))?;
    Ok(trimmed.to_string())
}

/// Text with something other than white space, trimmed.
pub fn not_blank(text: &str) -> Result<String, ValueError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(rule("must not be empty"));
    }
    Ok(trimmed.to_string())
}

/// `1/R` or a fraction in (0, 1].
pub fn share(text: &str) -> Result<f64, ValueError> {
    let t = text.trim();
    let not_a_share = || rule(format!("{t:?} is not 1/R or a fraction"));
    let v = match t.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a.trim().parse().map_err(|_| not_a_share())?;
            let b: f64 = b.trim().parse().map_err(|_| not_a_share())?;
            if b == 0.0 {
                return Err(rule(format!("{t:?} divides by zero")));
            }
            a / b
        }
        None => t.parse().map_err(|_| not_a_share())?,
    };
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(rule(format!(
            "{t:?} must be in (0, 1], e.g. 1/3 with three replicas"
        )))
    }
}

/// `TRUSTED_PROXIES`: empty, `hops:N`, or comma-separated CIDRs and addresses.
pub fn trusted_proxies(text: &str) -> Result<TrustedProxies, ValueError> {
    TrustedProxies::parse(text).map_err(ValueError::Rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tell_a_non_number_from_a_zero() {
        assert_eq!(positive::<usize>("7"), Ok(7));
        assert_eq!(positive::<u32>("0"), Err(rule("must be greater than 0")));
        assert_eq!(
            positive::<u32>("ten").unwrap_err().to_string(),
            "not a whole number from 1 to 4294967295"
        );
        assert_eq!(
            positive::<u32>("-1").unwrap_err().to_string(),
            "not a whole number from 1 to 4294967295"
        );
        assert_eq!(
            between::<1, 50, u32>("-3").unwrap_err().to_string(),
            "not a whole number from 1 to 50"
        );
        assert_eq!(between::<1, 50, u32>("50"), Ok(50));
        for bad in ["0", "51", "99999999999999"] {
            assert_eq!(
                between::<1, 50, u32>(bad),
                Err(rule("must be between 1 and 50")),
                "{bad}"
            );
        }
        assert_eq!(between::<1, 128, u8>("128"), Ok(128));
    }

    #[test]
    fn milliseconds_become_durations_with_a_floor() {
        assert_eq!(millis::<1>("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(millis::<0>("0"), Ok(Duration::ZERO));
        assert_eq!(millis::<1>("0"), Err(rule("must be greater than 0")));
        assert_eq!(
            millis::<0>("5s").unwrap_err().to_string(),
            "not a whole number of milliseconds, at least 0"
        );
        assert_eq!(
            millis::<1>("-100").unwrap_err().to_string(),
            "not a whole number of milliseconds, at least 1"
        );
    }

    #[test]
    fn base_urls_are_http_with_a_host_and_lose_the_trailing_slash() {
        assert_eq!(
            base_url(" http://127.0.0.1:9200/ ").as_deref(),
            Ok("http://127.0.0.1:9200")
        );
        assert_eq!(
            base_url("ftp://x"),
            Err(rule("\"ftp://x\" must start with http:// or https://"))
        );
        assert_eq!(
            base_url("https:///v1"),
            Err(rule("\"https:///v1\" has no host"))
        );
    }

    #[test]
    fn shares_are_fractions_of_one() {
        assert_eq!(share("1"), Ok(1.0));
        assert_eq!(share(" 1/4 "), Ok(0.25));
        for bad in ["0", "3/2", "1/0", "half", "NaN"] {
            assert!(matches!(share(bad), Err(ValueError::Rule(_))), "{bad}");
        }
        assert_eq!(not_blank("  m  ").as_deref(), Ok("m"));
        assert_eq!(not_blank(" "), Err(rule("must not be empty")));
    }
}
