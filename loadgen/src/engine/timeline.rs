//! When each step sends: consecutive windows of warm-up plus measured time on one clock, fixed
//! when the run starts. Virtual users and the pacer read the phase of the run from here, so a
//! request belongs to the step in which it was (intended to be) sent, whenever it resolves.

use std::time::Duration;

use tokio::time::Instant;

use crate::plan::Load;

/// The sending window of one step.
#[derive(Debug, Clone, Copy)]
pub struct StepWindow {
    /// The step's load.
    pub load: Load,
    /// Warm-up begins.
    pub start: Instant,
    /// Measured part begins: requests sent from here on belong to the step.
    pub measure_start: Instant,
    /// Sending for this step ends (the next step's window begins).
    pub end: Instant,
}

/// Where a send time falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Step `index` (0-based) is sending; `measured` is false during its warm-up.
    Step {
        /// 0-based step index.
        index: usize,
        /// Past the warm-up.
        measured: bool,
    },
    /// Every step has ended.
    Over,
}

impl Phase {
    /// The 0-based step, or `None` when every step has ended.
    pub fn index(self) -> Option<usize> {
        match self {
            Phase::Step { index, .. } => Some(index),
            Phase::Over => None,
        }
    }
}

/// The run's step windows, back to back.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// One window per step, in order.
    pub windows: Vec<StepWindow>,
}

impl Timeline {
    /// Lays `steps` out from `start`, each `warmup + duration` long.
    pub fn new(start: Instant, steps: &[Load], warmup: Duration, duration: Duration) -> Self {
        let mut t = start;
        let windows = steps
            .iter()
            .map(|&load| {
                let w = StepWindow {
                    load,
                    start: t,
                    measure_start: t + warmup,
                    end: t + warmup + duration,
                };
                t = w.end;
                w
            })
            .collect();
        Self { windows }
    }

    /// The end of the last step.
    pub fn end(&self) -> Instant {
        self.windows
            .last()
            .map(|w| w.end)
            .unwrap_or_else(Instant::now)
    }

    /// The phase at `t` (before the first step counts as its warm-up).
    pub fn phase(&self, t: Instant) -> Phase {
        let i = self.windows.partition_point(|w| w.end <= t);
        match self.windows.get(i) {
            Some(w) => Phase::Step {
                index: i,
                measured: t >= w.measure_start,
            },
            None => Phase::Over,
        }
    }

    /// Closed loop: the start of the first window at or after `t` in which virtual user `id`
    /// is active (its id below the step's concurrency), or `None` when it never is again.
    pub fn next_active(&self, id: u32, t: Instant) -> Option<Instant> {
        self.windows
            .iter()
            .filter(|w| w.end > t)
            .find(|w| matches!(w.load, Load::Closed { concurrency } if id < concurrency))
            .map(|w| w.start.max(t))
    }

