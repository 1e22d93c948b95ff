//! The standard signals a report can read from any service: the Prometheus clients' process
//! metrics and the OpenTelemetry HTTP metrics, checked against what the mocks counted.

use serde_json::json;

use crate::support::{mocks, settings, TestServer};

/// The value of the one series `name{labels}` whose labels include all of `having`.
fn series(text: &str, name: &str, having: &[&str]) -> Vec<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (metric, labels) = key.split_once('{').unwrap_or((key, ""));
            (metric == name && having.iter().all(|h| labels.contains(h)))
                .then(|| value.parse().expect("a number"))
        })
        .collect()
}

fn one(text: &str, name: &str, having: &[&str]) -> f64 {
    let found = series(text, name, having);
    assert_eq!(found.len(), 1, "{name} {having:?}: {found:?} in\n{text}");
    found[0]
}

#[tokio::test]
async fn process_and_opentelemetry_http_metrics_count_what_the_mocks_saw() {
    let (trading, claude) = mocks(0).await;
    let server = TestServer::start(settings(&trading.url(), &claude.url())).await;
    let client = reqwest::Client::new();
    let analyses = 4;
    for _ in 0..analyses {
        let r = server.analyze(&client, json!({"query": "AAPL?"})).await;
        assert_eq!(r.status(), 200);
    }
    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");

    // The process: CPU spent (an analysis is JSON work on both sides, all in this process),
    // memory held, started in the past, file descriptors open (the listener at least).
    assert!(one(&text, "process_cpu_seconds_total", &[]) > 0.0, "{text}");
    assert!(
        one(&text, "process_resident_memory_bytes", &[]) > 1e6,
        "{text}"
    );
    let start = one(&text, "process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        start > now - 3600.0 && start <= now + 1.0,
        "{start} vs {now}"
    );
    assert!(one(&text, "process_open_fds", &[]) >= 1.0, "{text}");
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));

    // Server side: one duration per /analyze request, by method, route and status; nothing
    // active after the answers but the /metrics request being answered now.
    let route = [
        "http_request_method=\"POST\"",
        "http_route=\"/analyze\"",
        "http_response_status_code=\"200\"",
    ];
    assert_eq!(
        one(&text, "http_server_request_duration_seconds_count", &route),
        f64::from(analyses)
    );
    assert!(one(&text, "http_server_request_duration_seconds_sum", &route) > 0.0);
    assert_eq!(
        one(
            &text,
            "http_server_request_duration_seconds_bucket",
            &[route[1], "le=\"0.075\""]
        ),
        f64::from(analyses),
        "the OpenTelemetry buckets (0.075 among them): mock calls take no time"
    );
    assert_eq!(
        one(
            &text,
            "http_server_active_requests",
            &["http_request_method=\"POST\"", "url_scheme=\"http\""]
        ),
        0.0
    );
    assert_eq!(
        one(
            &text,
            "http_server_active_requests",
            &["http_request_method=\"GET\""]
        ),
        1.0,
        "the scrape itself"
    );

    // Client side: one duration per outbound request, by the upstream's address and port,
    // as many as each mock received.
    for (mock, method) in [(&claude, "POST"), (&trading, "GET")] {
        let port = mock.url().rsplit(':').next().expect("a port").to_string();
        let port = format!("server_port=\"{}\"", port.trim_end_matches('/'));
        let peer = [
            "server_address=\"127.0.0.1\"",
            port.as_str(),
            "http_response_status_code=\"200\"",
        ];
        let count = one(&text, "http_client_request_duration_seconds_count", &peer);
        assert_eq!(count, mock.stats().requests_total as f64, "{method}");
        assert!(count >= f64::from(analyses), "{method}: {count}");
        assert!(text.contains(&format!("http_request_method=\"{method}\"")));
    }
}
