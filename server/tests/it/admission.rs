//! Admission control seen from outside: the model never sees more than N calls at once, the
//! queue is FIFO and bounded, waits time out, disconnects leave the queue, and the per-client
//! rate limit answers 429 with the IETF headers.

use std::time::Duration;

use serde_json::{json, Value};
use server::admission::client_ip::TrustedProxies;

use crate::support::{mocks, settings, TestServer};

fn spawn_analyze(url: &str, client: &reqwest::Client) -> tokio::task::JoinHandle<(u16, Value)> {
    let (url, client) = (url.to_string(), client.clone());
    tokio::spawn(async move {
        let r = client
            .post(format!("{url}/analyze"))
            .json(&json!({"query": "AAPL?"}))
            .send()
            .await
            .expect("sent");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json"))
    })
}

#[tokio::test]
async fn with_5n_concurrent_clients_the_model_sees_exactly_n_calls_at_once() {
    const N: usize = 4;
    let (trading, claude) = mocks(60).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = N;
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..5 * N)
        .map(|_| spawn_analyze(&server.url(), &client))
        .collect();
    for task in tasks {
        let (status, body) = task.await.expect("join");
        assert_eq!(status, 200, "{body}");
    }
    let stats = claude.stats();
    assert_eq!(stats.max_in_flight, N as u64, "{stats:?}");
    assert_eq!(
        stats.requests_total,
        2 * 5 * N as u64,
        "two model turns per analysis"
    );
}

#[tokio::test]
async fn queued_requests_are_served_in_arrival_order() {
    let (trading, claude) = mocks(150).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 1;
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    let first = spawn_analyze(&server.url(), &client);
    server.wait_for_health("in_flight", 1).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..4usize {
        let task = spawn_analyze(&server.url(), &client);
        let tx = tx.clone();
        tokio::spawn(async move {
            let (status, body) = task.await.expect("join");
            tx.send((
                i,
                status,
                body["timings"]["queue_ms"].as_f64().unwrap_or(-1.0),
            ))
            .expect("send");
        });
        server.wait_for_health("queue_depth", i + 1).await;
    }
    assert_eq!(first.await.expect("join").0, 200);
    let mut finished = Vec::new();
    for _ in 0..4 {
        finished.push(rx.recv().await.expect("result"));
    }
    let order: Vec<usize> = finished.iter().map(|(i, _, _)| *i).collect();
    assert_eq!(order, vec![0, 1, 2, 3]);
    assert!(finished.iter().all(|(_, status, _)| *status == 200));
    let waits: Vec<f64> = finished.iter().map(|(_, _, q)| *q).collect();
    assert!(
        waits.windows(2).all(|w| w[0] < w[1]),
        "later arrivals waited longer: {waits:?}"
    );
}

