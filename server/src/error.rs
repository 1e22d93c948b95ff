//! The one place that turns any failure into an HTTP status and the JSON error body
//! `{"error": {"type", "message", "retry_after_s", "request_id"}}`.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

/// `Retry-After` in whole seconds: rounded up, never below 1.
pub fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

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
        /// Which upstream, for the log only.
        cause: String,
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
        /// The upstream's URL and its last error, for the log only.
        cause: String,
    },
    /// The model API asked the whole server to wait (shared cool-down) longer than this
    /// request's deadline allows.
    #[error("The model API asked for a pause of {} ms, longer than this request can wait; retry later.", retry_after.as_millis())]
    UpstreamCoolingDown {
        /// Time left in the cool-down.
        retry_after: Duration,
        /// Which upstream, for the log only.
        cause: String,
    },
    /// The model API failed in a way retrying (further) will not fix.
    #[error("{failure} after {attempts} attempt(s).{}", failure.note())]
    UpstreamFailed {
        /// What went wrong, in terms a client may see.
        failure: UpstreamFailure,
        /// Attempts made.
        attempts: u32,
        /// The upstream's URL and the transport or API error, for the log only.
        cause: String,
    },
    /// The request deadline passed while waiting on an upstream.
    #[error("{} did not answer within the request deadline of {} ms.", upstream.subject(), deadline.as_millis())]
    UpstreamTimeout {
        /// The configured deadline.
        deadline: Duration,
        /// The upstream the request was waiting on.
        upstream: Upstream,
        /// Where the time ran out, with the upstream's URL, for the log only.
        cause: String,
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
    #[error("Internal error; the server's log has the details under this request's id.")]
    Internal {
        /// What failed, for the log only (a panic message may name source files).
        detail: String,
    },
}

/// An upstream as clients may hear of it: by role, never by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// The Messages API.
    ModelApi,
    /// The Trading API.
    TradingData,
}

impl Upstream {
    /// The upstream as the subject of a sentence.
    pub fn subject(self) -> &'static str {
        match self {
            Upstream::ModelApi => "The model API",
            Upstream::TradingData => "The trading data service",
        }
    }
}

/// How a model API call failed, in terms stable enough for any client: no URL, host, port or
/// library error text (those go to the log under the request's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UpstreamFailure {
    /// No connection, or the connection closed before any response.
    #[error("The model API could not be reached")]
    Unreachable,
    /// No response headers within `CLAUDE_ATTEMPT_TIMEOUT_MS`.
    #[error("The model API timed out")]
    TimedOut,
    /// The response started, then stalled past the attempt timeout.
    #[error("The model API's response stalled")]
    Stalled,
    /// The response was cut off or is not a Messages API response.
    #[error("The model API's response was cut off or unreadable")]
    Unreadable,
    /// An error status (5xx, or a retryable status after the retries).
    #[error("The model API failed with HTTP {0}")]
    Status(u16),
    /// A 4xx other than 429: the model API refused the request this server built.
    #[error("The model API rejected the request with HTTP {0}")]
    Rejected(u16),
}

