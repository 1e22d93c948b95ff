//! The one place that turns any failure into an HTTP status and the JSON error body
//! `{"error": {"type", "message", "retry_after_s", "request_id"}}`.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

use crate::admission::retry_after::whole_seconds;

/// What the rate limiter knows about a client's quota, rendered as IETF RateLimit headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Burst size.
    pub burst: u32,
    /// Requests the client may still send right now.
    pub remaining: u32,
    /// Seconds until the client may send again (0 when it may now).
    pub reset_s: u64,
}

impl RateLimitInfo {
    /// `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers, structured fields).
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 2] {
        let policy = format!(
            "\"per-client\";q={};w=60;burst={}",
            self.per_minute, self.burst
        );
        let state = format!("\"per-client\";r={};t={}", self.remaining, self.reset_s);
        [
            (
                HeaderName::from_static("ratelimit-policy"),
                HeaderValue::from_str(&policy).expect("ascii"),
            ),
            (
                HeaderName::from_static("ratelimit"),
                HeaderValue::from_str(&state).expect("ascii"),
            ),
        ]
    }
}

/// Every way a request can fail; variants carry what their message needs.
#[derive(Debug, Error)]
pub enum AppError {
    /// The client exceeded its per-client rate.
    #[error("Too many requests from this client; retry in {} s.", whole_seconds(*retry_after))]
    RateLimited {
        /// The limiter's real wait.
        retry_after: Duration,
        /// Quota state for the headers.
        info: RateLimitInfo,
    },
    /// All permits busy and the queue is full.
    #[error(
        "The server is at capacity ({in_flight} analyses running, {queued} waiting); retry later."
    )]
    OverCapacity {
        /// Estimated wait until a slot frees.
        retry_after: Duration,
        /// Running analyses.
        in_flight: usize,
        /// Waiting requests.
        queued: usize,
    },
    /// Waited in the queue longer than allowed.
    #[error("The request waited {} ms in the queue without getting a slot; retry later.", waited.as_millis())]
    QueueTimeout {
        /// How long it waited.
        waited: Duration,
        /// Estimated wait until a slot frees.
        retry_after: Duration,
    },
    /// The server is shutting down and no longer starts analyses.
    #[error("The server is shutting down; retry against another instance.")]
    ShuttingDown,
    /// The model API is failing and the circuit breaker is open.
    #[error("The model API is failing; requests are paused for a moment to let it recover.")]
    CircuitOpen {
        /// Time until the next probe.
        retry_after: Duration,
    },
    /// The model API answered overloaded / rate limited after all retries.
    #[error(
        "The model API is overloaded (HTTP {status}) after {attempts} attempt(s); retry later."
    )]
    UpstreamOverloaded {
        /// The last upstream status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// Suggested wait.
        retry_after: Duration,
    },
    /// The model API asked the whole server to wait (shared cool-down) longer than this
    /// request's deadline allows.
    #[error("The model API asked for a pause of {} ms, longer than this request can wait; retry later.", retry_after.as_millis())]
    UpstreamCoolingDown {
        /// Time left in the cool-down.
        retry_after: Duration,
    },
    /// An upstream answered with an error that retrying will not fix.
    #[error("The model API failed: {detail}")]
    UpstreamFailed {
        /// What went wrong, for a person.
        detail: String,
    },
    /// The request deadline passed while waiting on an upstream.
    #[error("The analysis did not finish within the {} ms request deadline.", deadline.as_millis())]
    UpstreamTimeout {
        /// The configured deadline.
        deadline: Duration,
    },
    /// The body is not valid JSON of the expected shape.
    #[error("{0}")]
    BadRequest(String),
    /// The body parsed but a field has an unusable value.
    #[error("{0}")]
    InvalidRequest(String),
    /// The body exceeds `MAX_BODY_BYTES`.
    #[error("The request body exceeds the limit of {limit} bytes.")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not `application/json`.
    #[error("Content-Type must be application/json (got {got:?}).")]
    UnsupportedMediaType {
        /// What the client sent.
        got: String,
    },
    /// The body did not arrive in time.
    #[error("The request body was not received within {} ms.", limit.as_millis())]
    BodyTimeout {
        /// The limit.
        limit: Duration,
    },
    /// Unknown path.
    #[error("No route for {0}; see /openapi.json.")]
    NotFound(String),
    /// Known path, wrong method.
    #[error("Method not allowed; see /openapi.json.")]
    MethodNotAllowed,
    /// A bug: the analysis panicked or its task failed. Not the upstream's fault, so not a 502.
    #[error("Internal error: {detail}")]
    Internal {
        /// What failed, for the log and the client.
        detail: String,
    },
}

