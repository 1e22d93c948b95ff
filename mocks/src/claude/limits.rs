//! Account limits like a rate-limit tier: concurrent model calls, and requests, input tokens
//! and output tokens per minute.
//!
//! The per-minute limits are exact sliding windows of 60 s: a request is admitted when the
//! admitted requests (or tokens) of the last 60 s plus this one stay within the limit. Rejected
//! requests consume nothing. Output tokens are known before answering (the reply is
//! deterministic), so they are charged exactly at admission.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use super::error::ApiError;

/// Length of the sliding window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The limits in force (0 = unlimited), read live from the settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Model calls in flight at once.
    pub max_concurrent: u64,
    /// Requests per minute.
    pub rpm: u64,
    /// Input tokens per minute.
    pub itpm: u64,
    /// Output tokens per minute.
    pub otpm: u64,
}

/// One sliding window of (time, amount).
#[derive(Debug, Default)]
struct Window(VecDeque<(Instant, u64)>);

impl Window {
    fn prune(&mut self, now: Instant) {
        while self
            .0
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
        {
            self.0.pop_front();
        }
    }

    fn used(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }

    /// Time until `need` more fits under `limit` (zero if it fits now).
    fn wait_for(&self, now: Instant, limit: u64, need: u64) -> Duration {
        let mut used = self.used();
        for (t, n) in &self.0 {
            if used + need <= limit {
                break;
            }
            used -= n;
            if used + need <= limit {
                return (*t + WINDOW).saturating_duration_since(now);
            }
        }
        Duration::ZERO
    }

    /// Time until the oldest entry leaves the window (when the counter is next replenished).
    fn reset_in(&self, now: Instant) -> Duration {
        self.0.front().map_or(Duration::ZERO, |(t, _)| {
            (*t + WINDOW).saturating_duration_since(now)
        })
    }
}

#[derive(Debug, Default)]
struct TierState {
    in_flight: u64,
    requests: Window,
    input: Window,
    output: Window,
}

/// The account's shared limit state.
#[derive(Debug, Default)]
pub struct Tier {
    state: Mutex<TierState>,
}

/// Holds one concurrent-call slot until dropped (for a stream: until its last event).
#[derive(Debug)]
pub struct Permit(Arc<Tier>);

impl Drop for Permit {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        s.in_flight = s.in_flight.saturating_sub(1);
    }
}

/// Admission outcome: a permit, or the 429 to send; both carry the rate-limit headers.
pub type Admission = Result<(Permit, HeaderMap), Box<(ApiError, HeaderMap)>>;

impl Tier {
    /// Forgets every window and counter (admin reset); slots held stay held.
    pub fn clear(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.requests = Window::default();
        s.input = Window::default();
        s.output = Window::default();
    }

    /// Admits a call of `input` + `output` tokens or says which limit it hits.
    pub fn admit(self: &Arc<Self>, limits: Limits, input: u64, output: u64) -> Admission {
        self.admit_at(Instant::now(), limits, input, output)
    }

    /// [`Tier::admit`] at a given time, so tests can move the clock.
    pub fn admit_at(
        self: &Arc<Self>,
        now: Instant,
        limits: Limits,
        input: u64,
        output: u64,
    ) -> Admission {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.requests.prune(now);
        s.input.prune(now);
        s.output.prune(now);
        let denied = if limits.max_concurrent > 0 && s.in_flight >= limits.max_concurrent {
            Some(("concurrent requests", Duration::from_secs(1)))
        } else if limits.rpm > 0 && s.requests.0.len() as u64 >= limits.rpm {
            Some((
                "requests per minute",
                s.requests.wait_for(now, limits.rpm, 1),
            ))
        } else if limits.itpm > 0 && s.input.used() + input > limits.itpm {
            Some((
                "input tokens per minute",
                s.input.wait_for(now, limits.itpm, input.min(limits.itpm)),
            ))
        } else if limits.otpm > 0 && s.output.used() + output > limits.otpm {
            Some((
                "output tokens per minute",
                s.output.wait_for(now, limits.otpm, output.min(limits.otpm)),
            ))
        } else {
            None
        };
        if let Some((what, wait)) = denied {
            let headers = headers(&s, limits, now);
            let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
            let limit = match what {
                "concurrent requests" => limits.max_concurrent,
                "requests per minute" => limits.rpm,
                "input tokens per minute" => limits.itpm,
                _ => limits.otpm,
            };
            let message = format!(
                "This request would exceed your organization's rate limit of {limit} {what}. Please retry after {retry_after} seconds."
            );
            let error = ApiError::RateLimit {
                message,
                retry_after,
            };
            return Err(Box::new((error, headers)));
        }
        s.in_flight += 1;
        s.requests.0.push_back((now, 1));
        s.input.0.push_back((now, input));
        s.output.0.push_back((now, output));
        let headers = headers(&s, limits, now);
        Ok((Permit(self.clone()), headers))
    }
}

