//! `POST /v1/messages`: checks in the official order, then faults, limits, timing and the reply.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::error::ApiError;
use tokio::time::Instant;

use super::limits::{Limits, Permit};
use super::routes::RequestId;
use super::{models, overload, plan, script, sse, validate, ClaudeSettings, ClaudeState};
use crate::common::serve::ConnectionReset;

/// A failed request: the error and the rate-limit headers to send with it.
struct Failure(ApiError, HeaderMap);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e, HeaderMap::new())
    }
}

/// The handler: every error goes through [`ApiError::render`] in one place.
pub(crate) async fn messages(
    State(state): State<Arc<ClaudeState>>,
    Extension(id): Extension<RequestId>,
    reset: Option<Extension<ConnectionReset>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let settings = state.live.settings();
    match handle(&state, &settings, &headers, body, reset.map(|r| r.0)).await {
        Ok(response) => response,
        Err(Failure(error, mut extra)) => {
            if extra.is_empty() {
                // The headers are on every answer while a limit is set, errors included.
                extra = state.tier.headers(limits_of(&settings));
            }
            error.render(&id.0, settings.should_retry, extra)
        }
    }
}

fn check_auth(headers: &HeaderMap) -> Result<(), ApiError> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    match key.map(str::trim) {
        None => Err(ApiError::Authentication(
            "x-api-key header is required".into(),
        )),
        Some("") | Some("sk-invalid") => Err(ApiError::Authentication("invalid x-api-key".into())),
        Some("sk-forbidden") => Err(ApiError::Permission(
            "Your API key does not have permission to use the specified resource.".into(),
        )),
        Some(_) => Ok(()),
    }
}

fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(version) = headers.get("anthropic-version") else {
        return Err(ApiError::InvalidRequest(
            "anthropic-version: header is required".into(),
        ));
    };
    let v = version.to_str().unwrap_or("");
    let dated = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if dated {
        Ok(())
    } else {
        Err(ApiError::InvalidRequest(format!(
            "anthropic-version: invalid version {v:?}; expected a dated version such as \"2023-06-01\""
        )))
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::RequestTooLarge(format!(
        "Request exceeds the maximum allowed number of bytes ({limit})."
    ))
}

/// `POST /v1/messages/count_tokens`: the same checks, answers `{"input_tokens": n}`.
pub(crate) async fn count_tokens(
    State(state): State<Arc<ClaudeState>>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let settings = state.live.settings();
    let counted = async {
        let bytes = read_checked(&settings, &headers, body).await?;
        let request = validate::parse_for(&bytes, true)?;
        Ok::<_, ApiError>(
            Json(serde_json::json!({"input_tokens": request.input_tokens})).into_response(),
        )
    };
    match counted.await {
        Ok(response) => response,
        Err(error) => error.render(&id.0, settings.should_retry, HeaderMap::new()),
    }
}

/// Credentials, version and size checks, then the body.
async fn read_checked(
    settings: &ClaudeSettings,
    headers: &HeaderMap,
    body: Body,
) -> Result<bytes::Bytes, ApiError> {
    check_auth(headers)?;
    check_version(headers)?;
    let cap = settings.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err(too_large(cap));
    }
    axum::body::to_bytes(body, usize::try_from(cap).unwrap_or(usize::MAX))
        .await
        .map_err(|_| too_large(cap))
}

