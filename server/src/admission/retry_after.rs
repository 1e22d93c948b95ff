//! Retry guidance: whole-second `Retry-After` values and the recent service time (EWMA) used to
//! estimate how long a queued or refused request would have to wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `Retry-After` in whole seconds: rounded up, never below 1.
pub fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Exponentially weighted moving average of how long one analysis holds a permit.
#[derive(Debug)]
pub struct ServiceTimeEwma {
    /// Microseconds, stored as f64 bits so updates are lock-free.
    micros_bits: AtomicU64,
    alpha: f64,
}

impl ServiceTimeEwma {
    /// Starts at `initial` and moves `alpha` of the way to each new sample.
    pub fn new(initial: Duration, alpha: f64) -> Self {
        let micros = initial.as_micros() as f64;
        ServiceTimeEwma {
            micros_bits: AtomicU64::new(micros.to_bits()),
            alpha: alpha.clamp(0.01, 1.0),
        }
    }

    /// Folds one observed service time into the average.
    pub fn observe(&self, sample: Duration) {
        let x = sample.as_micros() as f64;
        let _ = self
            .micros_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let old = f64::from_bits(bits);
                Some((old + self.alpha * (x - old)).to_bits())
            });
    }

    /// The current average.
    pub fn current(&self) -> Duration {
        Duration::from_micros(
            f64::from_bits(self.micros_bits.load(Ordering::Relaxed)).max(0.0) as u64,
        )
    }

    /// Expected wait for a request at `position` (1 = next) with `permits` slots serving in parallel:
    /// position × service time / permits.
    pub fn estimate_wait(&self, position: usize, permits: usize) -> Duration {
        let per_slot = self.current().as_secs_f64() / permits.max(1) as f64;
        Duration::from_secs_f64(per_slot * position.max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_round_up_and_never_zero() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn ewma_moves_toward_samples_and_scales_with_position() {
        let ewma = ServiceTimeEwma::new(Duration::from_secs(1), 0.5);
        ewma.observe(Duration::from_secs(3));
        assert_eq!(ewma.current(), Duration::from_secs(2));
        // 10 requests ahead, 4 slots, 2 s each → 5 s.
        assert_eq!(ewma.estimate_wait(10, 4), Duration::from_secs(5));
        assert!(ewma.estimate_wait(20, 4) > ewma.estimate_wait(10, 4));
    }
}
