//! [`Settings`]: the validated configuration, built once from [`RawArgs`]. Each value was checked
//! on its own while clap parsed it; [`Settings::from_raw`] adds the rules that involve several
//! settings, and its errors name the variable.

use std::net::IpAddr;

use thiserror::Error;

use super::groups::{Admission, Claude, Listener, LogFormat, Provider, Shutdown, Trading};
use super::raw::{RawArgs, DEPRECATED_MODELS};
use super::DEFAULT_MODEL;
use crate::admission::client_ip::TrustedProxies;

/// Validated configuration; every field holds a usable value.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the server listens and what a connection may hold.
    pub listener: Listener,
    /// Permits, queue, request deadline and per-client rate limit.
    pub admission: Admission,
    /// The Messages API and the conversation's bounds.
    pub claude: Claude,
    /// The provider tier's limits and this replica's share.
    pub provider: Provider,
    /// The Trading API.
    pub trading: Trading,
    /// The drain and grace after SIGTERM/SIGINT.
    pub shutdown: Shutdown,
    /// Tokio worker threads.
    pub workers: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Legacy (pre-ticket) mode.
    pub legacy_mode: bool,
}

/// A configuration value that cannot be used; names the variable.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or flag) at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The `x-api-key` sent to a loopback Messages API when no key is configured.
pub const LOOPBACK_PLACEHOLDER_KEY: &str = "local-no-key";

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

