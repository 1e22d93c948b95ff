//! `stream: true` sends the official SSE sequence, which accumulates into exactly the message
//! the non-streaming call returns.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_stream_accumulates_into_the_non_streaming_message() {
    let claude = claude(|_| {}).await;
    let client = reqwest::Client::new();
    for question in [
        "Compare AAPL and MSFT over the last 10 days, and the market",
        "Say hello",
    ] {
        let body = first_turn(question);
        let (_, plain) = status_json(post_messages(&client, &claude.url(), &body).await).await;
        // Ids are unique per request (seed, fingerprint, occurrence): a reset replays them.
        claude.reset_stats();
        let mut streaming = body.clone();
        streaming["stream"] = json!(true);
        let r = post_messages(&client, &claude.url(), &streaming).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let events = parse_sse(&r.text().await.unwrap());
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
        assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
        assert_eq!(accumulate(&events), plain, "question {question:?}");
    }
}

#[tokio::test]
async fn a_stream_error_arrives_as_an_error_event_after_the_200() {
    let claude = claude(|s| s.stream_error_rate = 1.0).await;
    let mut body = first_turn("Quote AAPL");
    body["stream"] = json!(true);
    let r = post_messages(&reqwest::Client::new(), &claude.url(), &body).await;
    assert_eq!(r.status(), 200);
    let events = parse_sse(&r.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "overloaded_error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
}

#[tokio::test]
async fn streams_are_paced_by_the_token_model() {
    // 200 ms to first token; the first event (message_start) comes before it.
    let claude = claude(|s| s.ttft_ms = 200).await;
    let mut body = first_turn("Say hello");
    body["stream"] = json!(true);
    let start = std::time::Instant::now();
    let mut r = post_messages(&reqwest::Client::new(), &claude.url(), &body).await;
    let first = r.chunk().await.unwrap().unwrap();
    let first_at = start.elapsed();
    assert!(String::from_utf8_lossy(&first).starts_with("event: message_start"));
    let mut rest = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    let total = start.elapsed();
    assert!(total >= std::time::Duration::from_millis(200), "{total:?}");
    assert!(first_at < total, "message_start precedes the first token");
    assert!(String::from_utf8_lossy(&rest).contains("message_stop"));
}

#[tokio::test]
async fn a_stream_counts_in_flight_until_its_last_event() {
    let claude = claude(|s| s.ttft_ms = 300).await;
    let mut body = first_turn("Say hello");
    body["stream"] = json!(true);
    let mut r = post_messages(&reqwest::Client::new(), &claude.url(), &body).await;
    let _message_start = r.chunk().await.unwrap().unwrap();
    assert_eq!(
        claude.stats().in_flight,
        1,
        "headers sent, body still streaming"
    );
    while r.chunk().await.unwrap().is_some() {}
    // The server drops the stream right after its last frame; wait for that, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while claude.stats().in_flight != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "stream still counted in flight"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(claude.stats().max_in_flight, 1);
}
