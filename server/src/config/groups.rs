//! The settings grouped by concern, one clap `Args` struct each, flattened into
//! [`super::RawArgs`]. Every value is typed and checked on its own as clap parses it (see
//! [`super::parsers`]); rules that involve several settings are in [`super::Settings::from_raw`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parsers::{base_url, between, millis, not_blank, positive, share, trusted_proxies};
use crate::admission::client_ip::TrustedProxies;

/// The model used when `CLAUDE_MODEL` is not set: current, and not on the deprecation list.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-6";

/// Log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How the number of permits is set (`CONCURRENCY_LIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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

/// Where the server listens, and how much a connection and its requests may hold.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Listener and connections")]
pub struct Listener {
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port to bind.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Open client connections accepted at once; further clients wait in the listen backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096, value_parser = positive::<usize>)]
    pub max_connections: usize,
    /// Open connections one client IP may hold; further ones are closed at once. 0 disables.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Time a client has to send the request headers.
    #[arg(
        long = "header-read-timeout-ms",
        env = "HEADER_READ_TIMEOUT_MS",
        id = "header_read_timeout_ms",
        value_name = "HEADER_READ_TIMEOUT_MS",
        default_value = "10000",
        value_parser = millis::<1>,
    )]
    pub header_read_timeout: Duration,
    /// Time a client has to send the request body.
    #[arg(
        long = "body-read-timeout-ms",
        env = "BODY_READ_TIMEOUT_MS",
        id = "body_read_timeout_ms",
        value_name = "BODY_READ_TIMEOUT_MS",
        default_value = "10000",
        value_parser = millis::<1>,
    )]
    pub body_read_timeout: Duration,
    /// Largest accepted request body.
    #[arg(
        long,
        env = "MAX_BODY_BYTES",
        default_value_t = 16 * 1024,
        value_parser = positive::<usize>,
    )]
    pub max_body_bytes: usize,
    /// A connection with no request in progress for this long is closed gracefully (HTTP/2:
    /// GOAWAY). HTTP/1 keep-alive connections are already closed sooner, after
    /// `HEADER_READ_TIMEOUT_MS` without a new request.
    #[arg(
        long = "idle-timeout-ms",
        env = "IDLE_TIMEOUT_MS",
        id = "idle_timeout_ms",
        value_name = "IDLE_TIMEOUT_MS",
        default_value = "60000",
        value_parser = millis::<1>,
    )]
    pub idle_timeout: Duration,
    /// HTTP/2: interval of keep-alive pings on an open connection.
    #[arg(
        long = "http2-keep-alive-interval-ms",
        env = "HTTP2_KEEP_ALIVE_INTERVAL_MS",
        id = "http2_keep_alive_interval_ms",
        value_name = "HTTP2_KEEP_ALIVE_INTERVAL_MS",
        default_value = "20000",
        value_parser = millis::<1>,
    )]
    pub http2_keep_alive_interval: Duration,
    /// HTTP/2: time a client has to acknowledge a keep-alive ping before the connection closes.
    #[arg(
        long = "http2-keep-alive-timeout-ms",
        env = "HTTP2_KEEP_ALIVE_TIMEOUT_MS",
        id = "http2_keep_alive_timeout_ms",
        value_name = "HTTP2_KEEP_ALIVE_TIMEOUT_MS",
        default_value = "10000",
        value_parser = millis::<1>,
    )]
    pub http2_keep_alive_timeout: Duration,
    /// HTTP/2: concurrent streams one connection may open.
    #[arg(
        long,
        env = "HTTP2_MAX_CONCURRENT_STREAMS",
        default_value_t = 100,
        value_parser = positive::<u32>,
    )]
    pub http2_max_concurrent_streams: u32,
}

impl Listener {
    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The per-IP connection cap, `None` when `MAX_CONNECTIONS_PER_IP=0` disables it.
    pub fn connections_per_ip_cap(&self) -> Option<usize> {
        (self.max_connections_per_ip > 0).then_some(self.max_connections_per_ip)
    }
}

