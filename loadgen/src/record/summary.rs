//! Figures read from a step's merged histograms: the numbers every sink writes and the gate checks.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{new_histogram, OutcomeClass, Recorder, WindowFlow, CLASSES};
use crate::plan::Load;

/// Percentiles, mean, standard deviation and max of one histogram, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Number of values.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Standard deviation.
    pub stdev_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest value.
    pub max_ms: f64,
}

fn ms(us: f64) -> f64 {
    (us / 1000.0 * 1000.0).round() / 1000.0
}

impl LatencySummary {
    /// Reads the summary from a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let q = |p: f64| ms(h.value_at_quantile(p) as f64);
        Self {
            count: h.len(),
            mean_ms: ms(h.mean()),
            stdev_ms: ms(h.stdev()),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: ms(h.max() as f64),
        }
    }
}

/// `Retry-After` values received with 429/503 responses.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct RetryAfterSummary {
    /// Responses that carried a parsable value.
    pub count: u64,
    /// Smallest value, seconds.
    pub min_s: f64,
    /// Largest value, seconds.
    pub max_s: f64,
    /// Sum, seconds (mean = sum / count).
    pub sum_s: f64,
}

impl RetryAfterSummary {
    /// Adds one value in seconds.
    pub fn add(&mut self, s: f64) {
        if self.count == 0 || s < self.min_s {
            self.min_s = s;
        }
        if s > self.max_s {
            self.max_s = s;
        }
        self.count += 1;
        self.sum_s += s;
    }

    /// Adds another summary.
    pub fn merge(&mut self, o: &RetryAfterSummary) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 || o.min_s < self.min_s {
            self.min_s = o.min_s;
        }
        self.max_s = self.max_s.max(o.max_s);
        self.count += o.count;
        self.sum_s += o.sum_s;
    }

    /// Mean value, seconds (0 when none).
    pub fn mean_s(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_s / self.count as f64
        }
    }
}

/// Counts and latency of one request name within a step.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NameResult {
    /// Attempts.
    pub requests: u64,
    /// Attempts per outcome class name.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Latency of attempts counted in percentiles.
    #[serde(flatten)]
    pub latency: LatencySummary,
}

/// One outcome class's histograms in a step, for the HdrHistogram log.
#[derive(Debug, Clone)]
pub struct ClassHistograms {
    /// The class.
    pub class: OutcomeClass,
    /// Latency from the intended send (closed loop: from the send).
    pub corrected: Histogram<u64>,
    /// Open loop: latency from the actual send (`None` in closed loop, where it is the same).
    pub uncorrected: Option<Histogram<u64>>,
}

