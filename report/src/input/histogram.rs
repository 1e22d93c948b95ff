//! One Prometheus histogram as the server exports it (`_bucket`, `_sum`, `_count`), read from the
//! /metrics snapshot: the run's observations alone (end less start), its exact mean, quantiles
//! as `histogram_quantile` interpolates them, and a variance estimated from the buckets.

/// One cumulative histogram: `(le, count of observations ≤ le)` sorted by `le` (the `+Inf`
/// bucket last when exported), with `_sum` and `_count`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Cumulative buckets, sorted by upper bound.
    pub buckets: Vec<(f64, f64)>,
    /// `_sum`.
    pub sum: f64,
    /// `_count`.
    pub count: f64,
}

impl Histogram {
    /// Sorts the buckets and fills `count` from the `+Inf` bucket when `_count` was missing.
    pub fn normalized(mut self) -> Self {
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if self.count <= 0.0 {
            self.count = self.buckets.last().map_or(0.0, |b| b.1);
        }
        self
    }

    /// This histogram (the run's end) less `start` (the run's start), bucket by bucket: the
    /// observations of the run alone. A count that went down was reset (the server restarted):
    /// the end's histogram is the run's.
    pub fn since(&self, start: &Histogram) -> Histogram {
        let reset = self.count < start.count
            || self.buckets.iter().any(|&(le, c)| {
                start
                    .buckets
                    .iter()
                    .find(|b| b.0 == le)
                    .is_some_and(|b| c < b.1)
            });
        if reset {
            return self.clone();
        }
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, c)| {
                    let before = start
                        .buckets
                        .iter()
                        .find(|b| b.0 == le)
                        .map_or(0.0, |b| b.1);
                    (le, c - before)
                })
                .collect(),
            sum: self.sum - start.sum,
            count: self.count - start.count,
        }
    }

    /// Mean of the observations (`_sum / _count`, exact).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// The q-quantile (0 < q < 1) as Prometheus' `histogram_quantile`: linear inside the bucket
    /// the rank falls in, the first bucket starting at 0; a rank in the `+Inf` bucket gives the
    /// largest finite bound. Returns the value and the bucket's (lower, upper) bounds.
    pub fn quantile(&self, q: f64) -> Option<(f64, (f64, f64))> {
        if self.count <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * self.count;
        let mut lower = (0.0, 0.0);
        for &(le, c) in &self.buckets {
            if c >= rank && c > 0.0 {
                if le.is_infinite() {
                    return Some((lower.0, (lower.0, le)));
                }
                let in_bucket = c - lower.1;
                let v = if in_bucket > 0.0 {
                    lower.0 + (le - lower.0) * (rank - lower.1) / in_bucket
                } else {
                    le
                };
                return Some((v, (lower.0, le)));
            }
            lower = (le, c);
        }
        Some((lower.0, (lower.0, f64::INFINITY)))
    }

    /// Variance of the observations, estimated from the buckets: each bucket's observations at
    /// its midpoint (the first from 0, the `+Inf` bucket's at the largest finite bound), around
    /// the exact mean. For whole-number observations (`integer`: model calls) a bucket
    /// (lo, hi] holds lo+1 … hi, so its midpoint is (lo + 1 + hi) / 2. At least 0.
    pub fn variance(&self, integer: bool) -> Option<f64> {
        let mean = self.mean()?;
        let mut lower = (0.0, 0.0);
        let mut second = 0.0;
        for &(le, c) in &self.buckets {
            let n = c - lower.1;
            let mid = if le.is_infinite() {
                lower.0
            } else if integer {
                (lower.0 + 1.0 + le) / 2.0
            } else {
                (lower.0 + le) / 2.0
            };
            second += n * (mid - mean).powi(2);
            lower = (if le.is_infinite() { lower.0 } else { le }, c);
        }
        Some((second / self.count).max(0.0))
    }
}
