//! Tier-aware pacing of model calls: learns the account's requests-per-minute and
//! output-tokens-per-minute limits (from `anthropic-ratelimit-*` headers on every response, or
//! `PROVIDER_RPM` / `PROVIDER_OTPM`) and the output tokens a call uses (EWMA), and once a budget
//! runs below half its limit spaces calls (GCRA) to `PACING_MARGIN` of the rate that budget
//! refills at — so the server stays inside the tier instead of discovering it by 429s. With R
//! replicas drawing on one tier, `PROVIDER_SHARE=1/R` paces each at its share of that rate.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// Fraction of a budget's refill rate the pacer allows.
pub const PACING_MARGIN: f64 = 0.95;
/// Pacing starts when a budget's remaining share of its limit falls below this.
pub const PACE_BELOW: f64 = 0.5;
/// Weight of a new sample in the output-token averages.
const TOKENS_ALPHA: f64 = 0.1;

/// One per-minute budget as last reported.
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    limit: Option<u64>,
    remaining: Option<u64>,
}

impl Budget {
    /// Paced when the limit is known and the remaining share is unknown or below [`PACE_BELOW`].
    fn paced_limit(&self) -> Option<f64> {
        let limit = self.limit.filter(|l| *l > 0)? as f64;
        match self.remaining {
            Some(r) if r as f64 >= PACE_BELOW * limit => None,
            _ => Some(limit),
        }
    }
}

#[derive(Debug, Default)]
struct PacerState {
    requests: Budget,
    output_tokens: Budget,
    out_per_call: Option<f64>,
    out_per_analysis: Option<f64>,
    /// GCRA theoretical arrival time of the next call.
    next_slot: Option<Instant>,
}

/// The shared pacer of model calls.
#[derive(Debug, Default)]
pub struct TierPacer {
    state: Mutex<PacerState>,
    configured_rpm: Option<u64>,
    configured_otpm: Option<u64>,
    /// This replica's share of the tier, in (0, 1].
    share: f64,
}

fn ewma(old: Option<f64>, x: f64) -> Option<f64> {
    Some(old.map_or(x, |o| o + TOKENS_ALPHA * (x - o)))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The wait a 429/529 implies through its `anthropic-ratelimit-*-reset` headers (RFC 3339): the
/// latest reset among the budgets reported exhausted (`remaining: 0`). None when none is.
pub fn reset_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    ["requests", "tokens", "input-tokens", "output-tokens"]
        .iter()
        .filter(|kind| {
            header_u64(headers, &format!("anthropic-ratelimit-{kind}-remaining")) == Some(0)
        })
        .filter_map(|kind| {
            let raw = headers
                .get(format!("anthropic-ratelimit-{kind}-reset"))?
                .to_str()
                .ok()?;
            let at = humantime::parse_rfc3339_weak(raw.trim()).ok()?;
            Some(at.duration_since(now).unwrap_or(Duration::ZERO))
        })
        .max()
}

/// True when a response reports its rate-limit budgets (`anthropic-ratelimit-*-remaining`) and
/// none of them is spent: a 429 carrying such headers is a concurrency or acceleration limit,
/// not an exhausted per-minute budget that every other call would run into as well.
pub fn budgets_have_headroom(headers: &HeaderMap) -> bool {
    let remaining: Vec<u64> = ["requests", "tokens", "input-tokens", "output-tokens"]
        .iter()
        .filter_map(|kind| header_u64(headers, &format!("anthropic-ratelimit-{kind}-remaining")))
        .collect();
    !remaining.is_empty() && remaining.iter().all(|&r| r > 0)
}

impl TierPacer {
    /// A pacer with the operator's known tier (None = learn it from the headers).
    pub fn new(configured_rpm: Option<u64>, configured_otpm: Option<u64>) -> Self {
        TierPacer {
            state: Mutex::new(PacerState::default()),
            configured_rpm,
            configured_otpm,
            share: 1.0,
        }
    }

