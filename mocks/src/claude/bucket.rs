//! One token bucket, the documented shape of the Messages API's per-minute limits: it holds at
//! most `limit` (a minute's quota) and refills continuously at `limit / 60` per second, so a
//! 60 RPM limit admits a burst of 60 and then about one request per second.
//!
//! Pure arithmetic over a caller-supplied clock, so tests move time by hand.

use std::time::Duration;

use tokio::time::Instant;

/// A continuously refilled bucket of `limit` units per minute.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Units available now; below zero when output was produced on credit.
    level: f64,
    /// The limit the level was last refilled for (0 = not in use yet).
    limit: u64,
    /// When `level` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A bucket not yet used: it starts full when a limit is first applied.
    pub fn new(now: Instant) -> Self {
        Bucket {
            level: 0.0,
            limit: 0,
            at: now,
        }
    }

    fn rate_per_sec(&self) -> f64 {
        self.limit as f64 / 60.0
    }

    /// Brings the level up to `now` under `limit`. A limit set for the first time (or after
    /// being 0) starts with a full bucket; a lowered limit caps the level.
    pub fn refill(&mut self, now: Instant, limit: u64) {
        if limit != self.limit {
            self.level = if self.limit == 0 {
                limit as f64
            } else {
                self.level.min(limit as f64)
            };
            self.limit = limit;
        }
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + dt * self.rate_per_sec()).min(limit as f64);
        self.at = now;
    }

    /// Time until `need` units are available (zero if they are now). `need` above the limit is
    /// treated as the limit, the most the bucket can ever hold.
    pub fn wait_for(&self, need: f64) -> Duration {
        let need = need.min(self.limit as f64);
        if self.level >= need || self.limit == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((need - self.level) / self.rate_per_sec())
    }

    /// Takes `n` units (the level may go below zero).
    pub fn take(&mut self, n: f64) {
        self.level -= n;
    }

    /// Gives back `n` units taken earlier, never above the limit.
    pub fn give(&mut self, n: f64) {
        self.level = (self.level + n).min(self.limit as f64);
    }

    /// Whole units available now (0 when in debt).
    pub fn remaining(&self) -> u64 {
        self.level.max(0.0).floor() as u64
    }

    /// Time until the bucket is full again (the documented meaning of `…-reset`).
    pub fn until_full(&self) -> Duration {
        if self.limit == 0 {
            return Duration::ZERO;
        }
        let missing = (self.limit as f64 - self.level).max(0.0);
        Duration::from_secs_f64(missing / self.rate_per_sec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn sixty_per_minute_is_a_burst_of_sixty_then_one_per_second() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        b.refill(t0, 60);
        assert_eq!(b.remaining(), 60);
        for _ in 0..60 {
            assert_eq!(b.wait_for(1.0), Duration::ZERO);
            b.take(1.0);
        }
        assert_eq!(b.wait_for(1.0), secs(1.0));
        b.refill(t0 + secs(0.5), 60);
        assert_eq!(b.wait_for(1.0), secs(0.5));
        b.refill(t0 + secs(1.0), 60);
        assert_eq!(b.wait_for(1.0), Duration::ZERO);
        b.take(1.0);
        assert_eq!(b.until_full(), secs(60.0));
    }

    #[test]
    fn refill_never_exceeds_the_limit_and_debt_is_repaid_first() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        b.refill(t0, 600);
        b.refill(t0 + secs(3600.0), 600);
        assert_eq!(b.remaining(), 600);
        b.take(700.0);
        assert_eq!(b.remaining(), 0);
        // 100 of debt at 10/s: 10 s until one unit is back... plus 0.1 s for that unit.
        assert_eq!(b.wait_for(1.0), secs(10.1));
        b.give(50.0);
        assert_eq!(b.wait_for(1.0), secs(5.1));
    }

    #[test]
    fn a_lowered_limit_caps_the_level_and_a_new_limit_starts_full() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        b.refill(t0, 100);
        b.refill(t0, 10);
        assert_eq!(b.remaining(), 10);
        b.refill(t0, 0);
        b.refill(t0, 50);
        assert_eq!(b.remaining(), 50);
        assert_eq!(
            b.wait_for(500.0),
            Duration::ZERO,
            "need is capped at the limit"
        );
    }
}
