//! The accept loop: our own, so every TCP connection is counted exactly, can pay a connect
//! delay, can be refused beyond a cap, and can be reset by a handler without any response.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::stats::Stats;

/// How long a graceful shutdown waits for open requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Per-connection rules, read live for every new connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectionRules {
    /// Paid once per new connection before its first request is read.
    pub connect_delay: Duration,
    /// Open connections allowed at once (0 = unlimited); extra ones are reset at once.
    pub max_connections: u64,
}

/// Reads the live connection rules.
pub type RulesSource = Arc<dyn Fn() -> ConnectionRules + Send + Sync>;

/// Lets a handler drop its connection without answering (a "reset" fault).
///
/// Inserted into every request's extensions by the accept loop.
#[derive(Clone, Debug, Default)]
pub struct ConnectionReset {
    inner: Arc<ResetSignal>,
}

#[derive(Debug, Default)]
struct ResetSignal {
    requested: AtomicBool,
    notify: Notify,
}

impl ConnectionReset {
    /// Resets the connection (SO_LINGER 0, so the peer sees RST) and never returns.
    pub async fn reset_now(&self) -> ! {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.inner.notify.notify_one();
        std::future::pending().await
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stats: Arc<Stats>,
    rules: RulesSource,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let rules = rules();
        if rules.max_connections > 0 && stats.connections_open() >= rules.max_connections {
            stats.connection_refused();
            let _ = stream.set_zero_linger();
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let guard = stats.connection_opened();
        let router = router.clone();
        let watcher = graceful.watcher();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _guard = guard;
            if !rules.connect_delay.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(rules.connect_delay) => {}
                }
            }
            let reset = ConnectionReset::default();
            let signal = reset.inner.clone();
            let io = TokioIo::new(ResettableStream {
                inner: stream,
                signal: signal.clone(),
            });
            let service =
                router.map_request(move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(reset.clone());
                    req
                });
            let builder = Builder::new(TokioExecutor::new());
            let conn =
                builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
            let conn = watcher.watch(conn.into_owned());
            tokio::select! {
                _ = conn => {}
                _ = signal.notify.notified() => {}
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// A TCP stream that closes with RST instead of FIN when its connection was reset on purpose.
struct ResettableStream {
    inner: TcpStream,
    signal: Arc<ResetSignal>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.signal.requested.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
