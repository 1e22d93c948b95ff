//! [`MockHandle`]: a running mock server bound to a real port.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::common::live::Control;
use crate::common::serve::{serve, RulesSource};
use crate::common::stats::Stats;
use crate::common::StatsSnapshot;

/// A mock server running in the background; stops on [`MockHandle::shutdown`] or on drop.
pub struct MockHandle {
    addr: SocketAddr,
    control: Arc<dyn Control>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// What [`start`] needs to run one mock.
pub(crate) struct ServerParts {
    pub host: String,
    pub port: u16,
    pub router: Router,
    pub stats: Arc<Stats>,
    pub rules: RulesSource,
    pub control: Arc<dyn Control>,
}

/// Binds the listener (so the port accepts before this returns) and spawns the accept loop.
pub(crate) async fn start(parts: ServerParts) -> io::Result<MockHandle> {
    let listener = TcpListener::bind((parts.host.as_str(), parts.port)).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        listener,
        parts.router,
        parts.stats,
        parts.rules,
        shutdown.clone(),
    ));
    Ok(MockHandle {
        addr,
        control: parts.control,
        shutdown,
        task: Some(task),
    })
}

impl MockHandle {
    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL without trailing slash, e.g. `http://127.0.0.1:9100`.
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}")
    }

    /// The same numbers as `GET /__stats`.
    pub fn stats(&self) -> StatsSnapshot {
        self.control.stats()
    }

    /// The same as `POST /__admin/reset`.
    pub fn reset_stats(&self) {
        self.control.reset()
    }

    /// Stops accepting, lets open requests finish (up to a few seconds), and waits for the
    /// server task; re-raises its panic if it had one.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    }

    /// Resolves when the server has stopped (after a shutdown request or a crash).
    pub async fn stopped(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
            self.task = None;
        }
    }

    /// A token that stops this server when cancelled (for signal handling in the binary).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
