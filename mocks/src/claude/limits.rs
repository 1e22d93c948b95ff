//! Account limits like a rate-limit tier: concurrent model calls, and requests, input tokens
//! and output tokens per minute as token buckets (see [`super::bucket`]).
//!
//! A request is admitted when the request bucket holds one request, the input bucket holds its
//! input tokens and the output bucket is not in debt (holds at least one token). Requests and
//! input tokens are taken at admission; output tokens are taken as they are produced
//! ([`Permit::charge_output`]), so a stream cut short costs what it sent. A reply that fails
//! before producing anything (500, 504, 529, 402) is refunded ([`Permit::refund`]). Rejected
//! requests take nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use tokio::time::Instant;

use super::bucket::Bucket;
use super::error::ApiError;

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

impl Limits {
    fn any_rate(&self) -> bool {
        self.rpm > 0 || self.itpm > 0 || self.otpm > 0
    }
}

/// What the account has been charged since start or the last reset (`GET /__usage`).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests charged (admitted and not refunded).
    pub requests: u64,
    /// Input tokens charged.
    pub input_tokens: u64,
    /// Output tokens charged, as produced.
    pub output_tokens: u64,
    /// Model calls in flight now.
    pub in_flight: u64,
}

#[derive(Debug)]
struct TierState {
    in_flight: u64,
    requests: Bucket,
    input: Bucket,
    output: Bucket,
    charged: Usage,
}

impl TierState {
    fn new(now: Instant) -> Self {
        TierState {
            in_flight: 0,
            requests: Bucket::new(now),
            input: Bucket::new(now),
            output: Bucket::new(now),
            charged: Usage::default(),
        }
    }

    fn refill(&mut self, now: Instant, limits: Limits) {
        self.requests.refill(now, limits.rpm);
        self.input.refill(now, limits.itpm);
        self.output.refill(now, limits.otpm);
    }
}

/// The account's shared limit state.
#[derive(Debug)]
pub struct Tier {
    state: Mutex<TierState>,
}

impl Default for Tier {
    fn default() -> Self {
        Tier {
            state: Mutex::new(TierState::new(Instant::now())),
        }
    }
}

/// One admitted model call: holds its concurrency slot until dropped (for a stream: until its
/// last event) and charges output tokens as they are produced.
#[derive(Debug)]
pub struct Permit {
    tier: Arc<Tier>,
    input: u64,
    output: u64,
    refunded: bool,
}

impl Permit {
    /// Charges `n` output tokens just produced.
    pub fn charge_output(&mut self, n: u64) {
        if n == 0 || self.refunded {
            return;
        }
        self.output += n;
        let mut s = self.tier.lock();
        s.output.take(n as f64);
        s.charged.output_tokens += n;
    }

    /// Output tokens charged so far by this call.
    pub fn output_charged(&self) -> u64 {
        self.output
    }

    /// Gives back everything this call took (it failed before producing output).
    pub fn refund(&mut self) {
        if self.refunded {
            return;
        }
        self.refunded = true;
        let mut s = self.tier.lock();
        s.requests.give(1.0);
        s.input.give(self.input as f64);
        s.output.give(self.output as f64);
        s.charged.requests = s.charged.requests.saturating_sub(1);
        s.charged.input_tokens = s.charged.input_tokens.saturating_sub(self.input);
        s.charged.output_tokens = s.charged.output_tokens.saturating_sub(self.output);
    }

    /// Model calls in flight now, this one included.
    pub fn in_flight(&self) -> u64 {
        self.tier.lock().in_flight
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut s = self.tier.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
    }
}

/// Admission outcome: a permit, or the 429 to send; both carry the rate-limit headers.
pub type Admission = Result<(Permit, HeaderMap), Box<(ApiError, HeaderMap)>>;

impl Tier {
    fn lock(&self) -> std::sync::MutexGuard<'_, TierState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refills every bucket and forgets the charges (admin reset); slots held stay held.
    pub fn clear(&self) {
        let mut s = self.lock();
        let in_flight = s.in_flight;
        *s = TierState::new(Instant::now());
        s.in_flight = in_flight;
    }

