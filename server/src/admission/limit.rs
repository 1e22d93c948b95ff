//! The concurrency-limit algorithms, as pure state machines (no I/O, no clock of their own):
//! fed one [`Sample`] per finished model-call attempt with the time injected, they answer the
//! new limit. [`FixedLimit`] is the trivial one; [`AdaptiveLimit`] is latency-gated AIMD with a
//! memory of where the provider last pushed back (see server/README.md, "Adaptive concurrency").

use std::time::Duration;

/// One finished model-call attempt, as the limit sees it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When the attempt started (same clock as `now`); drops of attempts started before the
    /// last decrease were caused by the old limit and are not counted again.
    pub started: Duration,
    /// Time the attempt took upstream (pacing and cool-down waits excluded).
    pub rtt: Duration,
    /// Permits in use when the sample was taken.
    pub in_flight: usize,
    /// The upstream pushed back: 429, 529, or the attempt timed out.
    pub dropped: bool,
    /// The call had to wait for pacing or a cool-down first: more permits would not have made
    /// it faster, so it is no reason to grow.
    pub throttled: bool,
}

/// A concurrency-limit algorithm: fed samples, answers the limit.
pub trait LimitAlgorithm: Send + std::fmt::Debug {
    /// The limit now.
    fn limit(&self) -> usize;
    /// Folds in one sample taken at `now` (time since an arbitrary origin) and answers the limit.
    fn on_sample(&mut self, now: Duration, sample: Sample) -> usize;
    /// True when a push-back lowers the limit (so concurrency answers it, not only waiting).
    fn adapts(&self) -> bool {
        false
    }
}

/// `CONCURRENCY_LIMIT=fixed`: always N.
#[derive(Debug, Clone, Copy)]
pub struct FixedLimit(pub usize);

impl LimitAlgorithm for FixedLimit {
    fn limit(&self) -> usize {
        self.0
    }
    fn on_sample(&mut self, _now: Duration, _sample: Sample) -> usize {
        self.0
    }
}

/// Parameters of [`AdaptiveLimit`]; the defaults are documented in server/README.md.
#[derive(Debug, Clone, Copy)]
pub struct AdaptiveParams {
    /// Lowest limit (`MIN_CONCURRENT_ANALYSES`).
    pub floor: usize,
    /// Highest limit (`MAX_CONCURRENT_ANALYSES`); also where the limit starts.
    pub ceiling: usize,
    /// Multiplicative decrease on a drop: limit = backoff × min(limit, in flight).
    pub backoff: f64,
    /// Growth is allowed while the recent latency is at most `tolerance` × baseline.
    pub tolerance: f64,
    /// Once the provider pushed back at level L, growing to L again waits this long after
    /// the last drop (one probe per interval instead of a 429 every few round trips).
    pub probe_interval: Duration,
    /// Weight of a new sample in the recent-latency average.
    pub short_alpha: f64,
    /// Weight with which the baseline drifts up toward the recent latency (it follows a
    /// lower latency at once), so a lasting slowdown becomes the new baseline.
    pub baseline_drift: f64,
}

impl AdaptiveParams {
    /// The documented defaults for a floor and a ceiling.
    pub fn new(floor: usize, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        AdaptiveParams {
            floor: floor.clamp(1, ceiling),
            ceiling,
            backoff: 0.8,
            tolerance: 1.5,
            probe_interval: Duration::from_secs(30),
            short_alpha: 0.1,
            baseline_drift: 0.01,
        }
    }
}

