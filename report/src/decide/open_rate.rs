//! The open-loop answer: the largest Poisson arrival rate at which every objective holds with
//! the recommended N, queue timeout and depth, from [`crate::model::openloop::Queue`] with the measured
//! service time and its variability, capped by what the provider tier takes at the 99th
//! percentile of a minute's demand. When the run itself offered Poisson arrivals, its rows are
//! the evidence and the model's predictions are set beside them.

use serde::Serialize;

use crate::input::row::StepRow;
use crate::input::slo::{LatencyFigure, Metric, Objective, Op};

use crate::decide::recommendation::Basis;
use crate::decide::recommendation::Recommendation;
use crate::model::headroom::analyses_within;
use crate::model::openloop::{Prediction, Queue};
use crate::model::provider::Headroom;

/// Arrival CV of a Poisson process.
pub const POISSON_CV: f64 = 1.0;

/// The open-loop rate is planned on the service time's upper bound: its mean plus this many
/// standard errors (a two-sided 95% interval's upper end).
pub const SERVICE_Z: f64 = 1.96;

/// The model at one rate, as printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatePrediction {
    /// The queue's figures there (`None` past saturation: λ·S ≥ N).
    pub queue: Option<Prediction>,
    /// Arrivals per second.
    pub rate_rps: f64,
    /// Share shed with 503 (the queue timeout; past saturation at least 1 − N/(λ·S)).
    pub shed: f64,
    /// Served per second.
    pub goodput_rps: f64,
    /// p99 of served latency, ms.
    pub served_p99_ms: f64,
}

/// One open-loop Poisson step of the run against the model's prediction at its rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceRow {
    /// The step.
    pub step: usize,
    /// Its arrival rate, per second.
    pub rate_rps: f64,
    /// Predicted goodput, per second (fitted).
    pub predicted_goodput_rps: f64,
    /// Measured goodput.
    pub measured_goodput_rps: f64,
    /// Predicted served p99, ms (fitted).
    pub predicted_p99_ms: f64,
    /// Measured served p99, ms.
    pub measured_p99_ms: f64,
    /// Predicted shed share.
    pub predicted_shed: f64,
    /// Measured share answered 429 or 503.
    pub measured_shed: f64,
}

/// The answer to "how many requests per second can we take".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenLoopAnswer {
    /// The largest Poisson arrival rate meeting every objective, per second.
    pub rate_rps: f64,
    /// `fitted` (N within the tested range) or `extrapolated` (N past it).
    pub label: &'static str,
    /// What stops a higher rate: `shed share`, a latency objective, a provider budget, or
    /// `saturation`.
    pub binding: String,
    /// Servers: the recommended N.
    pub servers: u32,
    /// The queue timeout, ms.
    pub queue_timeout_ms: u64,
    /// The queue depth, for the record (the timeout sheds first: depth ≈ N·timeout/S).
    pub max_queue_depth: u32,
    /// Mean service time, ms (measured).
    pub service_ms: f64,
    /// Its CV (measured: stdev / mean of the step).
    pub service_cv: f64,
    /// The step the service time was measured on.
    pub service_step: usize,
    /// The service time the rate is planned on, ms: the upper end of the mean's 95% interval
    /// (measured mean + 1.96 standard errors).
    pub planned_service_ms: f64,
    /// The largest rate meeting every objective on the measured mean itself, per second (the
    /// answer without the margin for the mean's uncertainty).
    pub rate_at_mean_rps: Option<f64>,
    /// Arrival CV (1: Poisson).
    pub arrival_cv: f64,
    /// Share of arrivals the objectives allow to be shed (1 − the success objective; 1%).
    pub allowed_shed: f64,
    /// The model at the rate.
    pub at_rate: RatePrediction,
    /// The model at 1.3× the rate.
    pub at_1_3x: RatePrediction,
    /// The run's own Poisson steps against the model (empty when the run offered none).
    pub evidence: Vec<EvidenceRow>,
    /// How it was computed, as sentences.
    pub reasoning: String,
}

/// The allowed share shed: 1 − the tightest success objective, else 1%.
fn allowed_shed(objectives: &[Objective]) -> f64 {
    objectives
        .iter()
        .filter(|o| o.metric == Metric::Success && matches!(o.op, Op::Ge | Op::Gt))
        .map(|o| 1.0 - o.threshold)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.min(v))))
        .unwrap_or(0.01)
        .max(0.0)
}

