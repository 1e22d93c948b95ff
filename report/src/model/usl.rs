//! The Universal Scalability Law (Gunther): X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted by
//! Levenberg–Marquardt (the `levenberg-marquardt` crate) with σ, κ ≥ 0 (the optimiser works on
//! a, b with σ = a², κ = b², so a negative contention or coherency, which has no physical
//! meaning, cannot come out), and 95% confidence intervals from the Jacobian in (σ, κ, λ) at the
//! optimum (covariance s²(JᵀJ)⁻¹, Student-t quantile for n − 3 degrees of freedom).

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::storage::Owned;
use nalgebra::{Dyn, Matrix3, OMatrix, OVector, Vector3, U3};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Fewer usable points than this, and the fit is marked unreliable.
pub const MIN_RELIABLE_POINTS: usize = 5;
/// A coefficient of determination below this, and the fit is marked unreliable.
pub const MIN_RELIABLE_R2: f64 = 0.9;

/// One measured point: concurrency and throughput (requests per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Concurrency N.
    pub n: f64,
    /// Throughput X(N), per second.
    pub x: f64,
}

/// The three USL parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// Contention (serial fraction).
    pub sigma: f64,
    /// Coherency (crosstalk) penalty.
    pub kappa: f64,
    /// Throughput of one user, per second.
    pub lambda: f64,
}

impl Params {
    /// Throughput the model predicts at concurrency `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        self.lambda * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))
    }

    /// Gradient of X(n) with respect to (σ, κ, λ).
    fn gradient(&self, n: f64) -> Vector3<f64> {
        let d = 1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0);
        let x = self.lambda * n / d;
        Vector3::new(-x * (n - 1.0) / d, -x * n * (n - 1.0) / d, n / d)
    }

    /// Concurrency of maximum throughput, √((1−σ)/κ), when the curve has a maximum.
    pub fn peak_concurrency(&self) -> Option<f64> {
        (self.kappa > 0.0 && self.sigma < 1.0).then(|| ((1.0 - self.sigma) / self.kappa).sqrt())
    }
}

/// A fitted model with its uncertainty.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The least-squares estimate.
    pub params: Params,
    /// Two-sided 95% interval of σ (None with fewer than 4 points).
    pub sigma_ci: Option<[f64; 2]>,
    /// Two-sided 95% interval of κ.
    pub kappa_ci: Option<[f64; 2]>,
    /// Two-sided 95% interval of λ.
    pub lambda_ci: Option<[f64; 2]>,
    /// Parameter covariance s²(JᵀJ)⁻¹, order (σ, κ, λ).
    pub covariance: Option<Matrix3<f64>>,
    /// Student-t quantile used for the intervals.
    pub t_quantile: Option<f64>,
    /// Coefficient of determination.
    pub r2: f64,
    /// Residual standard error √(SSR / (n − 3)).
    pub residual_se: Option<f64>,
    /// Points fitted.
    pub points: usize,
    /// Why the fit should not be trusted, if so.
    pub unreliable: Option<String>,
}

impl Fit {
    /// Half-width of the 95% confidence band of X(n) (delta method), when intervals exist.
    pub fn band(&self, n: f64) -> Option<f64> {
        let (cov, t) = (self.covariance?, self.t_quantile?);
        let g = self.params.gradient(n);
        let var = (g.transpose() * cov * g)[(0, 0)];
        Some(t * var.max(0.0).sqrt())
    }
}

/// Why no fit could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// Three parameters need at least three points at distinct concurrencies.
    #[error("{0} usable point(s) at distinct concurrencies; the USL needs at least 3")]
    TooFewPoints(usize),
    /// The optimiser did not converge.
    #[error("the fit did not converge ({0})")]
    NoConvergence(String),
}

/// The least-squares problem in the optimiser's parameters (a, b, λ), σ = a², κ = b².
struct Problem<'a> {
    points: &'a [Point],
    p: Vector3<f64>,
}

impl Problem<'_> {
    fn params(&self) -> Params {
        Params {
            sigma: self.p[0] * self.p[0],
            kappa: self.p[1] * self.p[1],
            lambda: self.p[2],
        }
    }

    /// The Jacobian of the residuals in (σ, κ, λ): the one the intervals come from.
    fn jacobian_matrix(&self) -> OMatrix<f64, Dyn, U3> {
        let m = self.params();
        let mut j = OMatrix::<f64, Dyn, U3>::zeros(self.points.len());
        for (i, pt) in self.points.iter().enumerate() {
            let g = m.gradient(pt.n);
            for k in 0..3 {
                j[(i, k)] = g[k];
            }
        }
        j
    }

    /// The Jacobian in the optimiser's (a, b, λ): chain rule, dσ/da = 2a, dκ/db = 2b.
    fn optimiser_jacobian(&self) -> OMatrix<f64, Dyn, U3> {
        let mut j = self.jacobian_matrix();
        for i in 0..j.nrows() {
            j[(i, 0)] *= 2.0 * self.p[0];
            j[(i, 1)] *= 2.0 * self.p[1];
        }
        j
    }
}

