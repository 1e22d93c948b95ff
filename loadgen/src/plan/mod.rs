//! What to send and when: the validated plan built once from the command line (steps, rates,
//! request templates, timeouts). A `Plan` cannot hold an invalid value; every error names its flag.

use std::time::Duration;

use serde::Serialize;

pub mod flow;
mod request;
mod target_url;
pub mod tls;

pub use crate::instance::Instance;
pub use request::RequestTemplate;

use crate::arrivals::Arrivals;
use crate::cli::{Command, CommonArgs};
use crate::error::ConfigError;
use request::{scenario_requests, single_request};

/// Longest accepted duration flag: a run's clock is laid out as instants ahead of now, which
/// cannot hold arbitrary spans (`500000000000years` parses, then overflows an `Instant`).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Highest accepted arrival rate, per second. The pacer spaces sends on a nanosecond clock: far
/// above this, consecutive sends share one instant and a step's sends never reach its end.
pub const MAX_RATE: f64 = 1e7;

/// Most steps a ramp may have (`--from 1 --to 4000000000 --step 1` would allocate one per level).
pub const MAX_STEPS: u64 = 10_000;

/// Why a think time and an arrival rate do not go together (`--think-time`, a scenario's
/// `think_time`): refused rather than ignored, as `--close-between` is.
const OPEN_LOOP_THINKS: &str = "applies to closed-loop users (--concurrency, or a ramp without \
     --rate-steps): an open-loop arrival is one request sent on the rate's schedule, whatever \
     the answers, so no user waits between requests; drop it or use virtual users";

/// How load is offered during one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Load {
    /// `concurrency` virtual users, each sending its next request when the previous one ends.
    Closed {
        /// Number of virtual users (and connections).
        concurrency: u32,
    },
    /// Requests arrive at `rate` per second whatever the responses do.
    Open {
        /// Arrival rate, requests per second.
        rate: f64,
        /// Most requests in flight at once (and connections).
        max_in_flight: u32,
        /// How arrivals are spread in time (`--arrivals`; absent in older logs: constant).
        #[serde(default)]
        arrivals: Arrivals,
    },
}

impl Load {
    /// The value `--slo-until` compares against: concurrency, or rate in open loop.
    pub fn level(&self) -> f64 {
        match *self {
            Load::Closed { concurrency } => f64::from(concurrency),
            Load::Open { rate, .. } => rate,
        }
    }
}

/// Everything the engine and sinks need, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `ramp` or `run`.
    pub command: &'static str,
    /// The steps, in order.
    pub steps: Vec<Load>,
    /// Measured time of each step.
    pub step_duration: Duration,
    /// Uncounted time at the start of each step.
    pub warmup: Duration,
    /// The requests to send (one unless a scenario names more).
    pub requests: Vec<RequestTemplate>,
    /// What a user chooses among: single requests and sessions over `requests`.
    pub flows: Vec<flow::Flow>,
    /// Target URL as given.
    pub url: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// HTTP/2 (prior knowledge over http, ALPN over https).
    pub http2: bool,
    /// TLS configuration when any request goes to an `https://` URL.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Wall-clock instant at which the steps start (`--start-at`).
    pub start_at: Option<std::time::SystemTime>,
    /// This generator's share of the load (`--instance i/n`).
    pub instance: Option<Instance>,
    /// Identifies the run across its instances: the shared start and the unsplit plan.
    pub run_id: String,
    /// Honor Retry-After on 429/503.
    pub honor_retry_after: bool,
    /// Seed of the weighted choice, the users' start offsets, the arrivals and the bodies' draw.
    pub seed: u64,
    /// Open loop: the arrival process of every open-loop step; `None` in closed loop.
    pub arrivals: Option<Arrivals>,
    /// Closed loop: spread of the start of users that start together (`None`: the warm-up).
    pub spawn_over: Option<Duration>,
    /// Closed loop: the pause after each answer before a user's next request.
    pub think_time: Option<crate::think::ThinkTime>,
    /// Closed loop: a thinking user closes its connection and reconnects for its next request.
    pub close_between: bool,
    /// The reachability check sends a real request (`--preflight-request`), not just connects.
    pub preflight_request: bool,
    /// The process sampled for the target's CPU and memory (`--target-pid`).
    pub target_pid: Option<u32>,
    /// The target's CPU capacity in cores (`--target-cores`, else this host's).
    pub target_cores: f64,
}

