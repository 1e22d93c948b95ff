//! Flags of the `mocks` binary; every flag can also come from the env var shown in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::LatencyDist;

/// Deterministic mock upstreams: a mock Claude Messages API and a mock Trading API.
#[derive(Parser, Debug)]
#[command(name = "mocks", version, about)]
pub struct Cli {
    /// Which mock(s) to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The three ways to run.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the mock Claude Messages API (default port 9100).
    Claude(ClaudeCmd),
    /// Run the mock Trading API (default port 9200).
    Trading(TradingCmd),
    /// Run both mocks in one process.
    All(AllCmd),
}

/// `mocks claude`.
#[derive(Args, Debug)]
pub struct ClaudeCmd {
    /// Port to listen on [default: 9100, or the profile's].
    #[arg(long, env = "CLAUDE_MOCK_PORT")]
    pub port: Option<u16>,
    /// Settings both mocks share.
    #[command(flatten)]
    pub shared: SharedFlags,
    /// Settings of the mock Claude.
    #[command(flatten)]
    pub claude: ClaudeFlags,
}

/// `mocks trading`.
#[derive(Args, Debug)]
pub struct TradingCmd {
    /// Port to listen on [default: 9200, or the profile's].
    #[arg(long, env = "TRADING_MOCK_PORT")]
    pub port: Option<u16>,
    /// Settings both mocks share.
    #[command(flatten)]
    pub shared: SharedFlags,
    /// Settings of the mock Trading API.
    #[command(flatten)]
    pub trading: TradingFlags,
}

/// `mocks all`: shared flags apply to both mocks.
#[derive(Args, Debug)]
pub struct AllCmd {
    /// Port of the mock Claude [default: 9100, or the profile's].
    #[arg(long, env = "CLAUDE_MOCK_PORT")]
    pub claude_port: Option<u16>,
    /// Port of the mock Trading API [default: 9200, or the profile's].
    #[arg(long, env = "TRADING_MOCK_PORT")]
    pub trading_port: Option<u16>,
    /// Settings both mocks share.
    #[command(flatten)]
    pub shared: SharedFlags,
    /// Settings of the mock Claude.
    #[command(flatten)]
    pub claude: ClaudeFlags,
    /// Settings of the mock Trading API.
    #[command(flatten)]
    pub trading: TradingFlags,
}

/// Latency distribution names on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum DistArg {
    /// Always the mean.
    Fixed,
    /// Uniform around the mean.
    Uniform,
    /// Lognormal with the given mean.
    Lognormal,
}

impl From<DistArg> for LatencyDist {
    fn from(d: DistArg) -> Self {
        match d {
            DistArg::Fixed => LatencyDist::Fixed,
            DistArg::Uniform => LatencyDist::Uniform,
            DistArg::Lognormal => LatencyDist::Lognormal,
        }
    }
}

/// Flags both mocks understand. Unset flags leave the profile's (or default) value.
#[derive(Args, Debug, Default)]
pub struct SharedFlags {
    /// Interface to bind [default: 127.0.0.1].
    #[arg(long, env = "MOCK_HOST")]
    pub host: Option<String>,
    /// Seed for data, ids and every random draw [default: 42].
    #[arg(long, env = "MOCK_SEED")]
    pub seed: Option<u64>,
    /// TOML profile with [claude] and [trading] tables of settings; flags override it.
    #[arg(long, env = "MOCK_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Mean added latency per request, ms.
    #[arg(long, env = "MOCK_LATENCY_MS")]
    pub latency_ms: Option<u64>,
    /// Latency distribution.
    #[arg(long, env = "MOCK_LATENCY_DIST", value_enum)]
    pub latency_dist: Option<DistArg>,
    /// Latency spread as a fraction of the mean (uniform half-width / lognormal CV).
    #[arg(long, env = "MOCK_LATENCY_JITTER")]
    pub latency_jitter: Option<f64>,
    /// Fraction of requests answered 500.
    #[arg(long, env = "MOCK_ERROR_RATE")]
    pub error_rate: Option<f64>,
    /// Fraction of requests that stall for --stall-ms.
    #[arg(long, env = "MOCK_STALL_RATE")]
    pub stall_rate: Option<f64>,
    /// Stall length, ms.
    #[arg(long, env = "MOCK_STALL_MS")]
    pub stall_ms: Option<u64>,
    /// Fraction of requests whose connection is reset without a response.
    #[arg(long, env = "MOCK_RESET_RATE")]
    pub reset_rate: Option<f64>,
}

