//! `--scrape URL`: samples a Prometheus text endpoint once a second while the run lasts, with
//! the `prometheus-parse` exposition parser, so the target's own view (permits in use, queue,
//! upstream push-back, tokens) sits beside every step. Every sample goes to `scrape.csv`
//! (`unix_s,metric,labels,value`) beside the run's CSV; each step's JSON object gains, per
//! series, the mean and max of a gauge or the increase of a counter over its measured window.
//! Works against any Prometheus target; a failed scrape is counted, never fatal. A [`Probe`]
//! (`--target-pid`) is read on the same clock into the same samples, file and summaries.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus_parse::{Scrape, Value};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// How often the endpoint is sampled.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Whether a series only grows (its increase is what a window means) or moves both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A counter (or a histogram's count).
    Counter,
    /// A gauge, or an untyped sample.
    Gauge,
}

/// One value of one series at one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When the scrape answered.
    pub at: SystemTime,
    /// `metric{labels}` as one key, labels sorted.
    pub series: String,
    /// Counter or gauge.
    pub kind: Kind,
    /// The value.
    pub value: f64,
}

/// A series over one step's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// Counter or gauge.
    pub kind: Kind,
    /// Gauge: mean of the samples in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Gauge: largest sample in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Counter: increase over the window (from the last sample before it to the last in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
}

/// A source of samples read on the scrape clock beside (or instead of) the URL: `--target-pid`.
pub trait Probe: Send + 'static {
    /// This probe's samples now, stamped `at`; the reason when it cannot be read.
    fn sample(&mut self, at: SystemTime) -> Result<Vec<Sample>, String>;
}

/// Why scraping could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The URL is not an http(s) URL.
    #[error("--scrape {0}: not an http:// or https:// URL")]
    Url(String),
    /// The HTTP client could not be built.
    #[error("--scrape: {0}")]
    Client(String),
}

/// Checks `url` is an http(s) URL the client can send to (host, port in range), before any
/// file is created; the reason when not.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("'{}' is not a URL: {e}", url.escape_debug()))?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(format!(
            "'{}' is not an http:// or https:// URL",
            url.escape_debug()
        ));
    }
    Ok(())
}

/// Parses exposition text into samples stamped `at` (histograms and summaries keep their count).
pub fn parse(text: &str, at: SystemTime) -> Result<Vec<Sample>, String> {
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(scrape.samples.len());
    for s in scrape.samples {
        let mut labels: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        let key = |metric: &str| {
            if labels.is_empty() {
                metric.to_string()
            } else {
                let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                format!("{metric}{{{}}}", l.join(","))
            }
        };
        let (series, kind, value) = match s.value {
            Value::Counter(v) => (key(&s.metric), Kind::Counter, v),
            // An untyped sample named as a counter by the Prometheus conventions (a histogram's
            // `_sum`, `_count` and `_bucket` lines, a `_total`) only grows: its increase over a
            // window is what the window means.
            Value::Untyped(v) if counter_name(&s.metric) => (key(&s.metric), Kind::Counter, v),
            Value::Gauge(v) | Value::Untyped(v) => (key(&s.metric), Kind::Gauge, v),
            Value::Histogram(buckets) => {
                let count = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
                (key(&format!("{}_count", s.metric)), Kind::Counter, count)
            }
            Value::Summary(_) => continue,
        };
        out.push(Sample {
            at,
            series,
            kind,
            value,
        });
    }
    Ok(out)
}

/// The target's whole exposition text at the run's two ends: what `loadgen report` reads as
/// the server's snapshot (the end) and subtracts its counters from (the start), so the run's
/// totals count only its own traffic, from idle to idle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshots {
    /// The first successful scrape, before the first step's traffic.
    pub start: Option<String>,
    /// The last successful scrape: after the run, once every request resolved.
    pub end: Option<String>,
}

/// What a stopped sampler hands back.
#[derive(Debug, Default)]
pub struct Finished {
    /// Every sample of every series.
    pub samples: Vec<Sample>,
    /// Failed scrapes.
    pub failed: u64,
    /// The last failure's reason.
    pub why: Option<String>,
    /// The exposition text at the run's two ends.
    pub snapshots: Snapshots,
    /// Failed readings of the probe.
    pub probe_failed: u64,
    /// The last one's reason.
    pub probe_why: Option<String>,
}

