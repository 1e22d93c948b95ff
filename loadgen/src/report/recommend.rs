//! The recommendation, with its reasoning written out: N from the knee and the provider ceiling,
//! queue depth and queue timeout from the latency objective, and the goodput that N predicts.

use crate::gate::{LatencyFigure, Metric, Objective, Op};
use crate::sinks::csv::StepRow;

use super::provider::ProviderCeiling;
use super::summary::Recommendation;
use super::usl::Fit;

/// What the recommendation is derived from.
pub struct Inputs<'a> {
    /// Closed-loop steps, by concurrency.
    pub steps: &'a [StepRow],
    /// Mean goodput per concurrency, sorted.
    pub curve: &'a [(f64, f64)],
    /// The knee, if any.
    pub knee: Option<u32>,
    /// The provider ceiling, if a tier was given.
    pub provider: Option<&'a ProviderCeiling>,
    /// `--slo` objectives.
    pub objectives: &'a [Objective],
    /// The USL fit, if any.
    pub fit: Option<&'a Fit>,
    /// The permit count of the server that was measured (`analyze_capacity`), if known.
    pub server_permits: Option<u32>,
}

/// The tightest upper bound on a latency figure among the objectives: (figure, ms, text).
fn latency_objective(objectives: &[Objective]) -> Option<(LatencyFigure, f64, String)> {
    objectives
        .iter()
        .filter_map(|o| match (o.metric, o.op) {
            (Metric::Latency(f), Op::Lt | Op::Le) => Some((f, o.threshold, o.text.clone())),
            _ => None,
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

fn figure(r: &StepRow, f: LatencyFigure) -> f64 {
    match f {
        LatencyFigure::P50 => r.p50_ms,
        LatencyFigure::P90 => r.p90_ms,
        LatencyFigure::P95 => r.p95_ms,
        LatencyFigure::P99 => r.p99_ms,
        LatencyFigure::P999 => r.p999_ms,
        LatencyFigure::Max => r.max_ms,
        LatencyFigure::Mean => r.mean_ms,
    }
}

fn figure_name(f: LatencyFigure) -> &'static str {
    match f {
        LatencyFigure::P50 => "p50",
        LatencyFigure::P90 => "p90",
        LatencyFigure::P95 => "p95",
        LatencyFigure::P99 => "p99",
        LatencyFigure::P999 => "p99.9",
        LatencyFigure::Max => "max",
        LatencyFigure::Mean => "mean",
    }
}

/// Goodput at concurrency `n`: measured when a step ran at `n`, else the USL when reliable,
/// else interpolated between the neighbouring steps. Returns the value and how it was obtained.
fn goodput_at(n: f64, curve: &[(f64, f64)], fit: Option<&Fit>) -> (f64, String) {
    if let Some(&(_, g)) = curve.iter().find(|p| p.0 == n) {
        return (g, format!("measured at {n} users"));
    }
    if let Some(f) = fit.filter(|f| f.unreliable.is_none()) {
        return (f.params.throughput(n), "the USL fit".into());
    }
    let below = curve.iter().rev().find(|p| p.0 < n);
    let above = curve.iter().find(|p| p.0 > n);
    match (below, above) {
        (Some(a), Some(b)) => (
            a.1 + (b.1 - a.1) * (n - a.0) / (b.0 - a.0),
            format!("interpolated between {} and {} users", a.0, b.0),
        ),
        (Some(a), None) => (a.1, format!("the top step ({} users)", a.0)),
        (None, Some(b)) => (b.1 * n / b.0, format!("scaled from {} users", b.0)),
        (None, None) => (0.0, "no data".into()),
    }
}

/// Derives the settings.
pub fn recommend(i: &Inputs) -> Recommendation {
    let mut why = Vec::new();
    let top = i.curve.last().map_or(1.0, |p| p.0) as u32;
    let from_knee = match i.knee {
        Some(k) => {
            why.push(format!(
                "Goodput stops growing by 5% or more past {k} concurrent users (the knee), so more \
                 permits than {k} would add latency, not throughput."
            ));
            if let Some(p) = i.server_permits.filter(|&p| k >= p) {
                why.push(format!(
                    "The measured server had {p} permits, so its knee cannot lie above {p}: this \
                     confirms N = {p} rather than finding the upstream's own knee; ramp a server \
                     with more permits to find it."
                ));
            }
            k
        }
        None => {
            why.push(format!(
                "Goodput still grew at the top step ({top} users): there is no knee in this run, \
                 so N is capped at the highest concurrency measured; ramp further to find it."
            ));
            top
        }
    };
    let mut n = from_knee.max(1);
    if let Some(p) = i
        .provider
        .filter(|p| p.inputs.replicas > 1 && p.max_concurrency.is_some())
    {
        why.push(format!(
            "The tier is shared by {r} replicas: each plans with 1/{r} of its requests and output \
             tokens per minute (set the server's PROVIDER_SHARE=1/{r}), and N below is per replica.",
            r = p.inputs.replicas
        ));
    }
    if let Some(c) = i.provider.and_then(|p| p.max_concurrency) {
        if c < n {
            why.push(format!(
                "The provider tier allows only {c} concurrent analyses at 80% of its limits, \
                 below the knee, so N = {c}."
            ));
            n = c.max(1);
        } else {
            why.push(format!(
                "The provider tier allows {c} concurrent analyses at 80% of its limits, above \
                 the knee, so the knee sets N."
            ));
        }
    } else {
        why.push(
            "No provider tier given (--provider-rpm/--provider-otpm): N is not checked against \
             the model provider's rate limits."
                .into(),
        );
    }
    // The step at N (or the nearest below) gives the service time and the latency figure.
    let at_n = i
        .steps
        .iter()
        .rfind(|r| r.ok > 0 && r.concurrency.is_some_and(|c| c <= n))
        .or_else(|| i.steps.iter().find(|r| r.ok > 0));
    let service_ms = at_n.map_or(0.0, |r| r.mean_ms);
    let (fig, objective_ms, source) = match latency_objective(i.objectives) {
        Some((f, ms, text)) => (f, ms, format!("the objective {text}")),
        None => {
            let p99 = at_n.map_or(0.0, |r| r.p99_ms);
            (
                LatencyFigure::P99,
                2.0 * p99,
                format!(
                    "no latency objective given (--slo p99<…), so twice the p99 at N ({p99:.0} ms)"
                ),
            )
        }
    };
    let fig_ms = at_n.map_or(0.0, |r| figure(r, fig));
    let slack_ms = (objective_ms - fig_ms).max(0.0);
    // The server rejects QUEUE_TIMEOUT_MS=0; 1 ms is "do not wait".
    let queue_timeout_ms = (slack_ms.round() as u64).max(1);
    let max_queue_depth = if service_ms > 0.0 {
        (f64::from(n) * slack_ms / service_ms).floor() as u32
    } else {
        0
    };
    why.push(format!(
        "The latency objective is {objective_ms:.0} ms ({source}); at N the {} is {fig_ms:.0} ms \
         and the mean service time {service_ms:.0} ms, so a request may wait {slack_ms:.0} ms in \
         the queue (QUEUE_TIMEOUT_MS) and N × wait / service time = {max_queue_depth} requests \
         can queue before waiting longer would miss the objective (MAX_QUEUE_DEPTH).",
        figure_name(fig)
    ));
    if slack_ms == 0.0 {
        why.push(
            "The objective leaves no room for queueing at N: shed at once instead of queueing, \
             or lower N."
                .into(),
        );
    }
    let (predicted, how) = goodput_at(f64::from(n), i.curve, i.fit);
    why.push(format!(
        "With {n} users against N = {n} permits the expected goodput is {predicted:.2}/s ({how})."
    ));
    Recommendation {
        max_concurrent_analyses: n,
        max_queue_depth,
        queue_timeout_ms,
        predicted_goodput_rps: predicted,
        latency_objective_ms: objective_ms,
        reasoning: why.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::row;
    use crate::report::provider::{ceiling, ProviderInputs};

    fn saturating() -> Vec<StepRow> {
        // 10 permits, 1 s service: 1/s per user up to 10, then flat with a growing queue wait.
        [1u32, 2, 5, 10, 20, 30]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let g = f64::from(c.min(10));
                let mut r = row(i + 1, c, g, 1000.0 * (f64::from(c) / 10.0).max(1.0));
                r.p99_ms = r.mean_ms * 1.5;
                r
            })
            .collect()
    }

    #[test]
    fn n_is_the_knee_and_the_queue_comes_from_the_objective() {
        let steps = saturating();
        let curve = crate::report::analysis::goodput_curve(&steps);
        let slo = [Objective::parse("p99<4s").unwrap()];
        let r = recommend(&Inputs {
            steps: &steps,
            curve: &curve,
            knee: Some(10),
            provider: None,
            objectives: &slo,
            fit: None,
            server_permits: None,
        });
        assert_eq!(r.max_concurrent_analyses, 10);
        // p99 at N = 1500 ms → 2500 ms of slack; 10 × 2500 / 1000 = 25 queued.
        assert_eq!(r.queue_timeout_ms, 2500);
        assert_eq!(r.max_queue_depth, 25);
        assert!((r.predicted_goodput_rps - 10.0).abs() < 1e-9);
        assert!(r.reasoning.contains("knee"), "{}", r.reasoning);
    }

    #[test]
    fn a_tighter_provider_tier_lowers_n() {
        let steps = saturating();
        let curve = crate::report::analysis::goodput_curve(&steps);
        let tier = ceiling(
            &ProviderInputs {
                rpm: Some(300.0),
                otpm: None,
                avg_output_tokens: 100.0,
                calls_per_request: 2.0,
                replicas: 1,
            },
            1.0,
        ); // 120 calls/min per permit → 300 × 0.8 / 120 = 2
        let r = recommend(&Inputs {
            steps: &steps,
            curve: &curve,
            knee: Some(10),
            provider: Some(&tier),
            objectives: &[],
            fit: None,
            server_permits: None,
        });
        assert_eq!(r.max_concurrent_analyses, 2);
        assert!((r.predicted_goodput_rps - 2.0).abs() < 1e-9);
        assert!(r.reasoning.contains("provider tier allows only 2"));
    }
}