/// `anthropic-ratelimit-*` headers for every configured per-minute limit; `tokens-*` reports
/// whichever of input/output has less headroom.
fn headers(s: &TierState, limits: Limits, now: Instant) -> HeaderMap {
    let mut out = HeaderMap::new();
    let wall = SystemTime::now();
    let mut put = |kind: &str, limit: u64, used: u64, reset_in: Duration| {
        let reset = humantime::format_rfc3339_seconds(wall + reset_in).to_string();
        for (suffix, value) in [
            ("limit", limit.to_string()),
            ("remaining", limit.saturating_sub(used).to_string()),
            ("reset", reset),
        ] {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(format!("anthropic-ratelimit-{kind}-{suffix}")),
                HeaderValue::try_from(value),
            ) {
                out.insert(name, value);
            }
        }
    };
    if limits.rpm > 0 {
        put(
            "requests",
            limits.rpm,
            s.requests.0.len() as u64,
            s.requests.reset_in(now),
        );
    }
    let input = (limits.itpm > 0).then(|| (limits.itpm, s.input.used(), s.input.reset_in(now)));
    let output = (limits.otpm > 0).then(|| (limits.otpm, s.output.used(), s.output.reset_in(now)));
    if let Some((l, u, r)) = input {
        put("input-tokens", l, u, r);
    }
    if let Some((l, u, r)) = output {
        put("output-tokens", l, u, r);
    }
    let tightest = match (input, output) {
        (Some(i), Some(o)) => Some(if i.0.saturating_sub(i.1) <= o.0.saturating_sub(o.1) {
            i
        } else {
            o
        }),
        (i, o) => i.or(o),
    };
    if let Some((l, u, r)) = tightest {
        put("tokens", l, u, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: u64, otpm: u64, max_concurrent: u64) -> Limits {
        Limits {
            max_concurrent,
            rpm,
            itpm: 0,
            otpm,
        }
    }

    #[test]
    fn rpm_admits_exactly_the_limit_per_sliding_minute() {
        let tier = Arc::new(Tier::default());
        let t0 = Instant::now();
        let mut permits = Vec::new();
        for _ in 0..5 {
            permits.push(
                tier.admit_at(t0, limits(5, 0, 0), 1, 1)
                    .expect("within rpm")
                    .0,
            );
        }
        let (err, headers) = *tier
            .admit_at(t0, limits(5, 0, 0), 1, 1)
            .expect_err("6th is over");
        assert!(
            matches!(
                err,
                ApiError::RateLimit {
                    retry_after: 60,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(headers["anthropic-ratelimit-requests-remaining"], "0");
        let later = |s| t0 + Duration::from_secs(s);
        assert!(tier.admit_at(later(59), limits(5, 0, 0), 1, 1).is_err());
        assert!(tier.admit_at(later(60), limits(5, 0, 0), 1, 1).is_ok());
    }

    #[test]
    fn otpm_counts_output_tokens_and_concurrency_frees_on_drop() {
        let tier = Arc::new(Tier::default());
        let (p, headers) = tier.admit(limits(0, 100, 1), 10, 60).unwrap();
        assert_eq!(headers["anthropic-ratelimit-output-tokens-remaining"], "40");
        assert_eq!(headers["anthropic-ratelimit-tokens-limit"], "100");
        assert!(
            tier.admit(limits(0, 100, 1), 10, 10).is_err(),
            "one slot only"
        );
        drop(p);
        assert!(
            tier.admit(limits(0, 100, 1), 10, 41).is_err(),
            "60 + 41 > 100"
        );
        assert!(tier.admit(limits(0, 100, 1), 10, 40).is_ok());
    }
}