    /// What has been charged so far.
    pub fn usage(&self) -> Usage {
        let s = self.lock();
        Usage {
            in_flight: s.in_flight,
            ..s.charged
        }
    }

    /// The rate-limit headers now, for responses that did not go through admission.
    pub fn headers(&self, limits: Limits) -> HeaderMap {
        let now = Instant::now();
        let mut s = self.lock();
        s.refill(now, limits);
        headers(&s, limits)
    }

    /// Admits a call of `input` tokens or says which limit it hits.
    pub fn admit(self: &Arc<Self>, limits: Limits, input: u64) -> Admission {
        self.admit_at(Instant::now(), limits, input)
    }

    /// [`Tier::admit`] at a given time, so tests can move the clock.
    pub fn admit_at(self: &Arc<Self>, now: Instant, limits: Limits, input: u64) -> Admission {
        let mut s = self.lock();
        s.refill(now, limits);
        let denied = if limits.max_concurrent > 0 && s.in_flight >= limits.max_concurrent {
            Some((
                limits.max_concurrent,
                "concurrent requests",
                Duration::from_secs(1),
            ))
        } else if limits.rpm > 0 && s.requests.wait_for(1.0) > Duration::ZERO {
            Some((limits.rpm, "requests per minute", s.requests.wait_for(1.0)))
        } else if limits.itpm > 0 && s.input.wait_for(input as f64) > Duration::ZERO {
            Some((
                limits.itpm,
                "input tokens per minute",
                s.input.wait_for(input as f64),
            ))
        } else if limits.otpm > 0 && s.output.wait_for(1.0) > Duration::ZERO {
            Some((
                limits.otpm,
                "output tokens per minute",
                s.output.wait_for(1.0),
            ))
        } else {
            None
        };
        if let Some((limit, what, wait)) = denied {
            let retry_after = retry_after_secs(wait);
            let message = format!(
                "This request would exceed your organization's rate limit of {limit} {what}. Please retry after {retry_after} seconds."
            );
            let error = ApiError::RateLimit {
                message,
                retry_after,
            };
            return Err(Box::new((error, headers(&s, limits))));
        }
        s.in_flight += 1;
        s.requests.take(1.0);
        s.input.take(input as f64);
        s.charged.requests += 1;
        s.charged.input_tokens += input;
        let headers = headers(&s, limits);
        drop(s);
        let permit = Permit {
            tier: self.clone(),
            input,
            output: 0,
            refunded: false,
        };
        Ok((permit, headers))
    }
}

