//! Tier-aware pacing of model calls. Every per-minute budget the provider reports is learned —
//! requests, input tokens, output tokens, and the combined `tokens` budget where it is the only
//! token budget reported — from the `anthropic-ratelimit-*` headers on every response (or
//! `PROVIDER_RPM` / `PROVIDER_ITPM` / `PROVIDER_OTPM`), with the input and output tokens a call
//! uses as EWMAs. Once a budget runs below half its limit, calls are spaced (GCRA) to
//! `PACING_MARGIN` of the rate that budget refills at; with several budgets paced, the one
//! needing the widest spacing binds. Half a bucket left is early enough that the switch from a
//! full bucket to its refill rate happens before anything runs out, so the server stays inside
//! the tier instead of discovering it by 429s. With R replicas drawing on one tier,
//! `PROVIDER_SHARE=1/R` paces each at its share of every budget.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::tier::BudgetKind;

/// Fraction of a budget's refill rate the pacer allows.
pub const PACING_MARGIN: f64 = 0.95;
/// Pacing starts when a budget's remaining share of its limit falls below this.
pub const PACE_BELOW: f64 = 0.5;
/// Weight of a new sample in the token averages.
const TOKENS_ALPHA: f64 = 0.1;

/// The operator's known tier (None = learn that budget from the headers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KnownTier {
    /// `PROVIDER_RPM`.
    pub rpm: Option<u64>,
    /// `PROVIDER_ITPM`.
    pub itpm: Option<u64>,
    /// `PROVIDER_OTPM`.
    pub otpm: Option<u64>,
}

impl KnownTier {
    fn limit(&self, kind: BudgetKind) -> Option<u64> {
        match kind {
            BudgetKind::Requests => self.rpm,
            BudgetKind::InputTokens => self.itpm,
            BudgetKind::OutputTokens => self.otpm,
            BudgetKind::Tokens => None,
        }
        .filter(|l| *l > 0)
    }
}

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

/// A budget's state as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetReport {
    /// Which budget.
    pub kind: BudgetKind,
    /// Its per-minute limit.
    pub limit: u64,
    /// What the provider last said is left.
    pub remaining: u64,
}

impl BudgetReport {
    /// `remaining / limit`.
    pub fn remaining_share(&self) -> f64 {
        self.remaining as f64 / self.limit.max(1) as f64
    }
}

#[derive(Debug, Default)]
struct PacerState {
    /// Indexed by [`BudgetKind::index`].
    budgets: [Budget; 4],
    in_per_call: Option<f64>,
    out_per_call: Option<f64>,
    /// GCRA theoretical arrival time of the next call.
    next_slot: Option<Instant>,
}

impl PacerState {
    /// The budget as configured (which wins) or last reported. A `tokens` budget counts only
    /// while neither an input- nor an output-token budget is known: alongside them the API's
    /// `tokens-*` headers repeat whichever of the two is most restrictive, not a third budget.
    fn budget(&self, kind: BudgetKind, known: &KnownTier) -> Option<Budget> {
        if kind == BudgetKind::Tokens
            && [BudgetKind::InputTokens, BudgetKind::OutputTokens]
                .iter()
                .any(|&k| self.budget(k, known).is_some_and(|b| b.limit.is_some()))
        {
            return None;
        }
        let b = self.budgets[kind.index()];
        Some(Budget {
            limit: known.limit(kind).or(b.limit),
            ..b
        })
    }

    /// Units of `kind` one call spends (None until a call has been seen, for token budgets).
    fn cost_per_call(&self, kind: BudgetKind) -> Option<f64> {
        match kind {
            BudgetKind::Requests => Some(1.0),
            BudgetKind::InputTokens => self.in_per_call,
            BudgetKind::OutputTokens => self.out_per_call,
            BudgetKind::Tokens => match (self.in_per_call, self.out_per_call) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0.0) + o.unwrap_or(0.0)),
            },
        }
    }

    /// The spacing each paced budget needs, and the widest of them (the binding budget).
    fn pacing(&self, known: &KnownTier, share: f64) -> Option<(Duration, BudgetKind)> {
        BudgetKind::ALL
            .iter()
            .filter_map(|&kind| {
                let limit = self.budget(kind, known)?.paced_limit()?;
                let cost = self.cost_per_call(kind)?;
                Some((cost * 60.0 / (limit * share * PACING_MARGIN), kind))
            })
            .fold(None, |acc: Option<(f64, BudgetKind)>, x| match acc {
                Some(a) if a.0 >= x.0 => Some(a),
                _ => Some(x),
            })
            .and_then(|(secs, kind)| Some((Duration::try_from_secs_f64(secs).ok()?, kind)))
    }
}