/// The latency bounds the model can evaluate: (quantile, bound ms, text); a mean as q = None.
fn latency_bounds(
    objectives: &[Objective],
    rec: &Recommendation,
) -> Vec<(Option<f64>, f64, String)> {
    let v: Vec<_> = objectives
        .iter()
        .filter(|o| matches!(o.op, Op::Lt | Op::Le))
        .filter_map(|o| {
            let q = match o.metric {
                Metric::Latency(LatencyFigure::P50) => Some(0.5),
                Metric::Latency(LatencyFigure::P90) => Some(0.9),
                Metric::Latency(LatencyFigure::P95) => Some(0.95),
                Metric::Latency(LatencyFigure::P99) => Some(0.99),
                Metric::Latency(LatencyFigure::P999) => Some(0.999),
                Metric::Latency(LatencyFigure::Mean) => None,
                _ => return None,
            };
            Some((q, o.threshold, o.text.clone()))
        })
        .collect();
    if v.is_empty() {
        vec![(
            Some(0.99),
            rec.latency_objective_ms,
            format!(
                "p99<{:.0}ms (the recommendation's bound)",
                rec.latency_objective_ms
            ),
        )]
    } else {
        v
    }
}

/// The model's figures at `rate`; past saturation, the fluid limit (the timeout sheds the
/// excess, the served wait is near the timeout).
fn predict(q: &Queue, rate: f64) -> RatePrediction {
    match q.at(rate) {
        Some(p) => RatePrediction {
            queue: Some(p),
            rate_rps: rate,
            shed: p.shed,
            goodput_rps: p.goodput_rps,
            served_p99_ms: q.served_quantile(rate, 0.99).unwrap_or(f64::NAN) * 1000.0,
        },
        None => {
            let capacity = f64::from(q.servers) / q.service_s;
            let service_p99 = q.served_quantile(capacity * 1e-3, 0.99).unwrap_or(f64::NAN);
            RatePrediction {
                queue: None,
                rate_rps: rate,
                shed: 1.0 - capacity / rate,
                goodput_rps: capacity,
                served_p99_ms: (q.timeout_s.unwrap_or(f64::NAN) + service_p99) * 1000.0,
            }
        }
    }
}

