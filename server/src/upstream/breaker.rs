//! Circuit breaker for the model API: opens after consecutive failed *requests* (a request's
//! retries count once), answers fast while open, lets one half-open probe through after
//! `open_for`, and only that probe's outcome closes or re-opens it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What the breaker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// One probe call decides.
    HalfOpen,
    /// Calls are refused.
    Open,
}

impl CircuitState {
    /// Every state, for the OpenAPI document's `enum`.
    pub const ALL: [CircuitState; 3] = [
        CircuitState::Closed,
        CircuitState::HalfOpen,
        CircuitState::Open,
    ];

    /// Lower-case name used in `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half_open",
            CircuitState::Open => "open",
        }
    }

    /// Gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::HalfOpen => 1.0,
            CircuitState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// `probe_since` guards against a probe whose caller vanished: after `open_for` another may go.
    HalfOpen {
        probe_since: Option<Instant>,
    },
}

/// Permission to call, from [`CircuitBreaker::try_pass`]; hand it back with the outcome so that
/// only the half-open probe decides, and calls let through before the circuit opened do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Opening count when the pass was given.
    generation: u64,
    /// True for the one half-open probe.
    probe: bool,
}

/// How a request (all its attempts) ended, as the breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A readable 2xx.
    Success,
    /// 5xx, 529, connection failures, attempt timeouts, an unreadable 2xx — after retries.
    Failure,
    /// Says nothing about the upstream's health: 429 (our tier), 4xx (our request), our own
    /// deadline running out.
    Neutral,
}

#[derive(Debug)]
struct Guarded {
    inner: Inner,
    /// Incremented every time the circuit opens.
    generation: u64,
}

/// Consecutive-failure breaker counting requests (not attempts).
#[derive(Debug)]
pub struct CircuitBreaker {
    inner: Mutex<Guarded>,
    threshold: u32,
    open_for: Duration,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failed requests, for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            inner: Mutex::new(Guarded {
                inner: Inner::Closed { failures: 0 },
                generation: 0,
            }),
            threshold: threshold.max(1),
            open_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Guarded> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state as observers see it (an expired open period reads as half-open).
    pub fn state(&self) -> CircuitState {
        match &self.lock().inner {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { until } if Instant::now() < *until => CircuitState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// May a call go now? `Err(wait)` while open or while another probe is out.
    pub fn try_pass(&self) -> Result<Pass, Duration> {
        let now = Instant::now();
        let mut g = self.lock();
        let generation = g.generation;
        let normal = Pass {
            generation,
            probe: false,
        };
        let probe = Pass {
            generation,
            probe: true,
        };
        match &g.inner {
            Inner::Closed { .. } => Ok(normal),
            Inner::Open { until } if now < *until => Err(*until - now),
            Inner::HalfOpen {
                probe_since: Some(since),
            } if now.duration_since(*since) < self.open_for => {
                Err(self.open_for - now.duration_since(*since))
            }
            Inner::Open { .. } | Inner::HalfOpen { .. } => {
                g.inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                Ok(probe)
            }
        }
    }

    /// Records how the request that held `pass` ended.
    pub fn record(&self, pass: Pass, verdict: Verdict) {
        let mut guard = self.lock();
        let g: &mut Guarded = &mut guard;
        let current = pass.generation == g.generation;
        let is_probe = pass.probe && current && matches!(g.inner, Inner::HalfOpen { .. });
        g.inner = match (&g.inner, verdict) {
            (Inner::Closed { .. }, Verdict::Success) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, Verdict::Failure) if failures + 1 < self.threshold => {
                Inner::Closed {
                    failures: failures + 1,
                }
            }
            (Inner::Closed { .. }, Verdict::Failure) => {
                g.generation += 1;
                Inner::Open {
                    until: Instant::now() + self.open_for,
                }
            }
            (Inner::HalfOpen { .. }, Verdict::Success) if is_probe => Inner::Closed { failures: 0 },
            (Inner::HalfOpen { .. }, Verdict::Failure) if is_probe => {
                g.generation += 1;
                Inner::Open {
                    until: Instant::now() + self.open_for,
                }
            }
            // The probe said nothing: let the next caller probe.
            (Inner::HalfOpen { .. }, Verdict::Neutral) if is_probe => {
                Inner::HalfOpen { probe_since: None }
            }
            _ => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(b: &CircuitBreaker) {
        let pass = b.try_pass().expect("passes");
        b.record(pass, Verdict::Failure);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_probes_and_closes() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(2));
        for _ in 0..2 {
            fail(&breaker);
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(breaker.try_pass().unwrap_err() <= Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        let probe = breaker.try_pass().expect("one probe goes");
        assert!(
            breaker.try_pass().is_err(),
            "a second caller waits for the probe"
        );
        breaker.record(probe, Verdict::Success);
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.try_pass().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_and_success_resets_the_count() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(1));
        fail(&breaker);
        let ok = breaker.try_pass().expect("closed");
        breaker.record(ok, Verdict::Success);
        fail(&breaker);
        assert_eq!(
            breaker.state(),
            CircuitState::Closed,
            "failures must be consecutive"
        );
        fail(&breaker);
        tokio::time::advance(Duration::from_secs(1)).await;
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_probe_decides_calls_let_through_before_opening_do_not() {
        let breaker = CircuitBreaker::new(1, Duration::from_secs(1));
        let stale = breaker.try_pass().expect("closed");
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Open);
        breaker.record(stale, Verdict::Success);
        assert_eq!(
            breaker.state(),
            CircuitState::Open,
            "stale success while open"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let probe = breaker.try_pass().expect("probe");
        breaker.record(stale, Verdict::Success);
        assert_eq!(
            breaker.state(),
            CircuitState::HalfOpen,
            "stale success while half-open"
        );
        breaker.record(stale, Verdict::Failure);
        assert_eq!(breaker.state(), CircuitState::HalfOpen, "stale failure too");
        breaker.record(probe, Verdict::Neutral);
        let probe2 = breaker.try_pass().expect("a neutral probe frees the slot");
        breaker.record(probe2, Verdict::Success);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
