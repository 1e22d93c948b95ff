//! Circuit breaker for the model API: opens after consecutive failures, answers fast while open,
//! lets one half-open probe through after `open_for`, and closes when the probe succeeds.

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

/// Consecutive-failure breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    inner: Mutex<Inner>,
    threshold: u32,
    open_for: Duration,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures, for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state as observers see it (an expired open period reads as half-open).
    pub fn state(&self) -> CircuitState {
        match &*self.lock() {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { until } if Instant::now() < *until => CircuitState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// May a call go now? `Err(wait)` while open or while another probe is out.
    pub fn try_pass(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut inner = self.lock();
        match &*inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if now < *until => Err(*until - now),
            Inner::Open { .. } => {
                *inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                Ok(())
            }
            Inner::HalfOpen {
                probe_since: Some(since),
            } if now.duration_since(*since) < self.open_for => {
                Err(self.open_for - now.duration_since(*since))
            }
            Inner::HalfOpen { .. } => {
                *inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                Ok(())
            }
        }
    }

    /// Records a call that worked: closes the circuit.
    pub fn on_success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    /// Records a failed call: counts toward opening, or re-opens after a failed probe.
    pub fn on_failure(&self) {
        let mut inner = self.lock();
        let until = Instant::now() + self.open_for;
        *inner = match &*inner {
            Inner::Closed { failures } if failures + 1 < self.threshold => Inner::Closed {
                failures: failures + 1,
            },
            _ => Inner::Open { until },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_probes_and_closes() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(2));
        for _ in 0..2 {
            breaker.on_failure();
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.on_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(breaker.try_pass().unwrap_err() <= Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.try_pass().is_ok(), "one probe goes");
        assert!(
            breaker.try_pass().is_err(),
            "a second caller waits for the probe"
        );
        breaker.on_success();
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.try_pass().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_and_success_resets_the_count() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(1));
        breaker.on_failure();
        breaker.on_success();
        breaker.on_failure();
        assert_eq!(
            breaker.state(),
            CircuitState::Closed,
            "failures must be consecutive"
        );
        breaker.on_failure();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(breaker.try_pass().is_ok());
        breaker.on_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
    }
}