/// True when the URL's host is 127.0.0.0/8, ::1 or localhost (a local mock needs no key).
pub fn is_loopback_url(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Settings {
    /// Applies the rules that involve several settings; the error names the offending variable.
    pub fn from_raw(raw: RawArgs) -> Result<Self, ConfigError> {
        let RawArgs {
            listener,
            mut admission,
            mut claude,
            provider,
            trading,
            shutdown,
            workers,
            log_format,
            legacy_mode,
        } = raw;
        claude.api_key = claude
            .api_key
            .map(|key| key.trim().to_string())
            .filter(|key| !key.is_empty());
        // A local mock still wants a non-empty x-api-key header: `Claude::api_key` sends a
        // placeholder.
        if claude.api_key.is_none() && !is_loopback_url(&claude.base_url) {
            return Err(invalid(
                "ANTHROPIC_API_KEY",
                "is required unless ANTHROPIC_BASE_URL points at a loopback address",
            ));
        }
        if claude.retry_base > claude.retry_max {
            return Err(invalid(
                "CLAUDE_RETRY_BASE_MS",
                "must not exceed CLAUDE_RETRY_MAX_MS",
            ));
        }
        // A floor above the ceiling is the ceiling (MAX_CONCURRENT_ANALYSES=1 keeps working with
        // the default floor of 2).
        admission.min_concurrent_analyses = admission
            .min_concurrent_analyses
            .min(admission.max_concurrent_analyses);
        if admission.trust_forwarded_for && admission.trusted_proxies == TrustedProxies::None {
            admission.trusted_proxies = TrustedProxies::Hops(std::num::NonZeroUsize::MIN);
        }
        let workers = workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(super::raw::MAX_WORKERS as usize)
        });
        Ok(Settings {
            listener,
            admission,
            claude,
            provider,
            trading,
            shutdown,
            workers,
            log_format,
            legacy_mode,
        })
    }

    /// Defaults for an in-process server on 127.0.0.1:0 talking to the given upstreams (tests, tools).
    pub fn for_upstreams(trading_api_base_url: &str, anthropic_base_url: &str) -> Self {
        let raw = RawArgs::parse_flags_only([
            "analyze-server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--trading-api-base-url",
            trading_api_base_url,
            "--anthropic-base-url",
            anthropic_base_url,
            "--anthropic-api-key",
            "test-key",
            "--claude-model",
            DEFAULT_MODEL,
        ])
        .expect("fixed flags parse");
        Settings::from_raw(raw).expect("test settings are valid")
    }

    /// The end-of-life date when the configured model is on the deprecation list.
    pub fn deprecated_model_eol(&self) -> Option<&'static str> {
        DEPRECATED_MODELS
            .iter()
            .find(|(prefix, _)| self.claude.model.starts_with(prefix))
            .map(|(_, eol)| *eol)
    }

    /// The configuration as one log-friendly line, with the API key redacted.
    pub fn redacted_summary(&self) -> String {
        let mut shown = self.clone();
        shown.claude.api_key = Some(
            match self.claude.api_key {
                None => "<unset: loopback placeholder>",
                Some(_) => "<redacted>",
            }
            .into(),
        );
        format!("{shown:?}")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{explain_invalid, explain_parse_error, ConcurrencyMode};
    use super::*;

    fn argv(extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "analyze-server",
            "--trading-api-base-url",
            "http://127.0.0.1:9100",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    }

    fn raw(extra: &[&str]) -> RawArgs {
        RawArgs::parse_flags_only(argv(extra)).expect("parses")
    }

    fn valid(extra: &[&str]) -> Settings {
        Settings::from_raw(raw(extra)).expect("valid")
    }

    /// The operator's message when `extra` is rejected, by clap or by `from_raw`.
    fn rejected(extra: &[&str]) -> String {
        let argv = argv(extra);
        match RawArgs::parse_flags_only(&argv) {
            Err(e) => explain_parse_error(&e, &argv).expect("a value error"),
            Ok(raw) => {
                let e = Settings::from_raw(raw).expect_err("rejected");
                explain_invalid(e.variable, &e.reason, &argv)
            }
        }
    }

    #[test]
    fn missing_trading_url_names_the_variable() {
        let argv = ["analyze-server", "--anthropic-api-key", "k"].map(String::from);
        let e = RawArgs::parse_flags_only(&argv).expect_err("required");
        let message = explain_parse_error(&e, &argv).expect("explained");
        assert!(
            message.starts_with("invalid configuration: TRADING_API_BASE_URL: is required"),
            "{message}"
        );
    }

    #[test]
    fn zero_concurrency_is_rejected_by_name() {
        assert_eq!(
            rejected(&["--max-concurrent-analyses", "0", "--anthropic-api-key", "k"]),
            "invalid configuration: --max-concurrent-analyses: must be greater than 0; \
             e.g. --max-concurrent-analyses 10"
        );
    }

    #[test]
    fn api_key_required_for_remote_but_not_for_loopback() {
        assert!(
            rejected(&["--anthropic-base-url", "https://api.anthropic.com"])
                .contains("ANTHROPIC_API_KEY: is required unless ANTHROPIC_BASE_URL")
        );
        assert!(
            rejected(&["--anthropic-api-key", "  "]).contains("--anthropic-api-key: is required")
        );
        let s = valid(&["--anthropic-base-url", "http://127.0.0.1:9200/"]);
        assert_eq!(s.claude.base_url, "http://127.0.0.1:9200");
        assert_eq!(s.claude.api_key(), LOOPBACK_PLACEHOLDER_KEY);
        let s = valid(&["--anthropic-api-key", " sk-x "]);
        assert_eq!(s.claude.api_key(), "sk-x");
    }

    #[test]
    fn defaults_match_the_issue() {
        let s = valid(&["--anthropic-api-key", "k"]);
        assert_eq!(
            (
                s.listener.port,
                s.admission.max_concurrent_analyses,
                s.admission.max_queue_depth
            ),
            (8000, 10, 100)
        );
        assert_eq!(s.admission.queue_timeout, Duration::from_millis(30_000));
        assert_eq!(s.admission.rate_limit(), Some(200));
        assert_eq!(s.claude.model, DEFAULT_MODEL);
        assert!(s.deprecated_model_eol().is_none());
        assert!(!s.legacy_mode);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.listener.connections_per_ip_cap(), Some(256));
        assert_eq!(
            (s.shutdown.drain, s.shutdown.grace),
            (Duration::ZERO, Duration::from_secs(30))
        );
    }

    #[test]
    fn zero_switches_the_optional_limits_off() {
        let s = valid(&[
            "--anthropic-api-key",
            "k",
            "--rate-limit-per-minute",
            "0",
            "--max-connections-per-ip",
            "0",
        ]);
        assert_eq!(s.admission.rate_limit(), None);
        assert_eq!(s.listener.connections_per_ip_cap(), None);
    }

    #[test]
    fn seed_model_is_flagged_deprecated_and_key_is_redacted() {
        let s = valid(&[
            "--anthropic-api-key",
            "sk-secret",
            "--claude-model",
            "claude-sonnet-4-5-20250929",
        ]);
        assert_eq!(s.deprecated_model_eol(), Some("2026-11-30"));
        let summary = s.redacted_summary();
        assert!(!summary.contains("sk-secret"), "{summary}");
        assert!(summary.contains("<redacted>"), "{summary}");
        assert!(
            rejected(&["--anthropic-api-key", "k", "--claude-model", " "])
                .contains("--claude-model: must not be empty")
        );
    }

    #[test]
    fn bad_log_format_and_url_are_named() {
        assert_eq!(
            rejected(&["--anthropic-api-key", "k", "--log-format", "xml"]),
            "invalid configuration: --log-format \"xml\": must be text or json; \
             e.g. --log-format text"
        );
        assert_eq!(
            valid(&["--anthropic-api-key", "k", "--log-format", "JSON"]).log_format,
            LogFormat::Json
        );
        assert_eq!(
            rejected(&[
                "--anthropic-api-key",
                "k",
                "--anthropic-base-url",
                "ftp://x"
            ]),
            "invalid configuration: --anthropic-base-url: \"ftp://x\" must start with http:// \
             or https://; e.g. --anthropic-base-url https://api.anthropic.com"
        );
        assert!(
            rejected(&["--anthropic-api-key", "k", "--host", "localhost"])
                .starts_with("invalid configuration: --host \"localhost\": ")
        );
    }

    #[test]
    fn trusted_proxies_are_validated_and_the_old_flag_means_one_hop() {
        assert!(rejected(&[
            "--anthropic-api-key",
            "k",
            "--trusted-proxies",
            "10.0.0.0/99"
        ])
        .contains("--trusted-proxies: \"10.0.0.0/99\" is not a CIDR"));
        assert!(
            rejected(&["--anthropic-api-key", "k", "--rate-limit-ipv6-prefix", "0"])
                .contains("--rate-limit-ipv6-prefix: must be between 1 and 128")
        );
        let s = valid(&["--anthropic-api-key", "k", "--trust-forwarded-for", "true"]);
        assert_eq!(
            s.admission.trusted_proxies,
            TrustedProxies::Hops(std::num::NonZeroUsize::MIN)
        );
        let s = valid(&["--anthropic-api-key", "k"]);
        assert_eq!(
            (
                s.admission.trusted_proxies,
                s.admission.rate_limit_ipv6_prefix
            ),
            (TrustedProxies::None, 64)
        );
    }

    #[test]
    fn concurrency_settings_are_validated_by_name() {
        let s = valid(&["--anthropic-api-key", "k"]);
        assert_eq!(s.admission.concurrency_limit, ConcurrencyMode::Adaptive);
        assert_eq!(s.admission.min_concurrent_analyses, 2);
        assert_eq!(s.claude.attempt_timeout, Duration::from_secs(30));
        assert_eq!(
            (
                s.provider.known_rpm(),
                s.provider.known_itpm(),
                s.provider.known_otpm()
            ),
            (None, None, None)
        );
        assert_eq!(s.provider.share, 1.0);
        let third = valid(&["--anthropic-api-key", "k", "--provider-share", "1/3"]);
        assert!((third.provider.share - 1.0 / 3.0).abs() < 1e-12);
        for bad in ["0", "3/2", "1/0", "half"] {
            let message = rejected(&["--anthropic-api-key", "k", "--provider-share", bad]);
            assert!(
                message.starts_with("invalid configuration: --provider-share: "),
                "{bad}: {message}"
            );
        }
        for (flags, reason) in [
            (
                &["--concurrency-limit", "gradient"][..],
                "--concurrency-limit \"gradient\": must be adaptive or fixed",
            ),
            (
                &["--min-concurrent-analyses", "0"][..],
                "--min-concurrent-analyses: must be greater than 0",
            ),
            (
                &["--claude-attempt-timeout-ms", "0"][..],
                "--claude-attempt-timeout-ms: must be greater than 0",
            ),
            (
                &["--claude-retry-base-ms", "9000"][..],
                "--claude-retry-base-ms: must not exceed CLAUDE_RETRY_MAX_MS",
            ),
        ] {
            let mut args = vec!["--anthropic-api-key", "k"];
            args.extend_from_slice(flags);
            let message = rejected(&args);
            assert!(message.contains(reason), "{message}");
        }
        let fixed = valid(&[
            "--anthropic-api-key",
            "k",
            "--concurrency-limit",
            "fixed",
            "--provider-otpm",
            "80000",
            "--provider-itpm",
            "400000",
        ]);
        assert_eq!(fixed.admission.concurrency_limit, ConcurrencyMode::Fixed);
        assert_eq!(
            (fixed.provider.known_itpm(), fixed.provider.known_otpm()),
            (Some(400_000), Some(80_000))
        );
        let one = Settings::from_raw(raw(&[
            "--anthropic-api-key",
            "k",
            "--max-concurrent-analyses",
            "1",
        ]))
        .expect("the default floor of 2 does not reject N=1");
        assert_eq!(one.admission.min_concurrent_analyses, 1);
    }

    #[test]
    fn legacy_flag_works_bare_and_with_value() {
        assert!(raw(&["--legacy"]).legacy_mode);
        assert!(!raw(&["--legacy", "false"]).legacy_mode);
    }
}
