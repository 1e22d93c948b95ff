//! Serving through hyper-util's builder (axum's `serve` has no header-read timeout): a timer and
//! `header_read_timeout` so trickling clients cannot pin connections, a first-request timer (a
//! silent socket or a stalled HTTP/2 preface is closed after `HEADER_READ_TIMEOUT_MS`: hyper-util's
//! protocol detection has no timer of its own), HTTP/2 keep-alive pings and a stream cap, a
//! connection cap overall and per client IP, and graceful shutdown (readiness 503 for
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
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tower::ServiceExt;

use crate::admission::connection_cap::PerIpConnections;
use crate::state::AppState;

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
        .header_read_timeout(state.settings.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(state.settings.http2_keep_alive_interval)
        .keep_alive_timeout(state.settings.http2_keep_alive_timeout)
        .max_concurrent_streams(state.settings.http2_max_concurrent_streams);
    let first_request_timeout = state.settings.header_read_timeout;
    let per_ip = state
        .settings
        .max_connections_per_ip
        .map(PerIpConnections::new);
    let graceful = GracefulShutdown::new();
    let connection_slots = Arc::new(Semaphore::new(state.settings.max_connections));
    let drain = state.settings.shutdown_drain;
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
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            started.notify_one();
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Until the first request arrives nothing else bounds the wait (protocol detection,
            // the HTTP/2 preface and SETTINGS), so a timer does; afterwards hyper's own timeouts do.
            let result = tokio::select! {
                result = connection.as_mut() => Some(result),
                waited = tokio::time::timeout(first_request_timeout, first_request.notified()) => match waited {
                    Ok(()) => Some(connection.as_mut().await),
                    Err(_) => None,
                },
            };
            match result {
                Some(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "connection ended with an error")
                }
                Some(Ok(())) => {}
                None => tracing::debug!(%peer, "closed: no request within HEADER_READ_TIMEOUT_MS"),
            }
            drop(ticket);
            drop(slot);
        });
    }
    drop(listener);
    let grace = state.settings.shutdown_grace;
    tracing::info!(
        in_flight = state.gate.in_flight(),
        queued = state.gate.queue_depth(),
        grace_ms = grace.as_millis() as u64,
        "shutting down: refusing queued requests, draining in-flight analyses"
    );
    state.begin_shutdown();
    if tokio::time::timeout(grace, graceful.shutdown())
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
