//! `AppState`: everything requests share (settings, permit pool, limiter, upstream clients,
//! instruments, the shutdown signal), built once from [`Settings`].

use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::admission::concurrency::ConcurrencyGate;
use crate::admission::limit::{AdaptiveLimit, AdaptiveParams};
use crate::admission::rate_limit::ClientRateLimiter;
use crate::agent::agent_loop::Upstreams;
use crate::config::{ConcurrencyMode, Settings};
use crate::instruments::Instruments;
use crate::upstream::breaker::{CircuitBreaker, CircuitState};
use crate::upstream::claude::{ClaudeClient, Protections};
use crate::upstream::cooldown::Cooldown;
use crate::upstream::pacing::{KnownTier, TierPacer};
use crate::upstream::retry::RetryPolicy;
use crate::upstream::trading::TradingClient;

/// How often idle rate-limit entries are evicted.
const LIMITER_EVICTION_EVERY: Duration = Duration::from_secs(60);

/// The shared parts; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// Validated configuration.
    pub settings: Settings,
    /// The one permit pool of the process.
    pub gate: Arc<ConcurrencyGate>,
    /// Per-client limiter (None in legacy mode or when disabled).
    pub limiter: Option<Arc<ClientRateLimiter>>,
    /// Upstream clients.
    pub upstreams: Upstreams,
    /// Prometheus instruments.
    pub instruments: Arc<Instruments>,
    /// Fired when shutdown begins: queued requests get 503, readiness turns 503.
    pub shutdown: CancellationToken,
    /// Start time, for `uptime_s`.
    pub started: Instant,
    /// Fired when the shutdown signal arrives, before the drain window: readiness turns 503
    /// while requests are still accepted and served.
    pub draining: CancellationToken,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Start-up failure building the state.
#[derive(Debug, Error)]
#[error("could not build the HTTP client: {0}")]
pub struct StateError(#[from] reqwest::Error);

impl AppState {
    /// Builds clients, limiter and pool from the settings (inside a tokio runtime).
    pub fn new(settings: Settings) -> Result<Self, StateError> {
        let instruments = Arc::new(Instruments::new());
        let legacy = settings.legacy_mode;
        let breaker = (!legacy).then(|| {
            Arc::new(CircuitBreaker::new(
                settings.claude.circuit_failure_threshold,
                settings.claude.circuit_open,
            ))
        });
        let retry = (!legacy).then_some(RetryPolicy {
            max_retries: settings.claude.max_retries,
            base: settings.claude.retry_base,
            cap: settings.claude.retry_max,
        });
        let gate = match (legacy, settings.admission.concurrency_limit) {
            (true, _) => ConcurrencyGate::unlimited(),
            (false, ConcurrencyMode::Fixed) => ConcurrencyGate::new(
                settings.admission.max_concurrent_analyses,
                settings.admission.max_queue_depth,
            ),
            (false, ConcurrencyMode::Adaptive) => ConcurrencyGate::with_algorithm(
                Box::new(AdaptiveLimit::new(AdaptiveParams::new(
                    settings.admission.min_concurrent_analyses,
                    settings.admission.max_concurrent_analyses,
                ))),
                settings.admission.max_concurrent_analyses,
                settings.admission.max_queue_depth,
            ),
        };
        let protections = if legacy {
            Protections::default()
        } else {
            Protections {
                retry,
                breaker,
                cooldown: Some(Arc::new(Cooldown::new())),
                pacer: Some(Arc::new(
                    TierPacer::new(KnownTier {
                        rpm: settings.provider.known_rpm(),
                        itpm: settings.provider.known_itpm(),
                        otpm: settings.provider.known_otpm(),
                    })
                    .with_share(settings.provider.share),
                )),
                attempt_timeout: Some(settings.claude.attempt_timeout),
                observer: Some(Arc::clone(&gate) as _),
            }
        };
        let claude = ClaudeClient::new(
            &settings.claude.base_url,
            settings.claude.api_key(),
            protections,
            Arc::clone(&instruments),
        )?;
        let trading = if legacy {
            TradingClient::per_call(
                &settings.trading.base_url,
                settings.trading.timeout,
                Arc::clone(&instruments),
            )
        } else {
            TradingClient::pooled(
                &settings.trading.base_url,
                settings.trading.pool_max_idle_per_host,
                settings.trading.timeout,
                Arc::clone(&instruments),
            )?
        };
        let trading = trading.with_max_body_bytes(settings.trading.max_body_bytes);
        let limiter = match (legacy, settings.admission.rate_limit()) {
            (false, Some(per_minute)) => {
                let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
                let burst =
                    NonZeroU32::new(settings.admission.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
                let limiter = ClientRateLimiter::new(per_minute, burst);
                ClientRateLimiter::spawn_eviction(&limiter, LIMITER_EVICTION_EVERY);
                Some(limiter)
            }
            _ => None,
        };
        Ok(AppState(Arc::new(Shared {
            settings,
            gate,
            limiter,
            upstreams: Upstreams { claude, trading },
            instruments,
            shutdown: CancellationToken::new(),
            started: Instant::now(),
            draining: CancellationToken::new(),
        })))
    }

    /// The model API circuit as `/health` reports it (always closed in legacy mode).
    pub fn circuit(&self) -> CircuitState {
        self.upstreams
            .claude
            .breaker()
            .map_or(CircuitState::Closed, |b| b.state())
    }

    /// Time left in the shared upstream cool-down (zero when none, and in legacy mode).
    pub fn cooldown_remaining(&self) -> Duration {
        self.upstreams
            .claude
            .cooldown()
            .map_or(Duration::ZERO, |c| c.remaining(tokio::time::Instant::now()))
    }

    /// Starts shutdown: refuse queued and new analyses, report not ready.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Starts the drain window: report not ready, keep serving.
    pub fn begin_drain(&self) {
        self.draining.cancel();
    }

    /// True once the shutdown signal arrived (drain window or later).
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// True once shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
