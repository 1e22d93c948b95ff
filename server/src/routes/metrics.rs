//! `GET /metrics`: Prometheus text exposition of the instruments, with gauges sampled now.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.instruments.render(
        state.gate.in_flight(),
        state.gate.capacity(),
        state.gate.queue_depth(),
        state.circuit().gauge(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