impl LeastSquaresProblem<f64, Dyn, U3> for Problem<'_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, U3>;
    type ParameterStorage = Owned<f64, U3>;

    fn set_params(&mut self, p: &Vector3<f64>) {
        self.p = *p;
    }

    fn params(&self) -> Vector3<f64> {
        self.p
    }

    fn residuals(&self) -> Option<OVector<f64, Dyn>> {
        let m = Problem::params(self);
        let r: Vec<f64> = self
            .points
            .iter()
            .map(|pt| m.throughput(pt.n) - pt.x)
            .collect();
        r.iter()
            .all(|v| v.is_finite())
            .then(|| OVector::<f64, Dyn>::from_vec(r))
    }

    fn jacobian(&self) -> Option<OMatrix<f64, Dyn, U3>> {
        Some(self.optimiser_jacobian())
    }
}

/// A starting point: λ from the lowest concurrency, then σ and κ by linear least squares on the
/// linearised law λN/X − 1 = σ(N−1) + κN(N−1).
fn initial_guess(points: &[Point]) -> Vector3<f64> {
    let first = points
        .iter()
        .min_by(|a, b| a.n.total_cmp(&b.n))
        .copied()
        .unwrap_or(Point { n: 1.0, x: 1.0 });
    let lambda = (first.x / first.n).max(f64::MIN_POSITIVE);
    let (mut saa, mut sab, mut sbb, mut say, mut sby) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in points.iter().filter(|p| p.x > 0.0) {
        let y = lambda * p.n / p.x - 1.0;
        let a = p.n - 1.0;
        let b = p.n * (p.n - 1.0);
        saa += a * a;
        sab += a * b;
        sbb += b * b;
        say += a * y;
        sby += b * y;
    }
    let det = saa * sbb - sab * sab;
    let (sigma, kappa) = if det.abs() > 1e-12 {
        ((say * sbb - sby * sab) / det, (sby * saa - say * sab) / det)
    } else {
        (0.01, 0.0001)
    };
    // In the optimiser's parameters; a start exactly on the bound would have a zero gradient.
    Vector3::new(
        sigma.clamp(1e-6, 0.99).sqrt(),
        kappa.max(1e-7).sqrt(),
        lambda,
    )
}

