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
    let mut handles = Vec::new();
    if let Some(s) = claude {
        let (host, port) = (s.host.clone(), s.port);
        handles.push(started("claude", spawn_claude(s).await, &host, port).await?);
    }
    if let Some(s) = trading {
        let (host, port) = (s.host.clone(), s.port);
        handles.push(started("trading", spawn_trading(s).await, &host, port).await?);
    }
    shutdown_signal().await;
    eprintln!("shutting down");
    for h in handles {
        h.shutdown().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
