//! Load-driven overload: the backend serves `capacity` concurrent generations at full speed;
//! beyond that it sheds new calls with 529 `overloaded_error` and the ones it keeps run slower.
//!
//! With `n` model calls in flight (the new one included) and capacity `c`:
//!
//! * P(529) = min(1, (n − c) / c) for n > c, else 0 — linear in the excess: 10 % over capacity
//!   sheds 10 % of new calls, twice the capacity sheds all of them.
//! * token speed = `tokens_per_sec` × min(1, c / n) — the backend's throughput is shared, so a
//!   call admitted at twice the capacity generates at half speed (fixed for the whole call).

/// The load a call meets when it is admitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    /// Probability that the call is shed with 529.
    pub shed_probability: f64,
    /// Factor (≤ 1) applied to the token speed.
    pub speed_factor: f64,
}

/// The load for a call admitted with `in_flight` calls running (itself included);
/// `capacity` 0 means the backend never overloads.
pub fn load(capacity: u64, in_flight: u64) -> Load {
    if capacity == 0 || in_flight <= capacity {
        return Load {
            shed_probability: 0.0,
            speed_factor: 1.0,
        };
    }
    let (c, n) = (capacity as f64, in_flight as f64);
    Load {
        shed_probability: ((n - c) / c).min(1.0),
        speed_factor: c / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_or_below_capacity_nothing_is_shed_and_speed_is_full() {
        assert_eq!(load(0, 1000).shed_probability, 0.0);
        assert_eq!(load(10, 10), load(10, 1));
        assert_eq!(load(10, 10).speed_factor, 1.0);
    }

    #[test]
    fn shedding_grows_linearly_with_the_excess_and_speed_is_shared() {
        assert!((load(10, 11).shed_probability - 0.1).abs() < 1e-12);
        assert!((load(10, 15).shed_probability - 0.5).abs() < 1e-12);
        assert_eq!(load(10, 20).shed_probability, 1.0);
        assert_eq!(load(10, 40).shed_probability, 1.0);
        assert_eq!(load(10, 20).speed_factor, 0.5);
    }
}