impl Plan {
    /// Validates the command line into a plan.
    pub fn from_command(cmd: &Command) -> Result<Plan, ConfigError> {
        let common = cmd
            .common()
            .ok_or_else(|| ConfigError::new("merge", "sends no load"))?;
        let (steps, step_duration, warmup) = match cmd {
            Command::Ramp(a) => (ramp_steps(a, common)?, a.step_duration, a.warmup),
            Command::Run(a) => {
                let load = match (a.concurrency, a.rate) {
                    (Some(c), None) => closed(c, "--concurrency")?,
                    (None, Some(r)) => open(r, common.max_in_flight, arrivals(common), "--rate")?,
                    _ => return Err(ConfigError::new("--concurrency/--rate", "give exactly one")),
                };
                (vec![load], a.duration, a.warmup)
            }
            // find-capacity chooses each probe's load as it goes.
            Command::FindCapacity(a) => (Vec::new(), a.step_duration, a.warmup),
            Command::Merge(_) | Command::Report(_) | Command::Compare(_) | Command::Verify(_) => {
                return Err(ConfigError::new(cmd.name(), "sends no requests"))
            }
        };
        if let Some(at) = common.start_at {
            if let Err(e) = at.duration_since(std::time::SystemTime::now()) {
                if e.duration() > Duration::from_secs(1) {
                    return Err(ConfigError::new(
                        "--start-at",
                        format!("{} is in the past", humantime::format_rfc3339_millis(at)),
                    ));
                }
            }
        }
        let open_loop = steps.iter().any(|l| matches!(l, Load::Open { .. }))
            || matches!(cmd, Command::FindCapacity(a) if a.rate());
        if common.arrivals.is_some() && !open_loop {
            return Err(ConfigError::new(
                "--arrivals",
                "applies to open loop (--rate, --rate-steps, find-capacity --search rate); \
                 closed-loop users send when their last answer came (see --think-time)",
            ));
        }
        if common.close_between && open_loop {
            return Err(ConfigError::new(
                "--close-between",
                "applies to closed-loop users with --think-time; open-loop connections belong \
                 to no user and are kept",
            ));
        }
        if common.think_time.is_some() && open_loop {
            return Err(ConfigError::new("--think-time", OPEN_LOOP_THINKS));
        }
        let run_id = run_id(cmd.name(), common, &steps, step_duration, warmup);
        let steps = match common.instance {
            Some(inst) => steps.into_iter().map(|l| share(l, inst)).collect(),
            None => steps,
        };
        for (flag, d) in [
            ("--step-duration/--duration", step_duration),
            ("--warmup", warmup),
            ("--timeout", common.timeout),
            ("--connect-timeout", common.connect_timeout),
        ] {
            if d > MAX_DURATION {
                return Err(ConfigError::new(
                    flag,
                    format!("{} is longer than 365 days", humantime::format_duration(d)),
                ));
            }
        }
        if step_duration.is_zero() {
            return Err(ConfigError::new(
                "--step-duration/--duration",
                "must be greater than 0",
            ));
        }
        if common.timeout.is_zero() {
            return Err(ConfigError::new("--timeout", "must be greater than 0"));
        }
        if common.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "--connect-timeout",
                "must be greater than 0",
            ));
        }
        let base = target_url::base(common.url())?;
        let scenario = match &common.scenario {
            Some(path) => scenario_requests(path, &base, common)?,
            None => single_request(&base, common)?,
        };
        if let Some(s) = scenario
            .flows
            .iter()
            .find(|f| f.session)
            .filter(|_| open_loop)
        {
            return Err(ConfigError::new(
                "--scenario",
                format!(
                    "session '{}' needs virtual users (--concurrency, or a ramp without --rate): \
                     an open-loop arrival is one request",
                    s.name
                ),
            ));
        }
        if let Some(r) = scenario
            .flows
            .iter()
            .flat_map(|f| &f.steps)
            .find(|s| s.think.is_some())
            .filter(|_| open_loop)
        {
            return Err(ConfigError::new(
                "--scenario",
                format!(
                    "request '{}' has a think_time, which {OPEN_LOOP_THINKS}",
                    scenario.requests[r.request].name
                ),
            ));
        }
        let requests = scenario.requests;
        let any_tls = requests.iter().any(|r| r.uri.scheme_str() == Some("https"));
        let tls = if any_tls {
            Some(tls::client_config(
                common.cacert.as_deref(),
                common.insecure,
                common.http2,
            )?)
        } else {
            if common.cacert.is_some() {
                return Err(ConfigError::new(
                    "--cacert",
                    "only applies to https:// targets",
                ));
            }
            None
        };
        Ok(Plan {
            command: cmd.name(),
            steps,
            step_duration,
            warmup,
            requests,
            flows: scenario.flows,
            url: common.url().to_string(),
            timeout: common.timeout,
            connect_timeout: common.connect_timeout.min(common.timeout),
            http2: common.http2,
            tls,
            start_at: common.start_at,
            instance: common.instance,
            run_id,
            honor_retry_after: common.honor_retry_after,
            seed: common.seed,
            arrivals: open_loop.then(|| arrivals(common)),
            spawn_over: common.spawn_over,
            think_time: common.think_time,
            close_between: common.close_between,
            preflight_request: common.preflight_request,
            target_pid: common.output.target_pid,
            target_cores: common.output.target_cores(),
        })
    }
}

