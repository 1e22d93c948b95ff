//! `Retry-After` follows load: a request refused behind a long line is told to wait longer than
//! one that reached the head of the line (position × recent service time ÷ N).

use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use crate::support::{mocks, settings, TestServer};

/// POST /analyze in the background; yields (status, retry-after-ms, error type).
fn spawn_analyze(url: &str) -> JoinHandle<(u16, Option<u64>, String)> {
    let url = format!("{url}/analyze");
    tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .json(&json!({"query": "Should I buy AAPL?"}))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let retry_after_ms = response
            .headers()
            .get("retry-after-ms")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let kind = body["error"]["type"].as_str().unwrap_or("").to_string();
        (status, retry_after_ms, kind)
    })
}

#[tokio::test]
async fn retry_after_grows_with_the_position_in_line() {
    // N = 1 held by a 5 s analysis, four waiting: the fifth in line is refused at once, the first
    // times out at the head of the line. Same service time, five times the position.
    let (trading, claude) = mocks(5_000).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 1;
    s.admission.max_queue_depth = 4;
    s.admission.queue_timeout = Duration::from_millis(1_000);
    let server = TestServer::start(s).await;
    let _running = spawn_analyze(&server.url());
    server.wait_for_health("in_flight", 1).await;
    let mut waiting = Vec::new();
    for depth in 1..=4 {
        waiting.push(spawn_analyze(&server.url()));
        server.wait_for_health("queue_depth", depth).await;
    }
    let (status, behind_four, kind) = spawn_analyze(&server.url()).await.expect("join");
    assert_eq!((status, kind.as_str()), (503, "over_capacity"));
    let (status, at_head, kind) = waiting.remove(0).await.expect("join");
    assert_eq!((status, kind.as_str()), (503, "queue_timeout"));
    let (behind_four, at_head) = (
        behind_four.expect("retry-after-ms"),
        at_head.expect("retry-after-ms"),
    );
    assert!(
        behind_four > 4 * at_head && behind_four < 6 * at_head,
        "position 5 waits about 5× position 1: {behind_four} ms vs {at_head} ms"
    );
}