/// Flags of the mock Claude.
#[derive(Args, Debug, Default)]
pub struct ClaudeFlags {
    /// Time to first token, ms.
    #[arg(long, env = "CLAUDE_MOCK_TTFT_MS")]
    pub ttft_ms: Option<u64>,
    /// Output tokens per second after the first token (0 = instant).
    #[arg(long, env = "CLAUDE_MOCK_TOKENS_PER_SEC")]
    pub tokens_per_sec: Option<f64>,
    /// Median output tokens of the final analysis of a one-ticker, short question, drawn per
    /// request from a lognormal that grows with tickers and question (0 = the fixed script).
    #[arg(long, env = "CLAUDE_MOCK_REPLY_TOKENS_MEDIAN")]
    pub reply_tokens_median: Option<u64>,
    /// Sigma of that lognormal (0 to 3; 0 = always the scaled median).
    #[arg(long, env = "CLAUDE_MOCK_REPLY_TOKENS_SIGMA")]
    pub reply_tokens_sigma: Option<f64>,
    /// Tickers the model looks up per turn (0 = all in the first turn): more tickers, more
    /// model calls per analysis.
    #[arg(long, env = "CLAUDE_MOCK_SYMBOLS_PER_TURN")]
    pub symbols_per_turn: Option<u64>,
    /// Model calls in flight at once (0 = unlimited); more get 429.
    #[arg(long, env = "CLAUDE_MOCK_MAX_CONCURRENT")]
    pub max_concurrent: Option<u64>,
    /// Requests per minute (token bucket refilled continuously; 0 = unlimited).
    #[arg(long, env = "CLAUDE_MOCK_RPM")]
    pub rpm: Option<u64>,
    /// Input tokens per minute (token bucket; 0 = unlimited).
    #[arg(long, env = "CLAUDE_MOCK_ITPM")]
    pub itpm: Option<u64>,
    /// Output tokens per minute (token bucket charged as tokens are produced; 0 = unlimited).
    #[arg(long, env = "CLAUDE_MOCK_OTPM")]
    pub otpm: Option<u64>,
    /// Concurrent generations served at full speed; above it 529s grow with the excess and
    /// speed degrades (0 = never overloaded).
    #[arg(long, env = "CLAUDE_MOCK_CAPACITY")]
    pub capacity: Option<u64>,
    /// Fraction of requests answered 529 overloaded_error whatever the load.
    #[arg(long, env = "CLAUDE_MOCK_OVERLOAD_RATE")]
    pub overload_rate: Option<f64>,
    /// Fraction of requests answered 402 billing_error.
    #[arg(long, env = "CLAUDE_MOCK_BILLING_ERROR_RATE")]
    pub billing_error_rate: Option<f64>,
    /// Fraction of streams that get an error event after the 200.
    #[arg(long, env = "CLAUDE_MOCK_STREAM_ERROR_RATE")]
    pub stream_error_rate: Option<f64>,
    /// Index of the stream event the error event replaces (0 = message_start) [default: 3].
    #[arg(long, env = "CLAUDE_MOCK_STREAM_ERROR_EVENT")]
    pub stream_error_event: Option<u64>,
    /// Where a stream stalls: 0 before the headers, i before event i [default: 0].
    #[arg(long, env = "CLAUDE_MOCK_STALL_EVENT")]
    pub stall_event: Option<u64>,
    /// TOML file of `"model-id" = max_tokens` lines added to the known models.
    #[arg(long, env = "CLAUDE_MOCK_MODELS")]
    pub models: Option<PathBuf>,
    /// Send `x-should-retry: true|false` on 429/500/504/529.
    #[arg(long, env = "CLAUDE_MOCK_SHOULD_RETRY")]
    pub should_retry: Option<bool>,
    /// Answer 504 timeout_error when a reply would take longer, ms (0 = never).
    #[arg(long, env = "CLAUDE_MOCK_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Request bodies above this many bytes get 413 [default: 33554432].
    #[arg(long, env = "CLAUDE_MOCK_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<u64>,
}