/// `retry-after` as the API sends it: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// `anthropic-ratelimit-*` headers for every configured per-minute limit; `reset` is when the
/// bucket is full again; `tokens-*` reports whichever of input/output is the most restrictive
/// now (the smaller fraction of its limit remaining).
fn headers(s: &TierState, limits: Limits) -> HeaderMap {
    let mut out = HeaderMap::new();
    if !limits.any_rate() {
        return out;
    }
    let wall = SystemTime::now();
    let mut put = |kind: &str, limit: u64, b: &Bucket| {
        let reset = humantime::format_rfc3339_seconds(wall + b.until_full()).to_string();
        for (suffix, value) in [
            ("limit", limit.to_string()),
            ("remaining", b.remaining().min(limit).to_string()),
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
        put("requests", limits.rpm, &s.requests);
    }
    let input = (limits.itpm > 0).then_some((limits.itpm, &s.input));
    let output = (limits.otpm > 0).then_some((limits.otpm, &s.output));
    if let Some((l, b)) = input {
        put("input-tokens", l, b);
    }
    if let Some((l, b)) = output {
        put("output-tokens", l, b);
    }
    let fraction = |(l, b): (u64, &Bucket)| b.remaining() as f64 / l as f64;
    let tightest = match (input, output) {
        (Some(i), Some(o)) => Some(if fraction(i) <= fraction(o) { i } else { o }),
        (i, o) => i.or(o),
    };
    if let Some((l, b)) = tightest {
        put("tokens", l, b);
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

    fn retry_after(a: Admission) -> u64 {
        match *a.expect_err("rejected") {
            (ApiError::RateLimit { retry_after, .. }, _) => retry_after,
            (other, _) => panic!("{other:?}"),
        }
    }

    #[test]
    fn rpm_is_a_burst_then_a_steady_rate_with_retry_after_to_the_next_request() {
        let tier = Arc::new(Tier::default());
        let t0 = Instant::now();
        let l = limits(60, 0, 0);
        let mut permits = Vec::new();
        for _ in 0..60 {
            permits.push(tier.admit_at(t0, l, 1).expect("within the burst").0);
        }
        let rejected = tier.admit_at(t0, l, 1);
        let headers = &rejected.as_ref().expect_err("61st is over").1;
        assert_eq!(headers["anthropic-ratelimit-requests-remaining"], "0");
        assert_eq!(retry_after(rejected), 1);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(tier.admit_at(at(999), l, 1).is_err());
        assert!(tier.admit_at(at(1000), l, 1).is_ok());
        assert!(tier.admit_at(at(1500), l, 1).is_err());
        assert!(tier.admit_at(at(2000), l, 1).is_ok());
    }

    #[test]
    fn output_is_charged_as_produced_and_refunds_cost_nothing() {
        let tier = Arc::new(Tier::default());
        let t0 = Instant::now();
        let l = limits(0, 600, 0);
        let (mut p, _) = tier.admit_at(t0, l, 10).unwrap();
        p.charge_output(250);
        assert_eq!(tier.usage().output_tokens, 250);
        drop(p);
        let (mut failed, _) = tier.admit_at(t0, l, 10).unwrap();
        failed.refund();
        assert_eq!(
            tier.usage(),
            Usage {
                requests: 1,
                input_tokens: 10,
                output_tokens: 250,
                in_flight: 1
            }
        );
        drop(failed);
        // 350 left: one more call may run into debt; the next waits until the bucket is back
        // above zero (600/min = 10/s).
        let (mut p, _) = tier.admit_at(t0, l, 10).unwrap();
        p.charge_output(400);
        drop(p);
        assert_eq!(retry_after(tier.admit_at(t0, l, 10)), 6);
        assert!(tier
            .admit_at(t0 + Duration::from_millis(5_100), l, 10)
            .is_ok());
    }

    #[test]
    fn headers_say_when_the_bucket_is_full_and_name_the_tightest_token_limit() {
        let tier = Arc::new(Tier::default());
        let l = Limits {
            max_concurrent: 1,
            rpm: 0,
            itpm: 1000,
            otpm: 100,
        };
        let before = SystemTime::now();
        let (mut p, headers) = tier.admit(l, 100).unwrap();
        // The input budget is reported like the API does: limit, remaining, reset (RFC 3339,
        // when the bucket is full again: 100 tokens at 1000/min, 6 s after admission).
        assert_eq!(headers["anthropic-ratelimit-input-tokens-limit"], "1000");
        assert_eq!(headers["anthropic-ratelimit-input-tokens-remaining"], "900");
        let reset = headers["anthropic-ratelimit-input-tokens-reset"]
            .to_str()
            .expect("ascii");
        let full_at = humantime::parse_rfc3339(reset).expect("RFC 3339");
        // Whole seconds in the header: at least 5 of the 6 s remain visible.
        assert!(full_at >= before + Duration::from_secs(5), "{reset}");
        assert_eq!(
            headers["anthropic-ratelimit-output-tokens-remaining"],
            "100"
        );
        assert_eq!(
            headers["anthropic-ratelimit-tokens-limit"], "1000",
            "90% vs 100% left"
        );
        p.charge_output(50);
        let headers = tier.headers(l);
        assert_eq!(
            headers["anthropic-ratelimit-tokens-limit"], "100",
            "50% left"
        );
        assert!(tier.admit(l, 1).is_err(), "one slot only");
        drop(p);
        assert!(tier.admit(l, 1).is_ok());
        assert!(
            tier.headers(Limits::default()).is_empty(),
            "no limit, no headers"
        );
    }
}
