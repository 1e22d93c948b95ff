//! Time limits and turn limits: slow clients cannot pin connections, the per-request deadline
//! answers 504, the turn limit ends a tool loop, and legacy mode has no concurrency limit.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

use crate::support::{claude_reply, mocks, settings, TestServer};

#[tokio::test]
async fn a_client_trickling_headers_is_disconnected() {
    // One header byte every 40 ms: each byte arrives long before the 300 ms timeout, so only a
    // limit on the whole header (not an idle timer reset per byte) can end this connection.
    let timeout = Duration::from_millis(300);
    let mut s = settings("http://127.0.0.1:9", "http://127.0.0.1:9");
    s.listener.header_read_timeout = timeout;
    let server = TestServer::start(s).await;
    let stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&sent);
    let trickle = tokio::spawn(async move {
        let head = b"POST /analyze HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut buf)).await;
    let closed_after = started.elapsed();
    trickle.abort();
    assert!(
        read.is_ok(),
        "the server closed the connection instead of waiting forever"
    );
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent >= 5,
        "the client really trickled: {sent} bytes one at a time"
    );
    assert!(
        closed_after >= timeout && closed_after < timeout + Duration::from_secs(2),
        "closed {closed_after:?} after connecting, header timeout {timeout:?}"
    );
}

#[tokio::test]
async fn a_client_trickling_the_body_gets_408() {
    let mut s = settings("http://127.0.0.1:9", "http://127.0.0.1:9");
    s.listener.body_read_timeout = Duration::from_millis(200);
    let server = TestServer::start(s).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
}

#[tokio::test]
async fn the_request_deadline_answers_504() {
    let (trading, claude) = mocks(2_000).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.request_timeout = Duration::from_millis(300);
    let server = TestServer::start(s).await;
    let started = std::time::Instant::now();
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "answered near the deadline, not after the model"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_timeout");
}

#[tokio::test]
async fn the_turn_limit_ends_an_endless_tool_loop() {
    let trading = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&trading)
        .await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(claude_reply(
            "tool_use",
            json!([{"type": "tool_use", "id": "toolu_x", "name": "get_market_status", "input": {}}]),
        ))
        .mount(&claude)
        .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;
    let body: Value = server
        .analyze(
            &reqwest::Client::new(),
            json!({"query": "market?", "max_turns": 3}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["stop_reason"], "max_turns");
    assert_eq!(body["turns"], 3);
    assert_eq!(claude.received_requests().await.expect("recorded").len(), 3);
}

#[tokio::test]
async fn legacy_mode_has_no_concurrency_limit() {
    let (trading, claude) = mocks(100).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.legacy_mode = true;
    s.admission.max_concurrent_analyses = 1;
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    let all = futures_util::future::join_all(
        (0..6).map(|_| server.analyze(&client, json!({"query": "AAPL?"}))),
    )
    .await;
    assert!(all.iter().all(|r| r.status() == 200));
    assert!(
        claude.stats().max_in_flight > 1,
        "legacy lets every request through: {:?}",
        claude.stats()
    );
}

#[tokio::test]
async fn the_connection_cap_holds_further_clients_until_a_slot_frees() {
    let mut s = settings("http://127.0.0.1:9", "http://127.0.0.1:9");
    s.listener.max_connections = 1;
    let server = TestServer::start(s).await;
    let hog = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let refused = impatient
        .get(format!("{}/health", server.url()))
        .send()
        .await;
    assert!(
        refused.is_err_and(|e| e.is_timeout()),
        "second connection waits while the cap is used"
    );
    drop(hog);
    let health = reqwest::get(format!("{}/health", server.url()))
        .await
        .expect("served once the slot frees");
    assert_eq!(health.status(), 200);
}