/// Every `error.type` [`AppError::kind`] can return (the OpenAPI document's `enum`).
pub const ERROR_TYPES: [&str; 15] = [
    "rate_limited",
    "over_capacity",
    "queue_timeout",
    "shutting_down",
    "upstream_unavailable",
    "upstream_error",
    "upstream_timeout",
    "bad_request",
    "invalid_request",
    "payload_too_large",
    "unsupported_media_type",
    "request_timeout",
    "not_found",
    "method_not_allowed",
    "internal_error",
];

impl AppError {
    /// The machine-readable `error.type`, one of [`ERROR_TYPES`].
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::RateLimited { .. } => "rate_limited",
            AppError::OverCapacity { .. } => "over_capacity",
            AppError::QueueTimeout { .. } => "queue_timeout",
            AppError::ShuttingDown => "shutting_down",
            AppError::CircuitOpen { .. }
            | AppError::UpstreamOverloaded { .. }
            | AppError::UpstreamCoolingDown { .. } => "upstream_unavailable",
            AppError::UpstreamFailed { .. } => "upstream_error",
            AppError::UpstreamTimeout { .. } => "upstream_timeout",
            AppError::BadRequest(_) => "bad_request",
            AppError::InvalidRequest(_) => "invalid_request",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::UnsupportedMediaType { .. } => "unsupported_media_type",
            AppError::BodyTimeout { .. } => "request_timeout",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Internal { .. } => "internal_error",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::OverCapacity { .. }
            | AppError::QueueTimeout { .. }
            | AppError::ShuttingDown
            | AppError::CircuitOpen { .. }
            | AppError::UpstreamOverloaded { .. }
            | AppError::UpstreamCoolingDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::UpstreamFailed { .. } => StatusCode::BAD_GATEWAY,
            AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::InvalidRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// Retry guidance, when waiting helps.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AppError::RateLimited { retry_after, .. }
            | AppError::OverCapacity { retry_after, .. }
            | AppError::QueueTimeout { retry_after, .. }
            | AppError::CircuitOpen { retry_after }
            | AppError::UpstreamCoolingDown { retry_after }
            | AppError::UpstreamOverloaded { retry_after, .. } => Some(*retry_after),
            AppError::ShuttingDown => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The reason label when admission control refused the request (not a failure of the work).
    pub fn rejection_reason(&self) -> Option<&'static str> {
        match self {
            AppError::RateLimited { .. } => Some("rate_limited"),
            AppError::OverCapacity { .. } => Some("over_capacity"),
            AppError::QueueTimeout { .. } => Some("queue_timeout"),
            AppError::ShuttingDown => Some("shutting_down"),
            AppError::CircuitOpen { .. } => Some("circuit_open"),
            _ => None,
        }
    }

    /// Raises the retry guidance of a 503 to at least `wait` (the upstream cool-down left), so a
    /// client told to come back does not come back into the same pause.
    pub fn covering(mut self, wait: Duration) -> Self {
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            match &mut self {
                AppError::OverCapacity { retry_after, .. }
                | AppError::QueueTimeout { retry_after, .. }
                | AppError::CircuitOpen { retry_after }
                | AppError::UpstreamCoolingDown { retry_after }
                | AppError::UpstreamOverloaded { retry_after, .. } => {
                    *retry_after = (*retry_after).max(wait);
                }
                _ => {}
            }
        }
        self
    }

    /// Attaches the request id so the error can become a response.
    pub fn with_request_id(self, request_id: &str) -> ApiError {
        ApiError {
            error: self,
            request_id: request_id.to_string(),
        }
    }
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error object.
    pub error: ErrorDetail,
}

