//! The mock Trading API: quotes, daily history and market status, deterministic from
//! (symbol, seed), with connection-level costs (connect delay, connection cap).

pub mod data;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::common::live::{Live, LiveSettings};
use crate::common::serve::ConnectionRules;
use crate::common::{FaultSettings, LatencySettings};
use crate::handle::{start, MockHandle, ServerParts};

/// Everything the mock Trading API can be told; the same names in flags, TOML and admin JSON.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct TradingSettings {
    /// Seed for the market data and every random draw.
    pub seed: u64,
    /// Interface to bind.
    pub host: String,
    /// Port to bind (0 = any free port).
    pub port: u16,
    /// Added latency per request.
    #[serde(flatten)]
    pub latency: LatencySettings,
    /// Injected failures.
    #[serde(flatten)]
    pub faults: FaultSettings,
    /// Paid once per new TCP connection before its first response, like a TLS handshake.
    pub connect_delay_ms: u64,
    /// Open connections allowed at once (0 = unlimited); more are reset at once.
    pub max_connections: u64,
}

impl Default for TradingSettings {
    fn default() -> Self {
        TradingSettings {
            seed: 42,
            host: "127.0.0.1".into(),
            port: 0,
            latency: LatencySettings::default(),
            faults: FaultSettings::default(),
            connect_delay_ms: 0,
            max_connections: 0,
        }
    }
}

impl LiveSettings for TradingSettings {
    fn seed(&self) -> u64 {
        self.seed
    }

    fn validate(&self) -> Result<(), String> {
        self.latency.validate()?;
        self.faults.validate()
    }
}

/// Starts the mock Trading API on `settings.host:settings.port` and serves until shut down.
pub async fn spawn_trading(settings: TradingSettings) -> std::io::Result<MockHandle> {
    settings
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (host, port) = (settings.host.clone(), settings.port);
    let live = Arc::new(Live::new(settings, Box::new(|| {})));
    let rules_live = live.clone();
    start(ServerParts {
        host,
        port,
        router: routes::router(live.clone()),
        stats: live.stats.clone(),
        rules: Arc::new(move || {
            let s = rules_live.settings();
            ConnectionRules {
                connect_delay: Duration::from_millis(s.connect_delay_ms),
                max_connections: s.max_connections,
            }
        }),
        control: live,
    })
    .await
}