/// Who gets in, and when: the permit pool, its queue, the request deadline and the per-client
/// rate limit with the proxies that name the client.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Admission")]
pub struct Admission {
    /// Maximum agent loops running at once (N); also the cap on concurrent model calls.
    #[arg(
        long,
        env = "MAX_CONCURRENT_ANALYSES",
        default_value_t = 10,
        value_parser = positive::<usize>,
    )]
    pub max_concurrent_analyses: usize,
    /// How the number of permits is set: `adaptive` (follows upstream signals between
    /// MIN_CONCURRENT_ANALYSES and MAX_CONCURRENT_ANALYSES) or `fixed` (always MAX_CONCURRENT_ANALYSES).
    // The words are in this help; listing them with their docs would switch --help to its long form.
    #[arg(
        long,
        env = "CONCURRENCY_LIMIT",
        default_value = "adaptive",
        value_enum,
        hide_possible_values = true,
        ignore_case = true
    )]
    pub concurrency_limit: ConcurrencyMode,
    /// Floor of the adaptive limit; a floor above MAX_CONCURRENT_ANALYSES is that ceiling.
    #[arg(
        long,
        env = "MIN_CONCURRENT_ANALYSES",
        default_value_t = 2,
        value_parser = positive::<usize>,
    )]
    pub min_concurrent_analyses: usize,
    /// Requests allowed to wait for a permit; beyond this → 503 at once.
    #[arg(long, env = "MAX_QUEUE_DEPTH", default_value_t = 100)]
    pub max_queue_depth: usize,
    /// Longest wait in the queue before 503.
    #[arg(
        long = "queue-timeout-ms",
        env = "QUEUE_TIMEOUT_MS",
        id = "queue_timeout_ms",
        value_name = "QUEUE_TIMEOUT_MS",
        default_value = "30000",
        value_parser = millis::<1>,
    )]
    pub queue_timeout: Duration,
    /// One deadline per request covering queue wait, model turns and tool calls.
    #[arg(
        long = "request-timeout-ms",
        env = "REQUEST_TIMEOUT_MS",
        id = "request_timeout_ms",
        value_name = "REQUEST_TIMEOUT_MS",
        default_value = "60000",
        value_parser = millis::<1>,
    )]
    pub request_timeout: Duration,
    /// Sustained requests per minute per client; 0 disables the rate limit.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 200)]
    pub rate_limit_per_minute: u32,
    /// Requests a client may send back to back before the per-minute pace applies.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 20, value_parser = positive::<u32>)]
    pub rate_limit_burst: u32,
    /// IPv6 clients share one rate-limit bucket per prefix of this many bits (1–128).
    #[arg(
        long,
        env = "RATE_LIMIT_IPV6_PREFIX",
        default_value_t = 64,
        value_parser = between::<1,
        128,
        u8>,
    )]
    pub rate_limit_ipv6_prefix: u8,
    /// Proxies whose `X-Forwarded-For` entries are believed: comma-separated CIDRs or addresses,
    /// or `hops:N` for a fixed chain of N appending proxies; empty = none (socket peer only).
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = trusted_proxies)]
    pub trusted_proxies: TrustedProxies,
    /// Deprecated alias of `TRUSTED_PROXIES=hops:1` (the rightmost `X-Forwarded-For` address).
    #[arg(
        long,
        env = "TRUST_FORWARDED_FOR",
        default_value_t = false,
        action = clap::ArgAction::Set,
    )]
    pub trust_forwarded_for: bool,
}

impl Admission {
    /// The per-client requests per minute, `None` when `RATE_LIMIT_PER_MINUTE=0` disables it.
    pub fn rate_limit(&self) -> Option<u32> {
        (self.rate_limit_per_minute > 0).then_some(self.rate_limit_per_minute)
    }
}

