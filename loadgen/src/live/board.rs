//! What the live view knows of the run, fed by the session: the per-second intervals the step
//! collectors already merge for `--timeseries`, each step's start and final result, and a
//! [`Probe`] read once a second for the requests in flight. Pure state: the dashboard and the
//! Prometheus exposition only read it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tokio::time::Instant;

use crate::engine::Probe;
use crate::plan::Load;
use crate::record::{Interval, LatencySummary, OutcomeClass, StepResult, CLASSES};
use crate::slo::{Metric, Objective};

/// One second of one step's measured part, as the dashboard draws it (the `--timeseries` row of
/// the same second once every request of it is in).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// 1-based step.
    pub step: usize,
    /// Seconds since the step's measured part began.
    pub second: u64,
    /// Seconds since the run's first step began: the charts' x axis.
    pub t: f64,
    /// Attempts answered (or failed) in that second.
    pub requests: u64,
    /// 2xx.
    pub ok: u64,
    /// 429 answers.
    pub rejected_429: u64,
    /// 503 answers.
    pub rejected_503: u64,
    /// Every other non-2xx outcome (other statuses, timeouts, connection failures).
    pub errors: u64,
    /// Median latency of the second's 2xx, ms.
    pub p50_ms: f64,
    /// p99 latency of the second's 2xx, ms.
    pub p99_ms: f64,
}

/// An objective as the page draws it: on which chart, at what threshold in the chart's unit.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectiveView {
    /// The `--slo` text.
    pub text: String,
    /// `latency` (ms), `throughput` (per second), `success` (percent), or `none` (a figure
    /// no chart shows: still judged per step in the table).
    pub chart: &'static str,
    /// The threshold in the chart's unit.
    pub threshold: f64,
}

impl ObjectiveView {
    /// Places `o` on the chart that shows its figure.
    pub fn of(o: &Objective) -> Self {
        let (chart, threshold) = match o.metric {
            Metric::Latency(_) => ("latency", o.threshold),
            Metric::Goodput | Metric::Throughput => ("throughput", o.threshold),
            Metric::Success => ("success", o.threshold * 100.0),
            // Errors ≤ x% is success ≥ (100 - x)%: drawn on the same chart.
            Metric::Errors => ("success", 100.0 - o.threshold * 100.0),
            Metric::Column(_) => ("none", o.threshold),
        };
        Self {
            text: o.text.clone(),
            chart,
            threshold,
        }
    }
}

/// A finished step, as the page's table and the objectives' marks show it.
#[derive(Debug, Clone, Serialize)]
pub struct StepRowView {
    /// 1-based step.
    pub step: usize,
    /// `concurrency 10` or `rate 20/s`.
    pub level: String,
    /// When the step's measured part ended, seconds since the run began (the marks' x).
    pub t_end: f64,
    /// Requests sent.
    pub requests: u64,
    /// ok / requests, percent.
    pub success_pct: f64,
    /// Requests per second.
    pub throughput_rps: f64,
    /// 2xx per second.
    pub goodput_rps: f64,
    /// Median of 2xx, ms.
    pub p50_ms: f64,
    /// p99 of 2xx, ms.
    pub p99_ms: f64,
    /// 429 answers.
    pub rejected_429: u64,
    /// 503 answers.
    pub rejected_503: u64,
    /// Other non-2xx outcomes.
    pub errors: u64,
    /// Cut by a stop.
    pub interrupted: bool,
    /// Per objective (in `--slo` order): whether it held, and the measured value.
    pub verdicts: Vec<(bool, String)>,
}

/// The step sending now.
#[derive(Debug, Clone, Copy)]
pub struct Current {
    /// 1-based step.
    pub step: usize,
    /// Its load.
    pub load: Load,
}

/// The live state of one run.
pub struct Board {
    /// Request names, in plan order.
    pub names: Vec<String>,
    /// The objectives, as drawn.
    pub objectives: Vec<Objective>,
    /// Steps the run plans (0: an open-ended search).
    pub steps_total: usize,
    origin: Instant,
    /// The step sending now.
    pub current: Option<Current>,
    /// When each step's measured part began, seconds since `origin`.
    measure_start: BTreeMap<usize, f64>,
    seconds: BTreeMap<(usize, u64), Interval>,
    dirty: BTreeSet<(usize, u64)>,
    /// The best known attempts per step × name × class: a live read until the step's result.
    counts: BTreeMap<usize, Vec<[u64; CLASSES]>>,
    finished: BTreeSet<usize>,
    /// Finished steps, in order.
    pub rows: Vec<StepRowView>,
    rows_sent: usize,
    probe: Option<(Probe, usize)>,
    /// Requests in flight at the last read.
    pub in_flight: u64,
    /// Late sends at the last read (this engine run's, plus those of runs before it).
    pub late_sends: u64,
    late_before: u64,
}

