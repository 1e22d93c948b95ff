//! What the server's `/metrics` says about a run, read with the `prometheus-parse` exposition
//! parser: its permits and live limit, the analyses it served, the model calls and tokens they
//! took, whether the provider pushed back, and the tier the provider reported in its
//! `anthropic-ratelimit-*` headers. Every figure here is measured by the server; the report
//! uses them in place of guessed flags (flags still override).

use prometheus_parse::{Scrape, Value};

use crate::input::histogram::Histogram;

/// The provider tier as the provider reported it (per minute).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ReportedTier {
    /// Requests per minute.
    pub rpm: Option<f64>,
    /// Input tokens per minute.
    pub itpm: Option<f64>,
    /// Output tokens per minute.
    pub otpm: Option<f64>,
}

/// The figures of one `/metrics` snapshot the report uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSnapshot {
    /// `analyze_capacity`: the permit ceiling (0 in legacy mode).
    pub capacity: Option<f64>,
    /// `analyze_concurrency_limit`: the live limit when the snapshot was taken.
    pub limit: Option<f64>,
    /// `/analyze` requests answered 200.
    pub analyses_ok: f64,
    /// Model calls answered 2xx.
    pub model_calls_ok: f64,
    /// Model calls the provider pushed back (429, 529, 503: outcome `overloaded`).
    pub pushbacks: f64,
    /// Input tokens the provider billed (`upstream_tokens_total{direction="input"}`).
    pub input_tokens: Option<f64>,
    /// Output tokens the provider billed.
    pub output_tokens: Option<f64>,
    /// `upstream_ratelimit_limit{resource=…}`.
    pub tier: ReportedTier,
    /// The per-analysis histograms (`analyze_model_calls`, `analyze_input_tokens`,
    /// `analyze_output_tokens`), by metric name.
    pub histograms: std::collections::BTreeMap<String, Histogram>,
}

/// The per-analysis histograms the report reads.
const PER_ANALYSIS: [&str; 3] = [
    "analyze_model_calls",
    "analyze_input_tokens",
    "analyze_output_tokens",
];

/// Adds one sample to a per-analysis histogram: typed exposition (`# TYPE … histogram`) gives
/// the buckets as one value; untyped lines (scrape.csv) give `_bucket{le}`, `_sum`, `_count`.
fn histogram_sample(
    histograms: &mut std::collections::BTreeMap<String, Histogram>,
    sample: &prometheus_parse::Sample,
) {
    let name = sample.metric.as_str();
    let Some(base) = PER_ANALYSIS.iter().find(|m| name.starts_with(**m)) else {
        return;
    };
    let h = histograms.entry(base.to_string()).or_default();
    match (&name[base.len()..], &sample.value) {
        ("", Value::Histogram(buckets)) => {
            h.buckets = buckets.iter().map(|b| (b.less_than, b.count)).collect()
        }
        ("_bucket", v) => {
            if let (Some(c), Some(le)) = (
                number(v),
                sample
                    .labels
                    .get("le")
                    .and_then(|l| l.replace("+Inf", "inf").parse::<f64>().ok()),
            ) {
                h.buckets.push((le, c));
            }
        }
        ("_sum", v) => h.sum = number(v).unwrap_or(0.0),
        ("_count", v) => h.count = number(v).unwrap_or(0.0),
        _ => {}
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => Some(*x),
        _ => None,
    }
}

