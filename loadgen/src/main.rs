//! `loadgen` binary: parse the flags, build a runtime with `--threads` workers, run.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = loadgen::cli::Cli::parse();
    // Reports read files only: no runtime, no network.
    match &cli.command {
        loadgen::cli::Command::Report(args) => {
            return ExitCode::from(report::run_report(args.clone()))
        }
        loadgen::cli::Command::Compare(args) => {
            return ExitCode::from(report::run_compare(args.clone()))
        }
        _ => {}
    }
    let threads = loadgen::threads(&cli);
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
    match runtime {
        Ok(rt) => rt.block_on(loadgen::run(cli)),
        Err(e) => {
            eprintln!("loadgen: error: cannot start the runtime: {e}");
            ExitCode::from(2)
        }
    }
}
