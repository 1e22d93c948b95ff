//! `loadgen` binary: parse the flags, match the command once, build its settings, run it, print
//! its error and exit with its code. Load commands run on a runtime with `--threads` workers;
//! `merge`, `report` and `compare` read files only: no runtime, no network.

use std::future::Future;
use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Command, CommonArgs, RampArgs, RunArgs};
use loadgen::commands;
use loadgen::config::{CapacityConfig, RunConfig};
use loadgen::error::RunError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Ramp(RampArgs { common, .. }) | Command::Run(RunArgs { common, .. }) => {
            RunConfig::from_command(&cli.command)
                .map_err(RunError::from)
                .and_then(|c| on_runtime(common, commands::ramp_run(c)))
        }
        Command::FindCapacity(a) => CapacityConfig::from_args(a)
            .map_err(RunError::from)
            .and_then(|c| on_runtime(&a.common, commands::find_capacity(c))),
        Command::Merge(a) => commands::merge(a),
        Command::Report(a) => commands::report(a),
        Command::Compare(a) => commands::compare(a),
        Command::Verify(k) => commands::verify(k),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("loadgen: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs a load command on a runtime of `--threads` workers (a current-thread runtime for one).
fn on_runtime(
    common: &CommonArgs,
    command: impl Future<Output = Result<u8, RunError>>,
) -> Result<u8, RunError> {
    let threads = common.threads();
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    runtime.map_err(RunError::Runtime)?.block_on(command)
}
