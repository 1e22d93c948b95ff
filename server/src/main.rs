//! analyze-server binary: parse configuration, start logging, build the state, serve until
//! SIGTERM/SIGINT. Invalid configuration exits 2 naming the variable.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use server::config::LogFormat;
use server::{AppState, RawArgs, Settings};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let raw = match RawArgs::try_parse() {
        Ok(r) => r,
        Err(e) => match server::config::explain_parse_error(&e, &argv) {
            Some(message) => {
                eprintln!("analyze-server: {message}");
                return ExitCode::from(2);
            }
            None => e.exit(),
        },
    };
    let settings = match Settings::from_raw(raw) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "analyze-server: {}",
                server::config::explain_invalid(e.variable, &e.reason, &argv)
            );
            return ExitCode::from(2);
        }
    };
    init_tracing(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.workers)
        .enable_all()
        .build();
    let result = runtime
        .context("starting the tokio runtime")
        .and_then(|rt| rt.block_on(run(settings)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("analyze-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a terminal; log collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(config = %settings.redacted_summary(), "effective configuration");
    if let Some(eol) = settings.deprecated_model_eol() {
        tracing::warn!(model = %settings.claude.model, end_of_life = eol, "CLAUDE_MODEL is deprecated; switch to {}", server::config::DEFAULT_MODEL);
    }
    if settings.admission.trust_forwarded_for {
        tracing::warn!(trusted_proxies = ?settings.admission.trusted_proxies, "TRUST_FORWARDED_FOR is deprecated: it now means TRUSTED_PROXIES=hops:1 (the rightmost X-Forwarded-For address); set TRUSTED_PROXIES instead");
    }
    let shutdown = shutdown_signal().context("installing signal handlers")?;
    let addr = settings.listener.addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, legacy = settings.legacy_mode, "listening");
    let state = AppState::new(settings)?;
    let shutdown = async {
        shutdown.await;
        tracing::info!("shutdown signal received");
    };
    server::serve(listener, state, shutdown).await?;
    tracing::info!("stopped");
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