/// Whether a metric name is a counter's by the exposition conventions: `_total`, or a histogram's
/// or summary's `_sum`, `_count` and `_bucket`.
fn counter_name(metric: &str) -> bool {
    ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|suffix| metric.ends_with(suffix))
}

/// The running sampler.
pub struct Scraper {
    samples: Arc<Mutex<Vec<Sample>>>,
    /// The exposition text of the first and of the latest successful scrape.
    texts: Arc<Mutex<Snapshots>>,
    failures: Arc<Mutex<(u64, Option<String>)>>,
    probe_failures: Arc<Mutex<(u64, Option<String>)>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Scraper {
    /// Starts sampling `url` and `probe` (either may be absent) every second, writing each
    /// sample to `csv`.
    pub fn start(
        url: Option<&str>,
        mut probe: Option<Box<dyn Probe>>,
        mut csv: impl Write + Send + 'static,
    ) -> Result<Scraper, ScrapeError> {
        if let Some(url) = url.filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(ScrapeError::Url(url.to_string()));
        }
        let client = reqwest::Client::builder()
            .timeout(INTERVAL)
            .build()
            .map_err(|e| ScrapeError::Client(e.to_string()))?;
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let texts: Arc<Mutex<Snapshots>> = Arc::default();
        let failures: Arc<Mutex<(u64, Option<String>)>> = Arc::default();
        let probe_failures: Arc<Mutex<(u64, Option<String>)>> = Arc::default();
        let stop = CancellationToken::new();
        let task = {
            let (samples, texts, failures, probe_failures, stop, url) = (
                samples.clone(),
                texts.clone(),
                failures.clone(),
                probe_failures.clone(),
                stop.clone(),
                url.map(str::to_string),
            );
            tokio::spawn(async move {
                writeln!(csv, "unix_s,series,kind,value")?;
                let mut tick = tokio::time::interval(INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut last = false;
                while !last {
                    tokio::select! {
                        _ = tick.tick() => {}
                        // One more scrape once the run is over: the end snapshot.
                        _ = stop.cancelled() => last = true,
                    }
                    let mut batch = Vec::new();
                    if let Some(probe) = probe.as_mut() {
                        match probe.sample(SystemTime::now()) {
                            Ok(got) => batch.extend(got),
                            Err(e) => count(&probe_failures, e),
                        }
                    }
                    let got = async {
                        let Some(url) = &url else {
                            return Ok(Vec::new());
                        };
                        let r = client.get(url).send().await.map_err(|e| e.to_string())?;
                        if !r.status().is_success() {
                            return Err(format!("HTTP {}", r.status()));
                        }
                        let text = r.text().await.map_err(|e| e.to_string())?;
                        let batch = parse(&text, SystemTime::now())?;
                        let mut t = texts.lock().unwrap_or_else(|e| e.into_inner());
                        if t.start.is_none() {
                            t.start = Some(text.clone());
                        }
                        t.end = Some(text);
                        Ok(batch)
                    }
                    .await;
                    match got {
                        Ok(scraped) => batch.extend(scraped),
                        Err(e) => count(&failures, e),
                    }
                    if !batch.is_empty() {
                        for s in &batch {
                            let t =
                                s.at.duration_since(SystemTime::UNIX_EPOCH)
                                    .unwrap_or_default()
                                    .as_secs_f64();
                            let kind = match s.kind {
                                Kind::Counter => "counter",
                                Kind::Gauge => "gauge",
                            };
                            let series = s.series.replace('"', "\"\"");
                            writeln!(csv, "{t:.3},\"{series}\",{kind},{}", s.value)?;
                        }
                        csv.flush()?;
                        samples
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(batch);
                    }
                }
                csv.flush()
            })
        };
        Ok(Scraper {
            samples,
            texts,
            failures,
            probe_failures,
            stop,
            task,
        })
    }

    /// Stops sampling after one last scrape; returns every sample, the failed scrapes with the
    /// last reason, and the exposition text at the run's two ends.
    pub async fn finish(self) -> std::io::Result<Finished> {
        self.stop.cancel();
        match self.task.await {
            Ok(r) => r?,
            Err(e) => return Err(std::io::Error::other(e)),
        }
        let samples = take(&self.samples);
        let snapshots = take(&self.texts);
        let (failed, why) = take(&self.failures);
        let (probe_failed, probe_why) = take(&self.probe_failures);
        Ok(Finished {
            samples,
            failed,
            why,
            snapshots,
            probe_failed,
            probe_why,
        })
    }
}

/// Counts one failure and keeps its reason as the last.
fn count(failures: &Mutex<(u64, Option<String>)>, why: String) {
    let mut f = failures.lock().unwrap_or_else(|e| e.into_inner());
    f.0 += 1;
    f.1 = Some(why);
}

/// Takes the value out of a mutex, leaving the default (a poisoned lock still yields it).
fn take<T: Default>(m: &Mutex<T>) -> T {
    std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Every series over `from..to`: gauges' mean and max of the samples inside, counters' increase
/// from the last sample at or before `from` (else the first inside) to the last inside.
pub fn summarize(
    samples: &[Sample],
    from: SystemTime,
    to: SystemTime,
) -> BTreeMap<String, SeriesSummary> {
    let mut by_series: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by_series.entry(&s.series).or_default().push(s);
    }
    let mut out = BTreeMap::new();
    for (series, list) in by_series {
        let kind = list[0].kind;
        let inside: Vec<&&Sample> = list.iter().filter(|s| s.at > from && s.at <= to).collect();
        let Some(last) = inside.last() else { continue };
        let summary = match kind {
            Kind::Gauge => SeriesSummary {
                kind,
                mean: Some(inside.iter().map(|s| s.value).sum::<f64>() / inside.len() as f64),
                max: Some(inside.iter().map(|s| s.value).fold(f64::MIN, f64::max)),
                delta: None,
            },
            Kind::Counter => {
                let before = list.iter().rfind(|s| s.at <= from).map(|s| s.value);
                let base = before.or(inside.first().map(|s| s.value)).unwrap_or(0.0);
                // A counter that went down was reset: count from zero.
                let delta = if last.value >= base {
                    last.value - base
                } else {
                    last.value
                };
                SeriesSummary {
                    kind,
                    mean: None,
                    max: None,
                    delta: Some(delta),
                }
            }
        };
        out.insert(series.to_string(), summary);
    }
    out
}

impl Scraper {
    /// The samples so far, shared: the live view (`--dashboard`) reads the latest ones each
    /// second.
    pub fn live_samples(&self) -> Arc<Mutex<Vec<Sample>>> {
        self.samples.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn exposition_text_becomes_keyed_samples() {
        let text = "# TYPE q gauge\nq 3\n# TYPE c_total counter\nc_total{b=\"2\",a=\"1\"} 7\n";
        let s = parse(text, at(1)).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].series.as_str(), s[0].kind, s[0].value),
            ("q", Kind::Gauge, 3.0)
        );
        assert_eq!(s[1].series, "c_total{a=\"1\",b=\"2\"}");
        assert_eq!(s[1].kind, Kind::Counter);
    }

    #[test]
    fn a_histograms_sum_and_count_are_counters() {
        let text = "# TYPE d histogram\nd_bucket{le=\"1\"} 2\nd_bucket{le=\"+Inf\"} 3\n\
                    d_sum 4.5\nd_count 3\n# TYPE g gauge\ng_sum_of_things 1\n";
        let s = parse(text, at(1)).unwrap();
        let kind = |name: &str| s.iter().find(|x| x.series == name).map(|x| x.kind);
        assert_eq!(kind("d_sum"), Some(Kind::Counter));
        assert_eq!(kind("d_count"), Some(Kind::Counter));
        assert_eq!(kind("g_sum_of_things"), Some(Kind::Gauge));
    }

    #[test]
    fn a_window_gives_gauge_mean_and_max_and_counter_increase() {
        let mk = |t, series: &str, kind, value| Sample {
            at: at(t),
            series: series.into(),
            kind,
            value,
        };
        let samples = vec![
            mk(1, "q", Kind::Gauge, 9.0),
            mk(1, "c", Kind::Counter, 10.0),
            mk(2, "q", Kind::Gauge, 2.0),
            mk(2, "c", Kind::Counter, 14.0),
            mk(3, "q", Kind::Gauge, 4.0),
            mk(3, "c", Kind::Counter, 20.0),
            mk(4, "c", Kind::Counter, 30.0),
        ];
        let w = summarize(&samples, at(1), at(3));
        assert_eq!(w["q"].mean, Some(3.0));
        assert_eq!(w["q"].max, Some(4.0));
        assert_eq!(
            w["c"].delta,
            Some(10.0),
            "20 at the end of the window − 10 before it"
        );
    }
}
