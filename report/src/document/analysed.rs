//! The analysed run: what the writers are given, made once by [`crate::analysis::analyze`].

use crate::document::summary::Summary;
use crate::input::row::StepRow;
use crate::model::names::NameView;
use crate::model::usl::Fit;

/// Everything the writers need.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The numbers, as written to `summary.json`.
    pub summary: Summary,
    /// The fit, for the charts' curve and band.
    pub fit: Option<Fit>,
    /// Steps with a concurrency that were not interrupted, by concurrency.
    pub steps: Vec<StepRow>,
    /// Each step's per-name rows, parallel to `steps` (empty vectors: one name).
    pub named: Vec<Vec<StepRow>>,
    /// Per request name: measured figures and the fit (empty: one name).
    pub names: Vec<NameView>,
    /// Mean served latency at the lowest concurrency, ms (the uncontended service time).
    pub service_ms: f64,
}
