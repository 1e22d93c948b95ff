//! Deterministic mock upstreams for load testing without a network or an API key:
//! a mock Claude Messages API and a mock Trading API, both startable in-process on port 0.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let trading = mocks::spawn_trading(mocks::TradingSettings::default()).await?;
//! let claude = mocks::spawn_claude(mocks::ClaudeSettings::default()).await?;
//! println!("{} {}", trading.url(), claude.url());
//! # Ok(()) }
//! ```

pub mod claude;
pub mod cli;
pub mod common;
mod handle;
pub mod trading;

pub use claude::{spawn_claude, ClaudeSettings};
pub use common::{FaultSettings, LatencyDist, LatencySettings, StatsSnapshot};
pub use handle::MockHandle;
pub use trading::{spawn_trading, TradingSettings};
