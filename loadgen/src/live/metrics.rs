//! `--metrics-addr`: loadgen's own series in the Prometheus exposition format, with the
//! `metrics` facade and `metrics-exporter-prometheus` (the server's exporter) on a recorder of
//! the run's own, never installed globally. Nothing here runs per request: the counters are set
//! from the [`Board`] once a second and at each scrape, the latency histogram from the
//! collectors' per-second intervals.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use super::board::Board;
use crate::plan::Load;
use crate::record::{Interval, OutcomeClass};

/// Buckets of `loadgen_request_duration_seconds`: 5 ms to 60 s, covering a cached answer to an
/// agent loop at the default 30 s timeout (and twice it, where open loop's corrected latency
/// includes the wait for a connection).
pub const BUCKETS_S: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// The run's Prometheus recorder.
pub struct Exporter {
    recorder: PrometheusRecorder,
}

impl Exporter {
    /// A recorder whose every series carries `run_id` (and `generator="i/n"` for one instance
    /// of several: Prometheus keeps `instance` for the scraped target's address).
    pub fn new(run_id: &str, generator: Option<String>) -> Self {
        let mut b = PrometheusBuilder::new()
            .set_buckets(BUCKETS_S)
            .expect("the bucket list is not empty")
            .add_global_label("run_id", run_id);
        if let Some(g) = generator {
            b = b.add_global_label("generator", g);
        }
        let recorder = b.build_recorder();
        metrics::with_local_recorder(&recorder, || {
            describe_counter!(
                "loadgen_requests_total",
                "Requests of the measured steps resolved, by outcome class and request name."
            );
            describe_histogram!(
                "loadgen_request_duration_seconds",
                metrics::Unit::Seconds,
                "Latency of served (2xx) requests, corrected for coordinated omission in open loop."
            );
            describe_gauge!(
                "loadgen_in_flight",
                "Requests of the measured steps sent and not yet resolved (warm-up requests are not tracked)."
            );
            describe_gauge!(
                "loadgen_users",
                "Closed loop: virtual users of the step sending now (0 in open loop)."
            );
            describe_gauge!(
                "loadgen_target_rate",
                "Open loop: arrivals per second of the step sending now (0 in closed loop)."
            );
            describe_gauge!("loadgen_step", "The step sending now, 1-based (0 before).");
            describe_counter!(
                "loadgen_late_sends_total",
                "Open loop: sends that waited for a free connection."
            );
        });
        Self { recorder }
    }

    /// Adds the 2xx latencies of one collected interval to the histogram.
    pub fn interval(&self, iv: &Interval) {
        if iv.counts[OutcomeClass::Ok.index()] == 0 {
            return;
        }
        metrics::with_local_recorder(&self.recorder, || {
            let h = histogram!("loadgen_request_duration_seconds");
            for v in iv.latency.iter_recorded() {
                h.record_many(
                    v.value_iterated_to() as f64 / 1e6,
                    v.count_at_value() as usize,
                );
            }
        });
    }

    /// Sets the counters and gauges from `board`.
    pub fn update(&self, board: &Board) {
        metrics::with_local_recorder(&self.recorder, || {
            for (name, counts) in board.names.iter().zip(board.totals()) {
                for class in OutcomeClass::ALL {
                    counter!(
                        "loadgen_requests_total",
                        "outcome" => class.name(),
                        "name" => name.clone()
                    )
                    .absolute(counts[class.index()]);
                }
            }
            gauge!("loadgen_in_flight").set(board.in_flight as f64);
            let (step, users, rate) = match board.current {
                Some(c) => match c.load {
                    Load::Closed { concurrency } => (c.step, f64::from(concurrency), 0.0),
                    Load::Open { rate, .. } => (c.step, 0.0, rate),
                },
                None => (0, 0.0, 0.0),
            };
            gauge!("loadgen_step").set(step as f64);
            gauge!("loadgen_users").set(users);
            gauge!("loadgen_target_rate").set(rate);
            counter!("loadgen_late_sends_total").absolute(board.late_sends);
        });
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }
}
