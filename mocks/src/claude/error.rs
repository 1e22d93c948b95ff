//! Official error responses: `{"type":"error","error":{"type","message"},"request_id"}`.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Every error the mock Claude can answer, with the data its message needs.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401: missing or invalid credentials.
    #[error("{0}")]
    Authentication(String),
    /// 402: a billing or payment problem on the account.
    #[error("{0}")]
    Billing(String),
    /// 403: the key may not use this resource.
    #[error("{0}")]
    Permission(String),
    /// 404: unknown path or model.
    #[error("{0}")]
    NotFound(String),
    /// 413: the body exceeds the size cap.
    #[error("{0}")]
    RequestTooLarge(String),
    /// 429: an account limit was hit; retry after `retry_after` seconds.
    #[error("{message}")]
    RateLimit {
        /// Which limit, in words.
        message: String,
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// 500: an injected internal error.
    #[error("{0}")]
    Api(String),
    /// 504: the request took longer than the timeout.
    #[error("{0}")]
    Timeout(String),
    /// 529: the API is overloaded.
    #[error("{0}")]
    Overloaded(String),
}

impl ApiError {
    /// The HTTP status and the official `error.type`.
    pub fn status_and_type(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            ApiError::Authentication(_) => (StatusCode::UNAUTHORIZED, "authentication_error"),
            ApiError::Billing(_) => (StatusCode::PAYMENT_REQUIRED, "billing_error"),
            ApiError::Permission(_) => (StatusCode::FORBIDDEN, "permission_error"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found_error"),
            ApiError::RequestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
            ApiError::RateLimit { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            ApiError::Api(_) => (StatusCode::INTERNAL_SERVER_ERROR, "api_error"),
            ApiError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout_error"),
            ApiError::Overloaded(_) => (
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "overloaded_error",
            ),
        }
    }

    /// True for the errors a client may retry (429, 500, 504, 529).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimit { .. }
                | ApiError::Api(_)
                | ApiError::Timeout(_)
                | ApiError::Overloaded(_)
        )
    }

    /// The response: official body, `request-id`, `retry-after` on 429, `x-should-retry` when
    /// configured and retryable, plus `extra` headers (rate-limit state).
    pub fn render(
        self,
        request_id: &str,
        should_retry: Option<bool>,
        extra: HeaderMap,
    ) -> Response {
        let (status, kind) = self.status_and_type();
        let body = json!({
            "type": "error",
            "error": {"type": kind, "message": self.to_string()},
            "request_id": request_id,
        });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.extend(extra);
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("request-id", v);
        }
        if let ApiError::RateLimit { retry_after, .. } = &self {
            headers.insert("retry-after", HeaderValue::from(*retry_after));
        }
        if let (Some(flag), true) = (should_retry, self.is_retryable()) {
            headers.insert(
                "x-should-retry",
                HeaderValue::from_static(if flag { "true" } else { "false" }),
            );
        }
        response
    }
}