impl UpstreamFailure {
    /// Said after the attempts: why a call that may have been served was not sent again.
    pub fn note(self) -> &'static str {
        match self {
            UpstreamFailure::Stalled | UpstreamFailure::Unreadable => {
                " It was not retried: the model API may have served it."
            }
            _ => "",
        }
    }
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
            | AppError::CircuitOpen { retry_after, .. }
            | AppError::UpstreamCoolingDown { retry_after, .. }
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
                | AppError::CircuitOpen { retry_after, .. }
                | AppError::UpstreamCoolingDown { retry_after, .. }
                | AppError::UpstreamOverloaded { retry_after, .. } => {
                    *retry_after = (*retry_after).max(wait);
                }
                _ => {}
            }
        }
        self
    }

    /// What the server's log says beside the public message: the upstream's URL and the
    /// transport or API error, or the failure inside the server. Never sent to the client.
    pub fn cause(&self) -> Option<&str> {
        match self {
            AppError::CircuitOpen { cause, .. }
            | AppError::UpstreamOverloaded { cause, .. }
            | AppError::UpstreamCoolingDown { cause, .. }
            | AppError::UpstreamFailed { cause, .. }
            | AppError::UpstreamTimeout { cause, .. }
            | AppError::Internal { detail: cause } => Some(cause),
            _ => None,
        }
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
    /// A sentence a person understands, in stable terms: it never holds an upstream's URL, host
    /// or port, a file path or a library's error text. Operators find those in the server's log
    /// line carrying the same `request_id`.
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

/// Put in an error response's extensions beside [`ErrorKind`]: [`AppError::cause`], for the
/// access log line (which carries the request id), never for the body.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

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
        if let Some(cause) = self.error.cause() {
            response
                .extensions_mut()
                .insert(ErrorCause(cause.to_string()));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_round_up_and_never_zero() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
    }

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

    /// One error of every variant; `cause` fills every field meant for the log only.
    fn every_variant(cause: &str) -> Vec<AppError> {
        let d = Duration::from_secs(1);
        let info = RateLimitInfo {
            per_minute: 1,
            burst: 1,
            remaining: 0,
            reset_s: 1,
        };
        vec![
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
            AppError::CircuitOpen {
                retry_after: d,
                cause: cause.into(),
            },
            AppError::UpstreamOverloaded {
                status: 529,
                attempts: 1,
                retry_after: d,
                cause: cause.into(),
            },
            AppError::UpstreamCoolingDown {
                retry_after: d,
                cause: cause.into(),
            },
            AppError::UpstreamFailed {
                failure: UpstreamFailure::Unreachable,
                attempts: 1,
                cause: cause.into(),
            },
            AppError::UpstreamTimeout {
                deadline: d,
                upstream: Upstream::ModelApi,
                cause: cause.into(),
            },
            AppError::BadRequest("x".into()),
            AppError::InvalidRequest("x".into()),
            AppError::PayloadTooLarge { limit: 1 },
            AppError::UnsupportedMediaType { got: "x".into() },
            AppError::BodyTimeout { limit: d },
            AppError::NotFound("/x".into()),
            AppError::MethodNotAllowed,
            AppError::Internal {
                detail: cause.into(),
            },
        ]
    }

    #[test]
    fn error_types_lists_exactly_the_kinds_errors_have() {
        let mut kinds: Vec<&str> = every_variant("x").iter().map(AppError::kind).collect();
        kinds.dedup();
        assert_eq!(kinds, ERROR_TYPES);
    }

    #[tokio::test]
    async fn no_server_error_body_carries_its_cause_and_the_log_extension_does() {
        let cause = "POST http://10.9.8.7:8443/v1/messages: tcp connect error (os error 111)";
        let mut with_cause = Vec::new();
        for err in every_variant(cause) {
            let (kind, logged) = (err.kind(), err.cause().map(str::to_string));
            let response = err.with_request_id("req-1").into_response();
            if !response.status().is_server_error() {
                continue;
            }
            let extension = response.extensions().get::<ErrorCause>().cloned();
            let bytes = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .expect("body");
            let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
            for leak in ["http", "10.9.8.7", "8443", "os error"] {
                assert!(!text.contains(leak), "{kind} body holds {leak:?}: {text}");
            }
            assert_eq!(extension.map(|c| c.0), logged, "{kind}");
            if logged.is_some() {
                assert_eq!(logged.as_deref(), Some(cause), "{kind}");
                with_cause.push(kind);
            }
        }
        // Admission's own 503s (capacity, queue, shutdown) have nothing upstream to tell.
        assert_eq!(
            with_cause,
            [
                "upstream_unavailable",
                "upstream_unavailable",
                "upstream_unavailable",
                "upstream_error",
                "upstream_timeout",
                "internal_error"
            ]
        );
    }

    #[test]
    fn upstream_failures_read_as_stable_sentences() {
        let failed = |failure, attempts| AppError::UpstreamFailed {
            failure,
            attempts,
            cause: "secret".into(),
        };
        assert_eq!(
            failed(UpstreamFailure::Unreachable, 4).to_string(),
            "The model API could not be reached after 4 attempt(s)."
        );
        assert_eq!(
            failed(UpstreamFailure::Status(500), 2).to_string(),
            "The model API failed with HTTP 500 after 2 attempt(s)."
        );
        assert_eq!(
            failed(UpstreamFailure::Stalled, 1).to_string(),
            "The model API's response stalled after 1 attempt(s). It was not retried: the model API may have served it."
        );
        let timeout = AppError::UpstreamTimeout {
            deadline: Duration::from_millis(1500),
            upstream: Upstream::TradingData,
            cause: "secret".into(),
        };
        assert_eq!(
            timeout.to_string(),
            "The trading data service did not answer within the request deadline of 1500 ms."
        );
    }

    #[test]
    fn bad_input_has_no_retry_guidance() {
        let err = AppError::BadRequest("x".into());
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.retry_after().is_none());
        assert!(err.rejection_reason().is_none());
    }
}
