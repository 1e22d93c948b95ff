//! The service's Prometheus instruments. The recorder lives in [`crate::AppState`] (not a global),
//! so every in-process server has its own numbers; names follow Prometheus conventions
//! (`_total` counters, `_seconds` units) and pass `promtool check metrics`. Beside our own
//! metrics, the standard signals any service may give: the process metrics of the Prometheus
//! clients ([`process`]) and the OpenTelemetry HTTP metrics ([`semconv`]).

pub mod process;
pub mod semconv;

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use self::semconv::{CallEnd, Peer};
use crate::tier::BudgetKind;

/// Latency buckets in seconds, from a fast mock round trip to a slow multi-turn analysis.
const BUCKETS_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

/// Token buckets per analysis (input and output), roughly doubling: from a one-call answer of a
/// few dozen tokens to a long multi-turn analysis near a model's context.
const BUCKETS_TOKENS: &[f64] = &[
    25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0, 25600.0, 51200.0,
    102400.0,
];

/// Model calls per analysis: one per turn, up to the `MAX_TURNS` ceiling of 50.
const BUCKETS_CALLS: &[f64] = &[
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0,
];

/// Point-in-time values sampled when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Analyses holding a permit.
    pub in_flight: usize,
    /// The ceiling N (0 in legacy mode).
    pub capacity: usize,
    /// The live limit.
    pub limit: usize,
    /// Requests waiting.
    pub queue_depth: usize,
    /// 0 closed, 1 half-open, 2 open.
    pub circuit_state: f64,
    /// Shared cool-down left.
    pub cooldown: Duration,
    /// Pacing interval in force and the budget that sets it (None when not pacing).
    pub pacing: Option<(Duration, BudgetKind)>,
}

/// Owns the recorder; every method records one event.
pub struct Instruments {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Instruments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Instruments")
    }
}

impl Default for Instruments {
    fn default() -> Self {
        Self::new()
    }
}

