//! Bad bodies get the documented 4xx and the JSON error shape; nothing reaches the upstreams.

use serde_json::Value;

use crate::support::{settings, TestServer};

/// Upstream URLs nothing listens on: bad input must be refused before any upstream call.
async fn server() -> TestServer {
    TestServer::start(settings("http://127.0.0.1:9", "http://127.0.0.1:9")).await
}

async fn post(
    server: &TestServer,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/analyze", server.url()))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let body: Value = response.json().await.expect("every error is JSON");
    assert_eq!(body["error"]["request_id"], request_id.as_str());
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    (status, body)
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let server = server().await;
    let huge = format!("{{\"query\": \"{}\"}}", "A".repeat(64 * 1024));
    let (status, body) = post(&server, Some("application/json"), huge).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (413, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let server = server().await;
    let (status, body) = post(&server, Some("text/plain"), "{\"query\": \"AAPL?\"}").await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, _) = post(&server, None, "{\"query\": \"AAPL?\"}").await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn malformed_json_is_400_saying_where() {
    let server = server().await;
    let (status, body) = post(&server, Some("application/json"), "{\"query\": ").await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("bad_request"))
    );
    assert!(body["error"]["message"]
        .as_str()
        .expect("msg")
        .contains("not valid JSON"));
}

#[tokio::test]
async fn missing_or_empty_query_is_422_naming_the_field() {
    let server = server().await;
    let (status, body) = post(
        &server,
        Some("application/json"),
        "{\"symbols\": [\"AAPL\"]}",
    )
    .await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (422, Some("invalid_request"))
    );
    assert!(body["error"]["message"]
        .as_str()
        .expect("msg")
        .contains("query"));
    let (status, body) = post(&server, Some("application/json"), "{\"query\": \"   \"}").await;
    assert_eq!(status, 422);
    assert!(body["error"]["message"]
        .as_str()
        .expect("msg")
        .contains("must not be empty"));
}

#[tokio::test]
async fn bad_symbols_and_turns_are_422() {
    let server = server().await;
    let (status, body) = post(
        &server,
        Some("application/json"),
        r#"{"query": "x", "symbols": ["../etc"]}"#,
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"]["message"]
        .as_str()
        .expect("msg")
        .contains("../etc"));
    let (status, _) = post(
        &server,
        Some("application/json"),
        r#"{"query": "x", "max_turns": 0}"#,
    )
    .await;
    assert_eq!(status, 422);
    for dots in [".", ".."] {
        let body = format!(r#"{{"query": "x", "symbols": ["{dots}"]}}"#);
        let (status, body) = post(&server, Some("application/json"), body).await;
        assert_eq!(status, 422, "{dots:?} is not a symbol");
        assert_eq!(body["error"]["type"], "invalid_request");
    }
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json_errors() {
    let server = server().await;
    let response = reqwest::get(format!("{}/nope", server.url()))
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "not_found");
    let response = reqwest::get(format!("{}/analyze", server.url()))
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "method_not_allowed");
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_kept() {
    let server = server().await;
    let response = reqwest::Client::new()
        .post(format!("{}/analyze", server.url()))
        .header("x-request-id", "trace-abc-123")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_too() {
    let server = server().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b' '; 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let (status, body) = post(&server, Some("application/json"), body).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (413, Some("payload_too_large"))
    );
}