#[tokio::test]
async fn a_full_queue_answers_503_at_once_with_retry_after() {
    let (trading, claude) = mocks(400).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 1;
    s.admission.max_queue_depth = 1;
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    let running = spawn_analyze(&server.url(), &client);
    server.wait_for_health("in_flight", 1).await;
    let queued = spawn_analyze(&server.url(), &client);
    server.wait_for_health("queue_depth", 1).await;
    let health = server.health().await;
    assert_eq!(
        (health["status"].as_str(), health["utilization"].as_f64()),
        (Some("saturated"), Some(1.0))
    );

    let refused = server.analyze(&client, json!({"query": "AAPL?"})).await;
    assert_eq!(
        server.health().await["in_flight"],
        1,
        "refused while the first is still running"
    );
    assert_eq!(refused.status(), 503);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["type"], "over_capacity");
    assert_eq!(body["error"]["retry_after_s"], retry_after);
    assert_eq!(running.await.expect("join").0, 200);
    assert_eq!(queued.await.expect("join").0, 200);
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(
        metrics.contains("analyze_rejections_total{reason=\"over_capacity\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_request_that_waits_past_the_queue_timeout_gets_503() {
    let (trading, claude) = mocks(400).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 1;
    s.admission.queue_timeout = Duration::from_millis(150);
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    let running = spawn_analyze(&server.url(), &client);
    server.wait_for_health("in_flight", 1).await;
    let timed_out = server.analyze(&client, json!({"query": "AAPL?"})).await;
    assert_eq!(timed_out.status(), 503);
    assert!(timed_out.headers().contains_key("retry-after"));
    assert!(timed_out.headers().contains_key("retry-after-ms"));
    let body: Value = timed_out.json().await.expect("json");
    assert_eq!(body["error"]["type"], "queue_timeout");
    assert!(body["error"]["retry_after_s"].as_u64().expect("number") >= 1);
    assert_eq!(server.health().await["queue_depth"], 0);
    assert_eq!(running.await.expect("join").0, 200);
}

#[tokio::test]
async fn a_client_that_disconnects_while_queued_leaves_the_queue() {
    let (trading, claude) = mocks(400).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 1;
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    let running = spawn_analyze(&server.url(), &client);
    server.wait_for_health("in_flight", 1).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let gone = impatient
        .post(format!("{}/analyze", server.url()))
        .json(&json!({"query": "AAPL?"}))
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    server.wait_for_health("queue_depth", 0).await;
    assert_eq!(
        server.health().await["in_flight"],
        1,
        "the first analysis is still running"
    );
    assert_eq!(running.await.expect("join").0, 200);
    let next: Value = server
        .analyze(&client, json!({"query": "AAPL?"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        next["timings"]["queue_ms"], 0.0,
        "nobody left ahead in line"
    );
}

async fn analyze_as(server: &TestServer, client: &reqwest::Client, ip: &str) -> reqwest::Response {
    client
        .post(format!("{}/analyze", server.url()))
        .header("x-forwarded-for", ip)
        .json(&json!({"query": "AAPL?"}))
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers_per_client() {
    let (trading, claude) = mocks(0).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.rate_limit_per_minute = 2;
    s.admission.rate_limit_burst = 2;
    s.admission.trusted_proxies = TrustedProxies::parse("hops:1").expect("valid");
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();

    let ok = analyze_as(&server, &client, "203.0.113.1").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["ratelimit-policy"],
        "\"per-client\";q=2;w=60;burst=2"
    );
    assert_eq!(ok.headers()["ratelimit"], "\"per-client\";r=1;t=30");
    assert_eq!(
        analyze_as(&server, &client, "203.0.113.1").await.status(),
        200
    );

    let limited = analyze_as(&server, &client, "203.0.113.1").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    let retry_after_ms: u64 = limited.headers()["retry-after-ms"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("ms");
    assert!(
        (1..=30).contains(&retry_after),
        "one cell per 30 s: {retry_after}"
    );
    assert_eq!(retry_after, retry_after_ms.div_ceil(1000));
    assert_eq!(
        limited.headers()["ratelimit"],
        format!("\"per-client\";r=0;t={retry_after}").as_str()
    );
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"]["type"], "rate_limited");
    assert_eq!(body["error"]["retry_after_s"], retry_after);

    assert_eq!(
        analyze_as(&server, &client, "203.0.113.2").await.status(),
        200,
        "another client is unaffected"
    );
    let health = reqwest::get(format!("{}/health", server.url()))
        .await
        .expect("health");
    assert_eq!(health.status(), 200, "health is never rate limited");
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    let (trading, claude) = mocks(0).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.rate_limit_per_minute = 1;
    s.admission.rate_limit_burst = 1;
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    assert_eq!(
        analyze_as(&server, &client, "198.51.100.1").await.status(),
        200
    );
    let spoofed = analyze_as(&server, &client, "198.51.100.2").await;
    assert_eq!(
        spoofed.status(),
        429,
        "a new X-Forwarded-For does not buy a new quota"
    );
}

#[tokio::test]
async fn a_client_hanging_up_mid_analysis_keeps_its_permit_until_the_model_call_ends() {
    // N=1 and a 600 ms model call. The first client hangs up once its model call has started
    // (seen at mock Claude, not guessed with a client timeout). Cancelling its handler must not
    // cancel the model call (a real provider may go on generating, and counting it against the
    // account's concurrency), nor free the permit before that call ends.
    let (trading, claude) = mocks(600).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 1;
    let server = TestServer::start(s).await;
    let impatient = spawn_analyze(&server.url(), &reqwest::Client::new());
    crate::support::wait_until("the first analysis's model call is in flight", || async {
        claude.stats().in_flight == 1
    })
    .await;
    impatient.abort();
    let gave_up = impatient.await;
    assert!(
        gave_up.as_ref().is_err_and(|e| e.is_cancelled()),
        "the first client hung up before its answer: {gave_up:?}"
    );
    let (status, body) = spawn_analyze(&server.url(), &reqwest::Client::new())
        .await
        .expect("join");
    assert_eq!(status, 200, "{body}");
    let stats = claude.stats();
    assert_eq!(stats.max_in_flight, 1, "{stats:?}");
    // The hung-up analysis finished the model call it had started (not cut at the provider)
    // and started no second turn: one call for it, two for the second client, all answered.
    assert_eq!(stats.requests_total, 3, "{stats:?}");
    assert_eq!(stats.responses_by_status.get("200"), Some(&3), "{stats:?}");
}
