//! The Trading API client. Pooled mode shares one keep-alive `reqwest::Client` built at start-up;
//! legacy mode builds a new client (a new connection) for every call, as the pre-ticket service did.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::instruments::Instruments;

const API: &str = "trading";

/// How connections are managed.
#[derive(Debug, Clone)]
enum Connections {
    Pooled(reqwest::Client),
    PerCall,
}

/// Trading API client.
#[derive(Debug, Clone)]
pub struct TradingClient {
    connections: Connections,
    base_url: String,
    timeout: Duration,
    instruments: Arc<Instruments>,
    max_body_bytes: usize,
}

/// Trading API answers larger than this are not passed to the model (`TRADING_MAX_BODY_BYTES`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

impl TradingClient {
    /// A pooled client keeping up to `max_idle_per_host` idle connections.
    pub fn pooled(
        base_url: &str,
        max_idle_per_host: usize,
        timeout: Duration,
        instruments: Arc<Instruments>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(2).min(timeout))
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(TradingClient {
            connections: Connections::Pooled(client),
            base_url: base_url.to_string(),
            timeout,
            instruments,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// Legacy: a fresh client per call.
    pub fn per_call(base_url: &str, timeout: Duration, instruments: Arc<Instruments>) -> Self {
        TradingClient {
            connections: Connections::PerCall,
            base_url: base_url.to_string(),
            timeout,
            instruments,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Caps the body read from one answer; a longer answer fails the call.
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// GET `path_and_query`; the body text on 2xx, else a message the model can read.
    pub async fn get(&self, path_and_query: &str) -> Result<String, String> {
        let started = Instant::now();
        let result = self.fetch(path_and_query).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(TradingFailure::Status(..)) => "error",
            Err(TradingFailure::Timeout) => "timeout",
            Err(TradingFailure::Network(_)) => "network_error",
            Err(TradingFailure::TooLarge(_)) => "body_too_large",
        };
        self.instruments
            .upstream_call(API, outcome, started.elapsed());
        result.map_err(|failure| failure.describe(path_and_query, self.timeout))
    }

    async fn fetch(&self, path_and_query: &str) -> Result<String, TradingFailure> {
        let url = format!("{}{}", self.base_url, path_and_query);
        let client = match &self.connections {
            Connections::Pooled(client) => client.clone(),
            Connections::PerCall => reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(self.timeout)
                .build()
                .map_err(|e| TradingFailure::Network(e.to_string()))?,
        };
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(TradingFailure::from_reqwest)?;
        let status = response.status();
        let body = read_capped(response, self.max_body_bytes).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(TradingFailure::Status(
                status.as_u16(),
                body.chars().take(200).collect(),
            ))
        }
    }
}

/// Reads at most `limit` bytes, chunk by chunk, so an endless or huge answer costs no more
/// memory than the cap (and never reaches the model's context).
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<String, TradingFailure> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(TradingFailure::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(TradingFailure::from_reqwest)?
    {
        if body.len() + chunk.len() > limit {
            return Err(TradingFailure::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

enum TradingFailure {
    Status(u16, String),
    Timeout,
    Network(String),
    TooLarge(usize),
}

impl TradingFailure {
    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            TradingFailure::Timeout
        } else {
            TradingFailure::Network(e.to_string())
        }
    }

    fn describe(self, path: &str, timeout: Duration) -> String {
        match self {
            TradingFailure::Status(status, body) => {
                format!("Trading API returned HTTP {status} for {path}: {body}")
            }
            TradingFailure::Timeout => format!(
                "Trading API did not answer {path} within {} ms",
                timeout.as_millis()
            ),
            TradingFailure::Network(e) => format!("Trading API unreachable for {path}: {e}"),
            TradingFailure::TooLarge(limit) => {
                format!("Trading API answer for {path} is larger than {limit} bytes; not used")
            }
        }
    }
}
