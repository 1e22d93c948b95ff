//! Outcome classes and the HdrHistograms a step records into. The workers of a step share a few
//! fixed-range recorders ([`SharedRecorders`], one per runtime thread), merged when the step ends:
//! memory is bounded by shards × request names × outcome classes, never by the number of requests
//! or of workers.

mod shared;
mod summary;

pub use shared::{Sample, SharedRecorders};
pub use summary::{ClassHistograms, LatencySummary, NameResult, RetryAfterSummary, StepResult};

use hdrhistogram::Histogram;

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeClass {
    /// 2xx: the only answer that counts as served.
    Ok,
    /// 429 Too Many Requests: shed by a rate limit.
    Rejected429,
    /// 503 Service Unavailable: shed by a full queue or an open breaker.
    Rejected503,
    /// Any other 4xx.
    Other4xx,
    /// Any other 5xx.
    Other5xx,
    /// No complete response within `--timeout`.
    Timeout,
    /// The TCP connection (or HTTP/2 handshake) could not be made.
    ConnectError,
    /// The connection failed mid-exchange (reset, closed, malformed response).
    IoError,
    /// A final 1xx, a 3xx or a status outside 100..=599: answered, but not served.
    OtherStatus,
}

/// Number of outcome classes (the length of per-class arrays).
pub const CLASSES: usize = 9;

impl OutcomeClass {
    /// All classes, in report order.
    pub const ALL: [OutcomeClass; CLASSES] = [
        OutcomeClass::Ok,
        OutcomeClass::Rejected429,
        OutcomeClass::Rejected503,
        OutcomeClass::Other4xx,
        OutcomeClass::Other5xx,
        OutcomeClass::Timeout,
        OutcomeClass::ConnectError,
        OutcomeClass::IoError,
        OutcomeClass::OtherStatus,
    ];

    /// The class of an HTTP status code.
    pub fn from_status(status: u16) -> OutcomeClass {
        match status {
            429 => OutcomeClass::Rejected429,
            503 => OutcomeClass::Rejected503,
            400..=499 => OutcomeClass::Other4xx,
            500..=599 => OutcomeClass::Other5xx,
            200..=299 => OutcomeClass::Ok,
            _ => OutcomeClass::OtherStatus,
        }
    }

    /// Index into per-class arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports (`ok`, `rejected_429`, …).
    pub fn name(self) -> &'static str {
        match self {
            OutcomeClass::Ok => "ok",
            OutcomeClass::Rejected429 => "rejected_429",
            OutcomeClass::Rejected503 => "rejected_503",
            OutcomeClass::Other4xx => "other_4xx",
            OutcomeClass::Other5xx => "other_5xx",
            OutcomeClass::Timeout => "timeout",
            OutcomeClass::ConnectError => "connect_error",
            OutcomeClass::IoError => "io_error",
            OutcomeClass::OtherStatus => "other_status",
        }
    }

    /// Whether this class is an answer from the target (any status), as opposed to a timeout
    /// or a connection failure.
    pub fn answered(self) -> bool {
        !matches!(
            self,
            OutcomeClass::Timeout | OutcomeClass::ConnectError | OutcomeClass::IoError
        )
    }

    /// Whether this class is a shed answer (429 or 503).
    pub fn shed(self) -> bool {
        matches!(self, OutcomeClass::Rejected429 | OutcomeClass::Rejected503)
    }
}

/// A histogram of microseconds, 3 significant digits, growing to whatever is added. Used only
/// where a handful exist (merged step results, the collector's seconds), never per worker.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid histogram precision")
}

/// A fixed-range histogram of microseconds: 1 µs to `high_us`, 3 significant digits, no
/// auto-resize, so its size is known when it is made (about 128 KiB for a 30 s range). A larger
/// value is recorded as `high_us`. `high_us` 0 means auto-resizing ([`new_histogram`]).
pub fn bounded_histogram(high_us: u64) -> Histogram<u64> {
    if high_us == 0 {
        return new_histogram();
    }
    Histogram::new_with_bounds(1, high_us.max(2), 3)
        .expect("1 µs .. high with 3 significant digits is a valid histogram range")
}