/// One instance's share of a step's load.
pub fn share(load: Load, inst: Instance) -> Load {
    match load {
        Load::Closed { concurrency } => Load::Closed {
            concurrency: inst.share_of_users(concurrency),
        },
        Load::Open {
            rate,
            max_in_flight,
            arrivals,
        } => Load::Open {
            rate: inst.share_of_rate(rate),
            max_in_flight,
            arrivals,
        },
    }
}

/// `<start>/<fingerprint>`: the instances of one run share the start instant and the unsplit
/// plan (command, URL, steps, durations), so `merge` can tell runs apart.
fn run_id(
    command: &str,
    common: &CommonArgs,
    steps: &[Load],
    step_duration: Duration,
    warmup: Duration,
) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    command.hash(&mut h);
    common.url().hash(&mut h);
    common.method.hash(&mut h);
    format!("{steps:?}").hash(&mut h);
    step_duration.hash(&mut h);
    warmup.hash(&mut h);
    common.timeout.hash(&mut h);
    common.instance.map(|i| i.count).hash(&mut h);
    let start = match common.start_at {
        Some(t) => humantime::format_rfc3339_millis(t).to_string(),
        None => format!(
            "unsynchronised-{}",
            humantime::format_rfc3339_nanos(std::time::SystemTime::now())
        ),
    };
    format!("{start}/{:016x}", h.finish())
}

pub(crate) fn closed(c: u32, flag: &str) -> Result<Load, ConfigError> {
    if c == 0 {
        return Err(ConfigError::new(flag, "concurrency must be at least 1"));
    }
    Ok(Load::Closed { concurrency: c })
}

/// The arrival process of the open-loop steps (`--arrivals`, constant when absent).
pub(crate) fn arrivals(common: &CommonArgs) -> Arrivals {
    common.arrivals.unwrap_or_default()
}

pub(crate) fn open(
    rate: f64,
    max_in_flight: u32,
    arrivals: Arrivals,
    flag: &str,
) -> Result<Load, ConfigError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(ConfigError::new(
            flag,
            format!("rate must be a positive number, got {rate}"),
        ));
    }
    if rate > MAX_RATE {
        return Err(ConfigError::new(
            flag,
            format!("rate {rate} is above {MAX_RATE} per second"),
        ));
    }
    if max_in_flight == 0 {
        return Err(ConfigError::new("--max-in-flight", "must be at least 1"));
    }
    Ok(Load::Open {
        rate,
        max_in_flight,
        arrivals,
    })
}

