//! What `loadgen merge LOG…` merges (`commands::merge` writes and gates it): one run's instances
//! (`--instance i/n`, one `--start-at`) merged step by step from their `--hdr-log` files:
//! histograms added (exact, HdrHistogram precision), counts summed, written as the same CSV and
//! JSON as a single run, and gated on the merged data with the same exit codes. Logs of different
//! runs, misaligned steps, missing or repeated instances are refused with the file at fault
//! (exit 2).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::error::ConfigError;
use crate::plan::Load;
use crate::record::{OutcomeClass, Recorder, StepResult};
use crate::sinks::hdrlog::{LogMeta, StepMeta, FORMAT};

/// Steps of instances of one run start at the same instant; more apart than this is a
/// different schedule.
const ALIGNMENT: f64 = 0.5;

/// One instance's log, parsed.
#[derive(Debug)]
pub struct InstanceLog {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub meta: LogMeta,
    /// Its steps, with their class histograms (corrected, uncorrected).
    pub steps: Vec<(StepMeta, Vec<ClassPair>)>,
}

/// A class's two histograms in one step.
#[derive(Debug, Clone)]
pub struct ClassPair {
    /// The class.
    pub class: OutcomeClass,
    /// From the intended send.
    pub corrected: Histogram<u64>,
    /// From the actual send.
    pub uncorrected: Histogram<u64>,
}

fn bad(path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError::new(&path.display().to_string(), message)
}

fn class_named(name: &str) -> Option<OutcomeClass> {
    OutcomeClass::ALL.into_iter().find(|c| c.name() == name)
}

/// Reads one `--hdr-log` file.
pub fn read_log(path: &Path) -> Result<InstanceLog, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad(path, "not a text file"))?;
    let mut meta = None;
    let mut steps: Vec<(StepMeta, Vec<ClassPair>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(j) = line.strip_prefix("#loadgen-step ") {
            let s: StepMeta = serde_json::from_str(j)
                .map_err(|e| bad(path, format!("line {}: bad step line: {e}", n + 1)))?;
            steps.push((s, Vec::new()));
        } else if let Some(j) = line.strip_prefix("#loadgen ") {
            let m: LogMeta = serde_json::from_str(j)
                .map_err(|e| bad(path, format!("line {}: bad header: {e}", n + 1)))?;
            if m.format != FORMAT {
                return Err(bad(
                    path,
                    format!("format {} (expected {FORMAT})", m.format),
                ));
            }
            meta = Some(m);
        }
    }
    let meta = meta.ok_or_else(|| {
        bad(
            path,
            "no '#loadgen' header: not a loadgen --hdr-log (or written by an older loadgen)",
        )
    })?;
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| bad(path, format!("not an interval log: {e:?}")))?;
        let LogEntry::Interval(iv) = entry else {
            continue;
        };
        let tag = iv
            .tag()
            .ok_or_else(|| bad(path, "a histogram without a tag"))?;
        let mut parts = tag.as_str().split('/');
        let (step, class, kind) = match (parts.next(), parts.next(), parts.next()) {
            (Some(s), Some(c), Some(k)) => (s, c, k),
            _ => return Err(bad(path, format!("unexpected tag {}", tag.as_str()))),
        };
        let step: usize = step
            .strip_prefix("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(path, format!("unexpected tag {}", tag.as_str())))?;
        let class = class_named(class).ok_or_else(|| {
            bad(
                path,
                format!("unknown outcome class in tag {}", tag.as_str()),
            )
        })?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(iv.encoded_histogram())
            .map_err(|e| bad(path, format!("histogram {}: {e}", tag.as_str())))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut raw.as_slice())
            .map_err(|e| bad(path, format!("histogram {}: {e:?}", tag.as_str())))?;
        let Some((_, classes)) = steps.iter_mut().find(|(m, _)| m.step == step) else {
            return Err(bad(
                path,
                format!("histogram of step {step} before its step line"),
            ));
        };
        match classes.iter_mut().find(|p| p.class == class) {
            Some(p) if kind == "uncorrected" => p.uncorrected = h,
            Some(p) => p.corrected = h,
            None => classes.push(ClassPair {
                class,
                corrected: h.clone(),
                uncorrected: h,
            }),
        }
    }
    Ok(InstanceLog {
        path: path.to_path_buf(),
        meta,
        steps,
    })
}

