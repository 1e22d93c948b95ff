//! Pieces both mocks share: latency model, faults, live state, counters, admin routes and the
//! accept loop.

pub mod admin;
pub mod dates;
pub mod faults;
pub mod fnv;
pub mod latency;
pub mod live;
pub mod serve;
pub mod stats;

pub use faults::FaultSettings;
pub use latency::{LatencyDist, LatencySettings};
pub use stats::StatsSnapshot;
