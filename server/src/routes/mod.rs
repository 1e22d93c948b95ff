//! One module per endpoint.

pub mod analyze;
pub mod health;
pub mod metrics;
pub mod openapi;