/// Fits the USL to the points by nonlinear least squares.
pub fn fit(points: &[Point]) -> Result<Fit, FitError> {
    let mut distinct: Vec<f64> = points.iter().map(|p| p.n).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(FitError::TooFewPoints(distinct.len()));
    }
    let problem = Problem {
        points,
        p: initial_guess(points),
    };
    let (problem, report) = LevenbergMarquardt::new()
        .with_ftol(1e-15)
        .with_xtol(1e-15)
        .with_gtol(1e-15)
        .with_patience(2000)
        .minimize(problem);
    if !report.termination.was_successful() {
        return Err(FitError::NoConvergence(format!("{:?}", report.termination)));
    }
    let params = problem.params();
    let n = points.len();
    let ssr: f64 = points
        .iter()
        .map(|p| (params.throughput(p.n) - p.x).powi(2))
        .sum();
    let mean = points.iter().map(|p| p.x).sum::<f64>() / n as f64;
    let sst: f64 = points.iter().map(|p| (p.x - mean).powi(2)).sum();
    let r2 = if sst > 0.0 { 1.0 - ssr / sst } else { 1.0 };
    let dof = n.saturating_sub(3);
    let (covariance, t_quantile, residual_se) = if dof > 0 {
        let s2 = ssr / dof as f64;
        let j = problem.jacobian_matrix();
        let jtj = j.transpose() * j;
        let cov = jtj.try_inverse().map(|inv| inv * s2);
        let t = StudentsT::new(0.0, 1.0, dof as f64)
            .ok()
            .map(|d| d.inverse_cdf(0.975));
        (cov, t, Some(s2.sqrt()))
    } else {
        (None, None, None)
    };
    let ci = |k: usize, v: f64| -> Option<[f64; 2]> {
        let (cov, t) = (covariance?, t_quantile?);
        let h = t * cov[(k, k)].max(0.0).sqrt();
        Some([v - h, v + h])
    };
    let unreliable = if n < MIN_RELIABLE_POINTS {
        Some(format!(
            "only {n} usable points (at least {MIN_RELIABLE_POINTS} needed)"
        ))
    } else if r2 < MIN_RELIABLE_R2 {
        Some(format!("R² = {r2:.3} is below {MIN_RELIABLE_R2}"))
    } else {
        None
    };
    Ok(Fit {
        sigma_ci: ci(0, params.sigma),
        kappa_ci: ci(1, params.kappa),
        lambda_ci: ci(2, params.lambda),
        params,
        covariance,
        t_quantile,
        r2,
        residual_se,
        points: n,
        unreliable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const TRUE: Params = Params {
        sigma: 0.05,
        kappa: 0.0008,
        lambda: 2.0,
    };
    const LEVELS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0];

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn noiseless_points_recover_the_parameters_within_1e_6() {
        let pts: Vec<Point> = LEVELS
            .iter()
            .map(|&n| Point {
                n,
                x: TRUE.throughput(n),
            })
            .collect();
        let f = fit(&pts).unwrap();
        assert!(rel(f.params.sigma, TRUE.sigma) < 1e-6, "{:?}", f.params);
        assert!(rel(f.params.kappa, TRUE.kappa) < 1e-6, "{:?}", f.params);
        assert!(rel(f.params.lambda, TRUE.lambda) < 1e-6, "{:?}", f.params);
        assert!(f.r2 > 0.999_999);
        assert!(f.unreliable.is_none());
    }

    #[test]
    fn noisy_points_have_the_true_parameters_inside_their_intervals() {
        // Several seeds, 3% multiplicative noise, two points per level: each interval must
        // contain the truth in at least 9 of 10 fits (a 95% interval misses 1 in 20).
        let mut hits = [0; 3];
        for seed in 0..10u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let pts: Vec<Point> = LEVELS
                .iter()
                .flat_map(|&n| [n, n])
                .map(|n| Point {
                    n,
                    x: TRUE.throughput(n) * (1.0 + rng.random_range(-0.05..0.05)),
                })
                .collect();
            let f = fit(&pts).unwrap();
            let inside = |ci: Option<[f64; 2]>, v: f64| ci.is_some_and(|c| c[0] <= v && v <= c[1]);
            hits[0] += inside(f.sigma_ci, TRUE.sigma) as usize;
            hits[1] += inside(f.kappa_ci, TRUE.kappa) as usize;
            hits[2] += inside(f.lambda_ci, TRUE.lambda) as usize;
            assert!(f.r2 > 0.9, "seed {seed}: R² {}", f.r2);
        }
        assert!(hits.iter().all(|&h| h >= 9), "{hits:?}");
    }

    #[test]
    fn peak_is_the_square_root_of_one_minus_sigma_over_kappa() {
        let peak = TRUE.peak_concurrency().unwrap();
        assert!(rel(peak, (0.95f64 / 0.0008).sqrt()) < 1e-12);
        let eps = 1e-3;
        assert!(TRUE.throughput(peak) > TRUE.throughput(peak - eps));
        assert!(TRUE.throughput(peak) > TRUE.throughput(peak + eps));
    }

    #[test]
    fn few_points_are_unreliable_with_the_reason() {
        let pts: Vec<Point> = [1.0, 2.0, 4.0, 8.0]
            .iter()
            .map(|&n| Point {
                n,
                x: TRUE.throughput(n),
            })
            .collect();
        let f = fit(&pts).unwrap();
        assert!(f.unreliable.unwrap().contains("only 4 usable points"));
        assert_eq!(fit(&pts[..2]).unwrap_err(), FitError::TooFewPoints(2));
    }

    #[test]
    fn contention_and_coherency_never_come_out_negative() {
        // Linear scaling with a little noise: the unbounded optimum has σ, κ slightly below 0.
        let pts: Vec<Point> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
            .iter()
            .zip([1.0, 1.01, 0.99, 1.02, 0.98, 1.03])
            .map(|(&n, e)| Point { n, x: 0.5 * n * e })
            .collect();
        let f = fit(&pts).unwrap();
        assert!(
            f.params.sigma >= 0.0 && f.params.kappa >= 0.0,
            "{:?}",
            f.params
        );
        assert!(rel(f.params.lambda, 0.5) < 0.05, "{:?}", f.params);
    }

    #[test]
    fn jacobian_matches_numeric_differentiation() {
        let pts: Vec<Point> = LEVELS.iter().map(|&n| Point { n, x: 1.0 }).collect();
        let at = Vector3::new(0.1f64.sqrt(), 0.001f64.sqrt(), 1.5);
        let p = Problem {
            points: &pts,
            p: at,
        };
        let ana = p.optimiser_jacobian();
        // Central differences with a step relative to each parameter (κ is ~1e-3).
        let mut num = ana.clone() * 0.0;
        for k in 0..3 {
            let h = at[k] * 1e-6;
            let (mut up, mut down) = (at, at);
            up[k] += h;
            down[k] -= h;
            let r = |v: Vector3<f64>| Problem { points: &pts, p: v }.residuals().unwrap();
            let col = (r(up) - r(down)) / (2.0 * h);
            num.set_column(k, &col);
        }
        assert!((&num - &ana).norm() / ana.norm() < 1e-6, "{num} {ana}");
    }
}
