//! `POST /analyze`: read and validate the body, wait for a permit (bounded FIFO queue), run the
//! agent loop holding that permit, and answer with the analysis, timings and `Server-Timing`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use utoipa::ToSchema;

use crate::agent::agent_loop::{self, AnalysisInput, ToolCallRecord};
use crate::agent::tools::is_valid_symbol;
use crate::config::Settings;
use crate::error::{AppError, ErrorBody};
use crate::http_layers::{AnalysisSummary, RequestId};
use crate::state::AppState;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 4000;
/// Most symbols a request may name.
pub const MAX_SYMBOLS: usize = 20;
/// JSON Schema `pattern` of one entry of `symbols`: what [`is_valid_symbol`] accepts, in either
/// case (entries are upper-cased, not trimmed).
pub const SYMBOL_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9.-]{0,9}$";
/// JSON Schema `pattern` of `query`: at least one character that is not Unicode `White_Space`
/// (what `str::trim` removes). Spelled out because `\s` means different sets in ECMA-262,
/// Python and Rust regexes, and clients validate with all of them.
pub const NON_BLANK_PATTERN: &str = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

/// Request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AnalyzeRequest {
    /// The question, e.g. "Should I buy AAPL?": at most 4000 characters, not only whitespace.
    pub query: String,
    /// Ticker symbols to analyse, at most 20, either case (optional; otherwise the model finds
    /// them in the query).
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
    /// Model turns allowed (1 to the server's `MAX_TURNS`).
    #[serde(default, deserialize_with = "whole_number")]
    pub max_turns: Option<u32>,
}

/// A JSON number JSON Schema calls an integer: `2` and `2.0` alike (the document says
/// `"type": "integer"`, and schema validators accept both). A fraction, a negative or anything
/// beyond `u32` is a shape error (422).
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => u32::try_from(n).ok(),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => {
            Some(f as u32)
        }
        _ => None,
    };
    whole.map(Some).ok_or_else(|| {
        D::Error::custom(format!(
            "invalid value: {number}, expected a whole number from 0 to {}",
            u32::MAX
        ))
    })
}

/// Token usage summed over the analysis.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBody {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

/// Where the time went.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timings {
    /// Waiting for a permit.
    pub queue_ms: f64,
    /// Holding the permit: model turns and tool calls.
    pub upstream_ms: f64,
    /// Whole request.
    pub total_ms: f64,
}

/// Response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyzeResponse {
    /// The model's analysis.
    pub analysis: String,
    /// Symbols analysed.
    pub symbols: Vec<String>,
    /// Tool calls made, in order.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Token usage.
    pub usage: UsageBody,
    /// Model that answered.
    pub model: String,
    /// The request's id (also `x-request-id`).
    pub request_id: String,
    /// Timings.
    pub timings: Timings,
    /// Model calls made.
    pub turns: u32,
    /// Why the loop stopped: `end_turn`, `max_tokens`, `max_turns`, ...
    pub stop_reason: String,
}

fn is_json(content_type: Option<&HeaderValue>) -> Result<(), AppError> {
    let got = content_type.and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = got
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType {
            got: if got.is_empty() {
                "nothing".into()
            } else {
                got.into()
            },
        })
    }
}

/// A body that failed to arrive: over the limit (413) or cut off by the client (400).
fn body_error(error: axum::Error, limit: usize) -> AppError {
    let source = error.into_inner();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return AppError::PayloadTooLarge { limit };
        }
        cause = e.source();
    }
    AppError::BadRequest(format!("The request body could not be read: {source}."))
}

/// Reads the body within `MAX_BODY_BYTES` and `BODY_READ_TIMEOUT`, refusing a non-JSON content
/// type or an over-long `Content-Length` before reading a byte.
async fn read_body(state: &AppState, request: Request) -> Result<bytes::Bytes, AppError> {
    is_json(request.headers().get(header::CONTENT_TYPE))?;
    let limit = state.settings.listener.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let timeout = state.settings.listener.body_read_timeout;
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(request.into_body(), limit))
        .await
        .map_err(|_| AppError::BodyTimeout { limit: timeout })?
        .map_err(|e| body_error(e, limit))?;
    Ok(bytes)
}