impl Board {
    /// An empty board for a run of `names` requests judged by `objectives`; `origin` is the
    /// instant the charts count seconds from.
    pub fn new(
        names: Vec<String>,
        objectives: Vec<Objective>,
        steps_total: usize,
        origin: Instant,
    ) -> Self {
        Self {
            names,
            objectives,
            steps_total,
            origin,
            current: None,
            measure_start: BTreeMap::new(),
            seconds: BTreeMap::new(),
            dirty: BTreeSet::new(),
            counts: BTreeMap::new(),
            finished: BTreeSet::new(),
            rows: Vec::new(),
            rows_sent: 0,
            probe: None,
            in_flight: 0,
            late_sends: 0,
            late_before: 0,
        }
    }

    fn secs(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.origin).as_secs_f64()
    }

    /// A new engine run starts (a ramp, or one probe of a search) whose steps are numbered
    /// after `step_offset`; `measure_starts` are its steps' measured starts.
    pub fn attach(&mut self, probe: Probe, step_offset: usize, measure_starts: &[Instant]) {
        if let Some((old, _)) = self.probe.take() {
            self.late_before += old.late_sends();
        }
        for (i, &m) in measure_starts.iter().enumerate() {
            let s = self.secs(m);
            self.measure_start.insert(step_offset + i + 1, s);
        }
        self.probe = Some((probe, step_offset));
    }

    /// Step `step` (1-based) began sending at `load`.
    pub fn step_started(&mut self, step: usize, load: Load) {
        self.current = Some(Current { step, load });
    }

    /// A part of one second of step `step` (what one shard recorded, or a late remainder).
    pub fn interval(&mut self, step: usize, iv: &Interval) {
        self.seconds
            .entry((step, iv.second))
            .or_insert_with(|| Interval::new(iv.second))
            .merge(iv);
        self.dirty.insert((step, iv.second));
    }

    /// Step `r.step` is final: its exact counts replace the live reads.
    pub fn step_finished(&mut self, r: &StepResult) {
        let counts = self
            .names
            .iter()
            .map(|n| {
                let mut c = [0u64; CLASSES];
                if let Some(nr) = r.by_name.get(n) {
                    for class in OutcomeClass::ALL {
                        c[class.index()] = nr.outcomes.get(class.name()).copied().unwrap_or(0);
                    }
                }
                c
            })
            .collect();
        self.counts.insert(r.step, counts);
        self.finished.insert(r.step);
        let t_end = self.measure_start.get(&r.step).copied().unwrap_or(0.0) + r.duration_s;
        let verdicts = self
            .objectives
            .iter()
            .map(|o| crate::gate::check(o, r))
            .collect();
        self.rows.push(StepRowView {
            step: r.step,
            level: crate::gate::level_text(r),
            t_end,
            requests: r.requests,
            success_pct: r.success_rate * 100.0,
            throughput_rps: r.throughput_rps,
            goodput_rps: r.goodput_rps,
            p50_ms: r.latency.p50_ms,
            p99_ms: r.latency.p99_ms,
            rejected_429: r.rejected_429,
            rejected_503: r.rejected_503,
            errors: r.errors() - r.rejected_429 - r.rejected_503,
            interrupted: r.interrupted,
            verdicts,
        });
    }

    /// Reads the probe: requests in flight, late sends, and the running steps' counts so far
    /// (a count never goes down: a read racing the step's end keeps the higher value).
    pub fn refresh(&mut self) {
        let Some((probe, offset)) = &self.probe else {
            return;
        };
        self.in_flight = probe.in_flight();
        self.late_sends = self.late_before + probe.late_sends();
        for i in 0..probe.steps() {
            let step = offset + i + 1;
            if self.finished.contains(&step) {
                continue;
            }
            let now = probe.counts(i);
            let best = self
                .counts
                .entry(step)
                .or_insert_with(|| vec![[0; CLASSES]; now.len()]);
            for (b, n) in best.iter_mut().zip(&now) {
                for (x, y) in b.iter_mut().zip(n) {
                    *x = (*x).max(*y);
                }
            }
        }
    }

    /// Attempts per request name and class over the run so far.
    pub fn totals(&self) -> Vec<[u64; CLASSES]> {
        let mut out = vec![[0u64; CLASSES]; self.names.len()];
        for step in self.counts.values() {
            for (o, s) in out.iter_mut().zip(step) {
                for (a, b) in o.iter_mut().zip(s) {
                    *a += b;
                }
            }
        }
        out
    }

    /// The seconds changed since the last call, as points (a late part of a second sends the
    /// second again, whole).
    pub fn take_dirty(&mut self) -> Vec<Point> {
        let keys: Vec<_> = std::mem::take(&mut self.dirty).into_iter().collect();
        keys.into_iter().filter_map(|k| self.point(k)).collect()
    }

    /// Every second so far, as points.
    pub fn all_points(&self) -> Vec<Point> {
        self.seconds.keys().filter_map(|&k| self.point(k)).collect()
    }

    fn point(&self, (step, second): (usize, u64)) -> Option<Point> {
        let iv = self.seconds.get(&(step, second))?;
        let c = |k: OutcomeClass| iv.counts[k.index()];
        let l = LatencySummary::from_histogram(&iv.latency);
        let ok = c(OutcomeClass::Ok);
        let (r429, r503) = (c(OutcomeClass::Rejected429), c(OutcomeClass::Rejected503));
        Some(Point {
            step,
            second,
            t: self.measure_start.get(&step).copied().unwrap_or(0.0) + second as f64,
            requests: iv.total(),
            ok,
            rejected_429: r429,
            rejected_503: r503,
            errors: iv.total() - ok - r429 - r503,
            p50_ms: l.p50_ms,
            p99_ms: l.p99_ms,
        })
    }

    /// Steps finished since the last call.
    pub fn take_new_rows(&mut self) -> Vec<StepRowView> {
        let new = self.rows[self.rows_sent..].to_vec();
        self.rows_sent = self.rows.len();
        new
    }

    /// Seconds since the charts' origin.
    pub fn now(&self) -> f64 {
        self.secs(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(second: u64, ok: u64, r503: u64, us: u64) -> Interval {
        // As the workers record: fixed-range histograms (1 µs to 60 s).
        let mut iv = Interval::bounded(second, 60_000_000);
        for _ in 0..ok {
            iv.record(OutcomeClass::Ok, us);
        }
        for _ in 0..r503 {
            iv.record(OutcomeClass::Rejected503, 10);
        }
        iv
    }

    #[tokio::test(start_paused = true)]
    async fn parts_of_a_second_merge_and_a_late_part_sends_the_second_again() {
        let origin = Instant::now();
        let mut b = Board::new(vec!["a".into()], vec![], 2, origin);
        b.measure_start.insert(1, 2.0);
        b.interval(1, &iv(0, 3, 1, 100_000));
        b.interval(1, &iv(0, 1, 0, 300_000));
        let first = b.take_dirty();
        assert_eq!(first.len(), 1);
        let p = &first[0];
        assert_eq!((p.requests, p.ok, p.rejected_503, p.errors), (5, 4, 1, 0));
        assert_eq!(p.t, 2.0);
        assert!((p.p50_ms - 100.0).abs() < 1.0, "{}", p.p50_ms);
        assert!(b.take_dirty().is_empty(), "nothing new");
        b.interval(1, &iv(0, 0, 2, 0));
        let again = b.take_dirty();
        assert_eq!(again[0].requests, 7, "the whole second, not the late part");
        assert_eq!(b.all_points(), again);
    }

    #[test]
    fn objectives_land_on_the_chart_of_their_figure_in_its_unit() {
        let o = |s: &str| ObjectiveView::of(&s.parse::<Objective>().expect("valid"));
        assert_eq!(o("p99<2s").chart, "latency");
        assert_eq!(o("p99<2s").threshold, 2000.0);
        assert_eq!(o("success>=99%").chart, "success");
        assert!((o("errors<=2%").threshold - 98.0).abs() < 1e-9);
        assert!((o("success>=99%").threshold - 99.0).abs() < 1e-9);
        assert_eq!(o("goodput>=30/s").chart, "throughput");
    }
}
