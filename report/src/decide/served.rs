//! The request the recommendation is computed on. In a run of several request names the permits
//! serve one route: the request with the largest demand, whose service time, goodput and latency
//! size them, not the mix's (a 1 ms health check is not an analysis).

use crate::input::row::StepRow;
use crate::measure::run::light_service_ms;
use crate::measure::steps::goodput_curve;
use crate::model::names::{primary_name, NameView};
use crate::model::usl::Fit;

/// The served request's rows, parallel to the closed-loop steps.
#[derive(Debug, Clone)]
pub struct Served {
    /// Its name (`None`: a run of one name, whose total rows are its rows).
    pub primary: Option<String>,
    /// Its row at each step (the total where the step has none of it).
    pub steps: Vec<StepRow>,
    /// Its mean goodput per concurrency.
    pub curve: Vec<(f64, f64)>,
    /// Its light-load service time, ms.
    pub service_ms: f64,
    /// Each step's total row with the served request's own latency and goodput: what binds is
    /// judged on these, with the step's own counters (late and unsent sends, Little's law,
    /// 429s), since a mix's mean moves with its proportions, not with a queue.
    pub judged: Vec<StepRow>,
}

/// The served request of the steps `steps` (total rows) with per-name rows `named`.
pub fn served(steps: &[StepRow], named: &[Vec<StepRow>]) -> Served {
    let primary = primary_name(steps, named);
    let rows: Vec<StepRow> = match &primary {
        Some(p) => steps
            .iter()
            .zip(named)
            .map(|(t, by_name)| by_name.iter().find(|r| &r.name == p).unwrap_or(t).clone())
            .collect(),
        None => steps.to_vec(),
    };
    let judged = steps
        .iter()
        .zip(&rows)
        .map(|(t, p)| {
            let mut r = t.clone();
            (r.ok, r.mean_ms, r.goodput_rps) = (p.ok, p.mean_ms, p.goodput_rps);
            r
        })
        .collect();
    Served {
        primary,
        curve: goodput_curve(&rows),
        service_ms: light_service_ms(&rows),
        steps: rows,
        judged,
    }
}

impl Served {
    /// The USL fit of the served request: its name's own, or the total's for a run of one name.
    pub fn fit<'a>(&self, names: &'a [NameView], total: Option<&'a Fit>) -> Option<&'a Fit> {
        match &self.primary {
            Some(p) => names
                .iter()
                .find(|v| &v.summary.name == p)
                .and_then(|v| v.fit.as_ref()),
            None => total,
        }
    }
}
