//! The command-line surface: every subcommand's flags, parsed by clap (`--slo` straight into
//! [`crate::slo::Objective`]s; the flags of `report` and `compare` are the report crate's), and
//! turned into validated settings once by [`crate::config`]. Nothing here touches the network.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::instance::Instance;
use crate::slo::Objective;

/// The default `--timeout` of every load command.
pub(crate) const DEFAULT_TIMEOUT: &str = "30s";
/// The default measured duration of a step (`--step-duration`, `run`'s `--duration`).
pub(crate) const DEFAULT_STEP: &str = "10s";
/// The default `--warmup` of a step of `ramp` and `find-capacity`.
pub(crate) const DEFAULT_STEP_WARMUP: &str = "2s";

/// What the figures mean (`--help`).
pub const DEFINITIONS: &str = "\
Definitions:
  A request belongs to the step in which it was sent (its intended send time in open loop);
  virtual users and their connections persist across steps, and a step's row is final when
  every one of its requests is resolved: answered, failed, or timed out at --timeout.
  requests      every request sent in the step = ok + rejected_429 + rejected_503 + other_4xx
                + other_5xx + other_status + timeouts + connect_errors + io_errors
                + in_flight_at_end
  unsent        open loop: sends due in the step that never went out (no free connection
                within their timeout)
  in_flight_at_end  unresolved when an interruption's grace ended: neither success nor failure
  ok            2xx only; 1xx finals, 3xx and unknown statuses are other_status
  success_rate  ok / (requests - in_flight_at_end + unsent)
  p50_ms..max   latency of 2xx responses; rejected_p50/p99 of 429+503, all_p50/p99 of every
                answer
  Ctrl-C/SIGTERM: no new requests; those in flight get up to 5 s (or --timeout) to finish, a
  second Ctrl-C cuts them at once; steps already sent keep their results.
  Exit codes: 0 pass, 1 an objective failed, 2 usage error, 3 target unreachable,
  130/143 interrupted by SIGINT/SIGTERM.";

/// The URL the defaults aim at: the analyze-server started by the README.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000/analyze";
/// The body sent by default with a POST: one analysis question.
pub const DEFAULT_BODY: &str = r#"{"query":"Should I buy AAPL?"}"#;

/// Load generator for capacity planning: concurrency and rate ramps, HdrHistograms, CSV, SLO gate.
#[derive(Parser, Debug, Clone)]
#[command(name = "loadgen", version, about, after_long_help = DEFINITIONS)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    // Fixed usage lines: clap's own, in an error about a flag given, lists that flag as if it
    // were required (`Usage: loadgen ramp --steps <STEPS> [URL]`).
    /// A ramp of closed-loop concurrency steps (or open-loop rate steps with --rate-steps).
    #[command(override_usage = "loadgen ramp [OPTIONS] [URL]")]
    Ramp(RampArgs),
    /// One step: closed loop with --concurrency, or open loop with --rate.
    #[command(override_usage = "loadgen run <--concurrency <N>|--rate <RATE>> [OPTIONS] [URL]")]
    Run(RunArgs),
    /// Capacity-planning report of ramp CSVs: USL fit, knee, Little's law, recommendation.
    #[command(override_usage = "loadgen report <CSV>... --out-dir <DIR> [OPTIONS]")]
    Report(report::ReportArgs),
    /// Before/after comparison of two ramp CSVs.
    #[command(override_usage = "loadgen compare <BEFORE> <AFTER> --out-dir <DIR>")]
    Compare(report::CompareArgs),
    /// Search the highest concurrency (or rate) at which every --slo holds, then confirm it.
    #[command(mut_arg("slo_until", |a| a.hide(true)))]
    #[command(override_usage = "loadgen find-capacity --slo <SLO>... [OPTIONS] [URL]")]
    FindCapacity(FindCapacityArgs),
    /// Check a report's prediction against the runs that re-measured it (verify.md; exit 1 on a
    /// miss).
    #[command(subcommand)]
    Verify(report::verify_run::VerifyKind),
    /// Merge the --hdr-log files of one run's instances into one CSV/JSON and gate on them.
    #[command(override_usage = "loadgen merge <LOG>... --out <DIR> [OPTIONS]")]
    Merge(MergeArgs),
}

/// Flags of `loadgen merge`.
#[derive(Args, Debug, Clone)]
#[command(after_long_help = DEFINITIONS)]
pub struct MergeArgs {
    /// The instances' --hdr-log files (every instance of one run, each once).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Directory for merged.csv and merged.json.
    #[arg(long)]
    pub out: PathBuf,
    /// No table on stdout.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// SLO flags, applied to the merged steps.
    #[command(flatten)]
    pub gate: GateArgs,
}

