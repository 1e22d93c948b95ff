//! The shared upstream cool-down: a 429/529 with a wait hint pauses every new model call of the
//! process until the hint passes, so queued and running analyses wait together instead of each
//! spending its own retries against a provider that already said "not before T".

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Longest cool-down taken from one hint (a larger hint is clamped).
pub const MAX_COOLDOWN: Duration = Duration::from_secs(60);

/// "No new model call before `until`", shared by the whole process.
#[derive(Debug, Default)]
pub struct Cooldown {
    until: Mutex<Option<Instant>>,
}

impl Cooldown {
    /// No cool-down.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Pauses new calls for `wait` from `now` (extends, never shortens, a running cool-down).
    /// True when this started or extended the cool-down.
    pub fn extend(&self, now: Instant, wait: Duration) -> bool {
        let until = now + wait.min(MAX_COOLDOWN);
        let mut current = self.lock();
        if current.is_some_and(|c| c >= until) {
            return false;
        }
        *current = Some(until);
        true
    }

    /// Time left at `now` (zero when none).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.lock()
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    /// Waits until no cool-down is in force, or returns `Err(remaining)` at once when it lasts
    /// past `deadline`. `Ok(true)` when it had to wait.
    pub async fn wait(&self, deadline: Instant) -> Result<bool, Duration> {
        let mut waited = false;
        loop {
            let now = Instant::now();
            let left = self.remaining(now);
            if left.is_zero() {
                return Ok(waited);
            }
            if now + left > deadline {
                return Err(left);
            }
            waited = true;
            tokio::time::sleep(left).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn callers_wait_out_the_cool_down_or_are_told_how_long_it_lasts() {
        let cooldown = Cooldown::new();
        let start = Instant::now();
        assert_eq!(cooldown.wait(start).await, Ok(false));
        assert!(cooldown.extend(start, Duration::from_millis(800)));
        assert!(
            !cooldown.extend(start, Duration::from_millis(100)),
            "a shorter hint does not shorten it"
        );
        assert_eq!(
            cooldown.wait(start + Duration::from_millis(500)).await,
            Err(Duration::from_millis(800)),
            "a deadline before the end gets the remaining time at once"
        );
        assert_eq!(
            cooldown.wait(start + Duration::from_secs(5)).await,
            Ok(true)
        );
        assert!(start.elapsed() >= Duration::from_millis(800));
        assert_eq!(cooldown.remaining(Instant::now()), Duration::ZERO);
    }
}
