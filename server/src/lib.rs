//! analyze-server: the `/analyze` service with admission control (per-client rate limit, one
//! process-wide permit pool with a bounded FIFO queue), pooled upstream clients, retries and a
//! circuit breaker, health, Prometheus metrics and an OpenAPI document.
//!
//! Data flows one way: request → [`admission`] → [`agent`] → [`upstream`] → response.
//! [`app`] builds the router and [`serve`] runs it, so tests run the real server in-process.

pub mod admission;
pub mod agent;
pub mod config;
pub mod error;
pub mod http_layers;
pub mod idle;
pub mod instruments;
pub mod routes;
pub mod serve;
pub mod signals;
pub mod state;
pub mod tier;
pub mod upstream;

pub use config::{RawArgs, Settings};
pub use serve::serve;
pub use state::AppState;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;

/// The service's router, with every route and layer; the state carries all shared parts.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/analyze",
            post(routes::analyze::analyze).route_layer(from_fn_with_state(
                state.clone(),
                http_layers::enforce_rate_limit,
            )),
        )
        .route("/health", get(routes::health::health))
        .route("/health/ready", get(routes::health::ready))
        .route("/metrics", get(routes::metrics::metrics))
        .route("/openapi.json", get(routes::openapi::openapi))
        .fallback(http_layers::not_found)
        .method_not_allowed_fallback(http_layers::method_not_allowed)
        .layer(from_fn(http_layers::catch_panic))
        .layer(from_fn_with_state(
            state.clone(),
            http_layers::request_context,
        ))
        .layer(from_fn(http_layers::assign_request_id))
        .with_state(state)
}
