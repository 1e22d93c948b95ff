//! The `mocks` command line: flags and env vars, profiles, and running the servers until a
//! signal arrives.

pub mod args;
pub mod profile;

use std::fmt;

use crate::{spawn_claude, spawn_trading, MockHandle};
pub use args::{Cli, Command};

/// Why the binary stops with an error, and its exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad flag values or an unreadable/invalid profile: exit 2.
    Usage(String),
    /// The server could not start (port in use…): exit 1.
    Start(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Start(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Start(m) => f.write_str(m),
        }
    }
}

async fn started(
    name: &str,
    handle: std::io::Result<MockHandle>,
    host: &str,
    port: u16,
) -> Result<MockHandle, CliError> {
    let handle = handle.map_err(|e| {
        CliError::Start(format!(
            "mock {name} could not listen on {host}:{port}: {e}"
        ))
    })?;
    println!("mock {name} listening on {}", handle.url());
    Ok(handle)
}

/// Resolves settings, starts the requested mocks, serves until Ctrl-C or SIGTERM.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let (claude, trading) = profile::resolve(&cli.command).map_err(CliError::Usage)?;
    let shutdown = shutdown_signal()
        .map_err(|e| CliError::Start(format!("could not install signal handlers: {e}")))?;
    let mut handles = Vec::new();
    if let Some(s) = claude {
        let (host, port) = (s.host.clone(), s.port);
        handles.push(started("claude", spawn_claude(s).await, &host, port).await?);
    }
    if let Some(s) = trading {
        let (host, port) = (s.host.clone(), s.port);
        handles.push(started("trading", spawn_trading(s).await, &host, port).await?);
    }
    shutdown.await;
    eprintln!("shutting down");
    for h in handles {
        h.shutdown().await;
    }
    Ok(())
}

/// Registers SIGINT and SIGTERM handlers now (before the address is announced, so a signal sent
/// right after it is not lost to the default action, which kills without a clean exit) and
/// returns a future that resolves on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
