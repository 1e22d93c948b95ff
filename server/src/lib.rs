//! analyze-server: the `/analyze` service with admission control (per-client rate limit, one
//! process-wide permit pool with a bounded FIFO queue), pooled upstream clients, retries and a
//! circuit breaker, health, Prometheus metrics and an OpenAPI document.
//!
//! Data flows one way: request → [`admission`] → [`agent`] → [`upstream`] → response.
//! [`app`] builds the router and [`serve()`] runs it, so tests run the real server in-process.
//!
//! The modules are declared in layers, lowest first: a module imports only from the groups
//! declared before its own, never from a later one (`scripts/check_layers.py`, run by
//! `make lint`, fails on an import circle). The one reach upward is `serve`, which runs [`app`].

// Vocabulary every layer shares: the error type, what a model call reports, the tier's budgets,
// a connection's activity.
pub mod error;
pub mod idle;
pub mod signals;
pub mod tier;

// Recording and refusing: the metrics, and admission control (it learns from `signals`).
pub mod admission;
pub mod instruments;

// The upstream clients, and the settings (which parse admission's trusted proxies).
pub mod config;
pub mod upstream;

// The tool-use loop over the upstream clients.
pub mod agent;

// Everything requests share, built from the settings.
pub mod state;

// The middleware around every route: request ids, the access log, the per-client rate limit.
pub mod http_layers;

// The endpoints, and the server that runs `app` over them.
pub mod routes;
pub mod serve;

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
