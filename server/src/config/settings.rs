//! [`Settings`]: the validated configuration, built once from [`RawArgs`]; errors name the variable.

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

use super::raw::{RawArgs, DEFAULT_MODEL, DEPRECATED_MODELS};
use crate::admission::client_ip::TrustedProxies;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `CONCURRENCY_LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencyMode {
    /// The limit follows upstream signals between the floor and the ceiling.
    Adaptive,
    /// Always the ceiling (`MAX_CONCURRENT_ANALYSES`).
    Fixed,
}

impl ConcurrencyMode {
    /// The name used in settings, `/health` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyMode::Adaptive => "adaptive",
            ConcurrencyMode::Fixed => "fixed",
        }
    }
}

/// Validated configuration; every field holds a usable value.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind (0 = any).
    pub port: u16,
    /// Trading API base URL without trailing slash.
    pub trading_api_base_url: String,
    /// Messages API base URL without trailing slash.
    pub anthropic_base_url: String,
    /// API key (may be empty only for a loopback base URL).
    pub anthropic_api_key: String,
    /// Model name.
    pub claude_model: String,
    /// N: agent loops at once (≥ 1).
    pub max_concurrent_analyses: usize,
    /// How the limit is set.
    pub concurrency_limit: ConcurrencyMode,
    /// Floor of the adaptive limit (1 ≤ floor ≤ N).
    pub min_concurrent_analyses: usize,
    /// Known provider requests per minute (None = learn from headers).
    pub provider_rpm: Option<u64>,
    /// Known provider input tokens per minute (None = learn from headers).
    pub provider_itpm: Option<u64>,
    /// Known provider output tokens per minute (None = learn from headers).
    pub provider_otpm: Option<u64>,
    /// This replica's share of the provider tier, in (0, 1] (`PROVIDER_SHARE=1/R`).
    pub provider_share: f64,
    /// Bounded queue depth.
    pub max_queue_depth: usize,
    /// Longest queue wait.
    pub queue_timeout: Duration,
    /// Per-client sustained rate (None = disabled).
    pub rate_limit_per_minute: Option<u32>,
    /// Per-client burst (≥ 1).
    pub rate_limit_burst: u32,
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// Idle pool size per Trading API host.
    pub trading_pool_max_idle_per_host: usize,
    /// One Trading API call's timeout.
    pub trading_timeout: Duration,
    /// Tokio worker threads.
    pub workers: usize,
    /// Largest body.
    pub max_body_bytes: usize,
    /// Drain time on shutdown.
    pub shutdown_grace: Duration,
    /// The deprecated `TRUST_FORWARDED_FOR` was set (already folded into `trusted_proxies`).
    pub trust_forwarded_for: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Legacy (pre-ticket) mode.
    pub legacy_mode: bool,
    /// Header read timeout.
    pub header_read_timeout: Duration,
    /// Body read timeout.
    pub body_read_timeout: Duration,
    /// Connection cap.
    pub max_connections: usize,
    /// Consecutive failures that open the circuit (≥ 1).
    pub circuit_failure_threshold: u32,
    /// Open duration of the circuit.
    pub circuit_open: Duration,
    /// Retries per model call.
    pub claude_max_retries: u32,
    /// Longest single model-call attempt.
    pub claude_attempt_timeout: Duration,
    /// Backoff base.
    pub claude_retry_base: Duration,
    /// Backoff cap.
    pub claude_retry_max: Duration,
    /// Default/ceiling of model turns.
    pub max_turns: u32,
    /// `max_tokens` per model call.
    pub claude_max_tokens: u32,
    /// Open connections per client IP (None = no per-IP cap).
    pub max_connections_per_ip: Option<usize>,
    /// HTTP/2 keep-alive ping interval.
    pub http2_keep_alive_interval: Duration,
    /// HTTP/2 keep-alive ping acknowledgement timeout.
    pub http2_keep_alive_timeout: Duration,
    /// A connection idle (no request in progress) this long is closed gracefully.
    pub idle_timeout: Duration,
    /// HTTP/2 concurrent streams per connection (≥ 1).
    pub http2_max_concurrent_streams: u32,
    /// Proxies whose `X-Forwarded-For` entries are believed.
    pub trusted_proxies: TrustedProxies,
    /// Bits of an IPv6 client address that key its rate-limit bucket (1–128).
    pub rate_limit_ipv6_prefix: u8,
    /// Readiness-503 window before the listener closes on shutdown (may be zero).
    pub shutdown_drain: Duration,
    /// Largest Trading API body passed on to the model (≥ 1).
    pub trading_max_body_bytes: usize,
    /// Tool calls run per model turn (≥ 1).
    pub max_tool_calls_per_turn: usize,
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

/// Accepts `http://` / `https://` URLs with a host; returns it without trailing slash.
fn base_url(variable: &'static str, raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| {
            invalid(
                variable,
                format!("{raw:?} must start with http:// or https://"),
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid(variable, format!("{raw:?} has no host")));
    }
    reqwest::Url::parse(trimmed).map_err(|e| invalid(variable, format!("{raw:?}: {e}")))?;
    Ok(trimmed.to_string())
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