/// Checks that `logs` are every instance of one run, once each, with aligned steps.
pub fn check_compatible(logs: &[InstanceLog]) -> Result<(), ConfigError> {
    let first = &logs[0];
    let n = first.meta.instances;
    let mut seen = vec![None::<&Path>; n as usize];
    for log in logs {
        let m = &log.meta;
        if m.run != first.meta.run {
            return Err(bad(
                &log.path,
                format!(
                    "belongs to run {} but {} to run {}: logs of different runs",
                    m.run,
                    first.path.display(),
                    first.meta.run
                ),
            ));
        }
        if m.instances != n || m.instance >= n {
            return Err(bad(
                &log.path,
                format!("instance {}/{} of a run of {n}", m.instance, m.instances),
            ));
        }
        if let Some(other) = seen[m.instance as usize] {
            return Err(bad(
                &log.path,
                format!("instance {}/{n} also in {}", m.instance, other.display()),
            ));
        }
        seen[m.instance as usize] = Some(&log.path);
        if log.steps.len() != first.steps.len() {
            return Err(bad(
                &log.path,
                format!(
                    "{} steps, {} has {}: misaligned steps",
                    log.steps.len(),
                    first.path.display(),
                    first.steps.len()
                ),
            ));
        }
        for ((a, _), (b, _)) in log.steps.iter().zip(&first.steps) {
            let same_mode = matches!(
                (a.load, b.load),
                (Load::Closed { .. }, Load::Closed { .. }) | (Load::Open { .. }, Load::Open { .. })
            );
            let aligned = (a.start_s - b.start_s).abs() <= ALIGNMENT
                && (a.interrupted
                    || b.interrupted
                    || (a.duration_s - b.duration_s).abs() <= ALIGNMENT);
            if a.step != b.step || !same_mode || !aligned {
                return Err(bad(
                    &log.path,
                    format!(
                        "step {} (start {:.3}, {:.3} s) does not line up with step {} of {} (start {:.3}, {:.3} s)",
                        a.step, a.start_s, a.duration_s, b.step, first.path.display(), b.start_s, b.duration_s
                    ),
                ));
            }
        }
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        return Err(ConfigError::new(
            "LOG",
            format!(
                "instance {missing}/{n} of run {} is missing",
                first.meta.run
            ),
        ));
    }
    Ok(())
}

/// Merges aligned instance logs into one result per step.
pub fn merge_steps(logs: &[InstanceLog]) -> Vec<StepResult> {
    let name = vec![format!("merged {}", logs[0].meta.url)];
    (0..logs[0].steps.len())
        .map(|i| {
            let mut rec = Recorder::new(1);
            // Every instance's window flow adds up; one log without it leaves the merge without.
            rec.flow = logs[0].steps[i].0.flow.map(|_| Default::default());
            let mut load = logs[0].steps[i].0.load;
            let (mut duration_s, mut start_s, mut interrupted) = (0.0f64, f64::MAX, false);
            for (k, log) in logs.iter().enumerate() {
                let (m, classes) = &log.steps[i];
                if k > 0 {
                    load = match (load, m.load) {
                        (Load::Closed { concurrency: a }, Load::Closed { concurrency: b }) => {
                            Load::Closed { concurrency: a + b }
                        }
                        (
                            Load::Open {
                                rate: a,
                                max_in_flight: x,
                                arrivals,
                            },
                            Load::Open {
                                rate: b,
                                max_in_flight: y,
                                ..
                            },
                        ) => Load::Open {
                            rate: a + b,
                            max_in_flight: x + y,
                            // Independent streams of one process superpose into the same
                            // process for Poisson; for the others the label says what each
                            // instance ran.
                            arrivals,
                        },
                        (l, _) => l,
                    };
                }
                duration_s = duration_s.max(m.duration_s);
                start_s = start_s.min(m.start_s);
                interrupted |= m.interrupted;
                let open = matches!(m.load, Load::Open { .. });
                let mut part = Recorder::new(1);
                for c in classes {
                    let idx = c.class.index();
                    part.names[0].counts[idx] += c.corrected.len();
                    part.names[0].by_class[idx] = Some(c.corrected.clone());
                    if open {
                        part.names[0].uncorrected[idx] = Some(c.uncorrected.clone());
                    }
                }
                part.retry_after = m.retry_after.clone();
                part.unsent = m.unsent;
                part.late_sends = m.late_sends;
                part.connections_opened = m.connections_opened;
                part.resent = m.resent;
                part.in_flight_at_end = m.in_flight_at_end;
                part.flow = m.flow;
                rec.merge(&part);
            }
            let mut r =
                StepResult::from_recorder(i + 1, load, duration_s, &rec, &name, interrupted);
            // The start comes from the files: one out of SystemTime's range is left out, not a panic.
            r.started_at = Duration::try_from_secs_f64(start_s.max(0.0))
                .ok()
                .and_then(|d| SystemTime::UNIX_EPOCH.checked_add(d));
            r
        })
        .collect()
}
