//! Per-client rate limit: GCRA (governor) keyed by client IP, with the limiter's real wait as
//! `Retry-After` and idle client entries evicted periodically so memory stays bounded.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::{whole_seconds, AppError, RateLimitInfo};

type KeyedLimiter =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// A keyed GCRA limiter: `per_minute` sustained with `burst` back-to-back requests per client.
#[derive(Debug)]
pub struct ClientRateLimiter {
    limiter: KeyedLimiter,
    per_minute: u32,
    burst: u32,
}

impl ClientRateLimiter {
    /// Builds the limiter; both numbers must be ≥ 1 (the validated configuration guarantees it).
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Arc<Self> {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Arc::new(ClientRateLimiter {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            per_minute: per_minute.get(),
            burst: burst.get(),
        })
    }

    /// Admits or refuses one request from `client`; either way says where the client stands.
    pub fn check(&self, client: IpAddr) -> Result<RateLimitInfo, AppError> {
        match self.limiter.check_key(&client) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Time until the bucket is full again is the "reset" of the IETF header.
                let used = self.burst.saturating_sub(remaining);
                let reset_s = (u64::from(used) * 60).div_ceil(u64::from(self.per_minute));
                Ok(RateLimitInfo {
                    per_minute: self.per_minute,
                    burst: self.burst,
                    remaining,
                    reset_s,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let info = RateLimitInfo {
                    per_minute: self.per_minute,
                    burst: self.burst,
                    remaining: 0,
                    reset_s: whole_seconds(wait),
                };
                Err(AppError::RateLimited {
                    retry_after: wait,
                    info,
                })
            }
        }
    }

    /// Clients currently tracked (after the last eviction).
    pub fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }

    /// Forgets clients whose state is back to fresh.
    pub fn evict_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Evicts idle clients every `every` until the limiter is dropped.
    pub fn spawn_eviction(this: &Arc<Self>, every: Duration) {
        let weak: Weak<Self> = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(limiter) => limiter.evict_idle(),
                    None => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn burst_then_refusal_with_real_wait() {
        let limiter = ClientRateLimiter::new(nz(60), nz(2));
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        assert_eq!(limiter.check(a).expect("1st").remaining, 1);
        assert_eq!(limiter.check(a).expect("2nd").remaining, 0);
        match limiter.check(a).unwrap_err() {
            AppError::RateLimited { retry_after, info } => {
                assert!(
                    retry_after > Duration::from_millis(500)
                        && retry_after <= Duration::from_secs(1)
                );
                assert_eq!((info.remaining, info.reset_s, info.per_minute), (0, 1, 60));
            }
            other => panic!("expected rate limit, got {other:?}"),
        }
    }

    #[test]
    fn clients_are_limited_independently() {
        let limiter = ClientRateLimiter::new(nz(1), nz(1));
        let (a, b): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_err());
        assert!(limiter.check(b).is_ok());
        assert_eq!(limiter.tracked_clients(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_periodic_eviction_task_forgets_idle_clients() {
        // 60 000/min = one cell per ms: a client is fresh again 1 ms (real time) after its request.
        let limiter = ClientRateLimiter::new(nz(60_000), nz(1));
        for i in 0..50u8 {
            assert!(limiter.check(IpAddr::from([10, 0, 2, i])).is_ok());
        }
        std::thread::sleep(Duration::from_millis(5)); // governor's clock is real time
        ClientRateLimiter::spawn_eviction(&limiter, Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(
            limiter.tracked_clients(),
            50,
            "nothing evicted before the first period"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            limiter.tracked_clients(),
            0,
            "the periodic task evicted idle clients"
        );
    }

    #[tokio::test]
    async fn idle_clients_are_evicted_once_their_bucket_is_full_again() {
        // 6000/min = one cell every 10 ms, so an idle client is "fresh" again almost at once.
        let limiter = ClientRateLimiter::new(nz(6000), nz(1));
        for i in 0..50u8 {
            assert!(limiter.check(IpAddr::from([10, 0, 1, i])).is_ok());
        }
        assert_eq!(limiter.tracked_clients(), 50);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while limiter.tracked_clients() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "idle clients were never evicted"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
            limiter.evict_idle();
        }
    }
}