/// The shared pacer of model calls.
#[derive(Debug)]
pub struct TierPacer {
    state: Mutex<PacerState>,
    known: KnownTier,
    /// This replica's share of the tier, in (0, 1].
    share: f64,
}

impl Default for TierPacer {
    fn default() -> Self {
        TierPacer::new(KnownTier::default())
    }
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
    /// A pacer with the operator's known tier (a None budget is learned from the headers).
    pub fn new(known: KnownTier) -> Self {
        TierPacer {
            state: Mutex::new(PacerState::default()),
            known,
            share: 1.0,
        }
    }

    /// Paces at `share` (in (0, 1]) of every budget of the tier: one replica of R sharing it.
    pub fn with_share(mut self, share: f64) -> Self {
        self.share = share.clamp(f64::MIN_POSITIVE, 1.0);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining}`
    /// from a response.
    pub fn observe_headers(&self, headers: &HeaderMap) {
        let mut s = self.lock();
        for kind in BudgetKind::ALL {
            let name = |suffix| format!("anthropic-ratelimit-{}-{suffix}", kind.header());
            let budget = &mut s.budgets[kind.index()];
            if let Some(limit) = header_u64(headers, &name("limit")) {
                budget.limit = Some(limit);
            }
            if let Some(r) = header_u64(headers, &name("remaining")) {
                budget.remaining = Some(r);
            }
        }
    }

    /// Input and output tokens one successful call used (its `usage`).
    pub fn observe_call_tokens(&self, input_tokens: u64, output_tokens: u64) {
        let mut s = self.lock();
        s.in_per_call = ewma(s.in_per_call, input_tokens as f64);
        s.out_per_call = ewma(s.out_per_call, output_tokens as f64);
    }

    /// The spacing between calls in force now (None = not pacing).
    pub fn interval(&self) -> Option<Duration> {
        self.pacing().map(|(interval, _)| interval)
    }

    /// The spacing in force now and the budget that sets it (None = not pacing).
    pub fn pacing(&self) -> Option<(Duration, BudgetKind)> {
        self.lock().pacing(&self.known, self.share)
    }

    /// The budget nearest exhaustion: the smallest share of its limit left, among the budgets
    /// whose limit and remaining units are known (a configured limit counts as known).
    pub fn nearest_exhaustion(&self) -> Option<BudgetReport> {
        let s = self.lock();
        BudgetKind::ALL
            .iter()
            .filter_map(|&kind| {
                let b = s.budget(kind, &self.known)?;
                Some(BudgetReport {
                    kind,
                    limit: b.limit.filter(|l| *l > 0)?,
                    remaining: b.remaining?,
                })
            })
            .fold(None, |acc: Option<BudgetReport>, b| match acc {
                Some(a) if a.remaining_share() <= b.remaining_share() => Some(a),
                _ => Some(b),
            })
    }

    /// Reserves the next call slot at or after `now`: the time the call may start. `Err(wait)`
    /// (nothing reserved) when that is after `deadline`.
    pub fn reserve(&self, now: Instant, deadline: Instant) -> Result<Instant, Duration> {
        let mut s = self.lock();
        let Some((interval, _)) = s.pacing(&self.known, self.share) else {
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

    /// 60 s / (limit × margin) per unit.
    fn secs_per(cost: f64, limit: f64) -> f64 {
        cost * 60.0 / (limit * PACING_MARGIN)
    }

    fn close(d: Duration, secs: f64) -> bool {
        (d.as_secs_f64() - secs).abs() < 1e-6
    }

    /// The demo tier, every budget below half: 2000 requests, 400k input, 80k output a minute.
    fn demo_tier_low() -> HeaderMap {
        headers(&[
            ("anthropic-ratelimit-requests-limit", "2000"),
            ("anthropic-ratelimit-requests-remaining", "900"),
            ("anthropic-ratelimit-input-tokens-limit", "400000"),
            ("anthropic-ratelimit-input-tokens-remaining", "150000"),
            ("anthropic-ratelimit-output-tokens-limit", "80000"),
            ("anthropic-ratelimit-output-tokens-remaining", "20000"),
        ])
    }

    #[test]
    fn each_budget_alone_paces_at_its_cost_per_call_over_its_refill_rate() {
        // One call: 285 input and 30 output tokens.
        let cases: [(&str, BudgetKind, f64, f64); 4] = [
            ("requests", BudgetKind::Requests, 2000.0, 1.0),
            ("input-tokens", BudgetKind::InputTokens, 400_000.0, 285.0),
            ("output-tokens", BudgetKind::OutputTokens, 80_000.0, 30.0),
            ("tokens", BudgetKind::Tokens, 100_000.0, 315.0),
        ];
        for (header, kind, limit, cost) in cases {
            let pacer = TierPacer::new(KnownTier::default());
            pacer.observe_call_tokens(285, 30);
            let limit_s = format!("{limit}");
            let full = limit_s.clone();
            let low = format!("{}", limit * 0.4);
            let h = |remaining: &str| {
                headers(&[
                    (&format!("anthropic-ratelimit-{header}-limit"), &limit_s),
                    (
                        &format!("anthropic-ratelimit-{header}-remaining"),
                        remaining,
                    ),
                ])
            };
            pacer.observe_headers(&h(&full));
            assert_eq!(pacer.pacing(), None, "{header}: a full bucket is not paced");
            pacer.observe_headers(&h(&low));
            let (iv, by) = pacer.pacing().expect("paced below half");
            assert_eq!(by, kind, "{header}");
            assert!(close(iv, secs_per(cost, limit)), "{header}: {iv:?}");
        }
    }

    #[test]
    fn with_every_budget_low_the_widest_spacing_binds_and_is_named() {
        let pacer = TierPacer::new(KnownTier::default());
        pacer.observe_call_tokens(285, 30);
        pacer.observe_headers(&demo_tier_low());
        // requests 31.6 ms, input 285·60/380k = 45.0 ms, output 30·60/76k = 23.7 ms.
        let (iv, by) = pacer.pacing().expect("paced");
        assert_eq!(by, BudgetKind::InputTokens);
        assert!(close(iv, secs_per(285.0, 400_000.0)), "{iv:?}");
        // Longer answers make output the binding budget: 80·60/76k = 63.2 ms.
        for _ in 0..200 {
            pacer.observe_call_tokens(285, 80);
        }
        let (iv, by) = pacer.pacing().expect("paced");
        assert_eq!(by, BudgetKind::OutputTokens);
        assert!(
            (iv.as_secs_f64() - secs_per(80.0, 80_000.0)).abs() < 1e-4,
            "{iv:?}"
        );
        // Output back above half: input binds again.
        pacer.observe_headers(&headers(&[(
            "anthropic-ratelimit-output-tokens-remaining",
            "70000",
        )]));
        let (iv, by) = pacer.pacing().expect("paced");
        assert_eq!(by, BudgetKind::InputTokens);
        assert!((iv.as_secs_f64() - secs_per(285.0, 400_000.0)).abs() < 1e-4);
        pacer.observe_headers(&headers(&[(
            "anthropic-ratelimit-input-tokens-remaining",
            "390000",
        )]));
        let (iv, by) = pacer.pacing().expect("requests still low");
        assert_eq!(by, BudgetKind::Requests);
        assert!(close(iv, secs_per(1.0, 2000.0)));
    }

    #[test]
    fn input_tokens_per_call_is_an_ewma() {
        let pacer = TierPacer::new(KnownTier {
            itpm: Some(60_000),
            ..KnownTier::default()
        });
        pacer.observe_call_tokens(100, 0);
        pacer.observe_call_tokens(200, 0);
        // 100 + 0.1 × (200 − 100) = 110 tokens a call; 60k/min: 110 ms at 100 %.
        let (iv, by) = pacer.pacing().expect("configured, nothing reported: paced");
        assert_eq!(by, BudgetKind::InputTokens);
        assert!(close(iv, secs_per(110.0, 60_000.0)), "{iv:?}");
    }

    #[test]
    fn tokens_headers_beside_split_budgets_are_not_a_budget_of_their_own() {
        // The API's tokens-* repeat the most restrictive of input/output: pacing them as
        // input + output per call would over-pace.
        let pacer = TierPacer::new(KnownTier::default());
        pacer.observe_call_tokens(285, 30);
        let mut h = demo_tier_low();
        for (k, v) in [
            ("anthropic-ratelimit-tokens-limit", "400000"),
            ("anthropic-ratelimit-tokens-remaining", "150000"),
        ] {
            h.insert(
                reqwest::header::HeaderName::from_static(k),
                v.parse().expect("value"),
            );
        }
        pacer.observe_headers(&h);
        let (iv, by) = pacer.pacing().expect("paced");
        assert_eq!(by, BudgetKind::InputTokens);
        assert!(close(iv, secs_per(285.0, 400_000.0)), "{iv:?}");
        let nearest = pacer.nearest_exhaustion().expect("known");
        assert_eq!(nearest.kind, BudgetKind::OutputTokens, "20k of 80k left");
    }

    #[test]
    fn nearest_exhaustion_is_the_smallest_share_left() {
        let pacer = TierPacer::new(KnownTier::default());
        assert_eq!(pacer.nearest_exhaustion(), None, "nothing reported yet");
        pacer.observe_headers(&demo_tier_low());
        pacer.observe_headers(&headers(&[(
            "anthropic-ratelimit-input-tokens-remaining",
            "20000",
        )]));
        assert_eq!(
            pacer.nearest_exhaustion(),
            Some(BudgetReport {
                kind: BudgetKind::InputTokens,
                limit: 400_000,
                remaining: 20_000
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn configured_tier_paces_from_the_start_with_evenly_spaced_slots() {
        let pacer = TierPacer::new(KnownTier {
            rpm: Some(600),
            ..KnownTier::default()
        });
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
    fn a_replica_paces_at_its_share_of_every_budget() {
        // Each budget low in turn: one replica of three spaces calls three times as far.
        let reports = [
            ("requests", "600", "0"),
            ("input-tokens", "400000", "1000"),
            ("output-tokens", "80000", "1000"),
        ];
        for (kind, limit, remaining) in reports {
            let whole = TierPacer::new(KnownTier::default());
            let third = TierPacer::new(KnownTier::default()).with_share(1.0 / 3.0);
            for p in [&whole, &third] {
                p.observe_call_tokens(285, 30);
                p.observe_headers(&headers(&[
                    (&format!("anthropic-ratelimit-{kind}-limit"), limit),
                    (&format!("anthropic-ratelimit-{kind}-remaining"), remaining),
                ]));
            }
            let (a, b) = (
                whole.interval().expect("paced"),
                third.interval().expect("paced"),
            );
            assert!(
                (b.as_secs_f64() / a.as_secs_f64() - 3.0).abs() < 1e-6,
                "{kind}: {a:?} {b:?}"
            );
        }
    }

    /// Events of [`full_bucket_to_refill_rate_without_a_dip`], in time order.
    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Sim {
        /// A worker wants to make a call.
        Ready(usize),
        /// Its reserved slot came: the provider admits or refuses the call.
        Admit(usize),
        /// The answer arrives with the headers as of admission.
        Done(usize, u64),
    }

    #[test]
    fn full_bucket_to_refill_rate_without_a_dip() {
        // 20 workers making 0.72 s calls of alternately 200 and 370 input tokens against a
        // 240k ITPM bucket that starts full: unpaced they would spend ~7.9k tokens/s, twice the
        // 4k/s refill. Simulated on a virtual clock (no sleeping): the bucket must never be
        // short (no 429) and every 15 s window must carry ≥ 90 % of the refill rate, ≥ 95 %
        // once pacing has settled.
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        const ITPM: f64 = 240_000.0;
        const WORKERS: usize = 20;
        let call = Duration::from_millis(720);
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(3600);
        let pacer = TierPacer::new(KnownTier::default());
        let (mut level, mut at) = (ITPM, Duration::ZERO);
        let mut calls_made = [0u64; WORKERS];
        let mut spent_per_window = [0.0f64; 20];
        let mut refused = 0;
        let mut events = BinaryHeap::new();
        for w in 0..WORKERS {
            events.push(Reverse((Duration::ZERO, Sim::Ready(w))));
        }
        while let Some(Reverse((now, event))) = events.pop() {
            if now >= Duration::from_secs(300) {
                break;
            }
            match event {
                Sim::Ready(w) => {
                    let slot = pacer.reserve(t0 + now, far).expect("far deadline");
                    events.push(Reverse((slot - t0, Sim::Admit(w))));
                }
                Sim::Admit(w) => {
                    level = (level + (now - at).as_secs_f64() * ITPM / 60.0).min(ITPM);
                    at = now;
                    let cost = if calls_made[w] % 2 == 0 { 200.0 } else { 370.0 };
                    if level < cost {
                        refused += 1;
                        events.push(Reverse((now + Duration::from_secs(1), Sim::Ready(w))));
                        continue;
                    }
                    level -= cost;
                    calls_made[w] += 1;
                    spent_per_window[(now.as_secs() / 15) as usize] += cost;
                    events.push(Reverse((now + call, Sim::Done(w, level as u64))));
                }
                Sim::Done(w, remaining) => {
                    pacer.observe_headers(&headers(&[
                        ("anthropic-ratelimit-input-tokens-limit", "240000"),
                        (
                            "anthropic-ratelimit-input-tokens-remaining",
                            &remaining.to_string(),
                        ),
                    ]));
                    let cost = if calls_made[w] % 2 == 1 { 200 } else { 370 };
                    pacer.observe_call_tokens(cost, 30);
                    events.push(Reverse((now, Sim::Ready(w))));
                }
            }
        }
        assert_eq!(refused, 0, "the bucket never ran short");
        let refill_per_window = ITPM / 60.0 * 15.0;
        for (i, spent) in spent_per_window.iter().enumerate() {
            let share = spent / refill_per_window;
            let floor = if i >= 4 { 0.95 } else { 0.90 };
            assert!(share >= floor, "window {i}: {share:.3} of the refill rate");
        }
        assert!(
            spent_per_window[0] > 1.5 * refill_per_window,
            "the full bucket is used first: {}",
            spent_per_window[0] / refill_per_window
        );
    }
}
