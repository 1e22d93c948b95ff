//! The Universal Scalability Law fitted to the steps that measure the system's own scaling,
//! and the summary of that fit: which steps were left out and why, its parameters and
//! intervals, and whether a retrograde region is claimed.

use serde::Serialize;

use crate::input::row::StepRow;
use crate::measure::steps::{goodput_within, in_flight, shed_fraction, SHED_LIMIT};
use crate::model::usl::{self, Fit, Point};

/// The USL fit as written out; parameters are null when no fit could be made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UslSummary {
    /// Contention σ.
    pub sigma: Option<f64>,
    /// Coherency κ.
    pub kappa: Option<f64>,
    /// Single-user throughput λ, per second.
    pub lambda: Option<f64>,
    /// 95% interval of σ.
    pub sigma_ci: Option<[f64; 2]>,
    /// 95% interval of κ.
    pub kappa_ci: Option<[f64; 2]>,
    /// 95% interval of λ.
    pub lambda_ci: Option<[f64; 2]>,
    /// Coefficient of determination.
    pub r2: Option<f64>,
    /// Residual standard error, per second.
    pub residual_se: Option<f64>,
    /// A retrograde region is claimed: the fit is reliable, κ's 95% interval lies above 0 and
    /// goodput measured past the best step falls by more than 5%.
    pub retrograde: bool,
    /// √((1−σ)/κ), only when `retrograde`.
    pub peak_concurrency: Option<f64>,
    /// X at the peak concurrency, only when `retrograde`, per second.
    pub peak_throughput_rps: Option<f64>,
    /// At least 5 usable points and R² ≥ 0.9.
    pub reliable: bool,
    /// Why not, when not.
    pub unreliable_reason: Option<String>,
    /// Steps fitted (not interrupted, not saturated by shedding).
    pub points: usize,
    /// Concurrencies of the steps left out, and why.
    pub excluded: Vec<String>,
}

/// A retrograde region (throughput falling as users are added) is claimed only when goodput
/// measured past the best fitted step falls by more than this share.
pub const RETROGRADE_DROP: f64 = 0.05;

/// Fits the USL to the steps that measure the system's own scaling: not open loop, not
/// saturated by shedding, and not past the server's own permit count `permits` (there a hard cap
/// flattens the curve, which the USL would read as contention). A peak is reported only for a
/// reliable fit whose κ interval lies above 0 and whose points show the decline.
pub(crate) fn usl_summary(steps: &[StepRow], permits: Option<u32>) -> (UslSummary, Option<Fit>) {
    let mut excluded = Vec::new();
    let mut points = Vec::new();
    // Goodput with every permit in use: past the permits, a step no more than 5% above it is
    // held by the cap.
    let at_permits = permits.map(|p| goodput_within(steps, p));
    for r in steps {
        let c = r.concurrency.unwrap_or(0);
        let capped = |p: &u32| {
            in_flight(r) > f64::from(*p)
                && at_permits.is_some_and(|g| g > 0.0 && r.goodput_rps <= g * 1.05)
        };
        if r.target_rps.is_some() {
            excluded.push(format!("step {} (open loop)", r.step));
        } else if let Some(p) = permits.filter(capped) {
            excluded.push(format!(
                "step {} at {c} users (the server's own {p} permits bind: capped, not contended)",
                r.step
            ));
        } else if shed_fraction(r) > SHED_LIMIT {
            excluded.push(format!(
                "step {} at {c} users ({:.0}% shed)",
                r.step,
                shed_fraction(r) * 100.0
            ));
        } else {
            points.push(Point {
                n: f64::from(c),
                x: r.goodput_rps,
            });
        }
    }
    let mut s = UslSummary {
        points: points.len(),
        excluded,
        ..UslSummary::default()
    };
    match usl::fit(&points) {
        Ok(f) => {
            let p = f.params;
            s.sigma = Some(p.sigma);
            s.kappa = Some(p.kappa);
            s.lambda = Some(p.lambda);
            s.sigma_ci = f.sigma_ci;
            s.kappa_ci = f.kappa_ci;
            s.lambda_ci = f.lambda_ci;
            s.r2 = Some(f.r2);
            s.residual_se = f.residual_se;
            s.reliable = f.unreliable.is_none();
            s.unreliable_reason = f.unreliable.clone();
            let best = points
                .iter()
                .copied()
                .max_by(|a, b| a.x.total_cmp(&b.x).then(b.n.total_cmp(&a.n)));
            let declined = best.is_some_and(|b| {
                points
                    .iter()
                    .any(|q| q.n > b.n && q.x < b.x * (1.0 - RETROGRADE_DROP))
            });
            let kappa_above_zero = f.kappa_ci.is_some_and(|c| c[0] > 0.0);
            s.retrograde = s.reliable && kappa_above_zero && declined;
            if s.retrograde {
                s.peak_concurrency = p.peak_concurrency();
                s.peak_throughput_rps = p.peak_concurrency().map(|n| p.throughput(n));
            }
            (s, Some(f))
        }
        Err(e) => {
            s.unreliable_reason = Some(e.to_string());
            (s, None)
        }
    }
}
