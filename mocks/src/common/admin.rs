//! Routes every mock serves besides its API: `GET /__stats`, `POST /__admin/faults`,
//! `POST /__admin/reset`, and `GET /__settings`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::live::{Live, LiveSettings};

/// The admin routes for one mock, ready to merge into its router.
pub fn routes<T: LiveSettings>(live: Arc<Live<T>>) -> Router {
    Router::new()
        .route("/__stats", get(stats::<T>))
        .route("/__settings", get(settings::<T>))
        .route("/__admin/faults", post(faults::<T>))
        .route("/__admin/reset", post(reset::<T>))
        .with_state(live)
}

async fn stats<T: LiveSettings>(State(live): State<Arc<Live<T>>>) -> Response {
    Json(live.stats.snapshot()).into_response()
}

async fn settings<T: LiveSettings>(State(live): State<Arc<Live<T>>>) -> Response {
    Json(live.settings()).into_response()
}

async fn faults<T: LiveSettings>(State(live): State<Arc<Live<T>>>, body: Bytes) -> Response {
    let patch: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(format!("body is not valid JSON: {e}")),
    };
    match live.patch(&patch) {
        Ok(updated) => Json(updated).into_response(),
        Err(message) => admin_error(message),
    }
}

async fn reset<T: LiveSettings>(State(live): State<Arc<Live<T>>>) -> Response {
    live.reset();
    Json(live.stats.snapshot()).into_response()
}

fn admin_error(message: String) -> Response {
    let body = json!({"error": {"code": "bad_request", "message": message}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}
