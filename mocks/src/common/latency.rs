//! The latency model: how long a mock waits before answering, drawn from a seeded RNG.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

/// Longest delay any draw can give (one hour), so sums of delays never overflow.
pub const MAX_DELAY_MS: f64 = 3_600_000.0;

/// Shape of the latency distribution.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LatencyDist {
    /// Always exactly `latency_ms`.
    #[default]
    Fixed,
    /// Uniform in `latency_ms ± latency_jitter * latency_ms`.
    Uniform,
    /// Lognormal with mean `latency_ms` and coefficient of variation `latency_jitter`.
    Lognormal,
}

/// Latency settings shared by both mocks (flattened into their settings).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct LatencySettings {
    /// Mean added latency in milliseconds (0 = none).
    pub latency_ms: u64,
    /// Distribution of the added latency.
    pub latency_dist: LatencyDist,
    /// Spread as a fraction of the mean (uniform: half-width; lognormal: coefficient of variation).
    pub latency_jitter: f64,
}

impl LatencySettings {
    /// Draws one latency from `rng`; never negative, never panics on odd settings.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let mean = self.latency_ms as f64;
        if mean <= 0.0 {
            return Duration::ZERO;
        }
        let jitter = if self.latency_jitter.is_finite() {
            self.latency_jitter.max(0.0)
        } else {
            0.0
        };
        let ms = match self.latency_dist {
            LatencyDist::Fixed => mean,
            LatencyDist::Uniform => {
                let half = (jitter * mean).min(mean);
                if half <= 0.0 {
                    mean
                } else {
                    rng.random_range((mean - half)..=(mean + half))
                }
            }
            LatencyDist::Lognormal => {
                if jitter <= 0.0 {
                    mean
                } else {
                    // For a lognormal with mean m and CV c: sigma² = ln(1+c²), mu = ln m − sigma²/2.
                    let sigma2 = (1.0 + jitter * jitter).ln();
                    let mu = mean.ln() - sigma2 / 2.0;
                    match LogNormal::new(mu, sigma2.sqrt()) {
                        Ok(dist) => dist.sample(rng),
                        Err(_) => mean,
                    }
                }
            }
        };
        // Extreme settings can give inf/NaN; never panic, fall back to the mean.
        let ms = if ms.is_finite() { ms } else { mean };
        Duration::from_secs_f64(ms.clamp(0.0, MAX_DELAY_MS) / 1000.0)
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !self.latency_jitter.is_finite() || self.latency_jitter < 0.0 {
            return Err(format!(
                "latency_jitter must be a finite number >= 0, got {}",
                self.latency_jitter
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mean_ms(s: &LatencySettings, n: usize) -> (f64, f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let v: Vec<f64> = (0..n)
            .map(|_| s.sample(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let min = v.iter().cloned().fold(f64::MAX, f64::min);
        let max = v.iter().cloned().fold(f64::MIN, f64::max);
        (mean, min, max)
    }

    #[test]
    fn fixed_is_exact() {
        let s = LatencySettings {
            latency_ms: 25,
            ..Default::default()
        };
        assert_eq!(mean_ms(&s, 100), (25.0, 25.0, 25.0));
    }

    #[test]
    fn uniform_stays_in_band_with_the_right_mean() {
        let s = LatencySettings {
            latency_ms: 100,
            latency_dist: LatencyDist::Uniform,
            latency_jitter: 0.5,
        };
        let (mean, min, max) = mean_ms(&s, 20_000);
        assert!((mean - 100.0).abs() < 2.0, "mean {mean}");
        assert!(min >= 50.0 && max <= 150.0, "{min}..{max}");
    }

    #[test]
    fn lognormal_has_the_requested_mean_and_a_right_tail() {
        let s = LatencySettings {
            latency_ms: 20,
            latency_dist: LatencyDist::Lognormal,
            latency_jitter: 0.5,
        };
        let (mean, min, max) = mean_ms(&s, 50_000);
        assert!((mean - 20.0).abs() < 0.5, "mean {mean}");
        assert!(min > 0.0 && max > 40.0, "{min}..{max}");
    }

    #[test]
    fn same_seed_same_sequence() {
        let s = LatencySettings {
            latency_ms: 20,
            latency_dist: LatencyDist::Lognormal,
            latency_jitter: 0.5,
        };
        let a: Vec<_> = {
            let mut r = ChaCha8Rng::seed_from_u64(1);
            (0..10).map(|_| s.sample(&mut r)).collect()
        };
        let b: Vec<_> = {
            let mut r = ChaCha8Rng::seed_from_u64(1);
            (0..10).map(|_| s.sample(&mut r)).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn absurd_settings_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for dist in [
            LatencyDist::Fixed,
            LatencyDist::Uniform,
            LatencyDist::Lognormal,
        ] {
            for jitter in [0.0, 1e308, f64::MAX] {
                let s = LatencySettings {
                    latency_ms: u64::MAX,
                    latency_dist: dist,
                    latency_jitter: jitter,
                };
                assert!(s.sample(&mut rng) <= Duration::from_secs(3600));
            }
        }
    }

    #[test]
    fn zero_mean_means_no_delay_and_bad_jitter_is_rejected() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(LatencySettings::default().sample(&mut rng), Duration::ZERO);
        let bad = LatencySettings {
            latency_jitter: -1.0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
