//! The recorders of one step, shared by its workers: a few shards (one per runtime thread), each
//! a fixed-range [`Recorder`] plus the current second's [`Interval`] behind a mutex held for one
//! sample. A thousand open-loop workers then cost a few histograms, not a thousand sets of them;
//! on the single-threaded runtime the one lock is never contended.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::{Interval, OutcomeClass, Recorder, WindowFlow};

/// One completed attempt, as a worker hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Index of the request name.
    pub name: usize,
    /// Outcome class.
    pub class: OutcomeClass,
    /// Latency from the intended send, microseconds.
    pub corrected_us: u64,
    /// Open loop: latency from the actual send, microseconds.
    pub uncorrected_us: Option<u64>,
    /// Parsed `Retry-After`, seconds.
    pub retry_after_s: Option<f64>,
    /// Raw `Server-Timing` header value.
    pub server_timing: Option<&'a [u8]>,
    /// Second of the measured part the attempt completed in.
    pub second: u64,
    /// The HTTP status, when the target answered.
    pub status: Option<u16>,
    /// The attempt's share of its own step's measured window (its time in flight inside it, the
    /// pause after it), added with the sample under the one lock; zero adds nothing.
    pub flow: WindowFlow,
}

struct Shard {
    rec: Recorder,
    interval: Option<Interval>,
}

/// The step's shards and the channel its finished seconds go to.
pub struct SharedRecorders {
    shards: Vec<Mutex<Shard>>,
    /// Dropped by [`SharedRecorders::finish`], which ends the step's collector.
    intervals: Mutex<Option<mpsc::UnboundedSender<Interval>>>,
    high_us: u64,
}