fn ramp_steps(a: &crate::cli::RampArgs, common: &CommonArgs) -> Result<Vec<Load>, ConfigError> {
    if let Some(rates) = &a.rate_steps {
        if rates.is_empty() {
            return Err(ConfigError::new("--rate-steps", "needs at least one rate"));
        }
        too_many_steps(rates.len(), "--rate-steps")?;
        return rates
            .iter()
            .map(|&r| open(r, common.max_in_flight, arrivals(common), "--rate-steps"))
            .collect();
    }
    if let Some(steps) = &a.steps {
        if steps.is_empty() {
            return Err(ConfigError::new(
                "--steps",
                "needs at least one concurrency",
            ));
        }
        too_many_steps(steps.len(), "--steps")?;
        return steps.iter().map(|&c| closed(c, "--steps")).collect();
    }
    if a.from == 0 {
        return Err(ConfigError::new("--from", "must be at least 1"));
    }
    if a.to < a.from {
        return Err(ConfigError::new(
            "--to",
            format!("must be at least --from ({})", a.from),
        ));
    }
    let levels = match a.step {
        Some(0) => return Err(ConfigError::new("--step", "must be at least 1")),
        Some(n) => {
            let span = a.to - a.from;
            let count = u64::from(span.div_ceil(n)) + 1;
            if count > MAX_STEPS {
                return Err(ConfigError::new(
                    "--step",
                    format!(
                        "{} to {} by {n} is more than {MAX_STEPS} steps",
                        a.from, a.to
                    ),
                ));
            }
            linear_levels(a.from, a.to, n)
        }
        None => default_levels(a.from, a.to),
    };
    levels
        .into_iter()
        .map(|c| closed(c, "--from/--to"))
        .collect()
}

fn too_many_steps(n: usize, flag: &str) -> Result<(), ConfigError> {
    if n as u64 > MAX_STEPS {
        return Err(ConfigError::new(
            flag,
            format!("{n} steps, more than {MAX_STEPS}"),
        ));
    }
    Ok(())
}

/// `from, from+n, …` with `to` always last.
pub fn linear_levels(from: u32, to: u32, n: u32) -> Vec<u32> {
    let mut v: Vec<u32> = (from..=to).step_by(n as usize).collect();
    if v.last() != Some(&to) {
        v.push(to);
    }
    v
}

/// 1, 2, 5, 10, then every 10 up to 50, then 100, 200, 500, 1000…; clipped to `[from, to]`,
/// starting with `from` and ending with `to`.
pub fn default_levels(from: u32, to: u32) -> Vec<u32> {
    let mut series: Vec<u64> = vec![1, 2, 5, 10, 20, 30, 40, 50];
    let mut decade: u64 = 100;
    while decade <= u64::from(to) {
        series.extend([decade, decade * 2, decade * 5]);
        decade *= 10;
    }
    let mut v = vec![from];
    v.extend(
        series
            .into_iter()
            .filter(|&x| x > u64::from(from) && x < u64::from(to))
            .map(|x| x as u32),
    );
    if v.last() != Some(&to) {
        v.push(to);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ramp_to_50_is_one_two_five_then_tens() {
        assert_eq!(default_levels(1, 50), vec![1, 2, 5, 10, 20, 30, 40, 50]);
        assert_eq!(default_levels(3, 7), vec![3, 5, 7]);
        assert_eq!(
            default_levels(1, 250),
            vec![1, 2, 5, 10, 20, 30, 40, 50, 100, 200, 250]
        );
    }

    #[test]
    fn linear_ramp_always_ends_at_to() {
        assert_eq!(linear_levels(1, 10, 4), vec![1, 5, 9, 10]);
        assert_eq!(linear_levels(5, 5, 3), vec![5]);
    }
}