fn record_us(h: &mut Histogram<u64>, us: u64) {
    // Auto-resize only refuses values past the u64 range of the bucket scheme; clamp to be safe.
    // A fixed-range histogram takes a value past its range as its highest trackable value.
    h.saturating_record(us.clamp(1, 1 << 50));
}

/// Per-request-name measurements of one step.
#[derive(Debug, Clone, Default)]
pub struct NameRecorder {
    /// Attempts per outcome class.
    pub counts: [u64; CLASSES],
    /// Latency per outcome class (corrected for coordinated omission in open loop).
    pub by_class: [Option<Histogram<u64>>; CLASSES],
    /// Open loop only: latency per outcome class from the actual send, the figure coordinated
    /// omission hides behind.
    pub uncorrected: [Option<Histogram<u64>>; CLASSES],
}

/// Everything one worker (or, merged, one step) measured.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Indexed like the plan's requests.
    pub names: Vec<NameRecorder>,
    /// Retry-After values received with 429/503.
    pub retry_after: RetryAfterSummary,
    /// `Server-Timing` durations by metric name, in microseconds.
    pub server_timing: Vec<(String, Histogram<u64>)>,
    /// Answers per HTTP status outside 2xx.
    pub error_statuses: std::collections::BTreeMap<u16, u64>,
    /// Connections opened (the first of each worker included).
    pub connections_opened: u64,
    /// Open loop: sends that had to wait because every connection was busy.
    pub late_sends: u64,
    /// Requests of the step still unresolved when the run was interrupted.
    pub in_flight_at_end: u64,
    /// Open loop: intended sends of the step that never went out (no connection free before
    /// their timeout, or the run was interrupted).
    pub unsent: u64,
    /// Idempotent requests resent once after a reset on a reused connection.
    pub resent: u64,
    /// Time to open each new connection (TCP connect, plus the TLS handshake), microseconds.
    pub connect: Option<Histogram<u64>>,
    /// Upper bound of new histograms in microseconds (0: auto-resizing).
    pub high_us: u64,
    /// What the step's measured window saw of every request in flight during it; `None` when
    /// not tracked (a merge of instances' logs, which carry only histograms).
    pub flow: Option<WindowFlow>,
}

/// What one step's measured window saw of the requests in flight during it, whichever step sent
/// them: with the mean latency of the step's requests it gives, by Little's law, a closed-loop
/// throughput that does not alias with the latency, whatever the users' phases and the ratio of
/// step length to latency (counting the requests sent in the window does alias when users run
/// in step: 8 s against a 1.44 s cycle holds 5 or 6 sends per user, never 5.56).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowFlow {
    /// Request-seconds in flight inside the window (every step's requests): the time-averaged
    /// in-flight count times the window's length.
    pub busy_s: f64,
    /// Pauses after the step's own requests (think time, Retry-After waits, connect-retry
    /// pauses), seconds.
    pub pause_s: f64,
    /// The think time part of `pause_s`, seconds.
    #[serde(default)]
    pub think_s: f64,
}

impl std::ops::AddAssign for WindowFlow {
    fn add_assign(&mut self, o: WindowFlow) {
        self.busy_s += o.busy_s;
        self.pause_s += o.pause_s;
        self.think_s += o.think_s;
    }
}

impl Recorder {
    /// A recorder for `names` request names, with auto-resizing histograms (for merged results).
    pub fn new(names: usize) -> Self {
        Self::bounded(names, 0)
    }

    /// A recorder whose histograms are fixed-range, 1 µs to `high_us` (0: auto-resizing).
    pub fn bounded(names: usize, high_us: u64) -> Self {
        Self {
            names: vec![NameRecorder::default(); names],
            high_us,
            flow: Some(WindowFlow::default()),
            ..Default::default()
        }
    }