/// The fields of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable kind, e.g. `rate_limited`, `over_capacity`, `queue_timeout`,
    /// `upstream_unavailable`, `upstream_timeout`, `bad_request`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A sentence a person understands.
    pub message: String,
    /// Whole seconds to wait before retrying (same as `Retry-After`), when waiting helps.
    pub retry_after_s: Option<u64>,
    /// The request's id (also in `x-request-id`).
    pub request_id: String,
}

/// Marker put in error responses' extensions so the access log can name the outcome.
#[derive(Debug, Clone, Copy)]
pub struct ErrorKind {
    /// The `error.type`.
    pub kind: &'static str,
    /// The rejection reason, when admission control refused.
    pub rejection: Option<&'static str>,
}

/// An [`AppError`] with the request id it belongs to; the only error `IntoResponse`.
#[derive(Debug)]
pub struct ApiError {
    /// The failure.
    pub error: AppError,
    /// The request's id.
    pub request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.error.retry_after();
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.error.kind().to_string(),
                message: self.error.to_string(),
                retry_after_s: retry_after.map(whole_seconds),
                request_id: self.request_id,
            },
        };
        let mut response = (self.error.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(wait) = retry_after {
            headers.insert("retry-after", HeaderValue::from(whole_seconds(wait)));
            headers.insert(
                "retry-after-ms",
                HeaderValue::from(wait.as_millis().max(1) as u64),
            );
        }
        if let AppError::RateLimited { info, .. } = &self.error {
            for (name, value) in info.headers() {
                headers.insert(name, value);
            }
        }
        response.extensions_mut().insert(ErrorKind {
            kind: self.error.kind(),
            rejection: self.error.rejection_reason(),
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_timeout_renders_503_json_with_retry_after() {
        let err = AppError::QueueTimeout {
            waited: Duration::from_millis(1500),
            retry_after: Duration::from_millis(2100),
        };
        let response = err.with_request_id("req-1").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "3");
        assert_eq!(response.headers()["retry-after-ms"], "2100");
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["error"]["type"], "queue_timeout");
        assert_eq!(v["error"]["retry_after_s"], 3);
        assert_eq!(v["error"]["request_id"], "req-1");
        assert!(v["error"]["message"].as_str().unwrap().contains("1500 ms"));
    }

    #[test]
    fn error_types_lists_exactly_the_kinds_errors_have() {
        let d = Duration::from_secs(1);
        let info = RateLimitInfo {
            per_minute: 1,
            burst: 1,
            remaining: 0,
            reset_s: 1,
        };
        let every_variant = [
            AppError::RateLimited {
                retry_after: d,
                info,
            },
            AppError::OverCapacity {
                retry_after: d,
                in_flight: 1,
                queued: 1,
            },
            AppError::QueueTimeout {
                waited: d,
                retry_after: d,
            },
            AppError::ShuttingDown,
            AppError::CircuitOpen { retry_after: d },
            AppError::UpstreamOverloaded {
                status: 529,
                attempts: 1,
                retry_after: d,
            },
            AppError::UpstreamFailed { detail: "x".into() },
            AppError::UpstreamTimeout { deadline: d },
            AppError::BadRequest("x".into()),
            AppError::InvalidRequest("x".into()),
            AppError::PayloadTooLarge { limit: 1 },
            AppError::UnsupportedMediaType { got: "x".into() },
            AppError::BodyTimeout { limit: d },
            AppError::NotFound("/x".into()),
            AppError::MethodNotAllowed,
            AppError::Internal { detail: "x".into() },
        ];
        let mut kinds: Vec<&str> = every_variant.iter().map(AppError::kind).collect();
        kinds.dedup();
        assert_eq!(kinds, ERROR_TYPES);
    }

    #[test]
    fn bad_input_has_no_retry_guidance() {
        let err = AppError::BadRequest("x".into());
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.retry_after().is_none());
        assert!(err.rejection_reason().is_none());
    }
}
