//! The search behind `loadgen find-capacity` (run by `commands::find_capacity`): the
//! highest concurrency (or arrival rate) at which every objective holds. Probes grow
//! geometrically from `--min` until an objective fails (or `--max`), the bracket is then bisected
//! down to `--resolution`, and the best load is re-run `--confirm` times: it is reported only if
//! it holds every time; a failed confirmation makes it the new upper bound and the search goes on
//! below it. Every probe is a CSV row like a ramp step. Pure: no I/O, tested on its own.

use std::fmt;

use serde::Serialize;

use crate::arrivals::Arrivals;
use crate::plan::{self, Instance, Load};
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
    /// Why no probe ran, when a signal came before `--start-at`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
}

/// The most probes one search runs: each narrows the bracket or confirms, so a search that has not
/// ended by then is not converging (a guard, never reached by a search within its bounds).
pub const MAX_PROBES: usize = 200;

/// What a probe's load means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Over {
    /// Virtual users (closed loop): loads are whole numbers, at least 1.
    Concurrency,
    /// Arrivals per second (open loop), with the in-flight bound and arrival process of each probe.
    Rate {
        /// `--max-in-flight`, at least 1.
        max_in_flight: u32,
        /// `--arrivals`.
        arrivals: Arrivals,
    },
}

/// The search's settings, validated by [`crate::config::CapacityConfig`]: `0 < min <= max`
/// (`max` within the load's range), `factor > 1`, `resolution > 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Lowest load, probed first (`--min`).
    pub min: f64,
    /// Highest load probed (`--max`).
    pub max: f64,
    /// Growth factor of the geometric phase (`--factor`).
    pub factor: f64,
    /// The bisection stops when the bracket is this narrow (`--resolution`).
    pub resolution: f64,
    /// Runs of the best load that must all hold before it is reported (`--confirm`).
    pub confirm: u32,
    /// Concurrency or rate.
    pub over: Over,
    /// This generator's share of each probe (`--instance`).
    pub instance: Option<Instance>,
}

impl Settings {
    /// The unit of a load: `concurrency` or `rps`.
    pub fn unit(&self) -> &'static str {
        match self.over {
            Over::Concurrency => "concurrency",
            Over::Rate { .. } => "rps",
        }
    }

    /// The step that probes `load` (a load [`Search`] chose: within the validated bounds, whole
    /// for concurrency), this generator's share of it with `--instance`.
    pub fn step(&self, load: f64) -> Load {
        let step = match self.over {
            Over::Concurrency => Load::Closed {
                concurrency: load as u32,
            },
            Over::Rate {
                max_in_flight,
                arrivals,
            } => Load::Open {
                rate: load,
                max_in_flight,
                arrivals,
            },
        };
        match self.instance {
            Some(inst) => plan::share(step, inst),
            None => step,
        }
    }
}

/// Pure search state: which load to probe next given the outcomes so far, confirmation included.
#[derive(Debug, Clone)]
pub struct Search {
    settings: Settings,
    /// Highest load that passed (and was not refuted by a confirmation).
    pub best: Option<f64>,
    /// Lowest load that failed.
    pub fail: Option<f64>,
    passes: Vec<f64>,
    /// Confirmation runs of `best` that held since it became the best.
    confirmed: u32,
    /// Probes recorded so far.
    probes: usize,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Probe this load (growing, bisecting or confirming the best).
    Probe(f64, Phase),
    /// Done: the best load confirmed, or `None` when even the lowest load fails.
    Done(Option<f64>),
    /// [`MAX_PROBES`] probes ran without an answer.
    GaveUp,
}

