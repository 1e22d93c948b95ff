//! `loadgen`: a load generator for capacity planning. Closed-loop concurrency ramps and open-loop
//! rate steps, HdrHistograms per step, CSV/JSON/time-series output, an SLO gate for CI.
//!
//! Data flows one way: [`cli`] → [`config`] (the flags validated once: [`plan`], the gate, the
//! output paths) → [`engine`] → [`record`] → [`sinks`] → [`gate`]. A [`session`] is one run of
//! that pipeline, shared by `ramp`/`run` and `find-capacity`, closing through [`outputs`] (as
//! `merge` does) and stopped by [`signals`]; the [`commands`] are what `main` dispatches to, once.
//! `make lint` (`scripts/check_layers.py`) keeps the top-level modules free of import circles. [`error`] holds the errors and their exit
//! codes: 0 all objectives hold, 1 an objective failed, 2 usage or configuration error, 3 target
//! unreachable before the run, 130/143 interrupted by SIGINT/SIGTERM. The capacity report is the
//! `report` crate, which also owns the CSV [`row`] schema and the [`slo`] grammar.

pub mod arrivals;
pub mod bodies;
pub mod capacity;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod gate;
pub mod hints;
pub mod instance;
pub mod live;
pub mod merge;
pub mod outputs;
pub mod plan;
pub mod record;
pub mod scrape;
pub mod session;
pub mod signals;
pub mod sinks;
pub mod target_proc;
pub mod think;

/// The CSV row schema loadgen writes and the report reads: owned by the `report` crate, so the
/// two crates share it without depending on each other both ways.
pub use report::row;
/// The `--slo` grammar, shared with the report the same way; [`gate`] checks it on step results.
pub use report::slo;
