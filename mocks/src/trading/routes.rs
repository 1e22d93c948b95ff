//! HTTP surface of the mock Trading API and its JSON errors.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::data::{self, MAX_HISTORY_DAYS, UNIVERSE};
use super::TradingSettings;
use crate::common::admin;
use crate::common::fnv::{fnv1a, request_key};
use crate::common::live::Live;
use crate::common::serve::ConnectionReset;
use crate::common::stats::track;

type Shared = Arc<Live<TradingSettings>>;

/// Everything the Trading API can answer besides data.
#[derive(Debug, thiserror::Error)]
pub enum TradingError {
    /// The symbol is not in the fixed universe.
    #[error("unknown symbol: {0}")]
    UnknownSymbol(String),
    /// A query parameter is invalid.
    #[error("{0}")]
    BadParameter(String),
    /// No such route.
    #[error("no route for {0}")]
    NoRoute(String),
    /// An injected fault (`error_rate`).
    #[error("injected fault: internal error")]
    Injected,
}

impl IntoResponse for TradingError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            TradingError::UnknownSymbol(_) => (StatusCode::NOT_FOUND, "unknown_symbol"),
            TradingError::BadParameter(_) => (StatusCode::BAD_REQUEST, "bad_parameter"),
            TradingError::NoRoute(_) => (StatusCode::NOT_FOUND, "not_found"),
            TradingError::Injected => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        };
        let body = json!({"error": {"code": code, "message": self.to_string()}});
        (status, Json(body)).into_response()
    }
}

/// The full router: API routes behind faults and latency, admin routes, counters around all.
pub fn router(live: Shared) -> Router {
    let api = Router::new()
        .route("/v1/quotes/{symbol}", get(get_quote))
        .route("/v1/history/{symbol}", get(get_history))
        .route("/v1/market/status", get(get_market_status))
        .route("/v1/symbols", get(get_symbols))
        .fallback(no_route)
        .layer(from_fn_with_state(live.clone(), faults_and_latency))
        .with_state(live.clone());
    admin::routes(live.clone())
        .merge(api)
        .layer(from_fn_with_state(live.stats.clone(), track))
}

/// Draws latency and faults once per request from the request's own RNG, keyed by (seed,
/// method and path with query, occurrence), so concurrent runs replay whatever the interleaving.
async fn faults_and_latency(State(live): State<Shared>, req: Request, next: Next) -> Response {
    let settings = live.settings();
    let target = format!("{} {}", req.method(), req.uri());
    let fingerprint = fnv1a(target.as_bytes());
    let occurrence = live.next_occurrence(fingerprint);
    let mut rng = ChaCha8Rng::seed_from_u64(request_key(settings.seed, fingerprint, occurrence));
    let (delay, fault) = (
        settings.latency.sample(&mut rng),
        settings.faults.draw(&mut rng),
    );
    if fault.reset {
        if let Some(reset) = req.extensions().get::<ConnectionReset>().cloned() {
            reset.reset_now().await;
        }
    }
    let wait = delay.saturating_add(fault.stall);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if fault.error {
        return TradingError::Injected.into_response();
    }
    next.run(req).await
}

async fn get_quote(State(live): State<Shared>, Path(symbol): Path<String>) -> Response {
    match data::quote(&symbol, live.settings().seed) {
        Some(q) => Json(q).into_response(),
        None => TradingError::UnknownSymbol(symbol).into_response(),
    }
}

async fn get_history(
    State(live): State<Shared>,
    Path(symbol): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let days = match query.get("days").map(|d| d.parse::<usize>()) {
        None => 30,
        Some(Ok(d)) if (1..=MAX_HISTORY_DAYS).contains(&d) => d,
        Some(_) => {
            let given = query.get("days").cloned().unwrap_or_default();
            return TradingError::BadParameter(format!(
                "days must be an integer from 1 to {MAX_HISTORY_DAYS}, got {given:?}"
            ))
            .into_response();
        }
    };
    match data::history(&symbol, days, live.settings().seed) {
        Some(h) => Json(h).into_response(),
        None => TradingError::UnknownSymbol(symbol).into_response(),
    }
}

async fn get_market_status(State(live): State<Shared>) -> Response {
    Json(data::market_status(live.settings().seed)).into_response()
}

async fn get_symbols() -> Response {
    let symbols: Vec<_> = UNIVERSE
        .iter()
        .map(|(s, n)| json!({"symbol": s, "name": n}))
        .collect();
    Json(json!({ "symbols": symbols })).into_response()
}

async fn no_route(req: Request) -> Response {
    TradingError::NoRoute(format!("{} {}", req.method(), req.uri().path())).into_response()
}
