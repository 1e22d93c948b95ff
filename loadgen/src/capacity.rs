//! The search behind `loadgen find-capacity` (run by `commands::find_capacity`): the
//! highest concurrency (or arrival rate) at which every objective holds. Probes grow
//! geometrically from `--min` until an objective fails (or `--max`), the bracket is then bisected
//! down to `--resolution`, and the best load is re-run `--confirm` times: it is reported only if
//! it holds every time; a failed confirmation makes it the new upper bound and the search goes on
//! below it. Every probe is a CSV row like a ramp step. Pure: no I/O, tested on its own.

use std::fmt;

use serde::Serialize;

use crate::row::StepRow;

/// Why a probe was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Growing geometrically from `--min` until an objective fails.
    Grow,
    /// Bisecting the bracket between the best pass and the lowest failure.
    Bisect,
    /// Re-running the best load (`--confirm`).
    Confirm,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Grow => "grow",
            Phase::Bisect => "bisect",
            Phase::Confirm => "confirm",
        })
    }
}

/// One probe of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Concurrency or rate probed.
    pub load: f64,
    /// Whether every objective held.
    pub passed: bool,
    /// Why it was run: `grow`, `bisect` or `confirm`.
    pub phase: Phase,
    /// The probe's CSV row.
    pub row: StepRow,
}

/// The search's answer, as `--json` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// Highest load at which every objective held in every run (`None`: even the lowest failed).
    pub capacity: Option<f64>,
    /// `concurrency` or `rps`.
    pub unit: &'static str,
    /// The objectives, as given.
    pub objectives: Vec<String>,
    /// True when the search stopped at `--max` without a failure (the capacity is at least that).
    pub capped_by_max: bool,
    /// Every probe, in order.
    pub probes: Vec<Probe>,
    /// Requests sent by `--preflight-request` (0 when the check only connected).
    pub preflight_requests: u64,
    /// Requests sent during the probes' warm-ups: with the probes' `requests` and the
    /// preflight's, what the target itself counted.
    pub warmup_requests: u64,
}

/// Pure search state: which load to probe next given the outcomes so far.
#[derive(Debug, Clone)]
pub struct Search {
    min: f64,
    max: f64,
    factor: f64,
    resolution: f64,
    integer: bool,
    /// Highest load that passed (and was not refuted by a confirmation).
    pub best: Option<f64>,
    /// Lowest load that failed.
    pub fail: Option<f64>,
    passes: Vec<f64>,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Probe this load (growing or bisecting).
    Probe(f64, Phase),
    /// Confirm the best load.
    Confirm(f64),
    /// Done: the best load (if any).
    Done(Option<f64>),
}

impl Search {
    /// A search over `[min, max]`; `integer` for concurrency.
    pub fn new(min: f64, max: f64, factor: f64, resolution: f64, integer: bool) -> Self {
        Self {
            min,
            max,
            factor,
            resolution,
            integer,
            best: None,
            fail: None,
            passes: Vec::new(),
        }
    }

    fn round(&self, x: f64) -> f64 {
        if self.integer {
            x.round().max(1.0)
        } else {
            x
        }
    }

    /// Records a probe's outcome.
    pub fn record(&mut self, load: f64, passed: bool) {
        if passed {
            self.passes.push(load);
            if self.best.is_none_or(|b| load > b) && self.fail.is_none_or(|f| load < f) {
                self.best = Some(load);
            }
        } else {
            self.fail = Some(self.fail.map_or(load, |f| f.min(load)));
            if self.best.is_some_and(|b| b >= load) {
                // A refuted best: fall back to the highest pass below the failure.
                self.best = self
                    .passes
                    .iter()
                    .copied()
                    .filter(|&p| p < load)
                    .reduce(f64::max);
            }
        }
    }

    /// The next action; `confirmed` says whether the current best already passed its
    /// confirmation runs.
    pub fn next(&self, confirmed: bool) -> Next {
        match (self.best, self.fail) {
            (None, None) => Next::Probe(self.round(self.min), Phase::Grow),
            (None, Some(f)) if f <= self.round(self.min) => Next::Done(None),
            (None, Some(f)) => {
                // Everything probed failed, but the minimum was not probed (after a refuted best).
                let lo = self.round(self.min);
                if f - lo <= self.resolution {
                    Next::Probe(lo, Phase::Bisect)
                } else {
                    Next::Probe(self.round((lo + f) / 2.0), Phase::Bisect)
                }
            }
            (Some(b), None) if b >= self.max => {
                if confirmed {
                    Next::Done(Some(b))
                } else {
                    Next::Confirm(b)
                }
            }
            (Some(b), None) => {
                Next::Probe(self.round((b * self.factor).min(self.max)), Phase::Grow)
            }
            (Some(b), Some(f)) => {
                let mid = self.round((b + f) / 2.0);
                if f - b <= self.resolution || mid <= b || mid >= f {
                    if confirmed {
                        Next::Done(Some(b))
                    } else {
                        Next::Confirm(b)
                    }
                } else {
                    Next::Probe(mid, Phase::Bisect)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the search against a target whose true capacity is `cap`.
    fn converge(cap: f64, min: f64, max: f64, integer: bool) -> (Option<f64>, usize) {
        let mut s = Search::new(min, max, 2.0, 1.0, integer);
        let mut confirmed = false;
        for n in 0..100 {
            match s.next(confirmed) {
                Next::Done(b) => return (b, n),
                Next::Probe(l, _) => {
                    s.record(l, l <= cap);
                    confirmed = false;
                }
                Next::Confirm(l) => {
                    if l <= cap {
                        confirmed = true
                    } else {
                        s.record(l, false)
                    }
                }
            }
        }
        panic!("no convergence");
    }

    #[test]
    fn the_search_lands_within_one_resolution_step_of_the_capacity() {
        for cap in [1.0, 3.0, 7.0, 16.0, 37.0, 100.0] {
            let (found, probes) = converge(cap, 1.0, 1000.0, true);
            let found = found.expect("found");
            assert!(
                found <= cap && cap - found <= 1.0,
                "cap {cap}: found {found}"
            );
            assert!(probes < 25, "cap {cap}: {probes} probes");
        }
    }

    #[test]
    fn a_failing_minimum_means_no_capacity() {
        assert_eq!(converge(0.5, 1.0, 100.0, true).0, None);
    }

    #[test]
    fn a_capacity_above_max_stops_at_max() {
        assert_eq!(converge(500.0, 1.0, 64.0, true).0, Some(64.0));
    }

    #[test]
    fn a_refuted_confirmation_searches_below_it() {
        let mut s = Search::new(1.0, 100.0, 2.0, 1.0, true);
        s.record(1.0, true);
        s.record(2.0, true);
        s.record(4.0, false);
        s.record(3.0, true);
        assert_eq!(s.next(false), Next::Confirm(3.0));
        s.record(3.0, false);
        assert_eq!(s.best, Some(2.0));
        assert_eq!(s.next(false), Next::Confirm(2.0));
    }
}
