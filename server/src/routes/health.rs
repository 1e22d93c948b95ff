//! `GET /health` (load report, always 200) and `GET /health/ready` (503 while draining or shutting
//! down, or while the model API circuit is open). Neither is queued nor rate-limited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;
use crate::upstream::breaker::CircuitState;

/// `/health` `status` values, calmest first.
pub const HEALTH_STATUSES: [&str; 4] = ["ok", "busy", "saturated", "degraded"];
/// `/health` `mode` values: the scaled server and legacy mode.
pub const MODES: [&str; 2] = ["pooled", "legacy"];
/// `/health` `concurrency_mode` values (`CONCURRENCY_LIMIT`; `unlimited` in legacy mode).
pub const CONCURRENCY_MODES: [&str; 3] = ["adaptive", "fixed", "unlimited"];

/// Upstream health.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamHealth {
    /// `closed`, `open` or `half_open`.
    pub circuit: String,
    /// Milliseconds left in the shared cool-down (a 429/529 wait hint pauses new model calls).
    pub cooldown_ms: u64,
    /// Spacing between model calls the tier pacer enforces now, in ms; 0 when not pacing.
    pub pacing_interval_ms: u64,
    /// The budget that sets `pacing_interval_ms` (`requests`, `input_tokens`, `output_tokens` or
    /// `tokens`); null when not pacing.
    pub pacing_budget: Option<String>,
    /// The provider budget with the smallest share of its limit left, as last reported; null
    /// before any is known.
    pub nearest_budget: Option<BudgetHealth>,
}

/// One provider rate-limit budget as last reported.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetHealth {
    /// `requests`, `input_tokens`, `output_tokens` or `tokens`.
    pub budget: String,
    /// Per-minute limit.
    pub limit: u64,
    /// Units left.
    pub remaining: u64,
    /// remaining / limit.
    pub remaining_share: f64,
}

/// `/health` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok`, `busy` (≥ 80% of the live limit in use), `saturated` (all in use and requests waiting)
    /// or `degraded` (model API circuit not closed).
    pub status: String,
    /// Analyses running.
    pub in_flight: usize,
    /// Ceiling of permits (`MAX_CONCURRENT_ANALYSES`); 0 in legacy mode (unlimited).
    pub capacity: usize,
    /// Live concurrency limit (≤ capacity; adaptive mode moves it); 0 in legacy mode.
    pub concurrency_limit: usize,
    /// `adaptive`, `fixed` or `unlimited` (legacy mode).
    pub concurrency_mode: String,
    /// Requests waiting.
    pub queue_depth: usize,
    /// Queue bound (scaled with the live limit).
    pub queue_capacity: usize,
    /// in_flight / concurrency_limit.
    pub utilization: f64,
    /// Upstream state.
    pub upstream: UpstreamHealth,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Server version.
    pub version: String,
    /// `pooled` or `legacy`.
    pub mode: String,
    /// Recent average time an analysis holds a permit, in ms (the EWMA behind Retry-After);
    /// null until an analysis has finished: not measured yet.
    pub service_time_ms: Option<u64>,
}

/// Readiness body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// True when the instance should get traffic.
    pub ready: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// Load status of this instance.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "Load report", body = HealthBody)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthBody> {
    let gate = &state.gate;
    let (in_flight, capacity, limit, queue_depth) = (
        gate.in_flight(),
        gate.capacity(),
        gate.limit(),
        gate.queue_depth(),
    );
    let utilization = if limit == 0 {
        0.0
    } else {
        in_flight as f64 / limit as f64
    };
    let circuit = state.circuit();
    let pacer = state.upstreams.claude.pacer();
    let pacing = pacer.and_then(|p| p.pacing());
    let [ok, busy, saturated, degraded] = HEALTH_STATUSES;
    let status = if circuit != CircuitState::Closed {
        degraded
    } else if limit > 0 && in_flight >= limit && queue_depth > 0 {
        saturated
    } else if utilization >= 0.8 {
        busy
    } else {
        ok
    };
    Json(HealthBody {
        status: status.into(),
        in_flight,
        capacity,
        concurrency_limit: limit,
        concurrency_mode: if state.settings.legacy_mode {
            CONCURRENCY_MODES[2]
        } else {
            state.settings.admission.concurrency_limit.as_str()
        }
        .into(),
        queue_depth,
        queue_capacity: gate.queue_capacity(),
        utilization: (utilization * 1000.0).round() / 1000.0,
        upstream: UpstreamHealth {
            circuit: circuit.as_str().into(),
            cooldown_ms: state.cooldown_remaining().as_millis() as u64,
            pacing_interval_ms: pacing.map_or(0, |(d, _)| d.as_millis() as u64),
            pacing_budget: pacing.map(|(_, by)| by.as_str().into()),
            nearest_budget: pacer
                .and_then(|p| p.nearest_exhaustion())
                .map(|b| BudgetHealth {
                    budget: b.kind.as_str().into(),
                    limit: b.limit,
                    remaining: b.remaining,
                    remaining_share: (b.remaining_share() * 1000.0).round() / 1000.0,
                }),
        },
        uptime_s: state.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION").into(),
        mode: MODES[usize::from(state.settings.legacy_mode)].into(),
        service_time_ms: gate.measured_service_time().map(|d| d.as_millis() as u64),
    })
}

/// Whether a load balancer should send traffic here.
#[utoipa::path(get, path = "/health/ready", responses(
    (status = 200, description = "Ready", body = ReadyBody),
    (status = 503, description = "Shutting down or model API circuit open", body = ReadyBody)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let reason = if state.is_shutting_down() {
        Some("shutting down")
    } else if state.is_draining() {
        Some("draining before shutdown")
    } else if state.circuit() == CircuitState::Open {
        Some("model API circuit is open")
    } else {
        None
    };
    let status = if reason.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(ReadyBody {
            ready: reason.is_none(),
            reason: reason.map(String::from),
        }),
    )
        .into_response()
}