/// The Messages API: where, with which key and model, how a conversation is bounded, and how a
/// failing model call is retried and cut off.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Claude (Messages API)")]
pub struct Claude {
    /// Base URL of the Claude Messages API.
    #[arg(
        long = "anthropic-base-url",
        env = "ANTHROPIC_BASE_URL",
        id = "anthropic_base_url",
        value_name = "ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com",
        value_parser = base_url,
    )]
    pub base_url: String,
    /// API key; required unless the Messages API base URL is a loopback address (a mock).
    #[arg(
        long = "anthropic-api-key",
        env = "ANTHROPIC_API_KEY",
        id = "anthropic_api_key",
        value_name = "ANTHROPIC_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Model name sent to the Messages API.
    #[arg(
        long = "claude-model",
        env = "CLAUDE_MODEL",
        id = "claude_model",
        value_name = "CLAUDE_MODEL",
        default_value = DEFAULT_MODEL,
        value_parser = not_blank,
    )]
    pub model: String,
    /// `max_tokens` sent with each model call.
    #[arg(
        long = "claude-max-tokens",
        env = "CLAUDE_MAX_TOKENS",
        id = "claude_max_tokens",
        value_name = "CLAUDE_MAX_TOKENS",
        default_value_t = 1024,
        value_parser = positive::<u32>,
    )]
    pub max_tokens: u32,
    /// Default and ceiling of model turns per analysis.
    #[arg(long, env = "MAX_TURNS", default_value_t = 6, value_parser = between::<1, 50, u32>)]
    pub max_turns: u32,
    /// Tool calls run per model turn; further ones in the same turn answer a tool error.
    #[arg(
        long,
        env = "MAX_TOOL_CALLS_PER_TURN",
        default_value_t = 16,
        value_parser = positive::<usize>,
    )]
    pub max_tool_calls_per_turn: usize,
    /// Retries of one model call (429/529/5xx), on top of the first attempt.
    #[arg(
        long = "claude-max-retries",
        env = "CLAUDE_MAX_RETRIES",
        id = "claude_max_retries",
        value_name = "CLAUDE_MAX_RETRIES",
        default_value_t = 3
    )]
    pub max_retries: u32,
    /// Longest single model-call attempt; a stalled attempt is retried within the request deadline.
    #[arg(
        long = "claude-attempt-timeout-ms",
        env = "CLAUDE_ATTEMPT_TIMEOUT_MS",
        id = "claude_attempt_timeout_ms",
        value_name = "CLAUDE_ATTEMPT_TIMEOUT_MS",
        default_value = "30000",
        value_parser = millis::<1>,
    )]
    pub attempt_timeout: Duration,
    /// First backoff step; doubles per retry with full jitter.
    #[arg(
        long = "claude-retry-base-ms",
        env = "CLAUDE_RETRY_BASE_MS",
        id = "claude_retry_base_ms",
        value_name = "CLAUDE_RETRY_BASE_MS",
        default_value = "500",
        value_parser = millis::<0>,
    )]
    pub retry_base: Duration,
    /// Longest backoff between retries.
    #[arg(
        long = "claude-retry-max-ms",
        env = "CLAUDE_RETRY_MAX_MS",
        id = "claude_retry_max_ms",
        value_name = "CLAUDE_RETRY_MAX_MS",
        default_value = "8000",
        value_parser = millis::<0>,
    )]
    pub retry_max: Duration,
    /// Consecutive failed model calls that open the circuit.
    #[arg(
        long,
        env = "CIRCUIT_FAILURE_THRESHOLD",
        default_value_t = 5,
        value_parser = positive::<u32>,
    )]
    pub circuit_failure_threshold: u32,
    /// How long the circuit stays open before a half-open probe.
    #[arg(
        long = "circuit-open-ms",
        env = "CIRCUIT_OPEN_MS",
        id = "circuit_open_ms",
        value_name = "CIRCUIT_OPEN_MS",
        default_value = "10000",
        value_parser = millis::<1>,
    )]
    pub circuit_open: Duration,
}

impl Claude {
    /// The `x-api-key` to send: the configured key, or a placeholder for a loopback mock
    /// ([`super::Settings::from_raw`] allows no key only there).
    pub fn api_key(&self) -> &str {
        self.api_key
            .as_deref()
            .unwrap_or(super::LOOPBACK_PLACEHOLDER_KEY)
    }
}