impl Instruments {
    /// A fresh recorder with every metric described (so HELP/TYPE lines exist from the start).
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS_SECONDS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("analyze_input_tokens".into()),
                    BUCKETS_TOKENS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("analyze_output_tokens".into()),
                    BUCKETS_TOKENS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("analyze_model_calls".into()), BUCKETS_CALLS)
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(semconv::SERVER_DURATION.into()),
                    semconv::BUCKETS_SECONDS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(semconv::CLIENT_DURATION.into()),
                    semconv::BUCKETS_SECONDS,
                )
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_counter!(
                "analyze_requests_total",
                "HTTP requests answered, by route and status."
            );
            describe_histogram!(
                "analyze_request_duration_seconds",
                Unit::Seconds,
                "Time to answer a request."
            );
            describe_gauge!("analyze_in_flight", "Analyses holding a permit now.");
            describe_histogram!(
                "analyze_input_tokens",
                "Input tokens the model API billed per completed analysis, summed over its calls."
            );
            describe_histogram!(
                "analyze_output_tokens",
                "Output tokens the model API billed per completed analysis, summed over its calls."
            );
            describe_histogram!(
                "analyze_model_calls",
                "Model calls (turns) per completed analysis."
            );
            describe_gauge!(
                "analyze_capacity",
                "Permits (MAX_CONCURRENT_ANALYSES); 0 in legacy mode."
            );
            describe_gauge!("analyze_queue_depth", "Requests waiting for a permit now.");
            describe_histogram!(
                "analyze_queue_wait_seconds",
                Unit::Seconds,
                "Time admitted requests waited."
            );
            describe_counter!(
                "analyze_rejections_total",
                "Requests refused by admission control, by reason."
            );
            describe_counter!(
                "upstream_calls_total",
                "Calls to an upstream API, by API and outcome."
            );
            describe_histogram!(
                "upstream_call_duration_seconds",
                Unit::Seconds,
                "Duration of one upstream call."
            );
            describe_counter!("upstream_retries_total", "Retried upstream calls, by API.");
            describe_gauge!(
                "analyze_concurrency_limit",
                "Live concurrency limit (adaptive: between MIN_ and MAX_CONCURRENT_ANALYSES); 0 in legacy mode."
            );
            describe_counter!(
                "upstream_cooldowns_total",
                "Times a 429/529 wait hint started or extended the shared cool-down, by API."
            );
            describe_gauge!(
                "upstream_cooldown_remaining_seconds",
                "Time left before new model calls may start (shared cool-down)."
            );
            describe_gauge!(
                "upstream_pacing_interval_seconds",
                "Spacing between model calls the tier pacer enforces now, on the series of the budget that sets it (requests, input_tokens, output_tokens, tokens); 0 on the others and when not pacing."
            );
            describe_gauge!(
                "upstream_circuit_state",
                "Circuit breaker: 0 closed, 1 half-open, 2 open."
            );
            describe_counter!(
                "upstream_tokens_total",
                "Tokens the model API billed (its response `usage`), by API and direction (input, output)."
            );
            describe_gauge!(
                "upstream_ratelimit_limit",
                "Per-minute budget the model API last reported (anthropic-ratelimit-*-limit), by API and resource."
            );
            describe_gauge!(
                "upstream_ratelimit_remaining",
                "What was left of that budget at the last response (anthropic-ratelimit-*-remaining), by API and resource."
            );
            describe_histogram!(
                semconv::SERVER_DURATION,
                Unit::Seconds,
                "Duration of HTTP server requests (OpenTelemetry http.server.request.duration)."
            );
            describe_gauge!(
                semconv::SERVER_ACTIVE,
                "Number of active HTTP server requests (OpenTelemetry http.server.active_requests)."
            );
            describe_histogram!(
                semconv::CLIENT_DURATION,
                Unit::Seconds,
                "Duration of HTTP client requests, one per attempt (OpenTelemetry http.client.request.duration)."
            );
        });
        Instruments { recorder, handle }
    }

    /// One answered HTTP request.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("analyze_requests_total", "route" => route.to_string(), "status" => status.to_string())
                .increment(1);
            histogram!("analyze_request_duration_seconds", "route" => route.to_string())
                .record(took.as_secs_f64());
        });
    }

    /// One answered HTTP request in the OpenTelemetry terms: its method, its route (left out
    /// when no route matched, as the conventions ask) and status.
    pub fn http_server_request(
        &self,
        method: &str,
        route: Option<&str>,
        status: u16,
        took: Duration,
    ) {
        let mut labels = vec![
            ("http_request_method", semconv::method(method).to_string()),
            ("http_response_status_code", status.to_string()),
            ("url_scheme", semconv::URL_SCHEME.to_string()),
        ];
        if let Some(route) = route {
            labels.push(("http_route", route.to_string()));
        }
        metrics::with_local_recorder(&self.recorder, || {
            histogram!(semconv::SERVER_DURATION, &labels).record(took.as_secs_f64());
        });
    }

    /// A request with `method` started (`delta` 1) or ended (-1).
    pub fn http_server_active(&self, method: &str, delta: f64) {
        metrics::with_local_recorder(&self.recorder, || {
            gauge!(
                semconv::SERVER_ACTIVE,
                "http_request_method" => semconv::method(method),
                "url_scheme" => semconv::URL_SCHEME
            )
            .increment(delta);
        });
    }

    /// One outbound HTTP request to `peer` and how it ended.
    pub fn http_client_request(&self, method: &str, peer: &Peer, end: CallEnd, took: Duration) {
        let mut labels = vec![
            ("http_request_method", semconv::method(method).to_string()),
            ("server_address", peer.address.clone()),
            ("server_port", peer.port.clone()),
        ];
        labels.extend(end.labels());
        metrics::with_local_recorder(&self.recorder, || {
            histogram!(semconv::CLIENT_DURATION, &labels).record(took.as_secs_f64());
        });
    }

    /// One refusal by admission control.
    pub fn rejection(&self, reason: &'static str) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("analyze_rejections_total", "reason" => reason).increment(1);
        });
    }

    /// One completed analysis: its tokens and model calls, so a planner sees their spread
    /// per analysis as well as the totals of `upstream_tokens_total`.
    pub fn analysis(&self, input_tokens: u64, output_tokens: u64, model_calls: u32) {
        metrics::with_local_recorder(&self.recorder, || {
            histogram!("analyze_input_tokens").record(input_tokens as f64);
            histogram!("analyze_output_tokens").record(output_tokens as f64);
            histogram!("analyze_model_calls").record(f64::from(model_calls));
        });
    }

    /// Queue wait of an admitted request.
    pub fn queue_wait(&self, waited: Duration) {
        metrics::with_local_recorder(&self.recorder, || {
            histogram!("analyze_queue_wait_seconds").record(waited.as_secs_f64());
        });
    }

    /// One upstream call attempt and how it ended (`ok`, `overloaded`, `error`, `timeout`, ...).
    pub fn upstream_call(&self, api: &'static str, outcome: &'static str, took: Duration) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("upstream_calls_total", "api" => api, "outcome" => outcome).increment(1);
            histogram!("upstream_call_duration_seconds", "api" => api).record(took.as_secs_f64());
        });
    }

    /// One retry of an upstream call.
    pub fn upstream_retry(&self, api: &'static str) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("upstream_retries_total", "api" => api).increment(1);
        });
    }

    /// The shared cool-down was started or extended.
    pub fn upstream_cooldown(&self, api: &'static str) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("upstream_cooldowns_total", "api" => api).increment(1);
        });
    }

    /// Tokens one model call was billed (`usage`).
    pub fn upstream_tokens(&self, api: &'static str, input: u64, output: u64) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("upstream_tokens_total", "api" => api, "direction" => "input")
                .increment(input);
            counter!("upstream_tokens_total", "api" => api, "direction" => "output")
                .increment(output);
        });
    }

    /// The rate-limit budgets a model API response reported in its
    /// `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining}`
    /// headers; a budget the response does not report keeps its last value.
    pub fn upstream_ratelimit(&self, api: &'static str, headers: &http::HeaderMap) {
        let value = |name: String| {
            headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        metrics::with_local_recorder(&self.recorder, || {
            for kind in BudgetKind::ALL {
                let (header, resource) = (kind.header(), kind.as_str());
                if let Some(v) = value(format!("anthropic-ratelimit-{header}-limit")) {
                    gauge!("upstream_ratelimit_limit", "api" => api, "resource" => resource).set(v);
                }
                if let Some(v) = value(format!("anthropic-ratelimit-{header}-remaining")) {
                    gauge!("upstream_ratelimit_remaining", "api" => api, "resource" => resource)
                        .set(v);
                }
            }
        });
    }

    /// Sets the point-in-time gauges and renders the exposition text.
    pub fn render(&self, now: &Gauges) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            gauge!("analyze_in_flight").set(now.in_flight as f64);
            gauge!("analyze_capacity").set(now.capacity as f64);
            gauge!("analyze_concurrency_limit").set(now.limit as f64);
            gauge!("analyze_queue_depth").set(now.queue_depth as f64);
            gauge!("upstream_circuit_state", "api" => "claude").set(now.circuit_state);
            gauge!("upstream_cooldown_remaining_seconds", "api" => "claude")
                .set(now.cooldown.as_secs_f64());
            for kind in BudgetKind::ALL {
                let secs = match now.pacing {
                    Some((interval, by)) if by == kind => interval.as_secs_f64(),
                    _ => 0.0,
                };
                gauge!("upstream_pacing_interval_seconds", "api" => "claude", "budget" => kind.as_str())
                    .set(secs);
            }
        });
        self.handle.run_upkeep();
        let mut text = self.handle.render();
        process::render(&mut text);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_instances_do_not_share_numbers() {
        let (a, b) = (Instruments::new(), Instruments::new());
        a.request("/analyze", 200, Duration::from_millis(5));
        let text_a = a.render(&Gauges {
            in_flight: 1,
            capacity: 10,
            limit: 7,
            ..Gauges::default()
        });
        let text_b = b.render(&Gauges::default());
        assert!(text_a.contains("analyze_concurrency_limit 7"), "{text_a}");
        assert!(
            text_a.contains("analyze_requests_total{route=\"/analyze\",status=\"200\"} 1"),
            "{text_a}"
        );
        assert!(!text_b.contains("analyze_requests_total{"), "{text_b}");
        assert!(text_a.contains("analyze_request_duration_seconds_bucket"));
    }

    #[test]
    fn per_analysis_tokens_and_calls_are_histograms_with_their_own_buckets() {
        let i = Instruments::new();
        i.analysis(570, 59, 2);
        i.analysis(1900, 410, 4);
        let text = i.render(&Gauges::default());
        for line in [
            "# TYPE analyze_model_calls histogram",
            "analyze_model_calls_bucket{le=\"2\"} 1",
            "analyze_model_calls_bucket{le=\"4\"} 2",
            "analyze_model_calls_sum 6",
            "analyze_input_tokens_bucket{le=\"800\"} 1",
            "analyze_input_tokens_bucket{le=\"3200\"} 2",
            "analyze_input_tokens_sum 2470",
            "analyze_output_tokens_bucket{le=\"100\"} 1",
            "analyze_output_tokens_count 2",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
    }

    #[test]
    fn tokens_and_reported_budgets_are_exported_per_resource() {
        let i = Instruments::new();
        i.upstream_tokens("claude", 285, 30);
        i.upstream_tokens("claude", 285, 29);
        let mut h = http::HeaderMap::new();
        h.insert(
            "anthropic-ratelimit-input-tokens-limit",
            "400000".parse().unwrap(),
        );
        h.insert(
            "anthropic-ratelimit-input-tokens-remaining",
            "399430".parse().unwrap(),
        );
        h.insert(
            "anthropic-ratelimit-requests-limit",
            "2000".parse().unwrap(),
        );
        i.upstream_ratelimit("claude", &h);
        let text = i.render(&Gauges::default());
        for line in [
            "upstream_tokens_total{api=\"claude\",direction=\"input\"} 570",
            "upstream_tokens_total{api=\"claude\",direction=\"output\"} 59",
            "upstream_ratelimit_limit{api=\"claude\",resource=\"input_tokens\"} 400000",
            "upstream_ratelimit_remaining{api=\"claude\",resource=\"input_tokens\"} 399430",
            "upstream_ratelimit_limit{api=\"claude\",resource=\"requests\"} 2000",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
        assert!(!text.contains("resource=\"output_tokens\""), "{text}");
    }
}
