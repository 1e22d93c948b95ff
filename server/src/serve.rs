//! Serving through hyper-util's builder (axum's `serve` has no header-read timeout): a timer and
//! `header_read_timeout` so trickling clients cannot pin connections, a first-request timer (a
//! silent socket or a stalled HTTP/2 preface is closed after `HEADER_READ_TIMEOUT_MS`: hyper-util's
//! protocol detection has no timer of its own), HTTP/2 keep-alive pings and a stream cap, an
//! idle timeout (a connection with no request in progress for `IDLE_TIMEOUT_MS` is shut down
//! gracefully: hyper has none for HTTP/2), a connection cap overall and per client IP, and
//! graceful shutdown (readiness 503 for
//! `SHUTDOWN_DRAIN_MS` while still serving, then stop accepting, answer queued requests 503,
//! drain in-flight work within `SHUTDOWN_GRACE_MS`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::admission::connection_cap::PerIpConnections;
use crate::idle::ConnectionActivity;
use crate::state::AppState;

/// Why a connection's task ended.
enum Ending {
    /// The connection finished (the client closed, or a graceful shutdown completed).
    Finished(Result<(), Box<dyn std::error::Error + Send + Sync>>),
    /// No request arrived within `HEADER_READ_TIMEOUT_MS`: dropped.
    NoRequest,
    /// Idle for `IDLE_TIMEOUT_MS`, then shut down gracefully.
    Idle(Result<(), Box<dyn std::error::Error + Send + Sync>>),
}

/// Serves [`crate::app`] on `listener` until `shutdown` resolves, then drains and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = crate::app(state.clone());
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.settings.listener.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(state.settings.listener.http2_keep_alive_interval)
        .keep_alive_timeout(state.settings.listener.http2_keep_alive_timeout)
        .max_concurrent_streams(state.settings.listener.http2_max_concurrent_streams);
    let first_request_timeout = state.settings.listener.header_read_timeout;
    let idle_timeout = state.settings.listener.idle_timeout;
    let per_ip = state
        .settings
        .listener
        .connections_per_ip_cap()
        .map(PerIpConnections::new);
    // Server shutdown: every connection shuts down gracefully; the tracker waits for them.
    let closing = CancellationToken::new();
    let connections = TaskTracker::new();
    let connection_slots = Arc::new(Semaphore::new(state.settings.listener.max_connections));
    let drain = state.settings.shutdown.drain;
    let drain_state = state.clone();
    // The signal starts the drain window; accepting stops only when it ends, so a load balancer
    // sees readiness 503 from a live instance instead of connection refused.
    let shutdown = async move {
        shutdown.await;
        drain_state.begin_drain();
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "draining: /health/ready answers 503, still accepting"
        );
        tokio::time::sleep(drain).await;
    };
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&connection_slots).acquire_owned() => slot.expect("semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let ticket = match &per_ip {
            Some(cap) => match PerIpConnections::try_admit(cap, peer.ip()) {
                Some(ticket) => Some(ticket),
                None => {
                    tracing::debug!(%peer, "closed: per-IP connection cap reached");
                    continue;
                }
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let first_request = Arc::new(Notify::new());
        let started = Arc::clone(&first_request);
        let activity = ConnectionActivity::new();
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            started.notify_one();
            let active = requests.begin();
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await;
                drop(active);
                response
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let closing = closing.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Until the first request arrives nothing else bounds the wait (protocol detection,
            // the HTTP/2 preface and SETTINGS), so a timer does; afterwards hyper's own timeouts
            // and the idle timeout do.
            let first = tokio::select! {
                result = connection.as_mut() => Some(Ending::Finished(result)),
                waited = tokio::time::timeout(first_request_timeout, first_request.notified()) => match waited {
                    Ok(()) => None,
                    Err(_) => Some(Ending::NoRequest),
                },
                () = closing.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    Some(Ending::Finished(connection.as_mut().await))
                }
            };
            let ending = match first {
                Some(ending) => ending,
                None => tokio::select! {
                    result = connection.as_mut() => Ending::Finished(result),
                    () = activity.idle_for(idle_timeout) => {
                        connection.as_mut().graceful_shutdown();
                        Ending::Idle(connection.as_mut().await)
                    }
                    () = closing.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        Ending::Finished(connection.as_mut().await)
                    }
                },
            };
            match ending {
                Ending::Finished(Ok(())) => {}
                Ending::Finished(Err(e)) | Ending::Idle(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "connection ended with an error")
                }
                Ending::NoRequest => {
                    tracing::debug!(%peer, "closed: no request within HEADER_READ_TIMEOUT_MS")
                }
                Ending::Idle(Ok(())) => {
                    tracing::debug!(%peer, "closed: idle for IDLE_TIMEOUT_MS")
                }
            }
            drop(ticket);
            drop(slot);
        });
    }
    drop(listener);
    let grace = state.settings.shutdown.grace;
    tracing::info!(
        in_flight = state.gate.in_flight(),
        queued = state.gate.queue_depth(),
        grace_ms = grace.as_millis() as u64,
        "shutting down: refusing queued requests, draining in-flight analyses"
    );
    state.begin_shutdown();
    closing.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = state.gate.in_flight(),
            "grace period over; dropping unfinished connections"
        );
    }
    Ok(())
}