/// The provider tier's limits, when known, and this replica's share of them; model calls are
/// paced to stay within them.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Provider tier")]
pub struct Provider {
    /// Known requests-per-minute limit of the provider tier (0 = learn it from the response headers).
    #[arg(
        long = "provider-rpm",
        env = "PROVIDER_RPM",
        id = "provider_rpm",
        value_name = "PROVIDER_RPM",
        default_value_t = 0
    )]
    pub rpm: u64,
    /// Known input-tokens-per-minute limit of the provider tier (0 = learn it from the headers).
    #[arg(
        long = "provider-itpm",
        env = "PROVIDER_ITPM",
        id = "provider_itpm",
        value_name = "PROVIDER_ITPM",
        default_value_t = 0
    )]
    pub itpm: u64,
    /// Known output-tokens-per-minute limit of the provider tier (0 = learn it from the headers).
    #[arg(
        long = "provider-otpm",
        env = "PROVIDER_OTPM",
        id = "provider_otpm",
        value_name = "PROVIDER_OTPM",
        default_value_t = 0
    )]
    pub otpm: u64,
    /// This replica's share of the provider tier, `1/R` with R replicas (or a fraction in (0, 1]):
    /// pacing keeps this replica within that share of every budget (requests, input and output
    /// tokens).
    #[arg(
        long = "provider-share",
        env = "PROVIDER_SHARE",
        id = "provider_share",
        value_name = "PROVIDER_SHARE",
        default_value = "1",
        value_parser = share,
    )]
    pub share: f64,
}

impl Provider {
    /// `PROVIDER_RPM`, `None` for 0 (learn it from the response headers).
    pub fn known_rpm(&self) -> Option<u64> {
        known(self.rpm)
    }

    /// `PROVIDER_ITPM`, `None` for 0 (learn it from the response headers).
    pub fn known_itpm(&self) -> Option<u64> {
        known(self.itpm)
    }

    /// `PROVIDER_OTPM`, `None` for 0 (learn it from the response headers).
    pub fn known_otpm(&self) -> Option<u64> {
        known(self.otpm)
    }
}

/// A per-minute limit the operator set; 0 means unknown.
fn known(per_minute: u64) -> Option<u64> {
    (per_minute > 0).then_some(per_minute)
}

/// The Trading API: where, how many idle connections to keep, and how long and large an
/// answer may be.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Trading API")]
pub struct Trading {
    /// Base URL of the Trading API (required).
    #[arg(
        long = "trading-api-base-url",
        env = "TRADING_API_BASE_URL",
        id = "trading_api_base_url",
        value_name = "TRADING_API_BASE_URL",
        required = true,
        value_parser = base_url,
    )]
    pub base_url: String,
    /// Idle keep-alive connections kept per Trading API host.
    #[arg(
        long = "trading-pool-max-idle-per-host",
        env = "TRADING_POOL_MAX_IDLE_PER_HOST",
        id = "trading_pool_max_idle_per_host",
        value_name = "TRADING_POOL_MAX_IDLE_PER_HOST",
        default_value_t = 32
    )]
    pub pool_max_idle_per_host: usize,
    /// Timeout of one Trading API call.
    #[arg(
        long = "trading-timeout-ms",
        env = "TRADING_TIMEOUT_MS",
        id = "trading_timeout_ms",
        value_name = "TRADING_TIMEOUT_MS",
        default_value = "5000",
        value_parser = millis::<1>,
    )]
    pub timeout: Duration,
    /// Largest Trading API answer passed to the model; a longer one becomes a tool error.
    #[arg(
        long = "trading-max-body-bytes",
        env = "TRADING_MAX_BODY_BYTES",
        id = "trading_max_body_bytes",
        value_name = "TRADING_MAX_BODY_BYTES",
        default_value_t = 256 * 1024,
        value_parser = positive::<usize>,
    )]
    pub max_body_bytes: usize,
}

/// What happens after SIGTERM/SIGINT: the readiness drain, then the grace for analyses in flight.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Shutdown")]
pub struct Shutdown {
    /// After SIGTERM/SIGINT: time `/health/ready` answers 503 while the listener still accepts
    /// and serves, so load balancers stop sending before connections are refused. 0 = none.
    #[arg(
        long = "shutdown-drain-ms",
        env = "SHUTDOWN_DRAIN_MS",
        id = "shutdown_drain_ms",
        value_name = "SHUTDOWN_DRAIN_MS",
        default_value = "0",
        value_parser = millis::<0>,
    )]
    pub drain: Duration,
    /// Time in-flight analyses get to finish after SIGTERM/SIGINT.
    #[arg(
        long = "shutdown-grace-ms",
        env = "SHUTDOWN_GRACE_MS",
        id = "shutdown_grace_ms",
        value_name = "SHUTDOWN_GRACE_MS",
        default_value = "30000",
        value_parser = millis::<0>,
    )]
    pub grace: Duration,
}
