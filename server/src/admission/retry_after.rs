//! Retry guidance: the recent service time (EWMA) used to estimate how long a queued or refused
//! request would have to wait. [`crate::error`] renders the estimate as `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Exponentially weighted moving average of how long one analysis holds a permit.
#[derive(Debug)]
pub struct ServiceTimeEwma {
    /// Microseconds, stored as f64 bits so updates are lock-free; NaN until the first sample.
    micros_bits: AtomicU64,
    /// Reported until the first sample arrives.
    initial: Duration,
    alpha: f64,
}

impl ServiceTimeEwma {
    /// Reports `initial` until the first sample, which it then takes as is; each later sample
    /// moves the average `alpha` of the way toward it.
    pub fn new(initial: Duration, alpha: f64) -> Self {
        ServiceTimeEwma {
            micros_bits: AtomicU64::new(f64::NAN.to_bits()),
            initial,
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
                let new = if old.is_nan() {
                    x
                } else {
                    old + self.alpha * (x - old)
                };
                Some(new.to_bits())
            });
    }

    /// The average of the samples so far; `None` before the first.
    pub fn measured(&self) -> Option<Duration> {
        let micros = f64::from_bits(self.micros_bits.load(Ordering::Relaxed));
        (!micros.is_nan()).then(|| Duration::from_micros(micros.max(0.0) as u64))
    }

    /// The current average (the initial guess before any sample).
    pub fn current(&self) -> Duration {
        let micros = f64::from_bits(self.micros_bits.load(Ordering::Relaxed));
        if micros.is_nan() {
            self.initial
        } else {
            Duration::from_micros(micros.max(0.0) as u64)
        }
    }

    /// Expected wait for a request at `position` (1 = next) with `permits` slots serving in parallel:
    /// position × service time / permits.
    pub fn estimate_wait(&self, position: usize, permits: usize) -> Duration {
        let per_slot = self.current().as_secs_f64() / permits.max(1) as f64;
        Duration::try_from_secs_f64(per_slot * position.max(1) as f64).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_moves_toward_samples_and_scales_with_position() {
        let ewma = ServiceTimeEwma::new(Duration::from_secs(1), 0.5);
        assert_eq!(
            ewma.current(),
            Duration::from_secs(1),
            "initial guess before any sample"
        );
        ewma.observe(Duration::from_secs(1));
        ewma.observe(Duration::from_secs(3));
        assert_eq!(ewma.current(), Duration::from_secs(2));
        // 10 requests ahead, 4 slots, 2 s each → 5 s.
        assert_eq!(ewma.estimate_wait(10, 4), Duration::from_secs(5));
        assert!(ewma.estimate_wait(20, 4) > ewma.estimate_wait(10, 4));
    }
}
