//! `--arrivals`: the arrival process of open-loop steps. `constant` spaces sends evenly
//! (`start + i / rate`, the default); `poisson` draws exponential gaps (independent users);
//! `gamma:CV` draws gamma gaps with that coefficient of variation (CV > 1: bursts, CV < 1: more
//! regular than Poisson). Every process has mean gap `1 / rate`, and the gaps come from a
//! ChaCha8 stream seeded by (`--seed`, step, instance), so a seed reproduces the schedule.
//! The intended send times stay the base of the coordinated-omission correction.

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma};

/// Largest accepted gamma CV: beyond it the shape `1 / CV²` is so small that nearly every gap
/// is 0 and one gap holds the whole step.
pub const MAX_CV: f64 = 10.0;

/// An arrival process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Arrivals {
    /// Evenly spaced: send `i` at `start + i / rate`.
    #[default]
    Constant,
    /// Exponential gaps with mean `1 / rate` (a Poisson process).
    Poisson,
    /// Gamma gaps with mean `1 / rate` and this coefficient of variation.
    Gamma {
        /// Coefficient of variation of the gaps (standard deviation / mean).
        cv: f64,
    },
}

impl fmt::Display for Arrivals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arrivals::Constant => f.write_str("constant"),
            Arrivals::Poisson => f.write_str("poisson"),
            Arrivals::Gamma { cv } => write!(f, "gamma:{cv}"),
        }
    }
}

impl FromStr for Arrivals {
    type Err = String;

    /// `constant`, `poisson` or `gamma:CV` (0 < CV ≤ 10).
    fn from_str(s: &str) -> Result<Self, String> {
        let hint = "expected constant, poisson or gamma:CV (e.g. gamma:2)";
        match s.trim() {
            "constant" => Ok(Arrivals::Constant),
            "poisson" => Ok(Arrivals::Poisson),
            other => {
                let Some(cv) = other.strip_prefix("gamma:") else {
                    return Err(format!("'{}': {hint}", s.escape_debug()));
                };
                let cv: f64 = cv
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{}': CV is not a number; {hint}", s.escape_debug()))?;
                if !(cv.is_finite() && cv > 0.0 && cv <= MAX_CV) {
                    return Err(format!(
                        "'{}': CV must be above 0 and at most {MAX_CV}",
                        s.escape_debug()
                    ));
                }
                Ok(Arrivals::Gamma { cv })
            }
        }
    }
}

