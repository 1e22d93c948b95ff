//! `summary.json`: every number the report states, for scripts (the acceptance check reads
//! `recommended`) and for diffing two reports.

use serde::Serialize;

use crate::decide::binding::StepBinding;
use crate::decide::recommendation::{Basis, Recommendation, TargetKind};
use crate::measure::littles::LittleCheck;
use crate::model::provider::ProviderCeiling;
use crate::model::queueing::QueueingView;
use crate::model::scaling::UslSummary;

/// Version of this layout.
pub const SCHEMA_VERSION: &str = "1";

/// The whole summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Layout version.
    pub version: &'static str,
    /// The CSVs read.
    pub inputs: Vec<String>,
    /// Steps read (interrupted ones included).
    pub steps: usize,
    /// Highest concurrency measured (steps not interrupted).
    pub tested_concurrency: u32,
    /// Highest throughput of any step, per second.
    pub max_throughput_rps: f64,
    /// Highest goodput (2xx per second) of any step.
    pub max_goodput_rps: f64,
    /// Concurrency of the highest-goodput step.
    pub max_goodput_concurrency: Option<u32>,
    /// See [`crate::measure::knee::knee`]; None when goodput still grows at the top step.
    pub knee_concurrency: Option<u32>,
    /// Highest concurrency at which this and every lower step meet every `--slo` (None without
    /// objectives, or when the first step already fails).
    pub max_concurrency_meeting_slo: Option<u32>,
    /// The `--slo` objectives.
    pub objectives: Vec<String>,
    /// The Universal Scalability Law fit.
    pub usl: UslSummary,
    /// Little's law per closed-loop step.
    pub littles_law: Vec<LittleCheck>,
    /// What binds each closed-loop step (not interrupted), by concurrency.
    pub binding: Vec<StepBinding>,
    /// Latency growth past the server's permit count.
    pub queueing: Option<QueueingView>,
    /// The provider tier's ceiling (None without a tier).
    pub provider: Option<ProviderCeiling>,
    /// Server settings and the goodput they predict.
    pub recommended: Option<Recommendation>,
    /// Whose terms the report speaks in: analyze-server (recognised from `analyze_capacity` in
    /// its /metrics) or any other service.
    pub target: TargetKind,
    /// Why there is no recommendation, when there is none (no served request, or every step
    /// that served was bound by the per-client rate limit).
    pub recommendation_withheld: Option<String>,
    /// Runs at different server settings, each analysed on its own (empty when every CSV was
    /// measured at the same settings and they were pooled). The rest of the summary is the first
    /// configuration's.
    pub configurations: Vec<Configuration>,
    /// Per request name (runs of several names): measured figures and a USL fit of each.
    pub names: Vec<crate::model::names::NameSummary>,
    /// How many users (runs with think time only): measured, and predicted per think time.
    pub users: Option<crate::model::users::UsersAnswer>,
    /// Model calls and tokens per analysis, p50/p95 (measured, the server's histograms).
    pub spread: Option<crate::measure::spread::Spread>,
    /// How many requests per second (Poisson arrivals) the recommended settings take.
    pub open_loop: Option<crate::decide::open_rate::OpenLoopAnswer>,
    /// The headline findings, as sentences.
    pub findings: Vec<String>,
}

/// One configuration's headline figures, all measured except `recommended_n`.
#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    /// The server settings, e.g. `MAX_CONCURRENT_ANALYSES=10`.
    pub settings: String,
    /// Its CSVs.
    pub inputs: Vec<String>,
    /// Highest goodput of any step, per second.
    pub max_goodput_rps: f64,
    /// Users at that step.
    pub max_goodput_concurrency: Option<u32>,
    /// The knee of its own goodput curve.
    pub knee_concurrency: Option<u32>,
    /// Highest load meeting every objective.
    pub max_concurrency_meeting_slo: Option<u32>,
    /// What binds its highest step.
    pub binding_at_top: Option<crate::decide::binding::Binding>,
    /// The recommendation its own analysis makes (`None`: withheld).
    pub recommended_n: Option<u32>,
    /// Whether that recommendation was measured or extrapolated.
    pub basis: Option<Basis>,
}

impl Configuration {
    /// The headline figures of one configuration's own summary; `settings` names it.
    pub fn of(settings: &str, s: &Summary) -> Self {
        Configuration {
            settings: settings.to_string(),
            inputs: s.inputs.clone(),
            max_goodput_rps: s.max_goodput_rps,
            max_goodput_concurrency: s.max_goodput_concurrency,
            knee_concurrency: s.knee_concurrency,
            max_concurrency_meeting_slo: s.max_concurrency_meeting_slo,
            binding_at_top: s.binding.last().map(|b| b.binding),
            recommended_n: s.recommended.as_ref().map(|r| r.max_concurrent_analyses),
            basis: s.recommended.as_ref().map(|r| r.basis),
        }
    }
}