    /// Records one attempt. `uncorrected_us` is `Some` in open loop.
    #[inline]
    pub fn record(
        &mut self,
        name: usize,
        class: OutcomeClass,
        corrected_us: u64,
        uncorrected_us: Option<u64>,
    ) {
        let high = self.high_us;
        let n = &mut self.names[name];
        let i = class.index();
        n.counts[i] += 1;
        record_us(
            n.by_class[i].get_or_insert_with(|| bounded_histogram(high)),
            corrected_us,
        );
        if let Some(u) = uncorrected_us {
            record_us(
                n.uncorrected[i].get_or_insert_with(|| bounded_histogram(high)),
                u,
            );
        }
    }

    /// Records how long opening a connection took.
    pub fn record_connect(&mut self, us: u64) {
        let high = self.high_us;
        record_us(
            self.connect.get_or_insert_with(|| bounded_histogram(high)),
            us,
        );
    }

    /// Records the `Server-Timing` header value, e.g. `queue;dur=12.5, upstream;dur=300`.
    pub fn record_server_timing(&mut self, header: &[u8]) {
        let Ok(text) = std::str::from_utf8(header) else {
            return;
        };
        for (name, dur_ms) in parse_server_timing(text) {
            let us = (dur_ms * 1000.0).round() as u64;
            match self.server_timing.iter_mut().find(|(n, _)| n == name) {
                Some((_, h)) => record_us(h, us),
                None => {
                    let mut h = bounded_histogram(self.high_us);
                    record_us(&mut h, us);
                    self.server_timing.push((name.to_string(), h));
                }
            }
        }
    }

    /// Adds another recorder of the same step into this one.
    pub fn merge(&mut self, other: &Recorder) {
        if self.names.len() < other.names.len() {
            self.names
                .resize(other.names.len(), NameRecorder::default());
        }
        for (mine, theirs) in self.names.iter_mut().zip(&other.names) {
            for i in 0..CLASSES {
                mine.counts[i] += theirs.counts[i];
                merge_opt(&mut mine.by_class[i], &theirs.by_class[i]);
                merge_opt(&mut mine.uncorrected[i], &theirs.uncorrected[i]);
            }
        }
        self.retry_after.merge(&other.retry_after);
        for (name, h) in &other.server_timing {
            match self.server_timing.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => {
                    let _ = mine.add(h);
                }
                None => self.server_timing.push((name.clone(), h.clone())),
            }
        }
        for (code, n) in &other.error_statuses {
            *self.error_statuses.entry(*code).or_default() += n;
        }
        self.connections_opened += other.connections_opened;
        self.late_sends += other.late_sends;
        self.in_flight_at_end += other.in_flight_at_end;
        self.unsent += other.unsent;
        self.resent += other.resent;
        merge_opt(&mut self.connect, &other.connect);
        self.flow = match (self.flow, other.flow) {
            (Some(mut a), Some(b)) => {
                a += b;
                Some(a)
            }
            _ => None,
        };
    }
}

fn merge_opt(mine: &mut Option<Histogram<u64>>, theirs: &Option<Histogram<u64>>) {
    if let Some(t) = theirs {
        let _ = mine.get_or_insert_with(new_histogram).add(t);
    }
}

/// One second of one step, for the time series and the live progress.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Seconds since the measured part of the step began.
    pub second: u64,
    /// Attempts per class.
    pub counts: [u64; CLASSES],
    /// Latency of attempts counted in percentiles.
    pub latency: Histogram<u64>,
}

impl Interval {
    /// An empty interval for `second`, auto-resizing (the collector's merged seconds).
    pub fn new(second: u64) -> Self {
        Self::bounded(second, 0)
    }

    /// An empty interval for `second` whose histogram is fixed-range, 1 µs to `high_us`.
    pub fn bounded(second: u64, high_us: u64) -> Self {
        Self {
            second,
            counts: [0; CLASSES],
            latency: bounded_histogram(high_us),
        }
    }