impl ServerSnapshot {
    /// Parses Prometheus text exposition; `Err` when it is not exposition text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .map_err(|e| format!("not Prometheus text: {e}"))?;
        let mut s = ServerSnapshot::default();
        let add = |slot: &mut Option<f64>, v: f64| *slot = Some(slot.unwrap_or(0.0) + v);
        for sample in &scrape.samples {
            histogram_sample(&mut s.histograms, sample);
            let Some(v) = number(&sample.value) else {
                continue;
            };
            let label = |k: &str| sample.labels.get(k);
            match sample.metric.as_str() {
                "analyze_capacity" => s.capacity = Some(v),
                "analyze_concurrency_limit" => s.limit = Some(v),
                "analyze_requests_total"
                    if label("route") == Some("/analyze") && label("status") == Some("200") =>
                {
                    s.analyses_ok += v
                }
                "upstream_calls_total" if label("api") == Some("claude") => {
                    match label("outcome") {
                        Some("ok") => s.model_calls_ok += v,
                        Some("overloaded") => s.pushbacks += v,
                        _ => {}
                    }
                }
                "upstream_tokens_total" if label("api") == Some("claude") => {
                    match label("direction") {
                        Some("input") => add(&mut s.input_tokens, v),
                        Some("output") => add(&mut s.output_tokens, v),
                        _ => {}
                    }
                }
                "upstream_ratelimit_limit" if label("api") == Some("claude") && v > 0.0 => {
                    match label("resource") {
                        Some("requests") => s.tier.rpm = Some(v),
                        Some("input_tokens") => s.tier.itpm = Some(v),
                        Some("output_tokens") => s.tier.otpm = Some(v),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        s.histograms = std::mem::take(&mut s.histograms)
            .into_iter()
            .map(|(k, h)| (k, h.normalized()))
            .filter(|(_, h)| !h.buckets.is_empty())
            .collect();
        Ok(s)
    }

    /// The permits of the measured server (`None` in legacy mode or when not exported).
    pub fn permits(&self) -> Option<u32> {
        self.capacity
            .filter(|&c| c >= 1.0)
            .map(|c| c.round() as u32)
    }

    /// The run's own share of the counters: this snapshot (taken at the run's end) less the
    /// one taken at its start, so traffic the server served before the run does not count.
    /// Gauges (permits, limit, tier) are the end's. A counter that went down was reset (a
    /// restarted server): the end's value is the run's.
    pub fn since(&self, start: &ServerSnapshot) -> ServerSnapshot {
        let less = |end: f64, start: f64| if end >= start { end - start } else { end };
        let less_opt =
            |end: Option<f64>, start: Option<f64>| end.map(|e| less(e, start.unwrap_or(0.0)));
        ServerSnapshot {
            analyses_ok: less(self.analyses_ok, start.analyses_ok),
            model_calls_ok: less(self.model_calls_ok, start.model_calls_ok),
            pushbacks: less(self.pushbacks, start.pushbacks),
            input_tokens: less_opt(self.input_tokens, start.input_tokens),
            output_tokens: less_opt(self.output_tokens, start.output_tokens),
            histograms: self
                .histograms
                .iter()
                .map(|(k, h)| {
                    let run = match start.histograms.get(k) {
                        Some(s) => h.since(s),
                        None => h.clone(),
                    };
                    (k.clone(), run)
                })
                .collect(),
            ..self.clone()
        }
    }

    /// Model calls per served analysis, when the server served any.
    pub fn calls_per_analysis(&self) -> Option<f64> {
        (self.analyses_ok > 0.0 && self.model_calls_ok > 0.0)
            .then(|| self.model_calls_ok / self.analyses_ok)
    }

    /// (input, output) tokens per model call, when reported.
    pub fn tokens_per_call(&self) -> (Option<f64>, Option<f64>) {
        let per = |t: Option<f64>| {
            t.filter(|_| self.model_calls_ok > 0.0)
                .map(|t| t / self.model_calls_ok)
        };
        (per(self.input_tokens), per(self.output_tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE analyze_capacity gauge
analyze_capacity 10
# TYPE analyze_concurrency_limit gauge
analyze_concurrency_limit 8
# TYPE analyze_requests_total counter
analyze_requests_total{route="/analyze",status="200"} 100
analyze_requests_total{route="/analyze",status="503"} 7
analyze_requests_total{route="/health",status="200"} 3
# TYPE upstream_calls_total counter
upstream_calls_total{api="claude",outcome="ok"} 200
upstream_calls_total{api="claude",outcome="overloaded"} 4
upstream_calls_total{api="trading",outcome="ok"} 300
# TYPE upstream_tokens_total counter
upstream_tokens_total{api="claude",direction="input"} 57000
upstream_tokens_total{api="claude",direction="output"} 5900
# TYPE upstream_ratelimit_limit gauge
upstream_ratelimit_limit{api="claude",resource="requests"} 2000
upstream_ratelimit_limit{api="claude",resource="input_tokens"} 400000
upstream_ratelimit_limit{api="claude",resource="output_tokens"} 80000
"#;

    #[test]
    fn a_snapshot_gives_permits_work_tokens_and_the_tier() {
        let s = ServerSnapshot::parse(TEXT).unwrap();
        assert_eq!(s.permits(), Some(10));
        assert_eq!(s.limit, Some(8.0));
        assert_eq!(
            (s.analyses_ok, s.model_calls_ok, s.pushbacks),
            (100.0, 200.0, 4.0)
        );
        assert_eq!(s.calls_per_analysis(), Some(2.0));
        assert_eq!(s.tokens_per_call(), (Some(285.0), Some(29.5)));
        assert_eq!(
            s.tier,
            ReportedTier {
                rpm: Some(2000.0),
                itpm: Some(400_000.0),
                otpm: Some(80_000.0)
            }
        );
    }

    #[test]
    fn the_runs_own_counters_are_the_end_less_the_start() {
        let end = ServerSnapshot::parse(TEXT).unwrap();
        let start = ServerSnapshot::parse(
            "analyze_requests_total{route=\"/analyze\",status=\"200\"} 40\n\
             upstream_calls_total{api=\"claude\",outcome=\"ok\"} 80\n\
             upstream_tokens_total{api=\"claude\",direction=\"input\"} 22800\n",
        )
        .unwrap();
        let run = end.since(&start);
        assert_eq!(
            (run.analyses_ok, run.model_calls_ok, run.pushbacks),
            (60.0, 120.0, 4.0)
        );
        assert_eq!(run.input_tokens, Some(34_200.0));
        assert_eq!(run.output_tokens, Some(5900.0));
        assert_eq!((run.permits(), run.tier), (end.permits(), end.tier));
        // A counter below its start value was reset: the end's value is the run's.
        let restarted = ServerSnapshot::parse(TEXT).unwrap().since(&ServerSnapshot {
            analyses_ok: 500.0,
            ..Default::default()
        });
        assert_eq!(restarted.analyses_ok, 100.0);
    }

    const SPREAD: &str = "# TYPE analyze_model_calls histogram\n\
        analyze_model_calls_bucket{le=\"1\"} 4\n\
        analyze_model_calls_bucket{le=\"2\"} 10\n\
        analyze_model_calls_bucket{le=\"+Inf\"} 10\n\
        analyze_model_calls_sum 16\n\
        analyze_model_calls_count 10\n";

    #[test]
    fn per_analysis_histograms_are_read_typed_or_untyped_and_the_run_is_end_less_start() {
        let end = ServerSnapshot::parse(SPREAD).unwrap();
        let h = &end.histograms["analyze_model_calls"];
        assert_eq!(
            h.buckets,
            vec![(1.0, 4.0), (2.0, 10.0), (f64::INFINITY, 10.0)]
        );
        assert_eq!((h.sum, h.count), (16.0, 10.0));
        // scrape.csv's lines carry no TYPE: the same histogram from untyped samples.
        let untyped: String = SPREAD.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            ServerSnapshot::parse(&untyped).unwrap().histograms,
            end.histograms
        );
        let start = ServerSnapshot::parse(
            "analyze_model_calls_bucket{le=\"1\"} 2\n\
             analyze_model_calls_bucket{le=\"2\"} 3\n\
             analyze_model_calls_bucket{le=\"+Inf\"} 3\n\
             analyze_model_calls_sum 4\nanalyze_model_calls_count 3\n",
        )
        .unwrap();
        let run = &end.since(&start).histograms["analyze_model_calls"];
        assert_eq!(
            run.buckets,
            vec![(1.0, 2.0), (2.0, 7.0), (f64::INFINITY, 7.0)]
        );
        assert_eq!((run.sum, run.count), (12.0, 7.0));
    }

    #[test]
    fn legacy_mode_has_no_permits() {
        let s = ServerSnapshot::parse("analyze_capacity 0\n").unwrap();
        assert_eq!(s.permits(), None);
        assert_eq!(s.calls_per_analysis(), None);
    }
}
