//! Collects the workers' per-second flushes during a step: feeds the live progress and, when the
//! step ends, the time series. At most [`MAX_OPEN_SECONDS`] seconds are held; older ones are
//! written early, and a late flush for a written second joins the oldest held one.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::progress::{LiveStats, Progress};
use super::timeseries::TimeseriesSink;
use crate::plan::Load;
use crate::record::{Interval, LatencySummary, OutcomeClass};

/// Seconds held in memory before the oldest is written.
pub const MAX_OPEN_SECONDS: usize = 120;

/// One step's collection.
pub struct StepCollector<'a, W: Write> {
    /// Step number.
    pub step: usize,
    /// Its load.
    pub load: Load,
    /// When the step (warmup included) began.
    pub started: Instant,
    /// When the measured part began.
    pub measure_start: Instant,
    /// When the step ends (a cut step ends earlier).
    pub step_end: Instant,
    /// Progress display.
    pub progress: &'a Progress,
    /// Time series, if asked for (shared by the steps resolving at once).
    pub timeseries: Option<&'a std::sync::Mutex<TimeseriesSink<W>>>,
    /// `--dashboard` / `--metrics-addr`: gets every part of a second as it arrives.
    pub live: Option<&'a crate::live::Live>,
}

impl<W: Write> StepCollector<'_, W> {
    /// Runs until every worker has dropped its sender.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Interval>) -> std::io::Result<()> {
        let mut open: BTreeMap<u64, Interval> = BTreeMap::new();
        let mut written_up_to: Option<u64> = None;
        let mut errors = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                iv = rx.recv() => {
                    let Some(iv) = iv else { break };
                    if let Some(live) = self.live {
                        live.interval(self.step, &iv);
                    }
                    errors += iv.total() - iv.counts[OutcomeClass::Ok.index()];
                    let key = match (written_up_to, open.keys().next()) {
                        (Some(w), first) if iv.second <= w => first.copied().unwrap_or(w + 1),
                        _ => iv.second,
                    };
                    open.entry(key).or_insert_with(|| Interval::new(key)).merge(&iv);
                    while open.len() > MAX_OPEN_SECONDS {
                        if let Some((s, oldest)) = open.pop_first() {
                            self.write(&oldest, 1.0)?;
                            written_up_to = Some(s);
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    // Only the step that is sending drives the live line; an earlier step still
                    // resolving its last requests stays quiet.
                    if now < self.started || now >= self.step_end {
                        continue;
                    }
                    let current = now.saturating_duration_since(self.measure_start).as_secs();
                    let live = current
                        .checked_sub(1)
                        .and_then(|s| open.get(&s))
                        .map(|iv| LiveStats {
                            rps: iv.total() as f64,
                            success_rate: if iv.total() > 0 {
                                iv.counts[OutcomeClass::Ok.index()] as f64 / iv.total() as f64
                            } else {
                                0.0
                            },
                            p99_ms: LatencySummary::from_histogram(&iv.latency).p99_ms,
                            errors,
                        })
                        .unwrap_or(LiveStats { errors, ..Default::default() });
                    self.progress.update(now - self.started, &live);
                }
            }
        }
        let measured = Instant::now()
            .min(self.step_end)
            .saturating_duration_since(self.measure_start)
            .as_secs_f64();
        for (s, iv) in std::mem::take(&mut open) {
            let len = (measured - s as f64).clamp(0.0, 1.0);
            self.write(&iv, if len > 0.0 { len } else { 1.0 })?;
        }
        Ok(())
    }

    fn write(&mut self, iv: &Interval, seconds: f64) -> std::io::Result<()> {
        match self.timeseries {
            Some(ts) => ts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_interval(self.step, self.load, iv, seconds),
            None => Ok(()),
        }
    }
}
