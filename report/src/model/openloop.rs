//! The open-loop queue: N permits as c servers, independent arrivals at rate λ, a FIFO queue
//! whose waits the queue timeout cuts off (a request that would wait longer is shed with 503).
//! Erlang C gives M/M/c's probability of waiting and mean wait; the Allen–Cunneen correction
//! scales the mean wait by (c_a² + c_s²) / 2 for general arrivals and service times (c_a = 1 for
//! Poisson, c_s the measured service-time CV). A wait that happens is taken as exponential with
//! that mean (exact for M/M/c, the usual heavy-traffic approximation otherwise); the service time
//! as a gamma distribution with the measured mean and CV (fitted). The served latency is the
//! wait plus the service time, among the requests not shed; its tail gives the p99.

use statrs::distribution::{ContinuousCDF, Gamma};

/// Erlang C: the probability that an arrival waits in M/M/c with `c` servers and offered load
/// `a` = λ·S (in erlangs). `None` when the queue is unstable (a ≥ c) or c = 0. Computed from
/// Erlang B's recursion (B₀ = 1, Bₖ = a·Bₖ₋₁ / (k + a·Bₖ₋₁)), stable for large c.
pub fn erlang_c(c: u32, a: f64) -> Option<f64> {
    if c == 0 || a.is_nan() || a < 0.0 || a >= f64::from(c) {
        return None;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let c = f64::from(c);
    Some(c * b / (c - a * (1.0 - b)))
}

/// The queue's parameters, all in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Queue {
    /// Servers (permits, `MAX_CONCURRENT_ANALYSES`).
    pub servers: u32,
    /// Mean service time, s.
    pub service_s: f64,
    /// Coefficient of variation of the service time.
    pub service_cv: f64,
    /// Coefficient of variation of the inter-arrival times (1 for Poisson).
    pub arrival_cv: f64,
    /// The queue timeout, s (`None`: waits are never cut off).
    pub timeout_s: Option<f64>,
}

/// What the model predicts at one arrival rate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Arrivals per second.
    pub rate_rps: f64,
    /// λ·S / c.
    pub utilisation: f64,
    /// Share of arrivals that wait for a permit (Erlang C).
    pub p_wait: f64,
    /// Mean wait of all arrivals, s (Allen–Cunneen), before the timeout cuts it.
    pub mean_wait_s: f64,
    /// Share of arrivals shed by the queue timeout (their wait would pass it).
    pub shed: f64,
    /// Served per second: λ · (1 − shed).
    pub goodput_rps: f64,
}

impl Queue {
    /// Offered load λ·S, erlangs.
    fn offered(&self, rate: f64) -> f64 {
        rate * self.service_s
    }

    /// Rate of the exponential tail of a wait that happens: P(W > t | W > 0) = exp(−r·t), with
    /// 1/r the Allen–Cunneen mean wait of those who wait. `None` when unstable.
    fn wait_rate(&self, rate: f64) -> Option<(f64, f64)> {
        let c = erlang_c(self.servers, self.offered(rate))?;
        let drain = f64::from(self.servers) / self.service_s - rate;
        let factor = (self.arrival_cv.powi(2) + self.service_cv.powi(2)) / 2.0;
        // Mean wait of those who wait: M/M/c's 1/(cμ − λ), scaled by Allen–Cunneen.
        let conditional_mean = factor.max(1e-9) / drain;
        Some((c, 1.0 / conditional_mean))
    }

    /// The prediction at `rate` arrivals per second; `None` when the queue is unstable there
    /// (λ·S ≥ c: it grows until the timeout sheds the excess).
    pub fn at(&self, rate: f64) -> Option<Prediction> {
        let (p_wait, r) = self.wait_rate(rate)?;
        let shed = self.timeout_s.map_or(0.0, |t| p_wait * (-r * t).exp());
        Some(Prediction {
            rate_rps: rate,
            utilisation: self.offered(rate) / f64::from(self.servers),
            p_wait,
            mean_wait_s: p_wait / r,
            shed,
            goodput_rps: rate * (1.0 - shed),
        })
    }

    /// P(served latency > t) at `rate`: among requests not shed, the wait (0 with probability
    /// 1 − P(wait), else exponential, cut at the timeout) plus a gamma service time.
    pub fn served_tail(&self, rate: f64, t: f64) -> Option<f64> {
        let (p_wait, r) = self.wait_rate(rate)?;
        let service = ServiceTime::new(self.service_s, self.service_cv);
        let limit = self.timeout_s.unwrap_or(f64::INFINITY).min(40.0 / r);
        // ∫₀^limit r·e^{−r·w}·P(S > t − w) dw: past w = t the service survival is 1 (exact:
        // e^{−r·t} − e^{−r·limit}); below it, Simpson's rule on the smooth part.
        let smooth = limit.min(t.max(0.0));
        let steps = 400;
        let h = smooth / f64::from(steps);
        let f = |w: f64| r * (-r * w).exp() * service.survival(t - w);
        let mut integral = f(0.0) + f(smooth);
        for k in 1..steps {
            let w = f64::from(k) * h;
            integral += if k % 2 == 1 { 4.0 } else { 2.0 } * f(w);
        }
        integral *= h / 3.0;
        if limit > smooth {
            integral += (-r * smooth).exp() - (-r * limit).exp();
        }
        let served = 1.0 - p_wait * (-r * limit).exp();
        let tail = (1.0 - p_wait) * service.survival(t) + p_wait * integral;
        Some((tail / served.max(1e-12)).clamp(0.0, 1.0))
    }

