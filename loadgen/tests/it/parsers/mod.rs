//! Property tests of everything in loadgen that parses user input: duration, rate, step, header,
//! `--instance` and `--start-at` flags (`cli`), SLO expressions (`slo`), scenario files
//! (`scenario`), the step CSV `report` reads (`csv`) and the `--hdr-log` files `merge` reads
//! (`hdr_log`). Whatever the input, the answer is a value or a typed error that names the flag
//! or file at fault — never a panic; generated valid input parses to the value it spells, and
//! where a formatter exists, parsing its output gives the value back.

mod cli;
mod csv;
mod hdr_log;
mod scenario;
mod slo;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use loadgen::cli::Cli;
use loadgen::error::ConfigError;
use loadgen::plan::Plan;

/// Where a command line ended up.
#[derive(Debug)]
pub enum Parsed {
    /// A validated plan.
    Plan(Box<Plan>),
    /// clap refused it (exit 2 with a usage message).
    Usage(clap::Error),
    /// The plan's validation refused it (exit 2 naming the flag).
    Config(ConfigError),
}

impl Parsed {
    /// The plan, or a panic quoting the error.
    pub fn plan(self) -> Plan {
        match self {
            Parsed::Plan(p) => *p,
            other => panic!("expected a plan, got {other:?}"),
        }
    }

    /// The configuration error, or a panic quoting what came out instead.
    pub fn config_error(self) -> ConfigError {
        match self {
            Parsed::Config(e) => e,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
}

/// Parses `loadgen <args>` as the binary does, then validates it into a plan.
pub fn parse(args: &[&str]) -> Parsed {
    match Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied())) {
        Err(e) => Parsed::Usage(e),
        Ok(cli) => match Plan::from_command(&cli.command) {
            Ok(plan) => Parsed::Plan(Box::new(plan)),
            Err(e) => Parsed::Config(e),
        },
    }
}

/// A fresh file path in a directory of this test process.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("loadgen-parsers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}-{name}", N.fetch_add(1, Ordering::Relaxed)))
}

/// A URL nobody listens on: building a plan never connects.
pub const URL: &str = "http://127.0.0.1:9/analyze";