impl serde::Serialize for Arrivals {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Arrivals {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Arrivals {
    /// The schedule of one step at `rate` per second, its random gaps seeded by `seed`.
    pub fn schedule(self, rate: f64, seed: u64) -> Schedule {
        let gaps = match self {
            Arrivals::Constant => Gaps::Even,
            // A rate validated positive and finite gives a valid λ; a CV validated in
            // (0, MAX_CV] a valid shape and scale. Fall back to even spacing rather than panic.
            Arrivals::Poisson => Exp::new(rate).map(Gaps::Exp).unwrap_or(Gaps::Even),
            Arrivals::Gamma { cv } => {
                let shape = 1.0 / (cv * cv);
                Gamma::new(shape, 1.0 / (rate * shape))
                    .map(Gaps::Gamma)
                    .unwrap_or(Gaps::Even)
            }
        };
        Schedule {
            period: 1.0 / rate,
            gaps,
            rng: ChaCha8Rng::seed_from_u64(seed),
            i: 0,
            offset: 0.0,
        }
    }
}

/// The seed of step `step`'s arrivals: distinct per step and per instance, so `--instance`
/// shares are independent streams (identical streams would superpose into bursts).
pub fn step_seed(seed: u64, step: usize, instance: u32) -> u64 {
    let mut z = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(instance).wrapping_mul(0xD1B5_4A32_D192_ED03);
    // splitmix64's finaliser: nearby inputs give unrelated seeds.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone)]
enum Gaps {
    Even,
    Exp(Exp<f64>),
    Gamma(Gamma<f64>),
}

/// Intended send offsets of one step, in seconds from its start, in order.
#[derive(Debug, Clone)]
pub struct Schedule {
    period: f64,
    gaps: Gaps,
    rng: ChaCha8Rng,
    i: u64,
    offset: f64,
}

impl Schedule {
    /// The next send's offset from the step's start, seconds. The first random send comes one
    /// gap after the start (a Poisson process observed from an arbitrary instant); the first
    /// even send at the start, as before.
    pub fn next_offset(&mut self) -> f64 {
        let i = self.i;
        self.i += 1;
        match &self.gaps {
            // `i × period`, not a running sum, so even spacing never drifts; `0 × ∞` is NaN.
            Gaps::Even if i == 0 => 0.0,
            Gaps::Even => i as f64 * self.period,
            Gaps::Exp(d) => {
                self.offset += d.sample(&mut self.rng);
                self.offset
            }
            Gaps::Gamma(d) => {
                self.offset += d.sample(&mut self.rng);
                self.offset
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(arrivals: Arrivals, rate: f64, seed: u64, n: usize) -> Vec<f64> {
        let mut s = arrivals.schedule(rate, seed);
        let mut last = 0.0;
        (0..n)
            .map(|_| {
                let t = s.next_offset();
                let g = t - last;
                last = t;
                g
            })
            .collect()
    }

    fn mean_and_cv(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt() / mean)
    }

    /// The one-sample Kolmogorov–Smirnov statistic of `x` against the CDF `cdf`.
    fn ks_statistic(x: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
        x.sort_by(f64::total_cmp);
        let n = x.len() as f64;
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let f = cdf(v);
                (f - i as f64 / n).max((i as f64 + 1.0) / n - f)
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn seeded_poisson_gaps_pass_kolmogorov_smirnov_against_the_exponential() {
        let rate = 25.0;
        let n = 5000;
        // Critical value of the one-sample KS test at α = 0.01 for large n (Massey 1951).
        let critical = 1.628 / (n as f64).sqrt();
        for seed in [1, 42, 2026] {
            let mut x = gaps(Arrivals::Poisson, rate, seed, n);
            let d = ks_statistic(&mut x, |t| 1.0 - (-rate * t).exp());
            assert!(d < critical, "seed {seed}: D = {d} ≥ {critical}");
        }
        // The test can fail: even gaps and gamma:2 gaps are rejected as exponential.
        for other in [Arrivals::Constant, Arrivals::Gamma { cv: 2.0 }] {
            let mut x = gaps(other, rate, 42, n);
            let d = ks_statistic(&mut x, |t| 1.0 - (-rate * t).exp());
            assert!(d > critical, "{other}: D = {d} passed as exponential");
        }
    }

    #[test]
    fn gamma_2_gaps_have_a_cv_within_ten_percent_of_2_and_the_rates_mean() {
        let rate = 40.0;
        let (mean, cv) = mean_and_cv(&gaps(Arrivals::Gamma { cv: 2.0 }, rate, 42, 200_000));
        assert!((cv - 2.0).abs() < 0.2, "CV {cv}");
        assert!((mean * rate - 1.0).abs() < 0.02, "mean gap {mean}");
        let (_, cv_half) = mean_and_cv(&gaps(Arrivals::Gamma { cv: 0.5 }, rate, 42, 200_000));
        assert!((cv_half - 0.5).abs() < 0.05, "CV {cv_half}");
        let (mean_p, cv_p) = mean_and_cv(&gaps(Arrivals::Poisson, rate, 42, 200_000));
        assert!((cv_p - 1.0).abs() < 0.05 && (mean_p * rate - 1.0).abs() < 0.02);
    }

    #[test]
    fn a_seed_reproduces_the_schedule_and_another_seed_does_not() {
        let a = gaps(Arrivals::Poisson, 10.0, 7, 100);
        assert_eq!(a, gaps(Arrivals::Poisson, 10.0, 7, 100));
        assert_ne!(a, gaps(Arrivals::Poisson, 10.0, 8, 100));
        assert_ne!(step_seed(7, 0, 0), step_seed(7, 1, 0));
        assert_ne!(step_seed(7, 0, 0), step_seed(7, 0, 1));
    }

    #[test]
    fn constant_spacing_is_exact_and_starts_at_zero() {
        let mut s = Arrivals::Constant.schedule(4.0, 0);
        let t: Vec<f64> = (0..4).map(|_| s.next_offset()).collect();
        assert_eq!(t, [0.0, 0.25, 0.5, 0.75]);
    }

    #[test]
    fn the_flag_parses_and_prints_back() {
        for text in ["constant", "poisson", "gamma:2", "gamma:0.5"] {
            assert_eq!(text.parse::<Arrivals>().unwrap().to_string(), text);
        }
        for bad in [
            "uniform",
            "gamma:",
            "gamma:x",
            "gamma:0",
            "gamma:-1",
            "gamma:11",
            "gamma:NaN",
        ] {
            assert!(bad.parse::<Arrivals>().is_err(), "{bad}");
        }
    }
}