/// The body half of `/analyze`, without I/O: a content type and the body's bytes become a
/// validated [`AnalysisInput`], or the 4xx error the request earns (415, 413, 400 or 422). The
/// handler runs exactly this on what it read; the fuzz target (`fuzz/analyze_body`) calls it
/// directly.
pub fn parse_body(
    settings: &Settings,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<AnalysisInput, AppError> {
    is_json(content_type)?;
    if body.len() > settings.listener.max_body_bytes {
        return Err(AppError::PayloadTooLarge {
            limit: settings.listener.max_body_bytes,
        });
    }
    let request =
        serde_json::from_slice::<AnalyzeRequest>(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                AppError::InvalidRequest(format!("The request body has the wrong shape: {e}."))
            }
            _ => AppError::BadRequest(format!("The request body is not valid JSON: {e}.")),
        })?;
    validate(settings, request)
}

fn validate(settings: &Settings, body: AnalyzeRequest) -> Result<AnalysisInput, AppError> {
    // The length limit applies to what the client sent, as the documented `maxLength` does.
    if body.query.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::InvalidRequest(format!(
            "\"query\" is longer than {MAX_QUERY_CHARS} characters."
        )));
    }
    let query = body.query.trim().to_string();
    if query.is_empty() {
        return Err(AppError::InvalidRequest(
            "\"query\" must not be empty.".into(),
        ));
    }
    let raw_symbols = body.symbols.unwrap_or_default();
    if raw_symbols.len() > MAX_SYMBOLS {
        return Err(AppError::InvalidRequest(format!(
            "At most {MAX_SYMBOLS} \"symbols\" are allowed."
        )));
    }
    let mut symbols = Vec::new();
    for raw in raw_symbols {
        let s = raw.to_ascii_uppercase();
        if !is_valid_symbol(&s) {
            return Err(AppError::InvalidRequest(format!(
                "{raw:?} in \"symbols\" is not a ticker symbol."
            )));
        }
        if !symbols.contains(&s) {
            symbols.push(s);
        }
    }
    let ceiling = settings.claude.max_turns;
    let max_turns = match body.max_turns {
        None => ceiling,
        Some(n) if (1..=ceiling).contains(&n) => n,
        Some(n) => {
            return Err(AppError::InvalidRequest(format!(
                "\"max_turns\" is {n}; it must be from 1 to {ceiling}."
            )))
        }
    };
    Ok(AnalysisInput {
        query,
        symbols,
        max_turns,
        model: settings.claude.model.clone(),
        max_tokens: settings.claude.max_tokens,
        max_tool_calls_per_turn: settings.claude.max_tool_calls_per_turn,
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

async fn run(state: &AppState, request_id: &str, request: Request) -> Result<Response, AppError> {
    let arrived = Instant::now();
    let content_type = request.headers().get(header::CONTENT_TYPE).cloned();
    let body = read_body(state, request).await?;
    let input = parse_body(&state.settings, content_type.as_ref(), &body)?;
    let budget = state.settings.admission.request_timeout;
    let deadline = arrived + budget;
    let max_wait = state
        .settings
        .admission
        .queue_timeout
        .min(deadline.saturating_duration_since(Instant::now()));
    let permit = state.gate.acquire(max_wait, &state.shutdown).await?;
    let queue = permit.waited;
    state.instruments.queue_wait(queue);
    let admitted = Instant::now();
    // A client that hangs up drops this handler, but the model call it started keeps running at
    // the provider and still counts against its concurrency. So the loop runs in a task of its
    // own that owns the permit: it lets the call in flight finish, starts no further turn, and
    // only then frees the permit, so concurrent model calls never exceed N.
    let client_gone = CancellationToken::new();
    let _cancel_when_dropped = client_gone.clone().drop_guard();
    let upstreams = state.upstreams.clone();
    // Log lines from inside the analysis (a failed tool call) carry the request id this way.
    let span = tracing::info_span!("analysis", request_id);
    let analysis = tokio::spawn(
        async move {
            let analysis = agent_loop::run(&upstreams, input, deadline, budget, &client_gone).await;
            drop(permit);
            analysis
        }
        .instrument(span),
    )
    .await
    .map_err(|e| AppError::Internal {
        detail: format!("the analysis task failed ({e})"),
    })??;
    let (upstream, total) = (admitted.elapsed(), arrived.elapsed());
    state.instruments.analysis(
        analysis.usage.input_tokens,
        analysis.usage.output_tokens,
        analysis.turns,
    );
    let body = AnalyzeResponse {
        analysis: analysis.analysis,
        symbols: analysis.symbols,
        tool_calls: analysis.tool_calls,
        usage: UsageBody {
            input_tokens: analysis.usage.input_tokens,
            output_tokens: analysis.usage.output_tokens,
        },
        model: analysis.model,
        request_id: request_id.to_string(),
        timings: Timings {
            queue_ms: ms(queue),
            upstream_ms: ms(upstream),
            total_ms: ms(total),
        },
        turns: analysis.turns,
        stop_reason: analysis.stop_reason,
    };
    let server_timing = format!(
        "queue;dur={}, upstream;dur={}, total;dur={}",
        ms(queue),
        ms(upstream),
        ms(total)
    );
    let summary = AnalysisSummary {
        queue_ms: body.timings.queue_ms,
        upstream_ms: body.timings.upstream_ms,
        turns: body.turns,
        tool_calls: body.tool_calls.len(),
    };
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(summary);
    if let Ok(value) = HeaderValue::from_str(&server_timing) {
        response.headers_mut().insert("server-timing", value);
    }
    Ok(response)
}

/// Runs one stock analysis.
#[utoipa::path(
    post,
    path = "/analyze",
    request_body(content = AnalyzeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The analysis", body = AnalyzeResponse,
         headers(("server-timing" = String, description = "queue, upstream and total durations"),
                 ("x-request-id" = String, description = "the request's id"))),
        (status = 400, description = "Malformed JSON (bad_request)", body = ErrorBody),
        (status = 408, description = "Body not received in time (request_timeout)", body = ErrorBody),
        (status = 413, description = "Body over MAX_BODY_BYTES (payload_too_large)", body = ErrorBody),
        (status = 415, description = "Not application/json (unsupported_media_type)", body = ErrorBody),
        (status = 422, description = "Missing/empty query or bad field (invalid_request)", body = ErrorBody),
        (status = 429, description = "Per-client rate limit (rate_limited)", body = ErrorBody,
         headers(("retry-after" = u64, description = "whole seconds until the limiter admits this client"),
                 ("retry-after-ms" = u64, description = "the same wait in milliseconds"),
                 ("ratelimit-policy" = String, description = "draft-ietf-httpapi-ratelimit-headers quota policy"),
                 ("ratelimit" = String, description = "draft-ietf-httpapi-ratelimit-headers remaining quota"),
                 ("x-request-id" = String, description = "the request's id"))),
        (status = 500, description = "The analysis failed inside the server (internal_error)", body = ErrorBody),
        (status = 502, description = "Model API error (upstream_error): unreachable, timed out, an error status or a broken response, after the attempts the message counts; never its address or error text (those are in the server's log under the request id)", body = ErrorBody),
        (status = 503, description = "over_capacity, queue_timeout, shutting_down or upstream_unavailable", body = ErrorBody,
         headers(("retry-after" = u64, description = "whole seconds to wait before retrying"),
                 ("retry-after-ms" = u64, description = "the same wait in milliseconds"),
                 ("x-request-id" = String, description = "the request's id"))),
        (status = 504, description = "Request deadline passed (upstream_timeout)", body = ErrorBody),
    )
)]
pub async fn analyze(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    request: Request<Body>,
) -> Response {
    match run(&state, &request_id, request).await {
        Ok(response) => response,
        Err(err) => err
            .covering(state.cooldown_remaining())
            .with_request_id(&request_id)
            .into_response(),
    }
}
