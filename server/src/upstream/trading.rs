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
}

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
        })
    }

    /// Legacy: a fresh client per call.
    pub fn per_call(base_url: &str, timeout: Duration, instruments: Arc<Instruments>) -> Self {
        TradingClient {
            connections: Connections::PerCall,
            base_url: base_url.to_string(),
            timeout,
            instruments,
        }
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
        let body = response
            .text()
            .await
            .map_err(TradingFailure::from_reqwest)?;
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

enum TradingFailure {
    Status(u16, String),
    Timeout,
    Network(String),
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
        }
    }
}
