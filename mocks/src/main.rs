//! `mocks`: run the mock Claude and/or the mock Trading API until Ctrl-C or SIGTERM.

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = mocks::cli::Cli::parse();
    if let Err(e) = mocks::cli::run(cli).await {
        eprintln!("mocks: {e}");
        std::process::exit(e.exit_code());
    }
}
