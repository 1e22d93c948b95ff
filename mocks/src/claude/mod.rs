//! The mock Claude Messages API: `POST /v1/messages` with the official shapes, a deterministic
//! tool-use conversation, a token-paced latency model, account limits and faults.

pub mod api;
pub mod bucket;
pub mod error;
mod handler;
pub mod limits;
pub mod models;
pub mod overload;
pub mod plan;
pub mod request;
mod routes;
pub mod script;
pub mod sse;
pub mod tool_rules;
pub mod validate;
pub mod verbosity;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::common::faults::check_rate;
use crate::common::live::{Live, LiveSettings};
use crate::common::serve::ConnectionRules;
use crate::common::{FaultSettings, LatencySettings};
use crate::handle::{start, MockHandle, ServerParts};
use limits::Tier;

/// Default request body cap: 32 MB, as the official API.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// Everything the mock Claude can be told; the same names in flags, TOML and admin JSON.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct ClaudeSettings {
    /// Seed for ids and every random draw.
    pub seed: u64,
    /// Interface to bind.
    pub host: String,
    /// Port to bind (0 = any free port).
    pub port: u16,
    /// Added latency per request (network and queueing, before the model starts).
    #[serde(flatten)]
    pub latency: LatencySettings,
    /// Injected failures (`error_rate` answers 500 `api_error`).
    #[serde(flatten)]
    pub faults: FaultSettings,
    /// How replies vary: analysis length distribution, tickers looked up per turn.
    #[serde(flatten)]
    pub verbosity: verbosity::Verbosity,
    /// Time to first token, in milliseconds.
    pub ttft_ms: u64,
    /// Output speed; the reply takes `output_tokens / tokens_per_sec` after the first token
    /// (0 = instant).
    pub tokens_per_sec: f64,
    /// Model calls in flight at once (0 = unlimited); more get 429.
    pub max_concurrent: u64,
    /// Requests per minute, a token bucket refilled continuously (0 = unlimited).
    pub rpm: u64,
    /// Input tokens per minute, a token bucket refilled continuously (0 = unlimited).
    pub itpm: u64,
    /// Output tokens per minute, a token bucket charged as tokens are produced (0 = unlimited).
    pub otpm: u64,
    /// Concurrent generations the backend serves at full speed (0 = never overloaded); above
    /// it new calls get 529 with a probability growing with the excess and speed degrades
    /// (see [`overload`]).
    pub capacity: u64,
    /// Fraction of admitted requests answered 529 `overloaded_error`, whatever the load.
    pub overload_rate: f64,
    /// Fraction of admitted requests answered 402 `billing_error`.
    pub billing_error_rate: f64,
    /// Fraction of streams that send an `overloaded_error` event after the 200.
    pub stream_error_rate: f64,
    /// Index of the stream event (0 = `message_start`) the error event replaces; later events
    /// are not sent. The default 3 puts it right after the first block start and its ping.
    pub stream_error_event: u64,
    /// Where a stall (`stall_rate`, `stall_ms`) happens in a stream: 0 before the headers,
    /// i > 0 before event i. Non-streaming requests always stall before answering.
    pub stall_event: u64,
    /// Extra model ids and their `max_tokens` ceilings, added to the built-in list
    /// ([`models::KNOWN`]); `--models FILE` fills it.
    pub models: BTreeMap<String, u64>,
    /// `x-should-retry` value sent on 429/500/504/529 (absent when unset).
    pub should_retry: Option<bool>,
    /// Answer 504 `timeout_error` when a reply would take longer than this (0 = never).
    pub request_timeout_ms: u64,
    /// Bodies larger than this get 413 `request_too_large`.
    pub max_body_bytes: u64,
}

impl Default for ClaudeSettings {
    fn default() -> Self {
        ClaudeSettings {
            seed: 42,
            host: "127.0.0.1".into(),
            port: 0,
            latency: LatencySettings::default(),
            faults: FaultSettings::default(),
            verbosity: verbosity::Verbosity::default(),
            ttft_ms: 0,
            tokens_per_sec: 0.0,
            max_concurrent: 0,
            rpm: 0,
            itpm: 0,
            otpm: 0,
            capacity: 0,
            overload_rate: 0.0,
            billing_error_rate: 0.0,
            stream_error_rate: 0.0,
            stream_error_event: 3,
            stall_event: 0,
            models: BTreeMap::new(),
            should_retry: None,
            request_timeout_ms: 0,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl LiveSettings for ClaudeSettings {
    fn seed(&self) -> u64 {
        self.seed
    }

    fn validate(&self) -> Result<(), String> {
        self.latency.validate()?;
        self.faults.validate()?;
        self.verbosity.validate()?;
        check_rate("overload_rate", self.overload_rate)?;
        check_rate("stream_error_rate", self.stream_error_rate)?;
        check_rate("billing_error_rate", self.billing_error_rate)?;
        if !self.tokens_per_sec.is_finite() || self.tokens_per_sec < 0.0 {
            return Err(format!(
                "tokens_per_sec must be a finite number >= 0, got {}",
                self.tokens_per_sec
            ));
        }
        Ok(())
    }
}

/// Runtime state of the mock Claude.
pub(crate) struct ClaudeState {
    pub live: Arc<Live<ClaudeSettings>>,
    pub tier: Arc<Tier>,
}

/// Starts the mock Claude on `settings.host:settings.port` and serves until shut down.
pub async fn spawn_claude(settings: ClaudeSettings) -> std::io::Result<MockHandle> {
    settings
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (host, port) = (settings.host.clone(), settings.port);
    let tier = Arc::new(Tier::default());
    let on_reset = {
        let tier = tier.clone();
        Box::new(move || tier.clear())
    };
    let live = Arc::new(Live::new(settings, on_reset));
    let state = Arc::new(ClaudeState {
        live: live.clone(),
        tier,
    });
    start(ServerParts {
        host,
        port,
        router: routes::router(state),
        stats: live.stats.clone(),
        rules: Arc::new(ConnectionRules::default),
        control: live,
    })
    .await
}