async fn handle(
    state: &ClaudeState,
    settings: &ClaudeSettings,
    headers: &HeaderMap,
    body: Body,
    reset: Option<ConnectionReset>,
) -> Result<Response, Failure> {
    let bytes = read_checked(settings, headers, body).await?;
    let request = validate::parse(&bytes)?;
    models::check(&request.model, request.max_tokens, &settings.models)?;

    let limits = limits_of(settings);
    let (mut permit, rate_headers) =
        state
            .tier
            .admit(limits, request.input_tokens)
            .map_err(|denied| {
                let (e, h) = *denied;
                Failure(e, h)
            })?;
    // Every draw for this request comes from its own RNG, keyed by what it is and how many
    // times it came: other requests racing it, or rejected before it, change nothing.
    let occurrence = state.live.next_occurrence(request.fingerprint);
    let plan = plan::draw(
        settings,
        plan::request_key(settings.seed, request.fingerprint, occurrence),
    );
    let load = overload::load(settings.capacity, permit.in_flight());
    let refuse = |permit: &mut Permit, error: ApiError| {
        permit.refund();
        Failure(error, state.tier.headers(limits))
    };
    if plan.fault.reset {
        if let Some(reset) = reset {
            permit.refund();
            reset.reset_now().await;
        }
    }
    if plan.billing {
        return Err(refuse(
            &mut permit,
            ApiError::Billing("Your credit balance is too low to access the Anthropic API.".into()),
        ));
    }
    if plan.overloaded || plan.shed_draw < load.shed_probability {
        return Err(refuse(
            &mut permit,
            ApiError::Overloaded("Overloaded".into()),
        ));
    }
    if plan.fault.error {
        return Err(refuse(
            &mut permit,
            ApiError::Api("Internal server error".into()),
        ));
    }

    let message = script::reply(&request, plan.id_seed, &settings.verbosity);
    // Capped so that absurd settings give long waits, never an overflow panic.
    let day = Duration::from_secs(86_400);
    let ttft = Duration::from_millis(settings.ttft_ms).min(day);
    let speed = settings.tokens_per_sec * load.speed_factor;
    let generation = if speed > 0.0 {
        Duration::try_from_secs_f64(message.usage.output_tokens as f64 / speed)
            .unwrap_or(day)
            .min(day)
    } else {
        Duration::ZERO
    };
    let stall = plan.fault.stall.min(day);

    if request.stream {
        let (before_headers, stall_at) = match settings.stall_event {
            0 => (plan.latency.saturating_add(stall), None),
            i => (
                plan.latency,
                Some((usize::try_from(i).unwrap_or(usize::MAX), stall)),
            ),
        };
        tokio::time::sleep(before_headers).await;
        let fail_at = plan.stream_fails.then_some(settings.stream_error_event);
        let events = sse::events(&message, fail_at);
        let pace = sse::Pace {
            start: Instant::now(),
            ttft,
            generation,
            stall: stall_at,
        };
        let mut response = Response::new(sse::body(events, pace, permit));
        *response.status_mut() = StatusCode::OK;
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.extend(rate_headers);
        return Ok(response);
    }

    // A non-streaming request that would outlast the timeout answers 504 (streams never do:
    // their bytes keep the connection alive).
    let before_generation = plan.latency.saturating_add(stall);
    let total = before_generation
        .saturating_add(ttft)
        .saturating_add(generation);
    if settings.request_timeout_ms > 0 && total > Duration::from_millis(settings.request_timeout_ms)
    {
        tokio::time::sleep(Duration::from_millis(settings.request_timeout_ms)).await;
        return Err(refuse(
            &mut permit,
            ApiError::Timeout("Request timed out".into()),
        ));
    }
    tokio::time::sleep(before_generation).await;
    let pace = sse::Pace {
        start: Instant::now(),
        ttft,
        generation,
        stall: None,
    };
    sse::produce(&sse::events(&message, None), pace, &mut permit).await;
    drop(permit);
    let mut response = Json(message).into_response();
    // After the generation, so the output tokens it charged show in `remaining`.
    response.headers_mut().extend(state.tier.headers(limits));
    drop(rate_headers);
    Ok(response)
}

fn limits_of(settings: &ClaudeSettings) -> Limits {
    Limits {
        max_concurrent: settings.max_concurrent,
        rpm: settings.rpm,
        itpm: settings.itpm,
        otpm: settings.otpm,
    }
}
