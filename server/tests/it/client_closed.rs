//! A request whose client hangs up before the answer is still counted (status `499`) and logged.

use std::time::Duration;

use serde_json::json;

use crate::support::{mocks, settings, wait_until, TestServer};

async fn metrics_text(server: &TestServer) -> String {
    reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn a_request_cut_by_the_client_is_counted_as_499() {
    let (trading, claude) = mocks(800).await;
    let server = TestServer::start(settings(&trading.url(), &claude.url())).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(format!("{}/analyze", server.url()))
        .json(&json!({"query": "Should I buy AAPL?"}))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client timed out");
    let counted = regex::Regex::new(
        r#"analyze_requests_total\{[^}]*route="/analyze"[^}]*status="499"[^}]*\} 1\b|analyze_requests_total\{[^}]*status="499"[^}]*route="/analyze"[^}]*\} 1\b"#,
    )
    .expect("regex");
    wait_until("analyze_requests_total{status=\"499\"} == 1", || async {
        counted.is_match(&metrics_text(&server).await)
    })
    .await;
    let text = metrics_text(&server).await;
    let analyze_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("analyze_requests_total{") && l.contains(r#"route="/analyze""#))
        .collect();
    assert_eq!(
        analyze_lines.len(),
        1,
        "the cut request is counted once, as 499 only: {analyze_lines:?}"
    );
}
