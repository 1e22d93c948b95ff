//! The HdrHistogram interval log (`--hdr-log`): one compressed V2 histogram per step, tagged
//! `step-N`, values in microseconds, readable by HdrHistogram's Java/Python log readers.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::record::StepResult;

/// Writes every step's latency histogram; `started` is when the run began.
pub fn write(mut out: impl Write, steps: &[StepResult], started: SystemTime) -> io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("loadgen latency per step, microseconds")
        .with_start_time(started)
        .with_base_time(started)
        .begin_log_with(&mut out, &mut serializer)?;
    let mut offset = Duration::ZERO;
    for s in steps {
        let duration = Duration::from_secs_f64(s.duration_s);
        let tag = format!("step-{}", s.step);
        log.write_histogram(&s.histogram, offset, duration, Tag::new(&tag))
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        offset += duration;
    }
    drop(log);
    out.flush()
}
