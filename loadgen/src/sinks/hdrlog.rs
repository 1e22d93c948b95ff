//! The HdrHistogram interval log (`--hdr-log`), in the standard V2 format (deflate-compressed
//! payloads, microseconds), readable by HdrHistogram's own readers in other languages. Per step
//! and per outcome class, two histograms: latency from the intended send (`corrected`) and from
//! the actual send (`uncorrected`; in closed loop both are the same), tagged
//! `stepN/CLASS/corrected|uncorrected`, each stamped with the step's wall-clock start relative to
//! `BaseTime`. Comment lines carry what `loadgen merge` needs beyond histograms: a header
//! (`#loadgen {json}`: run id, instance, request names) and one line per step
//! (`#loadgen-step {json}`: load, duration, counters that have no histogram).

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use serde::{Deserialize, Serialize};

use crate::plan::{Load, Plan};
use crate::record::{RetryAfterSummary, StepResult, WindowFlow};

/// Format name in the header line.
pub const FORMAT: &str = "loadgen-hdrlog/2";

/// The header comment: which run and which share of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// The run's id (shared by its instances: `--start-at` and the unsplit plan).
    pub run: String,
    /// 0-based instance index.
    pub instance: u32,
    /// Number of instances.
    pub instances: u32,
    /// Command (`ramp`, `run`, `find-capacity`).
    pub command: String,
    /// Target URL.
    pub url: String,
}

impl LogMeta {
    /// The header of `plan`'s log.
    pub fn of(plan: &Plan) -> Self {
        let (instance, instances) = plan.instance.map_or((0, 1), |i| (i.index, i.count));
        Self {
            format: FORMAT.into(),
            run: plan.run_id.clone(),
            instance,
            instances,
            command: plan.command.into(),
            url: plan.url.clone(),
        }
    }
}

/// One step's line: its load and the counters that have no histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMeta {
    /// 1-based step.
    pub step: usize,
    /// Load of this instance.
    pub load: Load,
    /// Measured seconds.
    pub duration_s: f64,
    /// Wall-clock start of the measured window, seconds since the epoch.
    pub start_s: f64,
    /// Interrupted by a signal.
    pub interrupted: bool,
    /// Open loop: sends never sent.
    pub unsent: u64,
    /// Open loop: sends that waited for a permit.
    pub late_sends: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Idempotent resends.
    pub resent: u64,
    /// Unresolved when interrupted.
    pub in_flight_at_end: u64,
    /// Retry-After values.
    pub retry_after: RetryAfterSummary,
    /// What the measured window saw of the requests in flight (absent in older logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<WindowFlow>,
}

impl StepMeta {
    fn of(s: &StepResult) -> Self {
        let load = match (s.target_rps, s.concurrency) {
            (Some(rate), c) => Load::Open {
                rate,
                max_in_flight: c.unwrap_or(0),
                arrivals: s.arrivals.unwrap_or_default(),
            },
            (None, c) => Load::Closed {
                concurrency: c.unwrap_or(0),
            },
        };
        Self {
            step: s.step,
            load,
            duration_s: s.duration_s,
            start_s: s
                .started_at
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64()),
            interrupted: s.interrupted,
            unsent: s.unsent,
            late_sends: s.late_sends,
            connections_opened: s.connections_opened,
            resent: s.resent,
            in_flight_at_end: s.in_flight_at_end,
            retry_after: s.retry_after.clone(),
            flow: s.flow,
        }
    }
}

/// The tag of a step's class histogram: `stepN/CLASS/corrected` or `…/uncorrected`.
pub fn tag(step: usize, class: &str, corrected: bool) -> String {
    format!(
        "step{step}/{class}/{}",
        if corrected {
            "corrected"
        } else {
            "uncorrected"
        }
    )
}

/// Writes the log; `base` is the run's start (StartTime and BaseTime).
pub fn write(
    mut out: impl Write,
    meta: &LogMeta,
    steps: &[StepResult],
    base: SystemTime,
) -> io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let header = serde_json::to_string(meta).map_err(io::Error::other)?;
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!("loadgen {header}"))
        .with_start_time(base)
        .with_base_time(base)
        .begin_log_with(&mut out, &mut serializer)?;
    let io_err = |e| io::Error::other(format!("{e:?}"));
    for s in steps {
        let step_meta = serde_json::to_string(&StepMeta::of(s)).map_err(io::Error::other)?;
        log.write_comment(&format!("loadgen-step {step_meta}"))?;
        let offset = s
            .started_at
            .and_then(|t| t.duration_since(base).ok())
            .unwrap_or(Duration::ZERO);
        let duration = Duration::from_secs_f64(s.duration_s.max(0.0));
        for c in &s.classes {
            let name = c.class.name();
            let corrected = tag(s.step, name, true);
            log.write_histogram(&c.corrected, offset, duration, Tag::new(&corrected))
                .map_err(io_err)?;
            let uncorrected = tag(s.step, name, false);
            let u = c.uncorrected.as_ref().unwrap_or(&c.corrected);
            log.write_histogram(u, offset, duration, Tag::new(&uncorrected))
                .map_err(io_err)?;
        }
    }
    drop(log);
    out.flush()
}