fn positive(variable: &'static str, value: u64) -> Result<u64, ConfigError> {
    if value == 0 {
        return Err(invalid(variable, "must be greater than 0"));
    }
    Ok(value)
}

impl Settings {
    /// Validates raw arguments once; the error names the offending variable.
    pub fn from_raw(raw: RawArgs) -> Result<Self, ConfigError> {
        let host: IpAddr = raw
            .host
            .parse()
            .map_err(|_| invalid("HOST", format!("{:?} is not an IP address", raw.host)))?;
        let trading = raw.trading_api_base_url.as_deref().ok_or_else(|| {
            invalid(
                "TRADING_API_BASE_URL",
                "is required (e.g. http://127.0.0.1:9200, the mock Trading API)",
            )
        })?;
        let trading_api_base_url = base_url("TRADING_API_BASE_URL", trading)?;
        let anthropic_base_url = base_url("ANTHROPIC_BASE_URL", &raw.anthropic_base_url)?;
        let mut anthropic_api_key = raw.anthropic_api_key.unwrap_or_default().trim().to_string();
        if anthropic_api_key.is_empty() {
            if !is_loopback_url(&anthropic_base_url) {
                return Err(invalid(
                    "ANTHROPIC_API_KEY",
                    "is required unless ANTHROPIC_BASE_URL points at a loopback address",
                ));
            }
            // A local mock still wants a non-empty x-api-key header.
            anthropic_api_key = LOOPBACK_PLACEHOLDER_KEY.to_string();
        }
        if raw.claude_model.trim().is_empty() {
            return Err(invalid("CLAUDE_MODEL", "must not be empty"));
        }
        let log_format = match raw.log_format.to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("{other:?} is not text or json"),
                ))
            }
        };
        let workers = match raw.workers {
            Some(0) => return Err(invalid("WORKERS", "must be greater than 0")),
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        if raw.max_turns == 0 || raw.max_turns > 50 {
            return Err(invalid("MAX_TURNS", "must be between 1 and 50"));
        }
        if raw.claude_retry_base_ms > raw.claude_retry_max_ms {
            return Err(invalid(
                "CLAUDE_RETRY_BASE_MS",
                "must not exceed CLAUDE_RETRY_MAX_MS",
            ));
        }
        let mut trusted_proxies = TrustedProxies::parse(&raw.trusted_proxies)
            .map_err(|reason| invalid("TRUSTED_PROXIES", reason))?;
        if raw.trust_forwarded_for && trusted_proxies == TrustedProxies::None {
            trusted_proxies = TrustedProxies::Hops(std::num::NonZeroUsize::MIN);
        }
        if !(1..=128).contains(&raw.rate_limit_ipv6_prefix) {
            return Err(invalid(
                "RATE_LIMIT_IPV6_PREFIX",
                "must be between 1 and 128",
            ));
        }
        let concurrency_limit = match raw.concurrency_limit.trim().to_ascii_lowercase().as_str() {
            "adaptive" => ConcurrencyMode::Adaptive,
            "fixed" => ConcurrencyMode::Fixed,
            other => {
                return Err(invalid(
                    "CONCURRENCY_LIMIT",
                    format!("{other:?} must be adaptive or fixed"),
                ))
            }
        };
        // A floor above the ceiling is the ceiling (MAX_CONCURRENT_ANALYSES=1 keeps working with
        // the default floor of 2).
        let min_concurrent_analyses = positive(
            "MIN_CONCURRENT_ANALYSES",
            raw.min_concurrent_analyses as u64,
        )? as usize;
        Ok(Settings {
            host,
            port: raw.port,
            trading_api_base_url,
            anthropic_base_url,
            anthropic_api_key,
            claude_model: raw.claude_model.trim().to_string(),
            max_concurrent_analyses: positive(
                "MAX_CONCURRENT_ANALYSES",
                raw.max_concurrent_analyses as u64,
            )? as usize,
            concurrency_limit,
            min_concurrent_analyses: min_concurrent_analyses
                .min(raw.max_concurrent_analyses)
                .max(1),
            provider_rpm: (raw.provider_rpm > 0).then_some(raw.provider_rpm),
            provider_itpm: (raw.provider_itpm > 0).then_some(raw.provider_itpm),
            provider_otpm: (raw.provider_otpm > 0).then_some(raw.provider_otpm),
            provider_share: parse_share(&raw.provider_share)
                .map_err(|reason| invalid("PROVIDER_SHARE", reason))?,
            max_queue_depth: raw.max_queue_depth,
            queue_timeout: Duration::from_millis(positive(
                "QUEUE_TIMEOUT_MS",
                raw.queue_timeout_ms,
            )?),
            rate_limit_per_minute: (raw.rate_limit_per_minute > 0)
                .then_some(raw.rate_limit_per_minute),
            rate_limit_burst: positive("RATE_LIMIT_BURST", raw.rate_limit_burst.into())? as u32,
            request_timeout: Duration::from_millis(positive(
                "REQUEST_TIMEOUT_MS",
                raw.request_timeout_ms,
            )?),
            trading_pool_max_idle_per_host: raw.trading_pool_max_idle_per_host,
            trading_timeout: Duration::from_millis(positive(
                "TRADING_TIMEOUT_MS",
                raw.trading_timeout_ms,
            )?),
            workers,
            max_body_bytes: positive("MAX_BODY_BYTES", raw.max_body_bytes as u64)? as usize,
            shutdown_grace: Duration::from_millis(raw.shutdown_grace_ms),
            trust_forwarded_for: raw.trust_forwarded_for,
            log_format,
            legacy_mode: raw.legacy_mode,
            header_read_timeout: Duration::from_millis(positive(
                "HEADER_READ_TIMEOUT_MS",
                raw.header_read_timeout_ms,
            )?),
            body_read_timeout: Duration::from_millis(positive(
                "BODY_READ_TIMEOUT_MS",
                raw.body_read_timeout_ms,
            )?),
            max_connections: positive("MAX_CONNECTIONS", raw.max_connections as u64)? as usize,
            circuit_failure_threshold: positive(
                "CIRCUIT_FAILURE_THRESHOLD",
                raw.circuit_failure_threshold.into(),
            )? as u32,
            circuit_open: Duration::from_millis(positive("CIRCUIT_OPEN_MS", raw.circuit_open_ms)?),
            claude_max_retries: raw.claude_max_retries,
            claude_attempt_timeout: Duration::from_millis(positive(
                "CLAUDE_ATTEMPT_TIMEOUT_MS",
                raw.claude_attempt_timeout_ms,
            )?),
            claude_retry_base: Duration::from_millis(raw.claude_retry_base_ms),
            claude_retry_max: Duration::from_millis(raw.claude_retry_max_ms),
            max_turns: raw.max_turns,
            claude_max_tokens: positive("CLAUDE_MAX_TOKENS", raw.claude_max_tokens.into())? as u32,
            max_connections_per_ip: (raw.max_connections_per_ip > 0)
                .then_some(raw.max_connections_per_ip),
            http2_keep_alive_interval: Duration::from_millis(positive(
                "HTTP2_KEEP_ALIVE_INTERVAL_MS",
                raw.http2_keep_alive_interval_ms,
            )?),
            http2_keep_alive_timeout: Duration::from_millis(positive(
                "HTTP2_KEEP_ALIVE_TIMEOUT_MS",
                raw.http2_keep_alive_timeout_ms,
            )?),
            idle_timeout: Duration::from_millis(positive("IDLE_TIMEOUT_MS", raw.idle_timeout_ms)?),
            http2_max_concurrent_streams: positive(
                "HTTP2_MAX_CONCURRENT_STREAMS",
                raw.http2_max_concurrent_streams.into(),
            )? as u32,
            trusted_proxies,
            rate_limit_ipv6_prefix: raw.rate_limit_ipv6_prefix,
            shutdown_drain: Duration::from_millis(raw.shutdown_drain_ms),
            trading_max_body_bytes: positive(
                "TRADING_MAX_BODY_BYTES",
                raw.trading_max_body_bytes as u64,
            )? as usize,
            max_tool_calls_per_turn: positive(
                "MAX_TOOL_CALLS_PER_TURN",
                raw.max_tool_calls_per_turn as u64,
            )? as usize,
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
            .find(|(prefix, _)| self.claude_model.starts_with(prefix))
            .map(|(_, eol)| *eol)
    }

    /// The configuration as one log-friendly line, with the API key redacted.
    pub fn redacted_summary(&self) -> String {
        let mut shown = self.clone();
        shown.anthropic_api_key = if self.anthropic_api_key == LOOPBACK_PLACEHOLDER_KEY {
            "<unset: loopback placeholder>".into()
        } else if self.anthropic_api_key.is_empty() {
            "<unset>".into()
        } else {
            "<redacted>".into()
        };
        format!("{shown:?}")
    }
}

/// `1/R` or a fraction in (0, 1].
fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = match t.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a
                .trim()
                .parse()
                .map_err(|_| format!("{t:?} is not 1/R or a fraction"))?;
            let b: f64 = b
                .trim()
                .parse()
                .map_err(|_| format!("{t:?} is not 1/R or a fraction"))?;
            if b == 0.0 {
                return Err(format!("{t:?} divides by zero"));
            }
            a / b
        }
        None => t
            .parse()
            .map_err(|_| format!("{t:?} is not 1/R or a fraction"))?,
    };
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "{t:?} must be in (0, 1], e.g. 1/3 with three replicas"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(extra: &[&str]) -> RawArgs {
        let mut args = vec![
            "analyze-server",
            "--trading-api-base-url",
            "http://127.0.0.1:9100",
        ];
        args.extend_from_slice(extra);
        RawArgs::parse_flags_only(args).expect("parses")
    }

    #[test]
    fn missing_trading_url_names_the_variable() {
        let mut r = raw(&[]);
        r.trading_api_base_url = None;
        assert_eq!(
            Settings::from_raw(r).unwrap_err().variable,
            "TRADING_API_BASE_URL"
        );
    }

    #[test]
    fn zero_concurrency_is_rejected_by_name() {
        let r = raw(&["--max-concurrent-analyses", "0", "--anthropic-api-key", "k"]);
        assert_eq!(
            Settings::from_raw(r).unwrap_err().variable,
            "MAX_CONCURRENT_ANALYSES"
        );
    }

    #[test]
    fn api_key_required_for_remote_but_not_for_loopback() {
        let mut remote = raw(&[]);
        remote.anthropic_api_key = None;
        remote.anthropic_base_url = "https://api.anthropic.com".into();
        assert_eq!(
            Settings::from_raw(remote).unwrap_err().variable,
            "ANTHROPIC_API_KEY"
        );
        let mut local = raw(&["--anthropic-base-url", "http://127.0.0.1:9200/"]);
        local.anthropic_api_key = None;
        let s = Settings::from_raw(local).expect("loopback needs no key");
        assert_eq!(s.anthropic_base_url, "http://127.0.0.1:9200");
        assert_eq!(s.anthropic_api_key, LOOPBACK_PLACEHOLDER_KEY);
    }

    #[test]
    fn defaults_match_the_issue() {
        let s = Settings::from_raw(raw(&["--anthropic-api-key", "k"])).expect("valid");
        assert_eq!(
            (s.port, s.max_concurrent_analyses, s.max_queue_depth),
            (8000, 10, 100)
        );
        assert_eq!(s.queue_timeout, Duration::from_millis(30_000));
        assert_eq!(s.rate_limit_per_minute, Some(200));
        assert_eq!(s.claude_model, DEFAULT_MODEL);
        assert!(s.deprecated_model_eol().is_none());
        assert!(!s.legacy_mode);
    }

    #[test]
    fn seed_model_is_flagged_deprecated_and_key_is_redacted() {
        let s = Settings::from_raw(raw(&[
            "--anthropic-api-key",
            "sk-secret",
            "--claude-model",
            "claude-sonnet-4-5-20250929",
        ]))
        .expect("valid");
        assert_eq!(s.deprecated_model_eol(), Some("2026-11-30"));
        assert!(!s.redacted_summary().contains("sk-secret"));
    }

    #[test]
    fn bad_log_format_and_url_are_named() {
        let r = raw(&["--anthropic-api-key", "k", "--log-format", "xml"]);
        assert_eq!(Settings::from_raw(r).unwrap_err().variable, "LOG_FORMAT");
        let r = raw(&[
            "--anthropic-api-key",
            "k",
            "--anthropic-base-url",
            "ftp://x",
        ]);
        assert_eq!(
            Settings::from_raw(r).unwrap_err().variable,
            "ANTHROPIC_BASE_URL"
        );
    }

    #[test]
    fn trusted_proxies_are_validated_and_the_old_flag_means_one_hop() {
        let r = raw(&[
            "--anthropic-api-key",
            "k",
            "--trusted-proxies",
            "10.0.0.0/99",
        ]);
        assert_eq!(
            Settings::from_raw(r).unwrap_err().variable,
            "TRUSTED_PROXIES"
        );
        let r = raw(&["--anthropic-api-key", "k", "--rate-limit-ipv6-prefix", "0"]);
        assert_eq!(
            Settings::from_raw(r).unwrap_err().variable,
            "RATE_LIMIT_IPV6_PREFIX"
        );
        let r = raw(&["--anthropic-api-key", "k", "--trust-forwarded-for", "true"]);
        let s = Settings::from_raw(r).expect("valid");
        assert_eq!(
            s.trusted_proxies,
            TrustedProxies::Hops(std::num::NonZeroUsize::MIN)
        );
        let s = Settings::from_raw(raw(&["--anthropic-api-key", "k"])).expect("valid");
        assert_eq!(
            (s.trusted_proxies, s.rate_limit_ipv6_prefix),
            (TrustedProxies::None, 64)
        );
    }

    #[test]
    fn concurrency_settings_are_validated_by_name() {
        let s = Settings::from_raw(raw(&["--anthropic-api-key", "k"])).expect("valid");
        assert_eq!(s.concurrency_limit, ConcurrencyMode::Adaptive);
        assert_eq!(s.min_concurrent_analyses, 2);
        assert_eq!(s.claude_attempt_timeout, Duration::from_secs(30));
        assert_eq!(
            (s.provider_rpm, s.provider_itpm, s.provider_otpm),
            (None, None, None)
        );
        assert_eq!(s.provider_share, 1.0);
        let third = Settings::from_raw(raw(&[
            "--anthropic-api-key",
            "k",
            "--provider-share",
            "1/3",
        ]))
        .expect("valid");
        assert!((third.provider_share - 1.0 / 3.0).abs() < 1e-12);
        for bad in ["0", "3/2", "1/0", "half"] {
            let r = raw(&["--anthropic-api-key", "k", "--provider-share", bad]);
            assert_eq!(
                Settings::from_raw(r).unwrap_err().variable,
                "PROVIDER_SHARE",
                "{bad}"
            );
        }
        for (flags, variable) in [
            (
                &["--concurrency-limit", "gradient"][..],
                "CONCURRENCY_LIMIT",
            ),
            (
                &["--min-concurrent-analyses", "0"][..],
                "MIN_CONCURRENT_ANALYSES",
            ),
            (
                &["--claude-attempt-timeout-ms", "0"][..],
                "CLAUDE_ATTEMPT_TIMEOUT_MS",
            ),
        ] {
            let mut args = vec!["--anthropic-api-key", "k"];
            args.extend_from_slice(flags);
            assert_eq!(
                Settings::from_raw(raw(&args)).unwrap_err().variable,
                variable
            );
        }
        let fixed = Settings::from_raw(raw(&[
            "--anthropic-api-key",
            "k",
            "--concurrency-limit",
            "fixed",
            "--provider-otpm",
            "80000",
            "--provider-itpm",
            "400000",
        ]))
        .expect("valid");
        assert_eq!(fixed.concurrency_limit, ConcurrencyMode::Fixed);
        assert_eq!(
            (fixed.provider_itpm, fixed.provider_otpm),
            (Some(400_000), Some(80_000))
        );
        let one = Settings::from_raw(raw(&[
            "--anthropic-api-key",
            "k",
            "--max-concurrent-analyses",
            "1",
        ]))
        .expect("the default floor of 2 does not reject N=1");
        assert_eq!(one.min_concurrent_analyses, 1);
    }

    #[test]
    fn legacy_flag_works_bare_and_with_value() {
        assert!(raw(&["--legacy"]).legacy_mode);
        assert!(!raw(&["--legacy", "false"]).legacy_mode);
    }
}
