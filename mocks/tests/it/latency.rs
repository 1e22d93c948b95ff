//! The latency model as seen over HTTP: means within generous bounds (two noisy cores), and the
//! token model (ttft + tokens / tokens_per_sec) on top of it.

use std::time::{Duration, Instant};

use mocks::LatencyDist;
use serde_json::Value;

use crate::support::*;

async fn mean_latency(url: &str, n: u32) -> Duration {
    let client = reqwest::Client::new();
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let start = Instant::now();
        client
            .get(format!("{url}/v1/quotes/AAPL"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        total += start.elapsed();
    }
    total / n
}

#[tokio::test]
async fn lognormal_latency_has_roughly_the_configured_mean() {
    let t = trading(|s| {
        s.latency.latency_ms = 40;
        s.latency.latency_dist = LatencyDist::Lognormal;
        s.latency.latency_jitter = 0.3;
    })
    .await;
    let mean = mean_latency(&t.url(), 40).await;
    assert!(
        mean >= Duration::from_millis(30) && mean <= Duration::from_millis(80),
        "{mean:?}"
    );
}

#[tokio::test]
async fn stalls_add_their_delay() {
    let fast = trading(|_| {}).await;
    let stalled = trading(|s| {
        s.faults.stall_rate = 1.0;
        s.faults.stall_ms = 150;
    })
    .await;
    let (a, b) = (
        mean_latency(&fast.url(), 3).await,
        mean_latency(&stalled.url(), 3).await,
    );
    assert!(
        b >= Duration::from_millis(150) && b > a * 3,
        "fast {a:?} stalled {b:?}"
    );
}

#[tokio::test]
async fn claude_time_is_ttft_plus_output_tokens_over_speed() {
    let c = claude(|s| {
        s.ttft_ms = 100;
        s.tokens_per_sec = 200.0;
    })
    .await;
    let client = reqwest::Client::new();
    let start = Instant::now();
    let r = post_messages(
        &client,
        &c.url(),
        &first_turn("Compare AAPL, MSFT and NVDA over 30 days"),
    )
    .await;
    let body: Value = r.json().await.unwrap();
    let elapsed = start.elapsed();
    let tokens = body["usage"]["output_tokens"].as_u64().unwrap();
    let expected = Duration::from_millis(100) + Duration::from_secs_f64(tokens as f64 / 200.0);
    assert!(elapsed >= expected, "{elapsed:?} < {expected:?}");
    assert!(elapsed < expected * 3, "{elapsed:?} far above {expected:?}");
}