/// Latency-gated AIMD: +1 per limit's worth of good samples (about one per round trip) while
/// the recent latency stays within `tolerance` × baseline and the permits are actually used;
/// × `backoff` on a 429/529/timeout, at most once per round trip; slow probing above the level
/// where the provider last pushed back.
#[derive(Debug, Clone)]
pub struct AdaptiveLimit {
    params: AdaptiveParams,
    /// Fractional limit; the integer part is the limit.
    limit: f64,
    /// Recent latency (EWMA, seconds); None before the first sample.
    short: Option<f64>,
    /// Baseline latency (seconds); None before the first sample.
    baseline: Option<f64>,
    /// Time of the last decrease.
    last_drop: Option<Duration>,
    /// Time of the last decrease or probe step (paces probing).
    last_probe: Option<Duration>,
    /// The level at which the provider last pushed back.
    drop_level: Option<usize>,
    /// The baseline latency when it did: an edge learned at another latency is forgotten.
    baseline_at_drop: Option<f64>,
    /// The level that held before the last probe step, and when that step was taken: a
    /// push-back during the probe goes back to it instead of cutting multiplicatively.
    probe_from: Option<(usize, Duration)>,
}

impl AdaptiveLimit {
    /// Starts at the ceiling: a server with the limit it was configured for, until told otherwise.
    pub fn new(params: AdaptiveParams) -> Self {
        AdaptiveLimit {
            params,
            limit: params.ceiling as f64,
            short: None,
            baseline: None,
            last_drop: None,
            last_probe: None,
            drop_level: None,
            baseline_at_drop: None,
            probe_from: None,
        }
    }

    fn clamp(&self, value: f64) -> f64 {
        value.clamp(self.params.floor as f64, self.params.ceiling as f64)
    }

    fn on_drop(&mut self, now: Duration, sample: Sample) {
        if self.last_drop.is_some_and(|at| sample.started < at) {
            return; // sent under the old limit: already accounted for
        }
        if let Some((held, at)) = self.probe_from.take() {
            if sample.started >= at && now.saturating_sub(at) < self.params.probe_interval {
                // A failed probe: one step past a level that held for a probe interval. Back
                // to that level; only a further push-back (a call sent after this) cuts.
                self.drop_level = Some(held + 1);
                self.baseline_at_drop = self.baseline;
                self.limit = self.clamp(held as f64);
                self.last_drop = Some(now);
                self.last_probe = Some(now);
                return;
            }
        }
        let level = (self.limit.floor() as usize).min(sample.in_flight.max(1));
        if level <= self.params.floor {
            // Refused even at the floor: an outage or a storm (every call 529s or times out),
            // not a concurrency edge. Remembering it would hold the limit near the floor for
            // a probe interval per permit after the provider recovers (a 4 s storm cost
            // minutes at 2 of 10 permits in `make chaos`), so once calls succeed again the
            // limit grows back one permit per round trip until the provider pushes back.
            self.drop_level = None;
            self.baseline_at_drop = None;
        } else {
            self.drop_level = Some(level);
            self.baseline_at_drop = self.baseline;
        }
        self.limit = self.clamp((level as f64 * self.params.backoff).floor());
        self.last_drop = Some(now);
        self.last_probe = Some(now);
    }

    fn on_success(&mut self, now: Duration, sample: Sample) {
        let x = sample.rtt.as_secs_f64();
        let short = match self.short {
            None => x,
            Some(s) => s + self.params.short_alpha * (x - s),
        };
        self.short = Some(short);
        let baseline = match self.baseline {
            None => short,
            Some(b) if short < b => short,
            Some(b) => b + self.params.baseline_drift * (short - b),
        };
        self.baseline = Some(baseline);
        if let Some(then) = self.baseline_at_drop {
            let ratio = then.max(baseline) / then.min(baseline).max(f64::EPSILON);
            if ratio > self.params.tolerance {
                // The provider pushed back under other conditions (e.g. during a slowdown):
                // that level says nothing now, so grow freely until it pushes back again.
                self.drop_level = None;
                self.baseline_at_drop = None;
                self.probe_from = None;
            }
        }
        let current = self.limit.floor() as usize;
        let used = sample.in_flight as f64 >= 0.8 * current as f64;
        let near_baseline = short <= self.params.tolerance * baseline;
        if sample.throttled || !used || !near_baseline {
            return;
        }
        let probing = self.drop_level.is_some_and(|level| current + 1 >= level);
        let probe_due = self
            .last_probe
            .is_none_or(|at| now.saturating_sub(at) >= self.params.probe_interval);
        if probing && !probe_due {
            self.limit = self.limit.min(current as f64 + 0.999);
            return;
        }
        self.limit = self.clamp(self.limit + 1.0 / current.max(1) as f64);
        if probing && self.limit.floor() as usize > current {
            // One step past the old level per probe interval.
            self.last_probe = Some(now);
            self.drop_level = Some(self.limit.floor() as usize + 1);
            self.probe_from = Some((current, now));
        }
    }
}

