//! analyze-server's integration tests, one binary with a module per concern: each file under
//! `tests/` used to be its own binary linking tokio, axum, hyper, reqwest and wiremock, and
//! linking them fifteen times dominated `cargo test`.
//!
//! None is kept apart, because none needs a process of its own: no test sets this process's
//! environment or installs a process-wide global (the metrics recorder lives in `AppState`; no
//! test installs a global tracing subscriber or a signal handler: `error_bodies` captures logs
//! with a subscriber that is only its own thread's default). `binary` sets variables and sends
//! SIGTERM only to the `analyze-server` child it spawns.

mod support;

mod admission;
mod analysis_spread;
mod bad_input;
mod binary;
mod client_closed;
mod drain;
mod end_to_end;
mod error_bodies;
mod hostile_connections;
mod limits;
mod openapi_contract;
mod properties;
mod retry_guidance;
mod standard_signals;
mod trusted_proxies;
mod upstream_limits;
mod upstream_protection;
mod wire_format;
