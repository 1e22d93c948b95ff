//! The HTTP side of the live view: the page and its assets (embedded in the binary), the event
//! stream (`/events`, Server-Sent Events), the Stop button (`POST /stop?token=…`, refused with
//! 403 without the run's token) and `/metrics`. A Content-Security-Policy keeps the page from
//! loading or sending anything anywhere but loadgen itself.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast::error::RecvError;

use super::{Message, Shared};
use crate::signals::EXIT_SIGINT;

const HTML: &str = include_str!("../../assets/dashboard.html");
const JS: &str = include_str!("../../assets/dashboard.js");
const CSS: &str = include_str!("../../assets/dashboard.css");

/// Nothing but loadgen itself: no CDN, no font, no beacon, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the live view's HTTP side refuses, as a JSON body with its status.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// `/stop` without the run's token (or with a wrong one).
    #[error("the stop token is missing or wrong: use the URL loadgen printed")]
    Forbidden,
    /// `/metrics` on a dashboard started without `--metrics-addr`.
    #[error("no /metrics here: start loadgen with --metrics-addr")]
    NoMetrics,
    /// Any other path.
    #[error("no such page")]
    NotFound,
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = match self {
            DashboardError::Forbidden => StatusCode::FORBIDDEN,
            DashboardError::NoMetrics | DashboardError::NotFound => StatusCode::NOT_FOUND,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// The routes: the page, its assets, events and Stop when `page`; `/metrics` when the run has an
/// exporter.
pub fn router(shared: Arc<Shared>, page: bool) -> Router {
    let mut r = Router::new().route("/metrics", get(metrics));
    if page {
        r = r
            .route("/", get(|| asset(HTML, "text/html; charset=utf-8")))
            .route(
                "/dashboard.js",
                get(|| asset(JS, "text/javascript; charset=utf-8")),
            )
            .route(
                "/dashboard.css",
                get(|| asset(CSS, "text/css; charset=utf-8")),
            )
            .route("/events", get(events))
            .route("/stop", post(stop));
    }
    r.fallback(|| async { DashboardError::NotFound })
        .with_state(shared)
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Result<Response, DashboardError> {
    let text = shared.render_metrics().ok_or(DashboardError::NoMetrics)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The query of `POST /stop`.
#[derive(Debug, serde::Deserialize)]
pub struct StopQuery {
    token: Option<String>,
}

/// Whether `given` is the run's token, compared in constant time.
fn token_matches(expected: &str, given: Option<&str>) -> bool {
    let given = given.unwrap_or_default();
    // Unequal lengths are refused by `ct_eq` too; the length of a random token is no secret.
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

async fn stop(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<StopQuery>,
) -> Result<Response, DashboardError> {
    if !token_matches(&shared.token, q.token.as_deref()) {
        return Err(DashboardError::Forbidden);
    }
    eprintln!("loadgen: Stop pressed on the dashboard");
    shared.stop.stop(EXIT_SIGINT);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"stopping": true, "exit_code": EXIT_SIGINT})),
    )
        .into_response())
}

/// Counts an open event stream while it lives.
struct StreamGuard(Arc<Shared>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

fn event(m: &Message) -> Event {
    Event::default().event(m.kind).data(&*m.json)
}

async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    shared.streams.fetch_add(1, Ordering::SeqCst);
    let guard = StreamGuard(shared.clone());
    // Subscribe before reading the state: a tick in between is sent twice, never lost (the page
    // replaces a second it already has).
    let rx = shared.events.subscribe();
    let mut first = vec![shared.init()];
    let done = shared
        .done
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let ended = done.is_some();
    first.extend(done);
    first.reverse();
    let stream = futures_util::stream::unfold(
        (first, rx, ended, guard),
        |(mut first, mut rx, ended, guard)| async move {
            if let Some(m) = first.pop() {
                return Some((Ok(event(&m)), (first, rx, ended, guard)));
            }
            if ended {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok(m) => {
                        let end = m.kind == "done";
                        return Some((Ok(event(&m)), (first, rx, end, guard)));
                    }
                    // A page too slow for a few ticks misses them; the next ticks carry on.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(token_matches("abc123", Some("abc123")));
        assert!(!token_matches("abc123", Some("abc124")));
        assert!(!token_matches("abc123", Some("abc12")));
        assert!(!token_matches("abc123", Some("")));
        assert!(!token_matches("abc123", None));
    }
}
