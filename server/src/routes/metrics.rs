//! `GET /metrics`: Prometheus text exposition of the instruments, with gauges sampled now.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::instruments::Gauges;
use crate::state::AppState;

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.instruments.render(&Gauges {
        in_flight: state.gate.in_flight(),
        capacity: state.gate.capacity(),
        limit: state.gate.limit(),
        queue_depth: state.gate.queue_depth(),
        circuit_state: state.circuit().gauge(),
        cooldown: state.cooldown_remaining(),
        pacing: state.upstreams.claude.pacer().and_then(|p| p.pacing()),
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
