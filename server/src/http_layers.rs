//! Cross-cutting HTTP layers: request ids, the access log line (with an error's detail, which
//! the body leaves out) and request metrics, per-client rate limiting on `/analyze`, and JSON
//! answers for unknown routes and methods.

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::FutureExt;

use crate::admission::client_ip::{client_ip, rate_limit_key};
use crate::error::{AppError, ErrorCause, ErrorKind};
use crate::state::AppState;

/// What a finished analysis adds to its access-log line (set by the `/analyze` handler).
#[derive(Debug, Clone, Copy)]
pub struct AnalysisSummary {
    /// Time waiting for a permit.
    pub queue_ms: f64,
    /// Time holding the permit.
    pub upstream_ms: f64,
    /// Model calls made.
    pub turns: u32,
    /// Tool calls made.
    pub tool_calls: usize,
}

/// The request's id (incoming `x-request-id` when sane, else generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    ok.then(|| s.to_string())
}

/// Gives every request an id and echoes it in `x-request-id`.
pub async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(sane_request_id)
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// One log line and the request metrics per answered request.
pub async fn request_context(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let route = matched.clone().unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().clone();
    state.instruments.http_server_active(method.as_str(), 1.0);
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let client = client_ip(&request, &state.settings.admission.trusted_proxies);
    // hyper drops this future when the client hangs up; the guard still logs and counts it
    // (and ends the active request either way).
    let mut unanswered = ClientClosedGuard {
        state: state.clone(),
        route: route.clone(),
        matched: matched.clone(),
        method: method.clone(),
        request_id: request_id.clone(),
        client,
        started,
        answered: false,
    };
    let response = next.run(request).await;
    unanswered.answered = true;
    let took = started.elapsed();
    let status = response.status().as_u16();
    let error = response.extensions().get::<ErrorKind>().copied();
    state.instruments.request(&route, status, took);
    state
        .instruments
        .http_server_request(method.as_str(), matched.as_deref(), status, took);
    if let Some(reason) = error.and_then(|e| e.rejection) {
        state.instruments.rejection(reason);
    }
    let outcome = error.map_or("ok", |e| e.kind);
    // What the body leaves out (an upstream's URL and error): only here, beside the request id.
    let detail = response
        .extensions()
        .get::<ErrorCause>()
        .map(|c| c.0.as_str());
    let duration_ms = (took.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let summary = response.extensions().get::<AnalysisSummary>().copied();
    let (queue_ms, upstream_ms) = (summary.map(|s| s.queue_ms), summary.map(|s| s.upstream_ms));
    let (turns, tool_calls) = (
        summary.map(|s| s.turns),
        summary.map(|s| s.tool_calls as u64),
    );
    if route.starts_with("/health") || route == "/metrics" {
        tracing::debug!(%method, route, status, duration_ms, request_id, %client, outcome, "request");
    } else {
        tracing::info!(
            %method, route, status, duration_ms, request_id, %client, outcome,
            queue_ms, upstream_ms, turns, tool_calls, detail, "request"
        );
    }
    response
}

/// The status recorded for a request whose client hung up before the answer (nginx's 499).
pub const CLIENT_CLOSED_STATUS: u16 = 499;

/// Logs and counts a request whose handler was dropped before it answered: the client closed
/// the connection, so no response (and nothing after `next.run`) ever happens.
struct ClientClosedGuard {
    state: AppState,
    route: String,
    /// The route as matched (`None`: no route matched), for the OpenTelemetry `http_route`.
    matched: Option<String>,
    method: Method,
    request_id: String,
    client: IpAddr,
    started: Instant,
    answered: bool,
}

impl Drop for ClientClosedGuard {
    fn drop(&mut self) {
        self.state
            .instruments
            .http_server_active(self.method.as_str(), -1.0);
        if self.answered {
            return;
        }
        let took = self.started.elapsed();
        self.state
            .instruments
            .request(&self.route, CLIENT_CLOSED_STATUS, took);
        self.state.instruments.http_server_request(
            self.method.as_str(),
            self.matched.as_deref(),
            CLIENT_CLOSED_STATUS,
            took,
        );
        let duration_ms = (took.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        tracing::info!(
            method = %self.method, route = %self.route, status = CLIENT_CLOSED_STATUS, duration_ms,
            request_id = %self.request_id, client = %self.client, outcome = "client_closed", "request"
        );
    }
}

/// Charges the request to its client; 429 with Retry-After and RateLimit headers when over.
pub async fn enforce_rate_limit(
    State(state): State<AppState>,
    Extension(RequestId(id)): Extension<RequestId>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = &state.limiter else {
        return next.run(request).await;
    };
    let client = client_ip(&request, &state.settings.admission.trusted_proxies);
    match limiter.check(rate_limit_key(
        client,
        state.settings.admission.rate_limit_ipv6_prefix,
    )) {
        Ok(info) => {
            let mut response = next.run(request).await;
            for (name, value) in info.headers() {
                response.headers_mut().insert(name, value);
            }
            response
        }
        Err(refusal) => refusal.with_request_id(&id).into_response(),
    }
}

/// A panic below this layer becomes 500 `internal_error` JSON (with the request id) instead of
/// a dropped connection, and is logged with its message.
pub async fn catch_panic(request: Request, next: Next) -> Response {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(request_id = %id, panic = %message, "handler panicked");
            AppError::Internal {
                detail: format!("the request handler panicked: {message}"),
            }
            .with_request_id(&id)
            .into_response()
        }
    }
}

/// JSON 404.
pub async fn not_found(Extension(RequestId(id)): Extension<RequestId>, uri: Uri) -> Response {
    AppError::NotFound(uri.path().to_string())
        .with_request_id(&id)
        .into_response()
}

/// JSON 405.
pub async fn method_not_allowed(Extension(RequestId(id)): Extension<RequestId>) -> Response {
    AppError::MethodNotAllowed
        .with_request_id(&id)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::middleware::from_fn;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_internal_error_json() {
        let app = Router::new()
            .route("/boom", get(|| async { panic!("kaboom") as &'static str }))
            .layer(from_fn(catch_panic))
            .layer(from_fn(assign_request_id));
        let response = app
            .oneshot(
                Request::get("/boom")
                    .header("x-request-id", "req-1")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("answered");
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        assert!(
            !String::from_utf8_lossy(&body).contains("kaboom"),
            "the panic message is for the log"
        );
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"]["type"], "internal_error");
        assert_eq!(body["error"]["request_id"], "req-1");
    }
}
