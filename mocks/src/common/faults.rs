//! Fault injection: which requests fail, stall or lose their connection.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Fault rates shared by both mocks (flattened into their settings).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct FaultSettings {
    /// Fraction of requests answered with a 500.
    pub error_rate: f64,
    /// Fraction of requests that stall for `stall_ms` before answering.
    pub stall_rate: f64,
    /// Extra delay of a stalled request, in milliseconds.
    pub stall_ms: u64,
    /// Fraction of requests whose connection is reset without any response.
    pub reset_rate: f64,
}

/// What the dice decided for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultDraw {
    /// Drop the connection without answering.
    pub reset: bool,
    /// Answer 500.
    pub error: bool,
    /// Extra stall before answering.
    pub stall: Duration,
}

impl FaultSettings {
    /// Rolls every fault once, always in the same order so a seed reproduces a run.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> FaultDraw {
        let reset = roll(rng, self.reset_rate);
        let error = roll(rng, self.error_rate);
        let stall = if roll(rng, self.stall_rate) {
            Duration::from_millis(self.stall_ms)
        } else {
            Duration::ZERO
        };
        FaultDraw {
            reset,
            error,
            stall,
        }
    }

    /// Checks that every rate is a fraction.
    pub fn validate(&self) -> Result<(), String> {
        check_rate("error_rate", self.error_rate)?;
        check_rate("stall_rate", self.stall_rate)?;
        check_rate("reset_rate", self.reset_rate)
    }
}

/// True with probability `p`; always consumes one draw so sequences stay aligned.
pub fn roll<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    let x: f64 = rng.random();
    x < p
}

/// Validates that `value` is a probability, naming the setting in the message.
pub fn check_rate(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("{name} must be between 0 and 1, got {value}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rates_of_zero_and_one_are_never_and_always() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let none = FaultSettings::default();
        let all = FaultSettings {
            error_rate: 1.0,
            stall_rate: 1.0,
            stall_ms: 5,
            reset_rate: 1.0,
        };
        for _ in 0..100 {
            assert_eq!(none.draw(&mut rng), FaultDraw::default());
            assert_eq!(
                all.draw(&mut rng),
                FaultDraw {
                    reset: true,
                    error: true,
                    stall: Duration::from_millis(5)
                }
            );
        }
    }

    #[test]
    fn a_rate_of_a_quarter_hits_about_a_quarter() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let s = FaultSettings {
            error_rate: 0.25,
            ..Default::default()
        };
        let hits = (0..10_000).filter(|_| s.draw(&mut rng).error).count();
        assert!((2_300..2_700).contains(&hits), "{hits}");
    }

    #[test]
    fn rates_outside_zero_one_are_rejected_by_name() {
        let s = FaultSettings {
            reset_rate: 1.5,
            ..Default::default()
        };
        assert_eq!(
            s.validate().unwrap_err(),
            "reset_rate must be between 0 and 1, got 1.5"
        );
    }
}
