//! Exact request and connection counters, and the middleware that keeps them.
//!
//! Paths under `/__` (stats and admin) are not counted, so a test that reads the stats does not
//! change them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// A point-in-time copy of a mock's counters (the JSON of `GET /__stats`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests received (admin and stats paths excluded).
    pub requests_total: u64,
    /// Responses sent, by status code ("200" -> 12). Reset connections have no status.
    pub responses_by_status: BTreeMap<String, u64>,
    /// TCP connections accepted and served (refused ones are not included).
    pub connections_accepted: u64,
    /// TCP connections currently open.
    pub connections_open: u64,
    /// TCP connections closed at once because `max_connections` were already open.
    pub connections_refused: u64,
    /// Requests being served right now (a stream counts until its last byte).
    pub in_flight: u64,
    /// Highest `in_flight` seen since start or the last reset.
    pub max_in_flight: u64,
}

/// Live counters shared by the accept loop and the middleware.
#[derive(Debug, Default)]
pub struct Stats {
    requests_total: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    connections_refused: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

impl Stats {
    /// Copies every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let by_status = self.by_status.lock().unwrap_or_else(|e| e.into_inner());
        StatsSnapshot {
            requests_total: self.requests_total.load(Ordering::SeqCst),
            responses_by_status: by_status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            connections_accepted: self.connections_accepted.load(Ordering::SeqCst),
            connections_open: self.connections_open.load(Ordering::SeqCst),
            connections_refused: self.connections_refused.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
        }
    }

    /// Zeroes the counters; gauges (open connections, in flight) keep their current value.
    pub fn reset(&self) {
        self.requests_total.store(0, Ordering::SeqCst);
        self.by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.connections_accepted.store(0, Ordering::SeqCst);
        self.connections_refused.store(0, Ordering::SeqCst);
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Currently open connections.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::SeqCst)
    }

    /// Records a connection closed at once because of the connection cap.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::SeqCst);
    }

    /// Records an accepted connection; it counts as open until the guard drops.
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections_accepted.fetch_add(1, Ordering::SeqCst);
        self.connections_open.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(self.clone())
    }

    fn request_started(self: &Arc<Self>) -> InFlightGuard {
        self.requests_total.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    fn response(&self, status: u16) {
        *self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_default() += 1;
    }
}

/// Keeps a connection counted as open; decrements on drop.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<Stats>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps a request counted as in flight; decrements on drop (also when the request is cancelled).
#[derive(Debug)]
struct InFlightGuard(Arc<Stats>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Middleware: counts the request, tracks in-flight, records the status.
pub async fn track(State(stats): State<Arc<Stats>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/__") {
        return next.run(req).await;
    }
    let guard = stats.request_started();
    let response = next.run(req).await;
    stats.response(response.status().as_u16());
    let streaming = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        return response;
    }
    // A stream stays in flight until its body ends (or the client goes away).
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _keep = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
