//! The recommendation as a record: the settings, what they predict and the reasoning, in the
//! target's terms. Made once by [`crate::decide::recommend`], never edited after.

use serde::Serialize;

use crate::decide::binding::Binding;
use crate::input::server::ServerSnapshot;

/// What kind of target the recommendation speaks to: analyze-server (recognised from its
/// `analyze_capacity` in /metrics), whose variables it names, or any other service, for which it
/// names a neutral concurrency limit, queue and wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// analyze-server: `MAX_CONCURRENT_ANALYSES`, `MAX_QUEUE_DEPTH`, `QUEUE_TIMEOUT_MS`.
    AnalyzeServer,
    /// Any other service: a concurrency limit in front of it, a queue and a wait.
    Service,
}

impl TargetKind {
    /// analyze-server, recognised from its own `analyze_capacity` in the /metrics snapshot; any
    /// other target gets a recommendation in neutral terms.
    pub fn of(snapshot: Option<&ServerSnapshot>) -> Self {
        match snapshot.is_some_and(|s| s.capacity.is_some()) {
            true => TargetKind::AnalyzeServer,
            false => TargetKind::Service,
        }
    }
}

/// Whether a number was measured at the recommended load or extrapolated past the tested range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// A step ran at the recommended load (or the provider bound within the tested range).
    Measured,
    /// Past what the run tested: from the light-load service time and the provider budgets.
    Extrapolated,
}

/// The recommended server settings. In `summary.json` the three settings are named in the
/// target's terms: `max_concurrent_analyses`, `max_queue_depth`, `queue_timeout_ms` for
/// analyze-server; `concurrency_limit`, `queue_depth`, `queue_wait_ms` for any other service.
#[derive(Debug, Clone)]
pub struct Recommendation {
    /// `MAX_CONCURRENT_ANALYSES`.
    pub max_concurrent_analyses: u32,
    /// `MAX_QUEUE_DEPTH`.
    pub max_queue_depth: u32,
    /// `QUEUE_TIMEOUT_MS`.
    pub queue_timeout_ms: u64,
    /// Goodput expected at `max_concurrent_analyses` users, per second.
    pub predicted_goodput_rps: f64,
    /// Its 95% interval, when extrapolated (from the service time's interval).
    pub predicted_goodput_ci: Option<[f64; 2]>,
    /// p99 expected at the recommended load, ms (measured at N, or at the tested permits).
    pub predicted_p99_ms: f64,
    /// What binds the system the recommendation is made for.
    pub binding: Binding,
    /// Whether N was measured or extrapolated past the tested range.
    pub basis: Basis,
    /// The concurrency range the run tested.
    pub tested_range: String,
    /// How to check the recommendation (a command that can fail).
    pub verify: String,
    /// The latency objective used, ms, and where it came from.
    pub latency_objective_ms: f64,
    /// The reasoning, as sentences.
    pub reasoning: String,
    /// Whose terms the settings are in: analyze-server's variables, or a neutral concurrency
    /// limit, queue and wait for any other service.
    pub target: TargetKind,
}

impl Serialize for Recommendation {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let names = match self.target {
            TargetKind::AnalyzeServer => [
                "max_concurrent_analyses",
                "max_queue_depth",
                "queue_timeout_ms",
            ],
            TargetKind::Service => ["concurrency_limit", "queue_depth", "queue_wait_ms"],
        };
        let mut m = ser.serialize_map(Some(14))?;
        m.serialize_entry(names[0], &self.max_concurrent_analyses)?;
        m.serialize_entry(names[1], &self.max_queue_depth)?;
        m.serialize_entry(names[2], &self.queue_timeout_ms)?;
        m.serialize_entry("predicted_goodput_rps", &self.predicted_goodput_rps)?;
        m.serialize_entry("predicted_goodput_ci", &self.predicted_goodput_ci)?;
        m.serialize_entry("predicted_p99_ms", &self.predicted_p99_ms)?;
        m.serialize_entry("binding", &self.binding)?;
        m.serialize_entry("basis", &self.basis)?;
        m.serialize_entry("tested_range", &self.tested_range)?;
        m.serialize_entry("verify", &self.verify)?;
        m.serialize_entry("latency_objective_ms", &self.latency_objective_ms)?;
        m.serialize_entry("reasoning", &self.reasoning)?;
        m.serialize_entry("target", &self.target)?;
        m.end()
    }
}
