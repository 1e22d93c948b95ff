//! What the report reads: the CSV row schema, the SLO grammar, the run's files (rows, JSON,
//! time series, --scrape windows) and the server's /metrics snapshot. The lowest layer: it
//! imports no other of the report's layers.

pub mod histogram;
pub mod row;
pub mod run;
pub mod server;
pub mod slo;

#[cfg(test)]
pub(crate) mod fixture;
