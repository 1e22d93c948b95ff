//! Admission control, applied in this order: per-IP connection cap ([`connection_cap`], at
//! accept), per-client rate limit ([`rate_limit`], keyed by [`client_ip`]), then the process-wide
//! permit pool with its bounded FIFO queue ([`concurrency`]) whose limit [`limit`] moves;
//! [`retry_after`] turns their state into retry guidance.

pub mod client_ip;
pub mod concurrency;
pub mod connection_cap;
pub mod limit;
pub mod rate_limit;
pub mod retry_after;