    /// Records one attempt.
    #[inline]
    pub fn record(&mut self, class: OutcomeClass, us: u64) {
        self.counts[class.index()] += 1;
        if class == OutcomeClass::Ok {
            record_us(&mut self.latency, us);
        }
    }

    /// Adds another worker's part of the same second.
    pub fn merge(&mut self, other: &Interval) {
        for i in 0..CLASSES {
            self.counts[i] += other.counts[i];
        }
        let _ = self.latency.add(&other.latency);
    }

    /// Attempts in this second.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Parses a `Retry-After` value: delay-seconds (integer or decimal) or an HTTP date, as seconds
/// from now (a date in the past is 0).
pub fn parse_retry_after(value: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(value).ok()?.trim();
    if let Ok(v) = s.parse::<f64>() {
        return (v.is_finite() && v >= 0.0).then_some(v);
    }
    let at = httpdate::parse_http_date(s).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    )
}

/// Parses `Server-Timing` entries that carry a `dur`, e.g. `queue;dur=12.5, upstream;dur=300`.
pub fn parse_server_timing(text: &str) -> impl Iterator<Item = (&str, f64)> {
    text.split(',').filter_map(|entry| {
        let mut parts = entry.split(';');
        let name = parts.next()?.trim();
        if name.is_empty() {
            return None;
        }
        let dur = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("dur"))
                .then(|| v.trim().trim_matches('"').parse::<f64>().ok())?
        })?;
        (dur.is_finite() && dur >= 0.0).then_some((name, dur))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_their_classes() {
        assert_eq!(OutcomeClass::from_status(200), OutcomeClass::Ok);
        assert_eq!(OutcomeClass::from_status(429), OutcomeClass::Rejected429);
        assert_eq!(OutcomeClass::from_status(503), OutcomeClass::Rejected503);
        assert_eq!(OutcomeClass::from_status(404), OutcomeClass::Other4xx);
        assert_eq!(OutcomeClass::from_status(500), OutcomeClass::Other5xx);
        assert_eq!(OutcomeClass::from_status(204), OutcomeClass::Ok);
        for s in [101, 302, 304, 99, 600, 999] {
            assert_eq!(
                OutcomeClass::from_status(s),
                OutcomeClass::OtherStatus,
                "{s}"
            );
        }
    }

    #[test]
    fn server_timing_entries_with_dur_are_parsed() {
        let v: Vec<_> =
            parse_server_timing("queue;dur=12.5, upstream;desc=\"x\";dur=300, miss").collect();
        assert_eq!(v, vec![("queue", 12.5), ("upstream", 300.0)]);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after(b" 2 "), Some(2.0));
        assert_eq!(parse_retry_after(b"0.5"), Some(0.5));
        assert_eq!(
            parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(0.0),
            "past date"
        );
        let soon = httpdate::fmt_http_date(
            std::time::SystemTime::now() + std::time::Duration::from_secs(120),
        );
        let s = parse_retry_after(soon.as_bytes()).unwrap();
        assert!((118.0..=120.0).contains(&s), "{s}");
        assert_eq!(parse_retry_after(b"soon"), None);
        assert_eq!(parse_retry_after(b"-1"), None);
    }

    #[test]
    fn merged_recorders_add_counts_and_histograms() {
        let mut a = Recorder::new(1);
        let mut b = Recorder::new(1);
        a.record(0, OutcomeClass::Ok, 1000, None);
        b.record(0, OutcomeClass::Ok, 3000, None);
        b.record(0, OutcomeClass::Timeout, 9000, None);
        a.merge(&b);
        assert_eq!(a.names[0].counts[0], 2);
        assert_eq!(a.names[0].counts[OutcomeClass::Timeout.index()], 1);
        assert_eq!(a.names[0].by_class[0].as_ref().unwrap().len(), 2);
    }
}
