//! Router of the mock Claude: request ids on every response, official 404s, admin routes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use super::error::ApiError;
use super::handler::{count_tokens, messages};
use super::script::request_id;
use super::ClaudeState;
use crate::common::admin;
use crate::common::stats::track;

/// The id of the current request (`request-id` header and error bodies).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub(crate) fn router(state: Arc<ClaudeState>) -> Router {
    let api = Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), assign_request_id))
        .with_state(state.clone());
    let usage = Router::new()
        .route("/__usage", get(usage))
        .with_state(state.clone());
    admin::routes(state.live.clone())
        .merge(usage)
        .merge(api)
        .layer(from_fn_with_state(state.live.stats.clone(), track))
}

/// `GET /__usage`: what the account has been charged (requests, input and output tokens, net
/// of refunds) and the model calls in flight, so tests can assert exact token accounting.
async fn usage(State(state): State<Arc<ClaudeState>>) -> Json<super::limits::Usage> {
    Json(state.tier.usage())
}

async fn assign_request_id(
    State(state): State<Arc<ClaudeState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let seed = state.live.settings().seed;
    let id = request_id(seed, state.live.next_request_number());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().entry("request-id").or_insert(v);
    }
    response
}

async fn not_found(Extension(id): Extension<RequestId>, req: Request) -> Response {
    let message = format!("Not found: {} {}", req.method(), req.uri().path());
    ApiError::NotFound(message).render(&id.0, None, HeaderMap::new())
}

async fn method_not_allowed(Extension(id): Extension<RequestId>, req: Request) -> Response {
    let message = format!(
        "Method {} is not allowed on {}",
        req.method(),
        req.uri().path()
    );
    let mut response = ApiError::InvalidRequest(message).render(&id.0, None, HeaderMap::new());
    *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    response
}