    /// The q-quantile of served latency at `rate`, s (bisection on [`Self::served_tail`]).
    pub fn served_quantile(&self, rate: f64, q: f64) -> Option<f64> {
        let target = 1.0 - q;
        let mut hi = self.service_s.max(1e-6);
        while self.served_tail(rate, hi)? > target {
            hi *= 2.0;
            if hi > 1e7 {
                return None;
            }
        }
        let mut lo = 0.0;
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if self.served_tail(rate, mid)? > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }

    /// The largest rate in (0, c/S) at which `holds` is true, assuming it holds below any rate
    /// at which it holds (bisection to 0.1%). `None` when it fails at the smallest rate tried.
    pub fn largest_rate(&self, holds: impl Fn(f64) -> bool) -> Option<f64> {
        let top = f64::from(self.servers) / self.service_s;
        let mut lo = top * 1e-3;
        if !holds(lo) {
            return None;
        }
        let mut hi = top * (1.0 - 1e-9);
        if holds(hi) {
            return Some(hi);
        }
        while (hi - lo) / hi > 1e-3 {
            let mid = (lo + hi) / 2.0;
            if holds(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }
}

/// A service time of mean S and CV c_s: gamma (shape 1/c_s²), or constant when c_s ≈ 0.
struct ServiceTime(Option<Gamma>, f64);

impl ServiceTime {
    fn new(mean: f64, cv: f64) -> Self {
        let shape = 1.0 / cv.max(1e-9).powi(2);
        let gamma = (cv > 1e-3)
            .then(|| Gamma::new(shape, shape / mean).ok())
            .flatten();
        ServiceTime(gamma, mean)
    }

    fn survival(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 1.0;
        }
        match &self.0 {
            Some(g) => g.sf(t),
            None => f64::from(u8::from(t < self.1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_loop_model_gives_erlang_cs_answer_on_a_known_mmc_case() {
        // c = 2, λ = 1.5, μ = 1 (a = 1.5 erlangs). Independently, from Erlang C's closed form:
        // P₀ = 1 / (1 + a + a²/(2!·(1 − a/c))) = 1 / (1 + 1.5 + 1.125/0.25) = 1/7;
        // P(wait) = a²/(2!·(1 − ρ))·P₀ = 4.5/7 = 0.642857…; Wq = P(wait)/(cμ − λ) = 1.285714…
        let p0 = 1.0 / (1.0 + 1.5 + 1.5f64.powi(2) / (2.0 * (1.0 - 0.75)));
        let expected = 1.5f64.powi(2) / (2.0 * (1.0 - 0.75)) * p0;
        assert!((expected - 4.5 / 7.0).abs() < 1e-12);
        let c = erlang_c(2, 1.5).unwrap();
        assert!((c - 0.642_857_142_857).abs() < 1e-9, "{c}");
        let q = Queue {
            servers: 2,
            service_s: 1.0,
            service_cv: 1.0,
            arrival_cv: 1.0,
            timeout_s: None,
        };
        let p = q.at(1.5).unwrap();
        assert!((p.p_wait - expected).abs() < 1e-12);
        assert!((p.mean_wait_s - 1.285_714_285_714).abs() < 1e-9, "{p:?}");
        assert!((p.utilisation - 0.75).abs() < 1e-12);
        // M/M/c's waiting tail: P(W > t) = C·e^{−(cμ−λ)t}; with a 1 s timeout, C·e^{−0.5} shed.
        let cut = Queue {
            timeout_s: Some(1.0),
            ..q
        };
        let shed = cut.at(1.5).unwrap().shed;
        assert!((shed - expected * (-0.5f64).exp()).abs() < 1e-12, "{shed}");
        assert!(q.at(2.0).is_none() && erlang_c(2, 2.5).is_none());
    }

    #[test]
    fn erlang_c_of_one_server_is_its_utilisation_and_stays_finite_for_many_servers() {
        // M/M/1: P(wait) = ρ.
        assert!((erlang_c(1, 0.7).unwrap() - 0.7).abs() < 1e-12);
        let big = erlang_c(500, 480.0).unwrap();
        assert!(big.is_finite() && big > 0.0 && big < 1.0, "{big}");
    }

    #[test]
    fn the_served_tail_of_mm1_is_the_sojourn_times_exponential() {
        // M/M/1: the sojourn time is exponential with rate μ − λ: P(T > t) = e^{−(μ−λ)t}.
        let q = Queue {
            servers: 1,
            service_s: 1.0,
            service_cv: 1.0,
            arrival_cv: 1.0,
            timeout_s: None,
        };
        for t in [0.5, 2.0, 6.0] {
            let got = q.served_tail(0.5, t).unwrap();
            let want = (-0.5 * t).exp();
            assert!((got - want).abs() < 1e-4, "t {t}: {got} vs {want}");
        }
        let p99 = q.served_quantile(0.5, 0.99).unwrap();
        assert!((p99 - 100f64.ln() / 0.5).abs() < 1e-3, "{p99}");
    }

    #[test]
    fn constant_arrivals_and_service_wait_less_than_poisson_and_the_largest_rate_is_found() {
        let poisson = Queue {
            servers: 4,
            service_s: 1.0,
            service_cv: 0.0,
            arrival_cv: 1.0,
            timeout_s: Some(2.0),
        };
        let even = Queue {
            arrival_cv: 0.0,
            ..poisson
        };
        assert!(even.at(3.5).unwrap().mean_wait_s < poisson.at(3.5).unwrap().mean_wait_s);
        // The largest rate shedding at most 1%: the shed share there is 1%, and rises above it.
        let r = poisson
            .largest_rate(|l| poisson.at(l).is_some_and(|p| p.shed <= 0.01))
            .unwrap();
        assert!(r < 4.0, "{r}");
        assert!((poisson.at(r).unwrap().shed - 0.01).abs() < 2e-4);
        assert!(poisson.at(r * 1.01).unwrap().shed > 0.01);
    }
}
