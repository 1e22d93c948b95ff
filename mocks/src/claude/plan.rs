//! Every random decision about one request, drawn from its own RNG.
//!
//! The RNG is seeded by (server seed, request fingerprint, how many times that fingerprint has
//! been admitted), so a request's latency, faults and ids do not depend on which other
//! requests raced it, and rejected (429) requests draw nothing at all.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ClaudeSettings;
use crate::common::faults::{roll, FaultDraw};

pub use crate::common::fnv::request_key;

/// What the dice decided for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Added latency before the model starts.
    pub latency: Duration,
    /// Reset, 500 and stall.
    pub fault: FaultDraw,
    /// Answer 402 `billing_error`.
    pub billing: bool,
    /// Answer 529 by `overload_rate`.
    pub overloaded: bool,
    /// Uniform draw compared with the capacity model's shed probability.
    pub shed_draw: f64,
    /// Send an `error` event in the stream.
    pub stream_fails: bool,
    /// Seed of the message's ids, apart from the fault draws so ids do not move when rates do.
    pub id_seed: u64,
}

/// Draws the plan for the request with `key` (see [`request_key`]), always in the same order.
pub fn draw(settings: &ClaudeSettings, key: u64) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(key);
    let latency = settings.latency.sample(&mut rng);
    let fault = settings.faults.draw(&mut rng);
    let billing = roll(&mut rng, settings.billing_error_rate);
    let overloaded = roll(&mut rng, settings.overload_rate);
    let shed_draw: f64 = rng.random();
    let stream_fails = roll(&mut rng, settings.stream_error_rate);
    Plan {
        latency,
        fault,
        billing,
        overloaded,
        shed_draw,
        stream_fails,
        id_seed: key ^ 0x1d5e_ed00_1d5e_ed00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LatencyDist;

    fn noisy() -> ClaudeSettings {
        let mut s = ClaudeSettings::default();
        s.latency.latency_ms = 100;
        s.latency.latency_dist = LatencyDist::Lognormal;
        s.latency.latency_jitter = 0.5;
        s.faults.error_rate = 0.3;
        s.overload_rate = 0.3;
        s
    }

    #[test]
    fn a_plan_depends_only_on_seed_fingerprint_and_occurrence() {
        let s = noisy();
        let a = draw(&s, request_key(42, 7, 1));
        assert_eq!(a, draw(&s, request_key(42, 7, 1)));
        let others = [
            request_key(43, 7, 1),
            request_key(42, 8, 1),
            request_key(42, 7, 2),
        ];
        for k in others {
            assert_ne!(draw(&s, k).latency, a.latency, "key {k}");
        }
    }

    #[test]
    fn ids_do_not_move_when_fault_rates_change() {
        let key = request_key(42, 7, 1);
        assert_eq!(
            draw(&noisy(), key).id_seed,
            draw(&ClaudeSettings::default(), key).id_seed
        );
    }
}