impl LimitAlgorithm for AdaptiveLimit {
    fn adapts(&self) -> bool {
        true
    }

    fn limit(&self) -> usize {
        (self.limit.floor() as usize).clamp(self.params.floor, self.params.ceiling)
    }

    fn on_sample(&mut self, now: Duration, sample: Sample) -> usize {
        if sample.dropped {
            self.on_drop(now, sample);
        } else {
            self.on_success(now, sample);
        }
        self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(700);

    fn ok(now: Duration, in_flight: usize) -> Sample {
        Sample {
            started: now.saturating_sub(RTT),
            rtt: RTT,
            in_flight,
            dropped: false,
            throttled: false,
        }
    }

    /// A 429 comes back at once: the call started now.
    fn drop_at(now: Duration, in_flight: usize) -> Sample {
        Sample {
            started: now,
            rtt: Duration::from_millis(2),
            in_flight,
            dropped: true,
            throttled: false,
        }
    }

    /// Drives `limit` as a provider that refuses above `capacity` concurrent calls would, with
    /// every permit in use (more users than permits), one sample per `RTT / limit`.
    fn run_against_capacity(
        limit: &mut AdaptiveLimit,
        capacity: usize,
        from: Duration,
        for_: Duration,
    ) -> Vec<usize> {
        let mut now = from;
        let mut seen = Vec::new();
        while now < from + for_ {
            let l = limit.limit();
            let sample = if l > capacity {
                drop_at(now, l)
            } else {
                ok(now, l)
            };
            seen.push(limit.on_sample(now, sample));
            now += RTT / l as u32;
        }
        seen
    }

    #[test]
    fn refusals_down_to_the_floor_are_an_outage_and_leave_no_edge_to_probe_slowly() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 10));
        let mut now = Duration::from_secs(1);
        // A storm: every call refused, whatever the level, down to the floor and at it.
        while limit.limit() > 2 {
            let l = limit.limit();
            limit.on_sample(now, drop_at(now, l));
            now += RTT;
        }
        limit.on_sample(now, drop_at(now, 2));
        assert_eq!(limit.limit(), 2);
        // The provider recovers: with every permit used, one permit per round trip, back to
        // the ceiling well within one probe interval.
        let recovered = now + Duration::from_secs(10);
        while now < recovered && limit.limit() < 10 {
            now += RTT / limit.limit() as u32;
            let l = limit.limit();
            limit.on_sample(now, ok(now, l));
        }
        assert_eq!(
            limit.limit(),
            10,
            "stuck at {} after the storm",
            limit.limit()
        );
    }

    #[test]
    fn a_refusal_above_the_floor_is_still_an_edge_probed_once_per_interval() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 10));
        let now = Duration::from_secs(1);
        limit.on_sample(now, drop_at(now, 5));
        assert_eq!(limit.limit(), 4, "0.8 × 5");
        let mut t = now;
        for _ in 0..100 {
            t += RTT / 4;
            let l = limit.limit();
            limit.on_sample(t, ok(t, l));
        }
        assert!(t < now + Duration::from_secs(30));
        assert!(
            limit.limit() <= 5,
            "grew to {} past the edge at 5 within one interval",
            limit.limit()
        );
    }

    #[test]
    fn a_429_cuts_the_limit_multiplicatively_once_per_round() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        assert_eq!(limit.limit(), 40, "starts at the ceiling");
        let now = Duration::from_secs(10);
        assert_eq!(
            limit.on_sample(now, drop_at(now, 30)),
            24,
            "0.8 × min(40, 30)"
        );
        // More 429s from calls that started before that decrease do not cut again.
        let stale = Sample {
            started: now - Duration::from_millis(1),
            ..drop_at(now + Duration::from_millis(5), 30)
        };
        assert_eq!(limit.on_sample(now + Duration::from_millis(5), stale), 24);
        // A 429 of a call started after it does.
        let later = now + Duration::from_secs(1);
        let fresh = Sample {
            started: now + Duration::from_millis(10),
            ..drop_at(later, 24)
        };
        assert_eq!(limit.on_sample(later, fresh), 19);
    }

    #[test]
    fn grows_about_one_per_round_trip_at_baseline_latency() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        let mut now = Duration::from_secs(1);
        limit.on_sample(now, drop_at(now, 10)); // → 8, and remembers 10
        assert_eq!(limit.limit(), 8);
        // 8 samples ≈ one round trip of 8 permits: +1.
        for _ in 0..8 {
            now += RTT / 8;
            limit.on_sample(now, ok(now, limit.limit()));
        }
        assert_eq!(limit.limit(), 9);
    }

    #[test]
    fn does_not_grow_when_latency_rises_or_permits_sit_idle_or_calls_were_throttled() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        let mut now = Duration::from_secs(1);
        limit.on_sample(now, drop_at(now, 10)); // 8
        for _ in 0..20 {
            now += RTT / 8;
            limit.on_sample(now, ok(now, limit.limit()));
        }
        let before = limit.limit();
        // Latency 3× the baseline: hold.
        for _ in 0..30 {
            now += RTT / 8;
            let slow = Sample {
                rtt: RTT * 3,
                ..ok(now, limit.limit())
            };
            limit.on_sample(now, slow);
        }
        assert_eq!(limit.limit(), before, "no growth at 3× baseline latency");
        // Light load: only 2 of the permits used.
        let mut idle = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        idle.on_sample(now, drop_at(now, 10));
        for _ in 0..100 {
            now += RTT;
            idle.on_sample(now, ok(now, 2));
        }
        assert_eq!(idle.limit(), 8, "no growth while permits sit idle");
        // Throttled by pacing: more permits would not help.
        let mut paced = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        paced.on_sample(now, drop_at(now, 10));
        for _ in 0..100 {
            now += RTT / 8;
            let s = Sample {
                throttled: true,
                ..ok(now, 8)
            };
            paced.on_sample(now, s);
        }
        assert_eq!(paced.limit(), 8, "no growth while calls wait for pacing");
    }

    #[test]
    fn a_lasting_slowdown_becomes_the_new_baseline() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        let mut now = Duration::from_secs(1);
        limit.on_sample(now, drop_at(now, 10));
        for _ in 0..50 {
            now += RTT / 8;
            limit.on_sample(now, ok(now, limit.limit()));
        }
        let before = limit.limit();
        for _ in 0..600 {
            now += RTT / 8;
            let slow = Sample {
                rtt: RTT * 3,
                ..ok(now, limit.limit())
            };
            limit.on_sample(now, slow);
        }
        assert!(limit.limit() > before, "grows again once 3× is the norm");
    }

    #[test]
    fn an_edge_learned_during_a_slowdown_is_forgotten_when_latency_returns() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        let mut now = Duration::from_secs(1);
        for _ in 0..20 {
            now += RTT / 20;
            limit.on_sample(now, ok(now, 40));
        }
        // Slowdown: latency ×3 for long enough to become the baseline, then a push back at 20.
        for _ in 0..600 {
            now += RTT / 10;
            let slow = Sample {
                rtt: RTT * 3,
                ..ok(now, limit.limit())
            };
            limit.on_sample(now, slow);
        }
        limit.on_sample(now, drop_at(now, 20));
        assert_eq!(limit.limit(), 16);
        // Latency back to normal: growth goes past 19 well within one probe interval.
        let from = now;
        while limit.limit() < 22 && now < from + Duration::from_secs(25) {
            now += RTT / limit.limit() as u32;
            limit.on_sample(now, ok(now, limit.limit()));
        }
        assert!(
            limit.limit() >= 22,
            "limit {} after {:?}",
            limit.limit(),
            now - from
        );
    }

    #[test]
    fn a_failed_probe_goes_back_to_the_level_that_held_and_a_second_push_back_cuts() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        let mut now = Duration::from_secs(1);
        limit.on_sample(now, drop_at(now, 21)); // → 16, edge 21
        assert_eq!(limit.limit(), 16);
        // Grows to 20 and holds there until the probe interval has passed, then probes 21.
        let from = now;
        while limit.limit() < 21 && now < from + Duration::from_secs(40) {
            now += RTT / limit.limit() as u32;
            limit.on_sample(now, ok(now, limit.limit()));
        }
        assert_eq!(limit.limit(), 21, "probed after {:?}", now - from);
        assert!(
            now - from >= Duration::from_secs(30),
            "probe before the interval"
        );
        // The probe is pushed back: back to 20, not 0.8 × 21.
        now += Duration::from_millis(100);
        assert_eq!(limit.on_sample(now, drop_at(now, 21)), 20);
        // A call sent after that, pushed back again: the edge moved, cut multiplicatively.
        now += Duration::from_millis(100);
        assert_eq!(limit.on_sample(now, drop_at(now, 20)), 16);
    }

    #[test]
    fn floor_and_ceiling_hold() {
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(3, 12));
        let mut now = Duration::ZERO;
        for _ in 0..50 {
            now += Duration::from_secs(1);
            let s = Sample {
                started: now,
                ..drop_at(now, 1)
            };
            assert!(limit.on_sample(now, s) >= 3);
        }
        assert_eq!(limit.limit(), 3);
        let mut open = AdaptiveLimit::new(AdaptiveParams::new(3, 12));
        for _ in 0..10_000 {
            now += Duration::from_millis(10);
            assert!(open.on_sample(now, ok(now, 12)) <= 12);
        }
        assert_eq!(open.limit(), 12);
    }

    #[test]
    fn under_constant_load_it_settles_at_the_provider_capacity_with_rare_probes_one_above() {
        // Ceiling 40 (mis-set), provider capacity 20: after the first drops the limit stays in
        // [capacity, capacity + 1] (a failed probe goes back to the level that held) and
        // over-capacity probes come at most once per probe interval.
        let mut limit = AdaptiveLimit::new(AdaptiveParams::new(2, 40));
        let settle = run_against_capacity(&mut limit, 20, Duration::ZERO, Duration::from_secs(20));
        assert!(settle.iter().any(|&l| l <= 20));
        let steady = run_against_capacity(
            &mut limit,
            20,
            Duration::from_secs(20),
            Duration::from_secs(300),
        );
        let (lo, hi) = (
            *steady.iter().min().expect("samples"),
            *steady.iter().max().expect("samples"),
        );
        assert!(lo >= 20 && hi <= 21, "swing [{lo}, {hi}] outside [20, 21]");
        let over = steady.iter().filter(|&&l| l > 20).count();
        // One probe per 30 s over 300 s: about ten limits above capacity, each cut at once.
        assert!(over <= 12, "{over} samples above capacity");
        let mean = steady.iter().sum::<usize>() as f64 / steady.len() as f64;
        assert!(mean >= 19.9, "mean limit {mean} too far below capacity");
    }
}