    /// Paces at `share` (in (0, 1]) of the tier: one replica of R sharing it.
    pub fn with_share(mut self, share: f64) -> Self {
        self.share = share.clamp(f64::MIN_POSITIVE, 1.0);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads `anthropic-ratelimit-{requests,output-tokens}-{limit,remaining}` from a response.
    pub fn observe_headers(&self, headers: &HeaderMap) {
        let mut guard = self.lock();
        let s: &mut PacerState = &mut guard;
        for (kind, budget, configured) in [
            ("requests", &mut s.requests, self.configured_rpm),
            ("output-tokens", &mut s.output_tokens, self.configured_otpm),
        ] {
            let limit = header_u64(headers, &format!("anthropic-ratelimit-{kind}-limit"));
            budget.limit = configured.or(limit).or(budget.limit);
            if let Some(r) = header_u64(headers, &format!("anthropic-ratelimit-{kind}-remaining")) {
                budget.remaining = Some(r);
            }
        }
    }

    /// Output tokens one successful call used.
    pub fn observe_call_tokens(&self, output_tokens: u64) {
        let mut s = self.lock();
        s.out_per_call = ewma(s.out_per_call, output_tokens as f64);
    }

    /// Output tokens one finished analysis used.
    pub fn observe_analysis_tokens(&self, output_tokens: u64) {
        let mut s = self.lock();
        s.out_per_analysis = ewma(s.out_per_analysis, output_tokens as f64);
    }

    /// Recent average output tokens per analysis.
    pub fn output_tokens_per_analysis(&self) -> Option<f64> {
        self.lock().out_per_analysis
    }

    /// The spacing between calls in force now (None = not pacing).
    pub fn interval(&self) -> Option<Duration> {
        let s = self.lock();
        Self::interval_of(&s, self.configured_rpm, self.configured_otpm, self.share)
    }

    fn interval_of(
        s: &PacerState,
        configured_rpm: Option<u64>,
        configured_otpm: Option<u64>,
        share: f64,
    ) -> Option<Duration> {
        let with = |b: Budget, configured: Option<u64>| Budget {
            limit: configured.or(b.limit),
            ..b
        };
        let by_requests = with(s.requests, configured_rpm)
            .paced_limit()
            .map(|rpm| 60.0 / (rpm * share * PACING_MARGIN));
        let by_tokens = with(s.output_tokens, configured_otpm)
            .paced_limit()
            .zip(s.out_per_call)
            .map(|(otpm, per_call)| per_call * 60.0 / (otpm * share * PACING_MARGIN));
        let secs = by_requests
            .into_iter()
            .chain(by_tokens)
            .fold(None, |acc: Option<f64>, x| {
                Some(acc.map_or(x, |a| a.max(x)))
            })?;
        Duration::try_from_secs_f64(secs).ok()
    }

    /// Reserves the next call slot at or after `now`: the time the call may start. `Err(wait)`
    /// (nothing reserved) when that is after `deadline`.
    pub fn reserve(&self, now: Instant, deadline: Instant) -> Result<Instant, Duration> {
        let mut s = self.lock();
        let Some(interval) =
            Self::interval_of(&s, self.configured_rpm, self.configured_otpm, self.share)
        else {
            s.next_slot = None;
            return Ok(now);
        };
        let at = s.next_slot.map_or(now, |t| t.max(now));
        if at > deadline {
            return Err(at - now);
        }
        s.next_slot = Some(at + interval);
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        map
    }

    #[test]
    fn no_pacing_while_budgets_have_headroom_then_spacing_from_the_tighter_budget() {
        let pacer = TierPacer::new(None, None);
        pacer.observe_call_tokens(50);
        pacer.observe_headers(&headers(&[
            ("anthropic-ratelimit-requests-limit", "2000"),
            ("anthropic-ratelimit-requests-remaining", "1900"),
            ("anthropic-ratelimit-output-tokens-limit", "80000"),
            ("anthropic-ratelimit-output-tokens-remaining", "70000"),
        ]));
        assert_eq!(pacer.interval(), None);
        pacer.observe_headers(&headers(&[(
            "anthropic-ratelimit-output-tokens-remaining",
            "3000",
        )]));
        // 50 tokens × 60 s / (80000 × 0.95) ≈ 39.5 ms; requests still have headroom.
        let iv = pacer.interval().expect("paced");
        assert!(
            (iv.as_secs_f64() - 50.0 * 60.0 / 76_000.0).abs() < 1e-6,
            "{iv:?}"
        );
        pacer.observe_headers(&headers(&[(
            "anthropic-ratelimit-requests-remaining",
            "10",
        )]));
        let iv2 = pacer.interval().expect("paced");
        assert_eq!(
            iv2, iv,
            "the tighter budget wins (tokens: 39 ms > requests: 31 ms)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn configured_tier_paces_from_the_start_with_evenly_spaced_slots() {
        let pacer = TierPacer::new(Some(600), None);
        let now = Instant::now();
        let far = now + Duration::from_secs(60);
        let slots: Vec<_> = (0..4)
            .map(|_| pacer.reserve(now, far).expect("slot"))
            .collect();
        let step = Duration::from_secs_f64(60.0 / (600.0 * PACING_MARGIN));
        for (i, slot) in slots.iter().enumerate() {
            let want = now + step * i as u32;
            assert!(slot.duration_since(want) < Duration::from_micros(2), "{i}");
        }
        assert!(
            pacer.reserve(now, now).is_err(),
            "a slot past the deadline is refused"
        );
    }

    #[test]
    fn reset_headers_give_a_hint_only_for_an_exhausted_budget() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = humantime::format_rfc3339_seconds(now + Duration::from_secs(7)).to_string();
        let later = humantime::format_rfc3339_seconds(now + Duration::from_secs(40)).to_string();
        let h = headers(&[
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            ("anthropic-ratelimit-output-tokens-reset", &at),
            ("anthropic-ratelimit-requests-remaining", "5"),
            ("anthropic-ratelimit-requests-reset", &later),
        ]);
        assert_eq!(reset_hint(&h, now), Some(Duration::from_secs(7)));
        assert_eq!(
            reset_hint(
                &headers(&[("anthropic-ratelimit-requests-reset", &later)]),
                now
            ),
            None
        );
    }

    #[test]
    fn headroom_only_when_budgets_are_reported_and_none_is_spent() {
        let with = |pairs: &[(&str, &str)]| budgets_have_headroom(&headers(pairs));
        assert!(!with(&[]), "no rate-limit headers: unknown, not headroom");
        assert!(with(&[
            ("anthropic-ratelimit-requests-remaining", "1200"),
            ("anthropic-ratelimit-output-tokens-remaining", "3"),
        ]));
        assert!(!with(&[
            ("anthropic-ratelimit-requests-remaining", "1200"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
        ]));
        assert!(!with(&[("anthropic-ratelimit-requests-remaining", "soon")]));
    }

    #[test]
    fn a_replica_paces_at_its_share_of_the_tier() {
        // 600 rpm known and exhausted: one replica spaces calls 60/(600·0.95) s apart; one of
        // three replicas three times as far.
        let whole = TierPacer::new(Some(600), None);
        let third = TierPacer::new(Some(600), None).with_share(1.0 / 3.0);
        for p in [&whole, &third] {
            p.observe_headers(&headers(&[("anthropic-ratelimit-requests-remaining", "0")]));
        }
        let (a, b) = (
            whole.interval().expect("paced"),
            third.interval().expect("paced"),
        );
        assert!(
            (b.as_secs_f64() / a.as_secs_f64() - 3.0).abs() < 1e-9,
            "{a:?} {b:?}"
        );
    }
}