/// The result of one step: the CSV row, the JSON object, the gate's input.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// 1-based step number.
    pub step: usize,
    /// Virtual users (closed loop) or the in-flight cap (open loop).
    pub concurrency: Option<u32>,
    /// Arrival rate asked for (open loop only).
    pub target_rps: Option<f64>,
    /// The arrival process of an open-loop step (`--arrivals`); `None` in closed loop.
    pub arrivals: Option<crate::arrivals::Arrivals>,
    /// Measured seconds (warmup excluded; shorter when cut by Ctrl-C).
    pub duration_s: f64,
    /// Requests sent in the step, whatever their outcome.
    pub requests: u64,
    /// 2xx.
    pub ok: u64,
    /// 429.
    pub rejected_429: u64,
    /// 503.
    pub rejected_503: u64,
    /// Other 4xx.
    pub other_4xx: u64,
    /// Other 5xx.
    pub other_5xx: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Failed connects.
    pub connect_errors: u64,
    /// Connections failed mid-exchange.
    pub io_errors: u64,
    /// A final 1xx, a 3xx or an unknown status.
    pub other_status: u64,
    /// ok / (requests + unsent), 0..1.
    pub success_rate: f64,
    /// Requests per second. Closed loop: the time-averaged requests in flight during the
    /// measured window over the mean latency of the step's requests (Little's law; see
    /// [`WindowFlow`]), which does not alias with the latency; open loop (which sets its own
    /// send times), a merge of logs without the window's flow, or an interrupted step:
    /// requests / duration_s.
    pub throughput_rps: f64,
    /// 2xx per second: `throughput_rps` × the 2xx share of the step's resolved requests
    /// (ok / duration_s where throughput is requests / duration_s).
    pub goodput_rps: f64,
    /// Latency of 2xx responses: the latency users were served (from the intended send time in
    /// open loop).
    #[serde(flatten)]
    pub latency: LatencySummary,
    /// Latency of every answered request (any status).
    pub all_latency: LatencySummary,
    /// Latency of 429 and 503 answers: how fast the target sheds.
    pub rejected_latency: LatencySummary,
    /// Time to open a connection (TCP, plus TLS), when any was opened.
    pub connect_latency: Option<LatencySummary>,
    /// Open loop: latency from the actual send (not corrected for coordinated omission).
    pub uncorrected: Option<LatencySummary>,
    /// Open loop: sends that waited for a free connection.
    pub late_sends: u64,
    /// Connections opened during the step.
    pub connections_opened: u64,
    /// Requests of the step still unresolved when an interruption's grace ended (counted in
    /// `requests`, as no outcome class, and not as failures: out of `success_rate`).
    pub in_flight_at_end: u64,
    /// Open loop: sends due in the step that never went out.
    pub unsent: u64,
    /// Idempotent requests resent once after a reset on a reused connection.
    pub resent: u64,
    /// Retry-After values received.
    pub retry_after: RetryAfterSummary,
    /// Answers per HTTP status outside 2xx (empty in a merge of instances' logs).
    pub error_statuses: BTreeMap<u16, u64>,
    /// Server-Timing durations by metric name.
    pub server_timing: BTreeMap<String, LatencySummary>,
    /// Per request name.
    pub by_name: BTreeMap<String, NameResult>,
    /// Latency per outcome class.
    pub by_class: BTreeMap<&'static str, LatencySummary>,
    /// True when Ctrl-C cut the step short.
    pub interrupted: bool,
    /// Time-averaged requests in flight during the measured window (any step's requests).
    pub in_flight_mean: Option<f64>,
    /// Mean think time drawn after the step's requests, ms (`None` without --think-time).
    pub think_time_mean_ms: Option<f64>,
    /// Little's law on the step, in percent: closed loop (throughput × (mean latency + mean
    /// pause) − users) / users; open loop (throughput × mean latency − in_flight_mean) /
    /// in_flight_mean. `None` when the step was cut or nothing resolved.
    pub littles_law_error_pct: Option<f64>,
    /// Per request name, when the plan has more than one: each name's own result (its
    /// throughput and goodput are its share of the step's; the step-wide counters — connections,
    /// late and unsent sends, requests cut — stay on the step). The CSV writes them as rows with
    /// the name, the gate checks `NAME:` objectives on them.
    #[serde(skip)]
    pub per_name: Vec<(String, StepResult)>,
    /// Open loop: seconds by which sending for the step ran past its window, when the generator
    /// or `--max-in-flight` could not keep up with the rate (late sends waiting for a permit up to
    /// `--timeout`). The step's `duration_s` then runs to the last send, so its rates divide by
    /// the time the requests really took. `None`: sending ended within the window.
    pub overrun_s: Option<f64>,
    /// `--scrape`: the target's series over the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape: Option<BTreeMap<String, crate::scrape::SeriesSummary>>,
    /// What the measured window saw of the requests in flight (for the HdrHistogram log).
    #[serde(skip)]
    pub flow: Option<WindowFlow>,
    /// The merged latency histogram of 2xx responses.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
    /// Every class's histograms (for the HdrHistogram log and `merge`).
    #[serde(skip)]
    pub classes: Vec<ClassHistograms>,
    /// Wall-clock time at which the step's measured window began.
    #[serde(skip)]
    pub started_at: Option<std::time::SystemTime>,
}