/// What `find-capacity` searches over.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOver {
    /// Virtual users (closed loop).
    Concurrency,
    /// Arrivals per second (open loop).
    Rate,
}

impl FindCapacityArgs {
    /// The search is over arrival rate (open loop).
    pub fn rate(&self) -> bool {
        self.search == SearchOver::Rate
    }
}

/// Flags of `loadgen find-capacity`.
#[derive(Args, Debug, Clone)]
#[command(after_long_help = DEFINITIONS)]
pub struct FindCapacityArgs {
    /// What to search over: `concurrency` (virtual users, closed loop) or `rate` (arrivals per
    /// second, open loop). `--rate` elsewhere always takes a value, so this is not a switch.
    #[arg(long, value_enum, default_value_t = SearchOver::Concurrency)]
    pub search: SearchOver,
    /// Lowest load probed first (concurrency, or rate per second).
    #[arg(long, default_value_t = 1.0)]
    pub min: f64,
    /// Highest load probed.
    #[arg(long, default_value_t = 1000.0)]
    pub max: f64,
    /// Growth factor of the geometric phase.
    #[arg(long, default_value_t = 2.0)]
    pub factor: f64,
    /// The bisection stops when the bracket is this narrow (concurrency: users; rate: per second).
    #[arg(long, default_value_t = 1.0)]
    pub resolution: f64,
    /// Re-runs of the best load; it is reported only if every re-run holds.
    #[arg(long, default_value_t = 2)]
    pub confirm: u32,
    /// Measured duration of each probe.
    #[arg(long, short = 'd', default_value = DEFAULT_STEP, value_parser = humantime::parse_duration)]
    pub step_duration: Duration,
    /// Warmup of each probe: traffic is sent but not counted; the probe's users start spread
    /// over it (see --spawn-over).
    #[arg(long, default_value = DEFAULT_STEP_WARMUP, value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Request, connection, output and gate flags (at least one --slo is required).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `loadgen ramp`.
#[derive(Args, Debug, Clone)]
#[command(after_long_help = DEFINITIONS)]
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
    #[arg(long, short = 'd', default_value = DEFAULT_STEP, value_parser = humantime::parse_duration)]
    pub step_duration: Duration,
    /// Warmup at the start of each step: traffic is sent but not counted; the users a step adds
    /// start spread over it (see --spawn-over).
    #[arg(long, default_value = DEFAULT_STEP_WARMUP, value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Request, connection, output and gate flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `loadgen run`.
#[derive(Args, Debug, Clone)]
#[command(after_long_help = DEFINITIONS)]
#[command(group(clap::ArgGroup::new("load").required(true).args(["concurrency", "rate"])))]
pub struct RunArgs {
    /// Closed loop: this many virtual users, each sending its next request when the last one ends.
    #[arg(long, short = 'c')]
    pub concurrency: Option<u32>,
    /// Open loop: constant arrival rate in requests per second.
    #[arg(long, short = 'r')]
    pub rate: Option<f64>,
    /// Measured duration of the step.
    #[arg(long, short = 'd', default_value = DEFAULT_STEP, value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Warmup before the measured duration: traffic is sent but not counted; the users start
    /// spread over it (see --spawn-over). With 0s and no --spawn-over, the users' first
    /// requests go out together (their first cycle is in lockstep); throughput still counts
    /// each cycle by its share of the window, so it is not biased by that.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Request, connection, output and gate flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags shared by the commands.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Target URL as the first positional argument, as oha, hey and wrk take it (default:
    /// http://127.0.0.1:8000/analyze).
    #[arg(value_name = "URL", conflicts_with = "url")]
    pub target: Option<String>,
    /// Target URL (same as the positional URL).
    #[arg(long, short = 'u')]
    pub url: Option<String>,
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
    /// Varied request bodies: a JSON Lines file, one body per line (each line valid JSON), as
    /// k6's SharedArray or vegeta's targets; a scenario's `[[request]]` takes `bodies = "FILE"`.
    /// The JSON summary records the file and its SHA-256.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["body", "body_file", "scenario"])]
    pub bodies: Option<PathBuf>,
    /// How each send picks its body from --bodies: `sequential` (file order, cycling: every line
    /// once per pass) or `random` (uniform per send, reproducible from --seed).
    #[arg(long, value_enum, default_value_t = crate::bodies::BodiesOrder::Sequential)]
    pub bodies_order: crate::bodies::BodiesOrder,
    /// Weighted requests from a TOML or JSON file, reported per request name.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Per-request timeout (connect included).
    #[arg(long, default_value = DEFAULT_TIMEOUT, value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Timeout of a TCP connect.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// HTTP/2, one connection per virtual user: prior knowledge (h2c) over http, ALPN over https.
    #[arg(long)]
    pub http2: bool,
    /// https: trust the CA certificates in this PEM file (besides the Mozilla roots).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// https: accept any server certificate (self-signed test targets).
    #[arg(long)]
    pub insecure: bool,
    /// Open loop: most requests in flight (and connections) at once; sends beyond it are late.
    #[arg(long, default_value_t = 1000)]
    pub max_in_flight: u32,
    /// A virtual user that got 429/503 with Retry-After waits that long before its next request.
    #[arg(long)]
    pub honor_retry_after: bool,
    /// Open loop: the arrival process of --rate / --rate-steps: `constant` (evenly spaced,
    /// `start + i/rate`), `poisson` (exponential gaps: independent users) or `gamma:CV` (gamma
    /// gaps with that coefficient of variation; CV > 1 is bursty). Mean rate as asked; gaps
    /// drawn from --seed (per step and --instance). Latency still runs from the intended send
    /// time [default: constant].
    #[arg(long, value_name = "PROCESS")]
    pub arrivals: Option<crate::arrivals::Arrivals>,
    /// Seed of the scenario's weighted choice of requests, of the users' start offsets, of
    /// --arrivals and of --bodies-order random.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Closed loop: virtual users that start together (a run, a probe, the users a ramp step
    /// adds) start at uniform random offsets over this long, as Locust's spawn rate and k6's
    /// ramping stages do (default: the --warmup, so they are out of step before measuring).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub spawn_over: Option<Duration>,
    /// Closed loop: each virtual user pauses this long after every answer before its next
    /// request (a user reading or thinking): `5s` fixed, `exp:30s` exponential with that mean,
    /// `uniform:10s..50s`; drawn per user per request from --seed. Latency excludes it; the
    /// concurrency is then users, not requests in flight (see in_flight_mean).
    #[arg(long, value_name = "DIST")]
    pub think_time: Option<crate::think::ThinkTime>,
    /// Closed loop, with --think-time: a user closes its keep-alive connection before each think
    /// and opens a new one for its next request, as a browser or app idle that long would. The
    /// target then sees about one connection per request; by default a thinking user keeps its
    /// connection, one per user.
    #[arg(long, requires = "think_time")]
    pub close_between: bool,
    /// Before the run, send each target one real request and warn when it answers 4xx/5xx. By
    /// default the reachability check only connects (TCP, and TLS for https), so no request
    /// reaches the target uncounted; a preflight request is reported as `preflight_requests`.
    #[arg(long)]
    pub preflight_request: bool,
    /// Runtime worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Wait until this UTC instant (RFC 3339, e.g. 2026-12-01T10:00:00Z), then start the steps:
    /// generators on several machines given one instant run their steps together.
    #[arg(long, value_parser = parse_start_at)]
    pub start_at: Option<std::time::SystemTime>,
    /// Run the i-th of n shares of the load (0-based, `i/n`): concurrency split so shares differ
    /// by at most one, rate split evenly. Merge the instances' --hdr-log with `loadgen merge`.
    #[arg(long, value_parser = parse_instance)]
    pub instance: Option<Instance>,
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
    /// JSON summary. ramp/run: {"version", "config", "steps": [...], "preflight_requests",
    /// "warmup_requests"}; find-capacity: {"capacity", "unit", "objectives", "capped_by_max",
    /// "probes": [...], "preflight_requests", "warmup_requests"}.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Sample this Prometheus endpoint (e.g. the server's /metrics) every second: every sample
    /// to scrape.csv beside --out, and per step in --json, gauges' mean/max and counters'
    /// increase over the measured window.
    #[arg(long, value_name = "URL")]
    pub scrape: Option<String>,
    /// Linux, target on this machine: sample process PID's CPU (utime + stime) and resident
    /// memory from /proc every second, as process_cpu_seconds_total and
    /// process_resident_memory_bytes with source="target_pid": to scrape.csv beside --out and
    /// per step in --json (the CPU seconds' increase, the memory's mean), with or without --scrape.
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub target_pid: Option<u32>,
    /// The CPU cores the target may use: the capacity its CPU use is read against, recorded in
    /// --json's config [default: this host's available parallelism].
    #[arg(long, value_name = "N", value_parser = parse_cores)]
    pub target_cores: Option<f64>,
    /// A live dashboard in the browser while the run lasts, served by loadgen: charts updated
    /// every second and a Stop button (as Ctrl-C). `--dashboard` alone listens on 127.0.0.1 on
    /// a free port; `--dashboard=ADDR` (or `=PORT`) where given. The URL (with the Stop
    /// button's token) is printed at the start.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = "127.0.0.1:0", value_parser = parse_listen)]
    pub dashboard: Option<std::net::SocketAddr>,
    /// Serve loadgen's own metrics (requests by outcome and name, latency histogram, in flight,
    /// users, step, late sends) in the Prometheus text format at http://ADDR/metrics while the
    /// run lasts (ADDR or PORT; a bare port listens on 127.0.0.1).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Per-second rows for each step with per-interval percentiles (CSV).
    #[arg(long)]
    pub timeseries: Option<PathBuf>,
    /// HdrHistogram interval log (V2 compressed), one histogram per step.
    #[arg(long)]
    pub hdr_log: Option<PathBuf>,
    /// No live progress (the final table is still printed). k6's `-q`; hey's `-q` is a rate,
    /// which is `-r/--rate` here.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The SLO gate.
#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// Objective checked on every step, e.g. 'p99<2s', 'success>=99%', 'goodput>=30/s' (repeatable).
    #[arg(long, value_parser = clap::value_parser!(Objective))]
    pub slo: Vec<Objective>,
    /// Gate only steps up to this concurrency (rate, for rate ramps).
    #[arg(long)]
    pub slo_until: Option<f64>,
    /// JUnit XML: one test case per step × objective, so CI shows the gate as tests.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

// Values are quoted escaped: clap strips terminal escape sequences from its output, and an
// unescaped `ESC ]` would take the rest of the message with it.

fn parse_instance(s: &str) -> Result<Instance, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("'{}' is not i/n (e.g. 0/3)", s.escape_debug()))?;
    let index: u32 = i
        .trim()
        .parse()
        .map_err(|_| format!("'{}' is not an index", i.escape_debug()))?;
    let count: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("'{}' is not a count", n.escape_debug()))?;
    if count == 0 || index >= count {
        return Err(format!(
            "index {index} must be below the count {count} (0-based)"
        ));
    }
    Ok(Instance { index, count })
}