    /// Each step whose measured part overlaps `from..to`, with the overlap: what a request (or a
    /// user's cycle) spanning that interval contributes to the steps it was in flight during,
    /// whichever step sent it.
    pub fn measured_overlaps(
        &self,
        from: Instant,
        to: Instant,
    ) -> impl Iterator<Item = (usize, Duration)> + '_ {
        let first = self.windows.partition_point(|w| w.end <= from);
        self.windows[first..]
            .iter()
            .enumerate()
            .take_while(move |(_, w)| w.measure_start < to)
            .filter_map(move |(k, w)| {
                let overlap = to
                    .min(w.end)
                    .saturating_duration_since(from.max(w.measure_start));
                (!overlap.is_zero()).then_some((first + k, overlap))
            })
    }

    /// `to - from` when `from..to` lies inside step `index`'s measured part, the one window it
    /// then overlaps (the windows are back to back): a request answered in the step that sent
    /// it, the usual case, skips the search of [`Self::measured_overlaps`] and its arithmetic.
    pub fn inside_measured(&self, index: usize, from: Instant, to: Instant) -> Option<Duration> {
        let w = self.windows.get(index)?;
        (w.measure_start <= from && to <= w.end).then(|| to.saturating_duration_since(from))
    }

    /// Closed loop: the most virtual users any step runs.
    pub fn max_concurrency(&self) -> u32 {
        self.windows
            .iter()
            .map(|w| match w.load {
                Load::Closed { concurrency } => concurrency,
                Load::Open { .. } => 0,
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(c: u32) -> Load {
        Load::Closed { concurrency: c }
    }

    #[test]
    fn inside_measured_is_the_only_overlap_whenever_it_answers() {
        let t0 = Instant::now();
        let loads = [closed(1); 3];
        let tl = Timeline::new(t0, &loads, Duration::from_secs(2), Duration::from_secs(8));
        let at = |q: u64| t0 + Duration::from_millis(250 * q);
        let mut inside = 0;
        // Every interval on a 250 ms grid over the three steps and past their end.
        for a in 0..130 {
            for b in a..130 {
                let all: Vec<_> = tl.measured_overlaps(at(a), at(b)).collect();
                for index in 0..3 {
                    if let Some(d) = tl.inside_measured(index, at(a), at(b)) {
                        inside += 1;
                        let expected = if d.is_zero() {
                            vec![]
                        } else {
                            vec![(index, d)]
                        };
                        assert_eq!(all, expected, "{a}..{b} in step {index}");
                    }
                }
            }
        }
        assert!(
            inside > 3 * 500,
            "the grid holds intervals inside each step: {inside}"
        );
        assert_eq!(
            tl.inside_measured(0, at(4), at(9)),
            None,
            "starts in the warm-up"
        );
        assert_eq!(
            tl.inside_measured(0, at(30), at(41)),
            None,
            "ends in the next step"
        );
        assert_eq!(tl.inside_measured(3, at(30), at(31)), None, "no such step");
    }

    #[tokio::test(start_paused = true)]
    async fn phases_follow_the_windows_back_to_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let tl = Timeline::new(t0, &[closed(1), closed(3)], s(2), s(10));
        assert_eq!(
            tl.phase(t0),
            Phase::Step {
                index: 0,
                measured: false
            }
        );
        assert_eq!(
            tl.phase(t0 + s(2)),
            Phase::Step {
                index: 0,
                measured: true
            }
        );
        assert_eq!(
            tl.phase(t0 + s(12)),
            Phase::Step {
                index: 1,
                measured: false
            }
        );
        assert_eq!(tl.phase(t0 + s(24)), Phase::Over);
        assert_eq!(tl.end(), t0 + s(24));
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_contributes_its_overlap_with_each_measured_part_it_spans() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // Windows: [0, 2) warm-up, [2, 10) measured; [10, 12) warm-up, [12, 20) measured.
        let tl = Timeline::new(t0, &[closed(1), closed(2)], s(2), s(8));
        let o = |a: Duration, b: Duration| tl.measured_overlaps(t0 + a, t0 + b).collect::<Vec<_>>();
        assert_eq!(o(s(0), s(1)), vec![], "inside a warm-up");
        assert_eq!(o(ms(1500), ms(2500)), vec![(0, ms(500))]);
        assert_eq!(
            o(s(9), s(13)),
            vec![(0, s(1)), (1, s(1))],
            "across a boundary"
        );
        assert_eq!(o(s(1), s(25)), vec![(0, s(8)), (1, s(8))], "past the end");
        assert_eq!(o(s(21), s(25)), vec![], "after the run");
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_above_a_steps_concurrency_waits_for_the_next_step_that_needs_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let tl = Timeline::new(t0, &[closed(3), closed(1), closed(2)], s(0), s(10));
        assert_eq!(tl.next_active(2, t0), Some(t0));
        assert_eq!(tl.next_active(1, t0 + s(11)), Some(t0 + s(20)));
        assert_eq!(tl.next_active(2, t0 + s(11)), None);
        assert_eq!(tl.max_concurrency(), 3);
    }
}