impl Search {
    /// A search over `[settings.min, settings.max]`.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            best: None,
            fail: None,
            passes: Vec::new(),
            confirmed: 0,
            probes: 0,
        }
    }

    fn round(&self, x: f64) -> f64 {
        match self.settings.over {
            Over::Concurrency => x.round().max(1.0),
            Over::Rate { .. } => x,
        }
    }

    /// Records the outcome of the probe [`Search::next`] asked for. A confirmation that holds
    /// counts towards `--confirm`; one that fails refutes the best, which becomes the new upper
    /// bound, and the search goes on below it.
    pub fn record(&mut self, load: f64, phase: Phase, passed: bool) {
        self.probes += 1;
        if phase == Phase::Confirm && passed {
            self.confirmed += 1;
            return;
        }
        self.confirmed = 0;
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

    /// The next probe, or the answer once the best load held `--confirm` times.
    pub fn next(&self) -> Next {
        if self.probes >= MAX_PROBES {
            return Next::GaveUp;
        }
        let s = &self.settings;
        let confirm = |b: f64| {
            if self.confirmed >= s.confirm {
                Next::Done(Some(b))
            } else {
                Next::Probe(b, Phase::Confirm)
            }
        };
        match (self.best, self.fail) {
            (None, None) => Next::Probe(self.round(s.min), Phase::Grow),
            (None, Some(f)) if f <= self.round(s.min) => Next::Done(None),
            (None, Some(f)) => {
                // Everything probed failed, but the minimum was not probed (after a refuted best).
                let lo = self.round(s.min);
                if f - lo <= s.resolution {
                    Next::Probe(lo, Phase::Bisect)
                } else {
                    Next::Probe(self.round((lo + f) / 2.0), Phase::Bisect)
                }
            }
            (Some(b), None) if b >= s.max => confirm(b),
            (Some(b), None) => Next::Probe(self.round((b * s.factor).min(s.max)), Phase::Grow),
            (Some(b), Some(f)) => {
                let mid = self.round((b + f) / 2.0);
                if f - b <= s.resolution || mid <= b || mid >= f {
                    confirm(b)
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

    fn settings(min: f64, max: f64, confirm: u32) -> Settings {
        Settings {
            min,
            max,
            factor: 2.0,
            resolution: 1.0,
            confirm,
            over: Over::Concurrency,
            instance: None,
        }
    }

    /// Drives the search against a target whose true capacity is `cap`: every probe at or below
    /// it holds. Returns the answer and the probes run.
    fn converge(cap: f64, min: f64, max: f64) -> (Option<f64>, Vec<(f64, Phase)>) {
        let mut s = Search::new(settings(min, max, 2));
        let mut probes = Vec::new();
        loop {
            match s.next() {
                Next::Done(b) => return (b, probes),
                Next::GaveUp => panic!("no convergence after {probes:?}"),
                Next::Probe(l, phase) => {
                    probes.push((l, phase));
                    s.record(l, phase, l <= cap);
                }
            }
        }
    }

    #[test]
    fn the_search_lands_within_one_resolution_step_of_the_capacity() {
        for cap in [1.0, 3.0, 7.0, 16.0, 37.0, 100.0] {
            let (found, probes) = converge(cap, 1.0, 1000.0);
            let found = found.expect("found");
            assert!(
                found <= cap && cap - found <= 1.0,
                "cap {cap}: found {found}"
            );
            assert!(probes.len() < 25, "cap {cap}: {probes:?}");
        }
    }

    #[test]
    fn the_answer_is_confirmed_as_many_times_as_asked_after_the_bracket_closes() {
        let (found, probes) = converge(3.0, 1.0, 100.0);
        assert_eq!(found, Some(3.0));
        let tail: Vec<_> = probes.iter().rev().take(3).rev().copied().collect();
        assert_eq!(
            tail,
            vec![
                (3.0, Phase::Bisect),
                (3.0, Phase::Confirm),
                (3.0, Phase::Confirm)
            ]
        );
        let mut none = Search::new(settings(1.0, 100.0, 0));
        none.record(1.0, Phase::Grow, true);
        none.record(2.0, Phase::Grow, false);
        assert_eq!(none.next(), Next::Done(Some(1.0)), "--confirm 0: no re-run");
    }

    #[test]
    fn a_failing_minimum_means_no_capacity() {
        assert_eq!(converge(0.5, 1.0, 100.0).0, None);
    }

    #[test]
    fn a_capacity_above_max_stops_at_max() {
        assert_eq!(converge(500.0, 1.0, 64.0).0, Some(64.0));
    }

    #[test]
    fn a_refuted_confirmation_searches_below_it() {
        let mut s = Search::new(settings(1.0, 100.0, 2));
        s.record(1.0, Phase::Grow, true);
        s.record(2.0, Phase::Grow, true);
        s.record(4.0, Phase::Grow, false);
        s.record(3.0, Phase::Bisect, true);
        assert_eq!(s.next(), Next::Probe(3.0, Phase::Confirm));
        s.record(3.0, Phase::Confirm, true);
        assert_eq!(s.next(), Next::Probe(3.0, Phase::Confirm));
        s.record(3.0, Phase::Confirm, false);
        assert_eq!(s.best, Some(2.0));
        assert_eq!(
            s.next(),
            Next::Probe(2.0, Phase::Confirm),
            "the confirmations of the refuted best do not count for the next"
        );
        s.record(2.0, Phase::Confirm, true);
        s.record(2.0, Phase::Confirm, true);
        assert_eq!(s.next(), Next::Done(Some(2.0)));
    }

    #[test]
    fn a_search_that_does_not_end_gives_up_after_max_probes() {
        let mut s = Search::new(settings(1.0, 100.0, u32::MAX));
        s.record(100.0, Phase::Grow, true);
        for _ in 1..MAX_PROBES {
            assert_eq!(s.next(), Next::Probe(100.0, Phase::Confirm));
            s.record(100.0, Phase::Confirm, true);
        }
        assert_eq!(s.next(), Next::GaveUp);
    }

    #[test]
    fn a_probe_step_is_this_instances_share() {
        let mut s = settings(1.0, 10.0, 2);
        assert_eq!(s.step(7.0), Load::Closed { concurrency: 7 });
        s.instance = Some(Instance { index: 0, count: 3 });
        assert_eq!(s.step(7.0), Load::Closed { concurrency: 3 });
        s.over = Over::Rate {
            max_in_flight: 5,
            arrivals: Arrivals::default(),
        };
        assert_eq!(
            s.step(30.0),
            Load::Open {
                rate: 10.0,
                max_in_flight: 5,
                arrivals: Arrivals::default()
            }
        );
    }
}
