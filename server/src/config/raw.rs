//! The command-line and environment surface: [`RawArgs`] exactly as the operator writes it.

use clap::{CommandFactory, FromArgMatches, Parser};

/// The model used when `CLAUDE_MODEL` is not set: current, and not on the deprecation list.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-6";

/// Models the provider has announced retirement for (model id prefix, retirement date), from the
/// provider's model-deprecations page; extend as it announces more. Start-up warns on a match.
pub const DEPRECATED_MODELS: &[(&str, &str)] = &[
    ("claude-sonnet-4-5-20250929", "2026-11-30"),
    ("claude-sonnet-4-2025", "2026-06-15"),
    ("claude-opus-4-2025", "2026-06-15"),
    ("claude-3-7-sonnet", "2026-02-19"),
    ("claude-3-5-sonnet", "2025-10-22"),
];

/// Flags and environment variables exactly as the operator writes them (unvalidated).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "analyze-server",
    version,
    about = "The scaled /analyze service"
)]
pub struct RawArgs {
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to bind.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Base URL of the Trading API (required).
    #[arg(long, env = "TRADING_API_BASE_URL")]
    pub trading_api_base_url: Option<String>,
    /// Base URL of the Claude Messages API.
    #[arg(
        long,
        env = "ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub anthropic_base_url: String,
    /// API key; required unless the Messages API base URL is a loopback address (a mock).
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,
    /// Model name sent to the Messages API.
    #[arg(long, env = "CLAUDE_MODEL", default_value = DEFAULT_MODEL)]
    pub claude_model: String,
    /// Maximum agent loops running at once (N); also the cap on concurrent model calls.
    #[arg(long, env = "MAX_CONCURRENT_ANALYSES", default_value_t = 10)]
    pub max_concurrent_analyses: usize,
    /// How the number of permits is set: `adaptive` (follows upstream signals between
    /// MIN_CONCURRENT_ANALYSES and MAX_CONCURRENT_ANALYSES) or `fixed` (always MAX_CONCURRENT_ANALYSES).
    #[arg(long, env = "CONCURRENCY_LIMIT", default_value = "adaptive")]
    pub concurrency_limit: String,
    /// Floor of the adaptive limit.
    #[arg(long, env = "MIN_CONCURRENT_ANALYSES", default_value_t = 2)]
    pub min_concurrent_analyses: usize,
    /// Known requests-per-minute limit of the provider tier (0 = learn it from the response headers).
    #[arg(long, env = "PROVIDER_RPM", default_value_t = 0)]
    pub provider_rpm: u64,
    /// Known input-tokens-per-minute limit of the provider tier (0 = learn it from the headers).
    #[arg(long, env = "PROVIDER_ITPM", default_value_t = 0)]
    pub provider_itpm: u64,
    /// Known output-tokens-per-minute limit of the provider tier (0 = learn it from the headers).
    #[arg(long, env = "PROVIDER_OTPM", default_value_t = 0)]
    pub provider_otpm: u64,
    /// This replica's share of the provider tier, `1/R` with R replicas (or a fraction in (0, 1]):
    /// pacing keeps this replica within that share of every budget (requests, input and output
    /// tokens).
    #[arg(long, env = "PROVIDER_SHARE", default_value = "1")]
    pub provider_share: String,
    /// Requests allowed to wait for a permit; beyond this → 503 at once.
    #[arg(long, env = "MAX_QUEUE_DEPTH", default_value_t = 100)]
    pub max_queue_depth: usize,
    /// Longest wait in the queue before 503.
    #[arg(long, env = "QUEUE_TIMEOUT_MS", default_value_t = 30_000)]
    pub queue_timeout_ms: u64,
    /// Sustained requests per minute per client; 0 disables the rate limit.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 200)]
    pub rate_limit_per_minute: u32,
    /// Requests a client may send back to back before the per-minute pace applies.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 20)]
    pub rate_limit_burst: u32,
    /// One deadline per request covering queue wait, model turns and tool calls.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 60_000)]
    pub request_timeout_ms: u64,
    /// Idle keep-alive connections kept per Trading API host.
    #[arg(long, env = "TRADING_POOL_MAX_IDLE_PER_HOST", default_value_t = 32)]
    pub trading_pool_max_idle_per_host: usize,
    /// Timeout of one Trading API call.
    #[arg(long, env = "TRADING_TIMEOUT_MS", default_value_t = 5_000)]
    pub trading_timeout_ms: u64,
    /// Tokio worker threads (default: the number of cores).
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,
    /// Largest accepted request body.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,
    /// Time in-flight analyses get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 30_000)]
    pub shutdown_grace_ms: u64,
    /// Deprecated alias of `TRUSTED_PROXIES=hops:1` (the rightmost `X-Forwarded-For` address).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// The pre-ticket behaviour, for before/after measurements.
    #[arg(long = "legacy", env = "LEGACY_MODE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub legacy_mode: bool,
    /// Time a client has to send the request headers.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// Time a client has to send the request body.
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_read_timeout_ms: u64,
    /// Open client connections accepted at once; further clients wait in the listen backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Consecutive failed model calls that open the circuit.
    #[arg(long, env = "CIRCUIT_FAILURE_THRESHOLD", default_value_t = 5)]
    pub circuit_failure_threshold: u32,
    /// How long the circuit stays open before a half-open probe.
    #[arg(long, env = "CIRCUIT_OPEN_MS", default_value_t = 10_000)]
    pub circuit_open_ms: u64,
    /// Retries of one model call (429/529/5xx), on top of the first attempt.
    #[arg(long, env = "CLAUDE_MAX_RETRIES", default_value_t = 3)]
    pub claude_max_retries: u32,
    /// Longest single model-call attempt; a stalled attempt is retried within the request deadline.
    #[arg(long, env = "CLAUDE_ATTEMPT_TIMEOUT_MS", default_value_t = 30_000)]
    pub claude_attempt_timeout_ms: u64,
    /// First backoff step; doubles per retry with full jitter.
    #[arg(long, env = "CLAUDE_RETRY_BASE_MS", default_value_t = 500)]
    pub claude_retry_base_ms: u64,
    /// Longest backoff between retries.
    #[arg(long, env = "CLAUDE_RETRY_MAX_MS", default_value_t = 8_000)]
    pub claude_retry_max_ms: u64,
    /// Default and ceiling of model turns per analysis.
    #[arg(long, env = "MAX_TURNS", default_value_t = 6)]
    pub max_turns: u32,
    /// `max_tokens` sent with each model call.
    #[arg(long, env = "CLAUDE_MAX_TOKENS", default_value_t = 1024)]
    pub claude_max_tokens: u32,
    /// Open connections one client IP may hold; further ones are closed at once. 0 disables.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// HTTP/2: interval of keep-alive pings on an open connection.
    #[arg(long, env = "HTTP2_KEEP_ALIVE_INTERVAL_MS", default_value_t = 20_000)]
    pub http2_keep_alive_interval_ms: u64,
    /// HTTP/2: time a client has to acknowledge a keep-alive ping before the connection closes.
    #[arg(long, env = "HTTP2_KEEP_ALIVE_TIMEOUT_MS", default_value_t = 10_000)]
    pub http2_keep_alive_timeout_ms: u64,
    /// A connection with no request in progress for this long is closed gracefully (HTTP/2:
    /// GOAWAY). HTTP/1 keep-alive connections are already closed sooner, after
    /// `HEADER_READ_TIMEOUT_MS` without a new request.
    #[arg(long, env = "IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// HTTP/2: concurrent streams one connection may open.
    #[arg(long, env = "HTTP2_MAX_CONCURRENT_STREAMS", default_value_t = 100)]
    pub http2_max_concurrent_streams: u32,
    /// Proxies whose `X-Forwarded-For` entries are believed: comma-separated CIDRs or addresses,
    /// or `hops:N` for a fixed chain of N appending proxies; empty = none (socket peer only).
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// IPv6 clients share one rate-limit bucket per prefix of this many bits (1–128).
    #[arg(long, env = "RATE_LIMIT_IPV6_PREFIX", default_value_t = 64)]
    pub rate_limit_ipv6_prefix: u8,
    /// After SIGTERM/SIGINT: time `/health/ready` answers 503 while the listener still accepts
    /// and serves, so load balancers stop sending before connections are refused. 0 = none.
    #[arg(long, env = "SHUTDOWN_DRAIN_MS", default_value_t = 0)]
    pub shutdown_drain_ms: u64,
    /// Largest Trading API answer passed to the model; a longer one becomes a tool error.
    #[arg(long, env = "TRADING_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub trading_max_body_bytes: usize,
    /// Tool calls run per model turn; further ones in the same turn answer a tool error.
    #[arg(long, env = "MAX_TOOL_CALLS_PER_TURN", default_value_t = 16)]
    pub max_tool_calls_per_turn: usize,
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