fn parse_cores(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!(
            "'{}' is not a number of cores above 0 (e.g. 2 or 1.5)",
            s.escape_debug()
        )),
    }
}

fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    let t = s.trim();
    if let Ok(a) = t.parse::<std::net::SocketAddr>() {
        return Ok(a);
    }
    match t.trim_start_matches(':').parse::<u16>() {
        Ok(port) => Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => Err(format!(
            "'{}' is not an address to listen on like 127.0.0.1:8089, 0.0.0.0:9464 or 8089",
            t.escape_debug()
        )),
    }
}

fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).map_err(|e| {
        format!(
            "'{}' is not an RFC 3339 UTC time like 2026-12-01T10:00:00Z: {e}",
            s.escape_debug()
        )
    })
}

impl CommonArgs {
    /// The target URL: positional, else `--url`, else the README's server.
    pub fn url(&self) -> &str {
        self.target
            .as_deref()
            .or(self.url.as_deref())
            .unwrap_or(DEFAULT_URL)
    }

    /// Runtime threads to use: `--threads`, else the CPUs this process may run on.
    pub fn threads(&self) -> usize {
        self.threads.filter(|&n| n > 0).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }
}

impl OutputArgs {
    /// The target's CPU capacity in cores: `--target-cores`, else this host's available
    /// parallelism (the target is assumed to share the machine's cores).
    pub fn target_cores(&self) -> f64 {
        self.target_cores
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64))
    }
}

impl Command {
    /// The flags the load commands share (`None` for `merge`, which sends nothing).
    pub fn common(&self) -> Option<&CommonArgs> {
        match self {
            Command::Ramp(a) => Some(&a.common),
            Command::Run(a) => Some(&a.common),
            Command::FindCapacity(a) => Some(&a.common),
            Command::Merge(_) | Command::Report(_) | Command::Compare(_) | Command::Verify(_) => {
                None
            }
        }
    }

    /// The command's name, used for the default CSV file name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ramp(_) => "ramp",
            Command::Run(_) => "run",
            Command::FindCapacity(_) => "find-capacity",
            Command::Merge(_) => "merge",
            Command::Report(_) => "report",
            Command::Compare(_) => "compare",
            Command::Verify(_) => "verify",
        }
    }
}
