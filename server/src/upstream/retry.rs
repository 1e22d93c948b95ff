//! When and how long to wait before retrying a model call: capped exponential backoff with full
//! jitter, the server's own hints (`retry-after-ms`, `retry-after`, `x-should-retry`), and a retry
//! budget (as Envoy's) so retries never exceed a fraction of active calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;

/// Backoff parameters.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First step.
    pub base: Duration,
    /// Largest step.
    pub cap: Duration,
}

impl RetryPolicy {
    /// Full-jitter backoff for retry number `retry` (0-based): uniform in [0, min(cap, base·2^retry)].
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.min(16))
            .min(self.cap);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// Longest upstream wait hint taken at face value (a bigger one is clamped, never trusted to overflow).
pub const MAX_HINT: Duration = Duration::from_secs(3600);

/// The server's own wait hint: `retry-after-ms` (milliseconds, may be fractional), else
/// `retry-after` in seconds.
pub fn hinted_wait(headers: &HeaderMap) -> Option<Duration> {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = value("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(
                ms.min(MAX_HINT.as_millis() as f64) / 1000.0,
            ));
        }
    }
    value("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_HINT))
}

/// Is this status worth retrying? `x-should-retry: true|false` from the server wins; otherwise
/// 408, 409, 429 and every 5xx (including Anthropic's 529 overloaded) are.
pub fn is_retryable(status: u16, headers: &HeaderMap) -> bool {
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => true,
        Some("false") => false,
        _ => matches!(status, 408 | 409 | 429) || status >= 500,
    }
}

/// Envoy-style retry budget: a retry may start only while active retries stay below
/// `ratio` × active calls (with a floor of `min_retries` so a quiet server can still retry).
#[derive(Debug)]
pub struct RetryBudget {
    active_calls: AtomicUsize,
    active_retries: AtomicUsize,
    ratio: f64,
    min_retries: usize,
}

/// Counts one active call (or retry) for as long as it lives.
#[derive(Debug)]
pub struct BudgetToken<'a>(&'a AtomicUsize);

impl Drop for BudgetToken<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RetryBudget {
    /// A budget of `ratio` (e.g. 0.2) with at least `min_retries` concurrent retries allowed.
    pub fn new(ratio: f64, min_retries: usize) -> Self {
        RetryBudget {
            active_calls: AtomicUsize::new(0),
            active_retries: AtomicUsize::new(0),
            ratio,
            min_retries,
        }
    }

    /// Marks a call as active until the token drops.
    pub fn call(&self) -> BudgetToken<'_> {
        self.active_calls.fetch_add(1, Ordering::AcqRel);
        BudgetToken(&self.active_calls)
    }

    /// Takes a retry slot if the budget allows one now.
    pub fn try_retry(&self) -> Option<BudgetToken<'_>> {
        let calls = self.active_calls.load(Ordering::Acquire);
        let allowed = ((calls as f64 * self.ratio).floor() as usize).max(self.min_retries);
        self.active_retries
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r < allowed).then_some(r + 1)
            })
            .ok()
            .map(|_| BudgetToken(&self.active_retries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().expect("value"));
        }
        map
    }

    #[test]
    fn backoff_is_jittered_below_the_capped_exponential() {
        let policy = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(500),
        };
        for retry in 0..8 {
            let ceiling = Duration::from_millis(100 * (1 << retry)).min(Duration::from_millis(500));
            assert!(policy.backoff(retry) <= ceiling);
        }
    }

    #[test]
    fn hints_prefer_milliseconds_then_seconds() {
        assert_eq!(
            hinted_wait(&headers(&[
                ("retry-after-ms", "250.5"),
                ("retry-after", "9")
            ])),
            Some(Duration::from_micros(250_500))
        );
        assert_eq!(
            hinted_wait(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            hinted_wait(&headers(&[("retry-after-ms", "1e300")])),
            Some(MAX_HINT)
        );
        assert_eq!(
            hinted_wait(&headers(&[("retry-after", "99999999999999")])),
            Some(MAX_HINT)
        );
        assert_eq!(
            hinted_wait(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            None
        );
    }

    #[test]
    fn should_retry_header_overrides_the_status_rule() {
        assert!(is_retryable(529, &HeaderMap::new()));
        assert!(is_retryable(429, &HeaderMap::new()));
        assert!(!is_retryable(400, &HeaderMap::new()));
        assert!(!is_retryable(529, &headers(&[("x-should-retry", "false")])));
        assert!(is_retryable(400, &headers(&[("x-should-retry", "true")])));
    }

    #[test]
    fn budget_caps_retries_at_a_fifth_of_active_calls() {
        let budget = RetryBudget::new(0.2, 1);
        let calls: Vec<_> = (0..10).map(|_| budget.call()).collect();
        let first = budget.try_retry().expect("1st retry");
        let second = budget.try_retry().expect("2nd retry (20% of 10)");
        assert!(budget.try_retry().is_none(), "3rd exceeds the budget");
        drop((first, second, calls));
        assert!(budget.try_retry().is_some(), "floor of 1 when idle");
    }
}
