//! `--think-time`: how long a virtual user pauses after each answer before its next request, as
//! a real user reads, polls or thinks. Drawn per user per request from the user's own stream of
//! the run's `--seed`; latency never includes it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// A think-time distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThinkTime {
    /// Always this long (`5s`).
    Fixed(Duration),
    /// Exponential with this mean (`exp:30s`): memoryless users, the classic interactive model.
    Exponential(Duration),
    /// Uniform between the two (`uniform:10s..50s`).
    Uniform(Duration, Duration),
}

/// The longest think time accepted: a day.
pub const MAX: Duration = Duration::from_secs(86_400);

impl ThinkTime {
    /// One draw.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            ThinkTime::Fixed(d) => d,
            ThinkTime::Exponential(mean) => {
                // Inverse CDF; 1 − u is in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                mean.mul_f64(-(1.0 - u).ln()).min(MAX)
            }
            ThinkTime::Uniform(lo, hi) => lo + (hi - lo).mul_f64(rng.random::<f64>()),
        }
    }

    /// The distribution's mean.
    pub fn mean(&self) -> Duration {
        match *self {
            ThinkTime::Fixed(d) | ThinkTime::Exponential(d) => d,
            ThinkTime::Uniform(lo, hi) => (lo + hi) / 2,
        }
    }
}

impl fmt::Display for ThinkTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = humantime::format_duration;
        match *self {
            ThinkTime::Fixed(d) => write!(f, "{}", h(d)),
            ThinkTime::Exponential(d) => write!(f, "exp:{}", h(d)),
            ThinkTime::Uniform(a, b) => write!(f, "uniform:{}..{}", h(a), h(b)),
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!(
            "'{}' is not a duration like 5s or 250ms: {e}",
            s.escape_debug()
        )
    })?;
    if d > MAX {
        return Err(format!(
            "{} is longer than a day",
            humantime::format_duration(d)
        ));
    }
    Ok(d)
}

impl FromStr for ThinkTime {
    type Err = String;

    /// `5s` (fixed), `exp:30s` (exponential, that mean), `uniform:10s..50s`.
    fn from_str(s: &str) -> Result<Self, String> {
        let hint = "expected 5s, exp:30s or uniform:10s..50s";
        if let Some(mean) = s.strip_prefix("exp:") {
            let d = duration(mean).map_err(|e| format!("{e} ({hint})"))?;
            if d.is_zero() {
                return Err(format!("exp:{mean}: the mean must be above 0 ({hint})"));
            }
            return Ok(ThinkTime::Exponential(d));
        }
        if let Some(range) = s.strip_prefix("uniform:") {
            let (a, b) = range
                .split_once("..")
                .ok_or_else(|| format!("'{}' has no '..' ({hint})", s.escape_debug()))?;
            let (lo, hi) = (duration(a)?, duration(b)?);
            if lo > hi {
                return Err(format!(
                    "uniform:{a}..{b}: the lower bound is above the upper ({hint})"
                ));
            }
            return Ok(ThinkTime::Uniform(lo, hi));
        }
        duration(s)
            .map(ThinkTime::Fixed)
            .map_err(|e| format!("{e} ({hint})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_three_forms_parse_and_print_back() {
        for text in ["5s", "exp:30s", "uniform:10s..50s"] {
            let t: ThinkTime = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
        }
        assert_eq!(
            "uniform:10s..50s".parse::<ThinkTime>().unwrap().mean(),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn bad_forms_say_what_is_expected() {
        for bad in [
            "fast",
            "exp:0s",
            "uniform:5s",
            "uniform:9s..1s",
            "exp:2days",
            "-1s",
        ] {
            let e = bad.parse::<ThinkTime>().unwrap_err();
            assert!(
                e.contains("expected 5s, exp:30s or uniform:10s..50s")
                    || e.contains("longer than a day"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn draws_have_the_distributions_mean() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for t in [
            ThinkTime::Exponential(Duration::from_secs(30)),
            ThinkTime::Uniform(Duration::from_secs(10), Duration::from_secs(50)),
        ] {
            let n = 20_000;
            let mean: f64 = (0..n)
                .map(|_| t.sample(&mut rng).as_secs_f64())
                .sum::<f64>()
                / n as f64;
            // Standard error of the exponential's mean: 30 / √20000 ≈ 0.21 s.
            assert!((mean - 30.0).abs() < 1.0, "{t}: mean {mean}");
        }
    }
}