impl StepResult {
    /// Reads a step's figures from its merged recorder.
    pub fn from_recorder(
        step: usize,
        load: Load,
        duration_s: f64,
        rec: &Recorder,
        names: &[String],
        interrupted: bool,
    ) -> Self {
        let mut counts = [0u64; CLASSES];
        let mut total = new_histogram();
        let mut all = new_histogram();
        let mut rejected = new_histogram();
        let mut uncorrected: Option<Histogram<u64>> = None;
        let mut class_hists: Vec<Option<Histogram<u64>>> = vec![None; CLASSES];
        let mut class_uncorrected: Vec<Option<Histogram<u64>>> = vec![None; CLASSES];
        let mut by_name = BTreeMap::new();
        for (n, name) in rec.names.iter().zip(names) {
            let mut name_hist = new_histogram();
            for c in OutcomeClass::ALL {
                let i = c.index();
                counts[i] += n.counts[i];
                if let Some(h) = &n.by_class[i] {
                    let _ = class_hists[i].get_or_insert_with(new_histogram).add(h);
                    if c == OutcomeClass::Ok {
                        let _ = name_hist.add(h);
                    }
                    if c.answered() {
                        let _ = all.add(h);
                    }
                    if c.shed() {
                        let _ = rejected.add(h);
                    }
                }
            }
            for c in OutcomeClass::ALL {
                if let Some(u) = &n.uncorrected[c.index()] {
                    let _ = class_uncorrected[c.index()]
                        .get_or_insert_with(new_histogram)
                        .add(u);
                    if c == OutcomeClass::Ok {
                        let _ = uncorrected.get_or_insert_with(new_histogram).add(u);
                    }
                }
            }
            let _ = total.add(&name_hist);
            let outcomes = OutcomeClass::ALL
                .iter()
                .map(|c| (c.name(), n.counts[c.index()]))
                .collect();
            by_name.insert(
                name.clone(),
                NameResult {
                    requests: n.counts.iter().sum(),
                    outcomes,
                    latency: LatencySummary::from_histogram(&name_hist),
                },
            );
        }
        let requests: u64 = counts.iter().sum::<u64>() + rec.in_flight_at_end;
        let ok = counts[OutcomeClass::Ok.index()];
        // Abandoned at an interruption: neither a success nor a failure.
        let attempts = requests - rec.in_flight_at_end + rec.unsent;
        let per_s = |v: f64| {
            if duration_s > 0.0 {
                v / duration_s
            } else {
                0.0
            }
        };
        let closed = matches!(load, Load::Closed { .. });
        // The window's flow, when it was tracked and the step ran whole.
        let window = rec.flow.filter(|_| !interrupted);
        let resolved: u64 = counts.iter().sum();
        // Little's law takes the time from the actual send: the uncorrected figure in open loop.
        let sent_latency = if closed {
            &class_hists
        } else {
            &class_uncorrected
        };
        let latency_sum_s: f64 = sent_latency
            .iter()
            .flatten()
            .map(|h| h.mean() * h.len() as f64)
            .sum::<f64>()
            / 1e6;
        let mean_latency_s = (resolved > 0).then(|| latency_sum_s / resolved as f64);
        let in_flight_mean = window.map(|f| per_s(f.busy_s));
        let (throughput_rps, goodput_rps) = match (window, mean_latency_s) {
            (Some(f), Some(r)) if closed && r > 0.0 => {
                let x = per_s(f.busy_s) / r;
                (x, x * ok as f64 / resolved as f64)
            }
            _ => (per_s(requests as f64), per_s(ok as f64)),
        };
        // Closed loop: do the users account for the flow (users = X × (R + Z))? Open loop: does
        // the arrival rate × latency give the requests in flight (L = λ × R)?
        let littles_law_error_pct = match (window, mean_latency_s) {
            (Some(f), Some(r)) => {
                let (implied, actual) = match load {
                    Load::Closed { concurrency } => (
                        throughput_rps * (r + f.pause_s / resolved as f64),
                        f64::from(concurrency),
                    ),
                    Load::Open { .. } => (per_s(resolved as f64) * r, per_s(f.busy_s)),
                };
                (actual > 0.0).then(|| (implied - actual) / actual * 100.0)
            }
            _ => None,
        };
        let (concurrency, target_rps, arrivals) = match load {
            Load::Closed { concurrency } => (Some(concurrency), None, None),
            Load::Open {
                rate,
                max_in_flight,
                arrivals,
            } => (Some(max_in_flight), Some(rate), Some(arrivals)),
        };
        let by_class = OutcomeClass::ALL
            .iter()
            .filter_map(|c| {
                class_hists[c.index()]
                    .as_ref()
                    .map(|h| (c.name(), LatencySummary::from_histogram(h)))
            })
            .collect();
        let mut result = StepResult {
            step,
            concurrency,
            target_rps,
            arrivals,
            duration_s,
            requests,
            ok,
            rejected_429: counts[OutcomeClass::Rejected429.index()],
            rejected_503: counts[OutcomeClass::Rejected503.index()],
            other_4xx: counts[OutcomeClass::Other4xx.index()],
            other_5xx: counts[OutcomeClass::Other5xx.index()],
            timeouts: counts[OutcomeClass::Timeout.index()],
            connect_errors: counts[OutcomeClass::ConnectError.index()],
            io_errors: counts[OutcomeClass::IoError.index()],
            other_status: counts[OutcomeClass::OtherStatus.index()],
            success_rate: if attempts > 0 {
                ok as f64 / attempts as f64
            } else {
                0.0
            },
            throughput_rps,
            goodput_rps,
            latency: LatencySummary::from_histogram(&total),
            all_latency: LatencySummary::from_histogram(&all),
            rejected_latency: LatencySummary::from_histogram(&rejected),
            connect_latency: rec.connect.as_ref().map(LatencySummary::from_histogram),
            uncorrected: uncorrected.as_ref().map(LatencySummary::from_histogram),
            late_sends: rec.late_sends,
            connections_opened: rec.connections_opened,
            in_flight_at_end: rec.in_flight_at_end,
            unsent: rec.unsent,
            resent: rec.resent,
            retry_after: rec.retry_after.clone(),
            error_statuses: rec.error_statuses.clone(),
            server_timing: rec
                .server_timing
                .iter()
                .map(|(n, h)| (n.clone(), LatencySummary::from_histogram(h)))
                .collect(),
            by_name,
            by_class,
            interrupted,
            in_flight_mean,
            think_time_mean_ms: rec
                .flow
                .filter(|f| f.think_s > 0.0 && resolved > 0)
                .map(|f| f.think_s / resolved as f64 * 1000.0),
            littles_law_error_pct,
            overrun_s: None,
            flow: rec.flow,
            per_name: Vec::new(),
            scrape: None,
            histogram: total,
            classes: OutcomeClass::ALL
                .iter()
                .filter_map(|&c| {
                    class_hists[c.index()].take().map(|h| ClassHistograms {
                        class: c,
                        corrected: h,
                        uncorrected: class_uncorrected[c.index()].take(),
                    })
                })
                .collect(),
            started_at: None,
        };
        if rec.names.len() > 1 {
            result.per_name = result.split_by_name(load, duration_s, rec, names, interrupted);
        }
        result
    }

