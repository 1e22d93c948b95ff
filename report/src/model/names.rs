//! Per request name, for runs of a scenario with several names: each name's share of the
//! requests, light-load and top-step latency, best goodput and where its own objectives
//! (`NAME:p99<…`) held — all measured on its own rows — and the Universal Scalability Law fitted
//! to its own goodput (fitted, with the same exclusions as the total's fit).

use serde::Serialize;

use crate::input::row::StepRow;
use crate::input::slo::{Metric, Objective};
use crate::measure::steps::{largest_demand, last_holding};
use crate::model::scaling::{usl_summary, UslSummary};
use crate::model::usl::Fit;

/// One request name's figures.
#[derive(Debug, Clone, Serialize)]
pub struct NameSummary {
    /// The request's name in the scenario.
    pub name: String,
    /// Measured: its requests / every request, over the steps.
    pub share: f64,
    /// Measured: its mean served latency at the lightest step that served it, ms.
    pub light_mean_ms: f64,
    /// Measured: its p99 there, ms.
    pub light_p99_ms: f64,
    /// Measured: its p99 at the top step, ms.
    pub top_p99_ms: f64,
    /// Measured: its highest goodput of a step, per second.
    pub max_goodput_rps: f64,
    /// Users of that step.
    pub max_goodput_users: Option<u32>,
    /// The objectives on this name (`NAME:…`), as given.
    pub objectives: Vec<String>,
    /// Measured: the most users at which this and every lower step met this name's own
    /// objectives (None: no own objective, or the first step already failed one).
    pub meets_own_objectives_up_to: Option<u32>,
    /// Fitted: the USL on this name's goodput.
    pub usl: UslSummary,
}

/// A name's figures and its fit (for the chart's curve).
#[derive(Debug, Clone)]
pub struct NameView {
    /// What summary.json says.
    pub summary: NameSummary,
    /// The fit, when one converged.
    pub fit: Option<Fit>,
    /// Its rows, parallel to the analysis' steps (a step without a row of the name is left
    /// out).
    pub rows: Vec<StepRow>,
    /// Its own latency objectives: bound in ms and text.
    pub latency_bounds: Vec<(f64, String)>,
}

/// The request name with the largest demand (requests × mean latency) at the lightest step that
/// served requests: in a mix, the request the server's permits serve (an analysis beside health
/// checks), whose rows the recommendation is computed on. `None` for a run of one name.
pub fn primary_name(steps: &[StepRow], named: &[Vec<StepRow>]) -> Option<String> {
    let k = steps.iter().position(|r| r.ok > 0)?;
    largest_demand(named.get(k)?).map(|r| r.name.clone())
}

/// The views of every request name, in the order the steps first list them; empty when the run
/// had one name. `steps` are the total rows sorted by users, `named` each one's per-name rows.
pub fn views(
    steps: &[StepRow],
    named: &[Vec<StepRow>],
    objectives: &[Objective],
    permits: Option<u32>,
) -> Vec<NameView> {
    let mut names: Vec<&str> = Vec::new();
    for r in named.iter().flatten() {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    let all_requests: u64 = steps.iter().map(|r| r.requests).sum();
    names
        .into_iter()
        .map(|name| {
            let rows: Vec<StepRow> = named
                .iter()
                .filter_map(|by_name| by_name.iter().find(|r| r.name == name))
                .cloned()
                .collect();
            let requests: u64 = rows.iter().map(|r| r.requests).sum();
            let light = rows.iter().find(|r| r.ok > 0);
            let best = rows.iter().fold(None::<&StepRow>, |best, r| match best {
                Some(b) if b.goodput_rps >= r.goodput_rps => Some(b),
                _ => Some(r),
            });
            let own: Vec<Objective> = objectives
                .iter()
                .filter(|o| o.name.as_deref() == Some(name))
                .cloned()
                .collect();
            // Measured on the name's own rows: no per-name rows below them.
            let meets_own_objectives_up_to =
                last_holding(&rows, &[], &own).and_then(|r| r.concurrency);
            let (usl, fit) = usl_summary(&rows, permits);
            NameView {
                summary: NameSummary {
                    name: name.to_string(),
                    share: if all_requests > 0 {
                        requests as f64 / all_requests as f64
                    } else {
                        0.0
                    },
                    light_mean_ms: light.map_or(0.0, |r| r.mean_ms),
                    light_p99_ms: light.map_or(0.0, |r| r.p99_ms),
                    top_p99_ms: rows.last().map_or(0.0, |r| r.p99_ms),
                    max_goodput_rps: best.map_or(0.0, |r| r.goodput_rps),
                    max_goodput_users: best.and_then(|r| r.concurrency),
                    objectives: own.iter().map(|o| o.text.clone()).collect(),
                    meets_own_objectives_up_to,
                    usl,
                },
                fit,
                rows,
                latency_bounds: own
                    .iter()
                    .filter(|o| matches!(o.metric, Metric::Latency(_)))
                    .map(|o| (o.threshold, o.text.clone()))
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    /// 80% `health` at 1 ms and 20% `analyze` whose latency grows past 10 users; the total's
    /// p99 stays below 2 s longer than analyze's own.
    fn mix() -> (Vec<StepRow>, Vec<Vec<StepRow>>) {
        let mut steps = Vec::new();
        let mut named = Vec::new();
        for (i, &users) in [5u32, 10, 20, 40].iter().enumerate() {
            let n = f64::from(users);
            let analyze_ms = 1000.0 * (n / 10.0).max(1.0);
            let x = n / (1.0 + 0.2 * analyze_ms / 1000.0);
            let mut total = row(i + 1, users, x, 0.2 * analyze_ms);
            total.p99_ms = 1.2 * analyze_ms;
            let mut health = row(i + 1, users, 0.8 * x, 1.0);
            health.name = "health".into();
            let mut analyze = row(i + 1, users, 0.2 * x, analyze_ms);
            analyze.name = "analyze".into();
            steps.push(total);
            named.push(vec![health, analyze]);
        }
        (steps, named)
    }

    #[test]
    fn each_name_is_measured_on_its_own_rows_and_its_own_objectives() {
        let (steps, named) = mix();
        let objectives = [
            Objective::parse("analyze:p99<2s").unwrap(),
            Objective::parse("health:p99<100ms").unwrap(),
        ];
        let v = views(&steps, &named, &objectives, Some(10));
        let names: Vec<&str> = v.iter().map(|n| n.summary.name.as_str()).collect();
        assert_eq!(names, ["health", "analyze"]);
        let (health, analyze) = (&v[0].summary, &v[1].summary);
        assert!((health.share - 0.8).abs() < 0.02, "{health:?}");
        assert!((analyze.share - 0.2).abs() < 0.02, "{analyze:?}");
        assert_eq!(analyze.light_mean_ms, 1000.0);
        // analyze p99 = 1.5 × mean: 1.5 s at 5 and 10 users, 3 s at 20.
        assert_eq!(analyze.meets_own_objectives_up_to, Some(10));
        assert_eq!(health.meets_own_objectives_up_to, Some(40));
        assert_eq!(analyze.objectives, ["analyze:p99<2s"]);
        assert_eq!(analyze.max_goodput_users, Some(40));
        assert_eq!(v[1].rows.len(), 4);
        assert_eq!(
            v[1].latency_bounds,
            [(2000.0, "analyze:p99<2s".to_string())]
        );
    }

    #[test]
    fn a_run_of_one_name_has_no_views() {
        let (steps, _) = mix();
        let none: Vec<Vec<StepRow>> = vec![Vec::new(); steps.len()];
        assert!(views(&steps, &none, &[], None).is_empty());
    }
}