/// The largest rate the provider budgets take at the p99 of a minute's demand: a minute of
/// Poisson arrivals at λ brings Poisson(60λ) analyses, whose summed demand has mean 60λ·μ and
/// variance 60λ·(σ² + μ²). Returns (rate, budget).
fn provider_cap(h: &Headroom) -> Option<(f64, &'static str)> {
    let z = statrs::distribution::ContinuousCDF::inverse_cdf(
        &statrs::distribution::Normal::new(0.0, 1.0).ok()?,
        crate::model::headroom::PERCENTILE,
    );
    h.budgets
        .iter()
        .map(|b| {
            let per_minute = match b.per_analysis_stdev {
                Some(sd) => analyses_within(
                    b.per_minute,
                    b.per_analysis_mean,
                    (sd * sd + b.per_analysis_mean.powi(2)).sqrt(),
                    z,
                ),
                None => h.fixed_share * b.per_minute / b.per_analysis_mean.max(1e-9),
            };
            (per_minute / 60.0, b.budget)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

/// The answer for the recommendation `rec`; `None` without a step to measure service time on.
#[allow(clippy::too_many_arguments)]
pub fn answer(
    rec: &Recommendation,
    steps: &[StepRow],
    all_rows: &[StepRow],
    permits: Option<u32>,
    objectives: &[Objective],
    headroom: Option<&Headroom>,
) -> Option<OpenLoopAnswer> {
    let n = rec.max_concurrent_analyses;
    let cap = permits.map_or(n, |p| p.min(n));
    let at = super::recommend::service_step(steps, Some(cap))?;
    let service_s = at.mean_ms / 1000.0;
    let service_cv = at.stdev_ms / at.mean_ms;
    let timeout_s = rec.queue_timeout_ms as f64 / 1000.0;
    let q = Queue {
        servers: n,
        service_s,
        service_cv,
        arrival_cv: POISSON_CV,
        timeout_s: Some(timeout_s),
    };
    // The plan rests on the service time's upper 95% bound (the step's mean + 1.96 standard
    // errors, the CV kept): a service time a little longer than the sample's mean must not push
    // the queue past the objectives at the rate the answer gives. The predictions at that rate
    // stay on the point estimate, the figures a re-run is checked against.
    let half_s = SERVICE_Z * at.stdev_ms / (at.ok as f64).sqrt() / 1000.0;
    let planned = Queue {
        service_s: service_s + half_s,
        ..q
    };
    let allowed = allowed_shed(objectives);
    let bounds = latency_bounds(objectives, rec);
    let cap = headroom.and_then(provider_cap);
    // What fails at `rate` in queue `q`, if anything (the first in this order).
    let fails = |q: &Queue, rate: f64| -> Option<String> {
        let Some(p) = q.at(rate) else {
            return Some("saturation (λ·S reaches N)".into());
        };
        if let Some((c, b)) = cap.filter(|c| rate > c.0) {
            return Some(format!(
                "the provider's {b} budget (p99 of a minute's demand; {c:.2}/s)"
            ));
        }
        if p.shed > allowed {
            return Some(format!(
                "the shed share (waits past the {} ms queue timeout above {:.1}%)",
                rec.queue_timeout_ms,
                allowed * 100.0
            ));
        }
        for (quantile, bound, text) in &bounds {
            let v = match quantile {
                Some(qq) => q.served_quantile(rate, *qq).unwrap_or(f64::INFINITY) * 1000.0,
                None => (p.mean_wait_s + q.service_s) * 1000.0,
            };
            if v > *bound {
                return Some(format!("the objective {text}"));
            }
        }
        None
    };
    let rate = planned.largest_rate(|r| fails(&planned, r).is_none())?;
    let binding =
        fails(&planned, rate * 1.002).unwrap_or_else(|| "saturation (λ·S reaches N)".into());
    let point_rate = q.largest_rate(|r| fails(&q, r).is_none());
    let at_rate = predict(&q, rate);
    let at_1_3x = predict(&q, rate * 1.3);
    let label = if rec.basis == Basis::Extrapolated {
        "extrapolated"
    } else {
        "fitted"
    };
    let evidence = all_rows
        .iter()
        .filter(|r| r.is_total() && !r.interrupted && r.requests > 0)
        .filter(|r| r.arrivals.as_deref() == Some("poisson"))
        .filter_map(|r| {
            let rate = r.target_rps?;
            let model = Queue {
                servers: permits.unwrap_or(n),
                ..q
            };
            let p = predict(&model, rate);
            Some(EvidenceRow {
                step: r.step,
                rate_rps: rate,
                predicted_goodput_rps: p.goodput_rps,
                measured_goodput_rps: r.goodput_rps,
                predicted_p99_ms: p.served_p99_ms,
                measured_p99_ms: r.p99_ms,
                predicted_shed: p.shed,
                measured_shed: crate::measure::steps::shed_fraction(r),
            })
        })
        .collect();
    let reasoning = format!(
        "Open loop, Poisson arrivals (arrival CV 1) into {n} servers with a {} ms queue \
         timeout (depth {}): a multi-server queue, Erlang C with the Allen–Cunneen correction \
         for service-time CV {service_cv:.2} (measured: stdev / mean of step {} at {} users, \
         {:.0} ms mean), the wait of those who wait exponential, the service time gamma \
         (fitted). Planned on the upper end of the mean service time's 95% interval, \
         {:.0} ms from {} requests ({}), the largest rate meeting every objective is \
         {rate:.2}/s ({label}); above it {binding} fails first. At that rate, with the measured \
         mean, the model predicts {:.0}% utilisation, {:.2}% shed and a served p99 of {:.0} ms. \
         At 1.3× ({:.2}/s) it predicts {:.1}% shed with 503 and a served p99 of {:.0} ms.{}",
        rec.queue_timeout_ms,
        rec.max_queue_depth,
        at.step,
        at.concurrency.unwrap_or(0),
        at.mean_ms,
        planned.service_s * 1000.0,
        at.ok,
        match point_rate {
            Some(p) => format!("on the mean itself, {p:.2}/s"),
            None => "on the mean itself, none".into(),
        },
        at_rate.queue.map_or(f64::NAN, |p| p.utilisation * 100.0),
        at_rate.shed * 100.0,
        at_rate.served_p99_ms,
        at_1_3x.rate_rps,
        at_1_3x.shed * 100.0,
        at_1_3x.served_p99_ms,
        match cap {
            Some((c, b)) => format!(
                " The provider tier takes up to {c:.2}/s at the p99 of a minute's demand \
                 ({b} binds; compound Poisson, normal approximation)."
            ),
            None if rec.target == crate::decide::recommendation::TargetKind::AnalyzeServer => {
                " No provider budget known: the rate is not checked against the tier.".into()
            }
            None => String::new(),
        }
    );
    Some(OpenLoopAnswer {
        rate_rps: rate,
        label,
        binding,
        servers: n,
        queue_timeout_ms: rec.queue_timeout_ms,
        max_queue_depth: rec.max_queue_depth,
        service_ms: at.mean_ms,
        service_cv,
        service_step: at.step,
        planned_service_ms: planned.service_s * 1000.0,
        rate_at_mean_rps: point_rate,
        arrival_cv: POISSON_CV,
        allowed_shed: allowed,
        at_rate,
        at_1_3x,
        evidence,
        reasoning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    fn rec(n: u32, timeout_ms: u64) -> Recommendation {
        Recommendation {
            max_concurrent_analyses: n,
            max_queue_depth: 20,
            queue_timeout_ms: timeout_ms,
            predicted_goodput_rps: 0.0,
            predicted_goodput_ci: None,
            predicted_p99_ms: 0.0,
            binding: crate::decide::binding::Binding::None,
            basis: Basis::Measured,
            tested_range: String::new(),
            verify: String::new(),
            latency_objective_ms: 10_000.0,
            reasoning: String::new(),
            target: crate::decide::recommendation::TargetKind::AnalyzeServer,
        }
    }

    fn steps() -> Vec<StepRow> {
        // 1 s analyses with a CV of 0.5, 1 to 10 users, below the permits.
        [1u32, 5, 10]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let mut r = row(i + 1, c, f64::from(c), 1000.0);
                r.stdev_ms = 500.0;
                r
            })
            .collect()
    }

    #[test]
    fn the_rate_is_the_largest_meeting_every_objective_and_1_3x_sheds() {
        let objectives = vec![
            Objective::parse("p99<10s").unwrap(),
            Objective::parse("success>=99%").unwrap(),
        ];
        let a = answer(&rec(10, 5000), &steps(), &[], Some(10), &objectives, None).unwrap();
        assert_eq!((a.service_step, a.label), (3, "fitted"));
        assert!((a.service_cv - 0.5).abs() < 1e-12);
        // Below the 10/s the permits serve, and close to it with a 5 s timeout; planned on the
        // upper end of the mean's interval (1000 + 1.96 × 500 / √100 = 1098 ms), below the rate
        // the mean itself allows, where the mean predicts a shed share well inside the 1%.
        assert!((a.planned_service_ms - 1098.0).abs() < 1e-9, "{a:?}");
        let at_mean = a.rate_at_mean_rps.unwrap();
        assert!(at_mean < 10.0 && at_mean > 8.0, "{a:?}");
        assert!(a.rate_rps < at_mean * 0.95 && a.rate_rps > 7.0, "{a:?}");
        assert!(a.at_rate.shed < 0.005 && a.at_rate.served_p99_ms < 10_000.0);
        // 1.3× is past saturation: the timeout sheds the excess, served p99 under the bound.
        assert!(a.at_1_3x.shed > 0.05, "{:?}", a.at_1_3x);
        assert!(a.at_1_3x.served_p99_ms < 10_000.0, "{:?}", a.at_1_3x);
        assert!(a.reasoning.contains("Allen–Cunneen"), "{}", a.reasoning);
    }

    #[test]
    fn a_poisson_step_of_the_run_is_set_beside_the_prediction() {
        let mut open = row(9, 10, 7.0, 1100.0);
        (open.target_rps, open.arrivals) = (Some(7.0), Some("poisson".into()));
        let mut constant = open.clone();
        constant.arrivals = Some("constant".into());
        let a = answer(
            &rec(10, 5000),
            &steps(),
            &[open, constant],
            Some(10),
            &[Objective::parse("p99<10s").unwrap()],
            None,
        )
        .unwrap();
        assert_eq!(a.evidence.len(), 1);
        let e = &a.evidence[0];
        assert_eq!((e.step, e.measured_goodput_rps), (9, 7.0));
        assert!((e.predicted_goodput_rps - 7.0).abs() < 0.01, "{e:?}");
    }
}