/// Flags of the mock Trading API.
#[derive(Args, Debug, Default)]
pub struct TradingFlags {
    /// Delay paid once per new TCP connection before its first response, ms.
    #[arg(long, env = "TRADING_MOCK_CONNECT_DELAY_MS")]
    pub connect_delay_ms: Option<u64>,
    /// Open connections allowed at once (0 = unlimited); more are reset.
    #[arg(long, env = "TRADING_MOCK_MAX_CONNECTIONS")]
    pub max_connections: Option<u64>,
}

fn put<T: Serialize>(map: &mut Map<String, Value>, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        if let Ok(v) = serde_json::to_value(v) {
            map.insert(key.to_string(), v);
        }
    }
}

impl SharedFlags {
    /// The flags that were given, as flat setting overrides.
    pub fn overrides(&self) -> Map<String, Value> {
        let mut m = Map::new();
        put(&mut m, "host", &self.host);
        put(&mut m, "seed", &self.seed);
        put(&mut m, "latency_ms", &self.latency_ms);
        put(
            &mut m,
            "latency_dist",
            &self.latency_dist.map(LatencyDist::from),
        );
        put(&mut m, "latency_jitter", &self.latency_jitter);
        put(&mut m, "error_rate", &self.error_rate);
        put(&mut m, "stall_rate", &self.stall_rate);
        put(&mut m, "stall_ms", &self.stall_ms);
        put(&mut m, "reset_rate", &self.reset_rate);
        m
    }
}

impl ClaudeFlags {
    /// The flags that were given, as flat setting overrides; reads the `--models` file.
    pub fn overrides(&self) -> Result<Map<String, Value>, String> {
        let mut m = Map::new();
        if let Some(path) = &self.models {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read models file {}: {e}", path.display()))?;
            let models = crate::claude::models::parse_file(&text)
                .map_err(|e| format!("invalid models file {}: {e}", path.display()))?;
            put(&mut m, "models", &Some(models));
        }
        put(&mut m, "ttft_ms", &self.ttft_ms);
        put(&mut m, "tokens_per_sec", &self.tokens_per_sec);
        put(&mut m, "reply_tokens_median", &self.reply_tokens_median);
        put(&mut m, "reply_tokens_sigma", &self.reply_tokens_sigma);
        put(&mut m, "symbols_per_turn", &self.symbols_per_turn);
        put(&mut m, "max_concurrent", &self.max_concurrent);
        put(&mut m, "rpm", &self.rpm);
        put(&mut m, "itpm", &self.itpm);
        put(&mut m, "otpm", &self.otpm);
        put(&mut m, "capacity", &self.capacity);
        put(&mut m, "overload_rate", &self.overload_rate);
        put(&mut m, "billing_error_rate", &self.billing_error_rate);
        put(&mut m, "stream_error_rate", &self.stream_error_rate);
        put(&mut m, "stream_error_event", &self.stream_error_event);
        put(&mut m, "stall_event", &self.stall_event);
        put(&mut m, "should_retry", &self.should_retry);
        put(&mut m, "request_timeout_ms", &self.request_timeout_ms);
        put(&mut m, "max_body_bytes", &self.max_body_bytes);
        Ok(m)
    }
}

impl TradingFlags {
    /// The flags that were given, as flat setting overrides.
    pub fn overrides(&self) -> Map<String, Value> {
        let mut m = Map::new();
        put(&mut m, "connect_delay_ms", &self.connect_delay_ms);
        put(&mut m, "max_connections", &self.max_connections);
        m
    }
}
