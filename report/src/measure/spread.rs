//! The spread of one analysis's demand, from the server's per-analysis Prometheus histograms
//! (`analyze_model_calls`, `analyze_input_tokens`, `analyze_output_tokens`): quantiles
//! interpolated inside cumulative buckets the way Prometheus' `histogram_quantile` does, the
//! exact mean from `_sum / _count`, and a variance estimated from the buckets (each bucket's
//! observations at its midpoint). Every figure is measured; a quantile is only as fine as the
//! bucket it falls in, so each one carries its bucket's bounds.

use serde::Serialize;

use crate::input::histogram::Histogram;

/// The spread of one per-analysis quantity, as printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// The histogram it comes from (`analyze_model_calls`, …).
    pub metric: String,
    /// Analyses observed in the run.
    pub analyses: f64,
    /// Mean (exact: `_sum / _count`).
    pub mean: f64,
    /// Standard deviation (estimated from the buckets, midpoints).
    pub stdev: f64,
    /// Median, interpolated in its bucket.
    pub p50: f64,
    /// The bucket the median lies in (lower, upper).
    pub p50_bucket: [f64; 2],
    /// 95th percentile, interpolated in its bucket.
    pub p95: f64,
    /// The bucket the p95 lies in.
    pub p95_bucket: [f64; 2],
    /// Always `measured`.
    pub label: &'static str,
}

impl Quantity {
    /// The figures of a histogram with at least one observation (`integer`: whole-number
    /// observations, see [`Histogram::variance`]).
    pub fn of(metric: &str, h: &Histogram, integer: bool) -> Option<Quantity> {
        let (p50, b50) = h.quantile(0.5)?;
        let (p95, b95) = h.quantile(0.95)?;
        Some(Quantity {
            metric: metric.to_string(),
            analyses: h.count,
            mean: h.mean()?,
            stdev: h.variance(integer)?.sqrt(),
            p50,
            p50_bucket: [b50.0, b50.1],
            p95,
            p95_bucket: [b95.0, b95.1],
            label: "measured",
        })
    }

    /// Coefficient of variation (stdev / mean), 0 when the mean is 0.
    pub fn cv(&self) -> f64 {
        if self.mean > 0.0 {
            self.stdev / self.mean
        } else {
            0.0
        }
    }
}

/// Model calls, input tokens and output tokens per analysis, each when the server exported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spread {
    /// `analyze_model_calls`.
    pub model_calls: Option<Quantity>,
    /// `analyze_input_tokens`.
    pub input_tokens: Option<Quantity>,
    /// `analyze_output_tokens`.
    pub output_tokens: Option<Quantity>,
}

impl Spread {
    /// The spread from a snapshot's histograms; `None` when none of the three was exported
    /// with an observation.
    pub fn of(histograms: &std::collections::BTreeMap<String, Histogram>) -> Option<Spread> {
        let q = |m: &str, integer| histograms.get(m).and_then(|h| Quantity::of(m, h, integer));
        let s = Spread {
            model_calls: q("analyze_model_calls", true),
            input_tokens: q("analyze_input_tokens", false),
            output_tokens: q("analyze_output_tokens", false),
        };
        (s != Spread::default()).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls() -> Histogram {
        // 100 analyses: 40 of 1 call, 30 of 2, 20 of 3, 10 of 4 (le buckets 1, 2, 3, 4, +Inf).
        Histogram {
            buckets: vec![
                (1.0, 40.0),
                (2.0, 70.0),
                (3.0, 90.0),
                (4.0, 100.0),
                (f64::INFINITY, 100.0),
            ],
            sum: 40.0 + 60.0 + 60.0 + 40.0,
            count: 100.0,
        }
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket_like_histogram_quantile() {
        let h = calls();
        // Rank 50 lies in (1, 2]: 10 of its 30 observations in → 1 + 10/30.
        let (p50, b) = h.quantile(0.5).unwrap();
        assert!((p50 - (1.0 + 10.0 / 30.0)).abs() < 1e-12);
        assert_eq!(b, (1.0, 2.0));
        // Rank 95 lies in (3, 4]: 5 of 10 → 3.5.
        assert_eq!(h.quantile(0.95).unwrap().0, 3.5);
        // Rank 20 lies in the first bucket, from 0: 20/40 of 1.
        assert_eq!(h.quantile(0.2).unwrap().0, 0.5);
        assert_eq!(h.mean(), Some(2.0));
    }

    #[test]
    fn a_rank_in_the_inf_bucket_gives_the_largest_finite_bound() {
        let h = Histogram {
            buckets: vec![(1.0, 5.0), (f64::INFINITY, 10.0)],
            sum: 30.0,
            count: 10.0,
        };
        assert_eq!(h.quantile(0.99).unwrap().0, 1.0);
    }

    #[test]
    fn the_runs_buckets_are_the_end_less_the_start() {
        let start = Histogram {
            buckets: vec![
                (1.0, 10.0),
                (2.0, 10.0),
                (3.0, 10.0),
                (4.0, 10.0),
                (f64::INFINITY, 10.0),
            ],
            sum: 10.0,
            count: 10.0,
        };
        let mut end = calls();
        end.buckets = end.buckets.iter().map(|&(le, c)| (le, c + 10.0)).collect();
        end.sum += 10.0;
        end.count += 10.0;
        assert_eq!(end.since(&start), calls());
        // A reset server: the end is the run.
        assert_eq!(calls().since(&end), calls());
    }

    #[test]
    fn the_variance_from_the_buckets_is_exact_for_whole_numbers_and_near_it_otherwise() {
        // Values 1, 2, 3, 4 with weights .4, .3, .2, .1: mean 2, variance exactly 1, which the
        // whole-number midpoints (1, 2, 3, 4 for width-1 buckets) give back.
        assert!((calls().variance(true).unwrap() - 1.0).abs() < 1e-12);
        // Continuous midpoints 0.5, 1.5, 2.5, 3.5: .4·2.25 + .3·.25 + .2·.25 + .1·2.25 = 1.25.
        assert!((calls().variance(false).unwrap() - 1.25).abs() < 1e-12);
        let q = Quantity::of("analyze_model_calls", &calls(), true).unwrap();
        assert_eq!((q.p50_bucket, q.p95_bucket), ([1.0, 2.0], [3.0, 4.0]));
        assert!((q.cv() - 0.5).abs() < 1e-12);
    }
}
