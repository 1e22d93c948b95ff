//! A load command's settings, built once from the command line (as ripgrep's low → high args
//! and the server's `RawArgs → Settings`): [`RunConfig`] holds the validated [`Plan`], the SLO
//! [`Gate`] and the [`OutputSettings`], and [`CapacityConfig`] adds `find-capacity`'s search.
//! Every flag is checked here, before anything is sent, each error naming its flag (exit 2); the
//! commands and the session only use what cannot be invalid.

mod paths;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::capacity;
use crate::cli::{Command, CommonArgs, FindCapacityArgs};
use crate::error::ConfigError;
use crate::gate;
use crate::plan::{self, Plan};
use crate::slo::Objective;

pub use paths::{Named, OutputPaths, Sampled, SCRAPE_FILE};

/// One load command's validated settings: what to send, how to judge it, where results go.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// What to send and when.
    pub plan: Arc<Plan>,
    /// The objectives every step is checked against.
    pub gate: Gate,
    /// Where the results go, and how the run is shown while it lasts.
    pub outputs: OutputSettings,
}

/// The SLO gate: `--slo` objectives, each naming only requests the plan has, and the
/// `--slo-until` cut.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// The objectives, as given.
    pub objectives: Vec<Objective>,
    /// Steps above this concurrency (rate, for rate steps) are not gated; positive when set.
    pub until: Option<f64>,
}

/// Where a run's results go and how it is shown while it lasts.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// The output files, checked (none shared by two outputs).
    pub paths: OutputPaths,
    /// `--dashboard`: where the live page listens.
    pub dashboard: Option<SocketAddr>,
    /// `--metrics-addr`: where loadgen's own Prometheus metrics are served.
    pub metrics_addr: Option<SocketAddr>,
    /// `--quiet`: no live progress.
    pub quiet: bool,
}

/// `find-capacity`'s settings: the run's, and the search's bounds and confirmation.
#[derive(Debug, Clone)]
pub struct CapacityConfig {
    /// The plan (without steps: the search chooses each probe's load), gate and outputs.
    pub run: RunConfig,
    /// The search's bounds, growth, resolution and confirmation count.
    pub search: capacity::Settings,
}

impl RunConfig {
    /// Validates a load command's flags, in this order: the plan, the gate, the outputs.
    pub fn from_command(cmd: &Command) -> Result<RunConfig, ConfigError> {
        let plan = Plan::from_command(cmd)?;
        let common = cmd
            .common()
            .ok_or_else(|| ConfigError::new(cmd.name(), "sends no load"))?;
        let gate = Gate::new(common, &plan)?;
        let outputs = OutputSettings::new(common, plan.command)?;
        Ok(RunConfig {
            plan: Arc::new(plan),
            gate,
            outputs,
        })
    }
}

impl Gate {
    /// `--slo` and `--slo-until` of `common`: every `NAME:` objective names a request of `plan`,
    /// and the cut is a positive number.
    fn new(common: &CommonArgs, plan: &Plan) -> Result<Gate, ConfigError> {
        let names: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
        gate::check_names(&common.gate.slo, &names)?;
        let until = common.gate.slo_until;
        if until.is_some_and(|u| !(u.is_finite() && u > 0.0)) {
            return Err(ConfigError::new("--slo-until", "must be a positive number"));
        }
        Ok(Gate {
            objectives: common.gate.slo.clone(),
            until,
        })
    }
}

impl OutputSettings {
    fn new(common: &CommonArgs, command: &str) -> Result<OutputSettings, ConfigError> {
        let o = &common.output;
        Ok(OutputSettings {
            paths: OutputPaths::resolve(common, command)?,
            dashboard: o.dashboard,
            metrics_addr: o.metrics_addr,
            quiet: o.quiet,
        })
    }
}

impl CapacityConfig {
    /// Validates `find-capacity`'s flags: the search's first (bounds, at least one objective,
    /// no `--slo-until`), then the run's as [`RunConfig::from_command`].
    pub fn from_args(a: &FindCapacityArgs) -> Result<CapacityConfig, ConfigError> {
        let search = search_settings(a)?;
        let run = RunConfig::from_command(&Command::FindCapacity(a.clone()))?;
        Ok(CapacityConfig { run, search })
    }
}

fn search_settings(a: &FindCapacityArgs) -> Result<capacity::Settings, ConfigError> {
    let finite_pos = |v: f64| v.is_finite() && v > 0.0;
    if !finite_pos(a.min) {
        return Err(ConfigError::new("--min", "must be a positive number"));
    }
    if !(a.max.is_finite() && a.max >= a.min) {
        return Err(ConfigError::new("--max", "must be at least --min"));
    }
    if !(a.factor.is_finite() && a.factor > 1.0) {
        return Err(ConfigError::new("--factor", "must be greater than 1"));
    }
    if !finite_pos(a.resolution) {
        return Err(ConfigError::new(
            "--resolution",
            "must be a positive number",
        ));
    }
    if a.common.gate.slo.is_empty() {
        return Err(ConfigError::new(
            "--slo",
            "find-capacity needs at least one objective (e.g. --slo 'p99<2s')",
        ));
    }
    if a.common.gate.slo_until.is_some() {
        return Err(ConfigError::new(
            "--slo-until",
            "does not apply to find-capacity: every probe is gated whole (use --max to bound the search)",
        ));
    }
    let over = if a.rate() {
        if a.max > plan::MAX_RATE {
            return Err(ConfigError::new(
                "--max",
                format!("a rate above {} per second", plan::MAX_RATE),
            ));
        }
        if a.common.max_in_flight == 0 {
            return Err(ConfigError::new("--max-in-flight", "must be at least 1"));
        }
        capacity::Over::Rate {
            max_in_flight: a.common.max_in_flight,
            arrivals: plan::arrivals(&a.common),
        }
    } else {
        if a.max > f64::from(u32::MAX) {
            return Err(ConfigError::new("--max", "concurrency too large"));
        }
        capacity::Over::Concurrency
    };
    Ok(capacity::Settings {
        min: a.min,
        max: a.max,
        factor: a.factor,
        resolution: a.resolution,
        confirm: a.confirm,
        over,
        instance: a.common.instance,
    })
}