impl SharedRecorders {
    /// `shards` recorders (at least one) for `names` request names, histograms 1 µs to
    /// `high_us`; finished seconds go to `intervals`.
    pub fn new(
        shards: usize,
        names: usize,
        high_us: u64,
        intervals: mpsc::UnboundedSender<Interval>,
    ) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    rec: Recorder::bounded(names, high_us),
                    interval: None,
                })
            })
            .collect();
        Self {
            shards,
            intervals: Mutex::new(Some(intervals)),
            high_us,
        }
    }

    /// The shard worker `id` records into.
    pub fn shard_of(&self, id: u64) -> usize {
        (id % self.shards.len() as u64) as usize
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding the lock cannot leave a histogram half-written in a way that
        // matters more than losing the run: keep the data.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one attempt into `shard`. A sample of a later second than the shard's current
    /// one sends the finished second to the collector first; an earlier one (a worker on
    /// another thread that read the clock just before the turn) joins the current second.
    pub fn record(&self, shard: usize, s: &Sample<'_>) {
        let mut guard = self.lock(shard);
        let sh = &mut *guard;
        sh.rec
            .record(s.name, s.class, s.corrected_us, s.uncorrected_us);
        if let Some(ra) = s.retry_after_s {
            sh.rec.retry_after.add(ra);
        }
        if let Some(st) = s.server_timing {
            sh.rec.record_server_timing(st);
        }
        if let Some(code) = s.status.filter(|c| !(200..300).contains(c)) {
            *sh.rec.error_statuses.entry(code).or_default() += 1;
        }
        if let Some(f) = sh.rec.flow.as_mut() {
            *f += s.flow;
        }
        let iv = match &mut sh.interval {
            Some(iv) if iv.second >= s.second => iv,
            slot => {
                if let Some(done) = slot.take() {
                    self.send_interval(done);
                }
                slot.insert(Interval::bounded(s.second, self.high_us))
            }
        };
        iv.record(s.class, s.corrected_us);
    }

    fn send_interval(&self, iv: Interval) {
        let tx = self.intervals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = tx.as_ref() {
            let _ = tx.send(iv);
        }
    }

    /// Records how long opening a connection took, microseconds.
    pub fn record_connect(&self, shard: usize, us: u64) {
        self.lock(shard).rec.record_connect(us);
    }

    /// Adds a request's share of the step's measured window (see [`WindowFlow`]) to `shard`.
    pub fn record_flow(&self, shard: usize, flow: WindowFlow) {
        if let Some(f) = self.lock(shard).rec.flow.as_mut() {
            *f += flow;
        }
    }

    /// Attempts per request name and outcome class recorded so far, summed over the shards: a
    /// read for the live view (`--dashboard`, `--metrics-addr`) about once a second, never on
    /// the request path. All zero once [`SharedRecorders::finish`] has taken the shards.
    pub fn peek_counts(&self, names: usize) -> Vec<[u64; super::CLASSES]> {
        let mut out = vec![[0u64; super::CLASSES]; names];
        for i in 0..self.shards.len() {
            let sh = self.lock(i);
            for (o, n) in out.iter_mut().zip(&sh.rec.names) {
                for (a, b) in o.iter_mut().zip(n.counts) {
                    *a += b;
                }
            }
        }
        out
    }

    /// Sends the last seconds to the collector, ends it, and returns the shards merged. Call
    /// once every request of the step is resolved.
    pub fn finish(&self, names: usize) -> Recorder {
        let mut merged = Recorder::new(names);
        for i in 0..self.shards.len() {
            let done = {
                let mut sh = self.lock(i);
                let rec = std::mem::replace(&mut sh.rec, Recorder::new(0));
                merged.merge(&rec);
                sh.interval.take()
            };
            if let Some(done) = done {
                self.send_interval(done);
            }
        }
        self.intervals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(second: u64, us: u64) -> Sample<'static> {
        Sample {
            name: 0,
            class: OutcomeClass::Ok,
            corrected_us: us,
            uncorrected_us: None,
            retry_after_s: None,
            server_timing: None,
            second,
            status: Some(200),
            flow: WindowFlow::default(),
        }
    }

    #[test]
    fn shards_merge_into_one_step_and_seconds_reach_the_collector() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let shared = SharedRecorders::new(2, 1, 10_000_000, tx);
        shared.record(shared.shard_of(0), &sample(0, 1_000));
        shared.record(shared.shard_of(1), &sample(0, 2_000));
        shared.record(shared.shard_of(0), &sample(1, 3_000));
        let first = rx
            .try_recv()
            .expect("second 0 of shard 0 is sent when second 1 begins");
        assert_eq!((first.second, first.total()), (0, 1));
        let merged = shared.finish(1);
        assert_eq!(merged.names[0].counts[OutcomeClass::Ok.index()], 3);
        let mut seconds: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|iv| (iv.second, iv.total()))
            .collect();
        seconds.sort();
        assert_eq!(seconds, vec![(0, 1), (1, 1)]);
    }

    #[test]
    fn a_samples_own_flow_adds_to_its_step_beside_flows_recorded_apart() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let shared = SharedRecorders::new(2, 1, 10_000_000, tx);
        let mut s = sample(0, 1_000);
        s.flow = WindowFlow {
            busy_s: 0.5,
            pause_s: 0.25,
            think_s: 0.125,
        };
        shared.record(0, &s);
        shared.record(1, &s);
        shared.record(1, &sample(0, 2_000));
        shared.record_flow(
            1,
            WindowFlow {
                busy_s: 1.0,
                ..Default::default()
            },
        );
        let merged = shared.finish(1);
        assert_eq!(
            merged.flow,
            Some(WindowFlow {
                busy_s: 2.0,
                pause_s: 0.5,
                think_s: 0.25,
            })
        );
    }

    #[test]
    fn a_value_past_the_range_is_recorded_at_the_top_not_lost() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let shared = SharedRecorders::new(1, 1, 1_000_000, tx);
        shared.record(0, &sample(0, 50_000_000));
        let merged = shared.finish(1);
        let h = merged.names[0].by_class[0].as_ref().expect("recorded");
        assert_eq!(h.len(), 1);
        assert!(h.max() >= 999_000 && h.max() < 1_100_000, "{}", h.max());
    }
}