    /// Each name's own result: its histograms and counts alone, its throughput and goodput the
    /// step's times its share of the step's resolved requests (so the names' rows add up to the
    /// step's), the step-wide counters left on the step.
    fn split_by_name(
        &self,
        load: Load,
        duration_s: f64,
        rec: &Recorder,
        names: &[String],
        interrupted: bool,
    ) -> Vec<(String, StepResult)> {
        let resolved_all: u64 = rec.names.iter().map(|n| n.counts.iter().sum::<u64>()).sum();
        rec.names
            .iter()
            .zip(names)
            .map(|(n, name)| {
                let one = Recorder {
                    names: vec![n.clone()],
                    high_us: rec.high_us,
                    ..Recorder::default()
                };
                let mut r = StepResult::from_recorder(
                    self.step,
                    load,
                    duration_s,
                    &one,
                    std::slice::from_ref(name),
                    interrupted,
                );
                let resolved: u64 = n.counts.iter().sum();
                if resolved_all > 0 {
                    let share = resolved as f64 / resolved_all as f64;
                    r.throughput_rps = self.throughput_rps * share;
                    r.goodput_rps = if resolved > 0 {
                        r.throughput_rps * r.ok as f64 / resolved as f64
                    } else {
                        0.0
                    };
                }
                r.started_at = self.started_at;
                (name.clone(), r)
            })
            .collect()
    }

    /// Attempts (sent or due but unsent) that did not end in a 2xx; requests abandoned at an
    /// interruption (`in_flight_at_end`) are not errors.
    pub fn errors(&self) -> u64 {
        (self.requests + self.unsent).saturating_sub(self.ok + self.in_flight_at_end)
    }
}
