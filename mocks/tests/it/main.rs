//! The mocks' integration tests, one binary with a module per concern: each file under `tests/`
//! used to be its own binary linking tokio, axum, hyper and reqwest, and linking them thirteen
//! times dominated `cargo test -p mocks`.
//!
//! None is kept apart, because none needs a process of its own: no test sets this process's
//! environment or installs a process-wide global, and every mock is an in-process handle on port
//! 0 with its own counters. `cli` passes flags and sends SIGTERM only to the `mocks` child it
//! spawns.

mod support;

mod admin;
mod cli;
mod concurrent_determinism;
mod connections;
mod conversation;
mod determinism;
mod errors;
mod fixtures_shapes;
mod latency;
mod limits;
mod provider_rules;
mod streaming;
mod trading_api;
