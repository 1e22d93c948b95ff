//! The command-line surface: `loadgen ramp` and `loadgen run`, parsed by clap and turned into a
//! validated [`crate::plan::Plan`] by `plan.rs`. Nothing here touches the network.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The URL the defaults aim at: the analyze-server started by the README.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000/analyze";
/// The body sent by default with a POST: one analysis question.
pub const DEFAULT_BODY: &str = r#"{"query":"Should I buy AAPL?"}"#;

/// Load generator for capacity planning: concurrency and rate ramps, HdrHistograms, CSV, SLO gate.
#[derive(Parser, Debug, Clone)]
#[command(name = "loadgen", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The two commands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// A ramp of closed-loop concurrency steps (or open-loop rate steps with --rate-steps).
    Ramp(RampArgs),
    /// One step: closed loop with --concurrency, or open loop with --rate.
    Run(RunArgs),
    /// Capacity-planning report of ramp CSVs: USL fit, knee, Little's law, recommendation.
    Report(crate::report::ReportArgs),
    /// Before/after comparison of two ramp CSVs.
    Compare(crate::report::CompareArgs),
}

/// Flags of `loadgen ramp`.
#[derive(Args, Debug, Clone)]
pub struct RampArgs {
    /// First concurrency of the ramp.
    #[arg(long, default_value_t = 1)]
    pub from: u32,
    /// Last concurrency of the ramp.
    #[arg(long, default_value_t = 50)]
    pub to: u32,
    /// Linear ramp: add N virtual users per step (default: 1, 2, 5, 10, then every 10 to 50, then 100, 200, 500...).
    #[arg(long, conflicts_with_all = ["steps", "rate_steps"])]
    pub step: Option<u32>,
    /// Explicit concurrency steps, e.g. 1,2,5,10,20,50.
    #[arg(long, value_delimiter = ',', conflicts_with = "rate_steps")]
    pub steps: Option<Vec<u32>>,
    /// Open-loop ramp of arrival rates in requests per second, e.g. 10,20,50,100.
    #[arg(long, value_delimiter = ',')]
    pub rate_steps: Option<Vec<f64>>,
    /// Measured duration of each step (after its warmup).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub step_duration: Duration,
    /// Warmup at the start of each step: traffic is sent but not counted.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Request, connection, output and gate flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `loadgen run`.
#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("load").required(true).args(["concurrency", "rate"])))]
pub struct RunArgs {
    /// Closed loop: this many virtual users, each sending its next request when the last one ends.
    #[arg(long, short = 'c')]
    pub concurrency: Option<u32>,
    /// Open loop: constant arrival rate in requests per second.
    #[arg(long, short = 'r')]
    pub rate: Option<f64>,
    /// Measured duration of the step.
    #[arg(long, short = 'd', default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Warmup before the measured duration: traffic is sent but not counted.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Request, connection, output and gate flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags shared by both commands.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Target URL (http only).
    #[arg(long, short = 'u', default_value = DEFAULT_URL)]
    pub url: String,
    /// HTTP method.
    #[arg(long = "method", short = 'X', default_value = "POST")]
    pub method: String,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Request body (default for POST: a short analysis question).
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the request body from this file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// Weighted requests from a TOML or JSON file, reported per request name.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Per-request timeout (connect included).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Timeout of a TCP connect.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Use HTTP/2 with prior knowledge (h2c), one connection per virtual user.
    #[arg(long)]
    pub http2: bool,
    /// Open loop: most requests in flight (and connections) at once; sends beyond it are late.
    #[arg(long, default_value_t = 1000)]
    pub max_in_flight: u32,
    /// A virtual user that got 429/503 with Retry-After waits that long before its next request.
    #[arg(long)]
    pub honor_retry_after: bool,
    /// Seed of the scenario's weighted choice of requests.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Runtime worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
    /// SLO flags.
    #[command(flatten)]
    pub gate: GateArgs,
}

/// Where results go.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// CSV summary, one row per step (default: reports/runs/<UTC timestamp>/<command>.csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// JSON summary: {"version", "config", "steps": [...]}.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Per-second rows for each step with per-interval percentiles (CSV).
    #[arg(long)]
    pub timeseries: Option<PathBuf>,
    /// HdrHistogram interval log (V2 compressed), one histogram per step.
    #[arg(long)]
    pub hdr_log: Option<PathBuf>,
    /// No live progress (the final table is still printed).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The SLO gate.
#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// Objective checked on every step, e.g. 'p99<2s', 'success>=99%', 'goodput>=30/s' (repeatable).
    #[arg(long)]
    pub slo: Vec<String>,
    /// Gate only steps up to this concurrency (rate, for rate ramps).
    #[arg(long)]
    pub slo_until: Option<f64>,
}

impl Command {
    /// The flags both commands share.
    pub fn common(&self) -> &CommonArgs {
        match self {
            Command::Ramp(a) => &a.common,
            Command::Run(a) => &a.common,
            // main.rs dispatches these two before anything asks for request flags.
            Command::Report(_) | Command::Compare(_) => {
                unreachable!("report and compare send no requests")
            }
        }
    }

    /// The command's name, used for the default CSV file name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ramp(_) => "ramp",
            Command::Run(_) => "run",
            Command::Report(_) => "report",
            Command::Compare(_) => "compare",
        }
    }
}
