//! Exact wire checks against wiremock: what the server sends to the Messages API, how it retries,
//! and how the circuit breaker opens and recovers.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    settings, trading_with_aapl, wait_until, ScriptedClaude, TestServer, AAPL_QUOTE,
};

#[tokio::test]
async fn claude_requests_match_the_messages_api_wire_format() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "test-key"))
        .and(header("anthropic-version", "2023-06-01"))
        .and(header("content-type", "application/json"))
        .respond_with(ScriptedClaude)
        .expect(2)
        .mount(&claude)
        .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;

    let response = server
        .analyze(
            &reqwest::Client::new(),
            json!({"query": "Should I buy AAPL?"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let timing = response.headers()["server-timing"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        timing.starts_with("queue;dur=")
            && timing.contains("upstream;dur=")
            && timing.contains("total;dur=")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(body["analysis"], format!("Data: {AAPL_QUOTE}"));
    assert_eq!(body["symbols"], json!(["AAPL"]));
    assert_eq!(body["tool_calls"][0]["name"], "get_quote");
    assert_eq!(body["tool_calls"][0]["input"], json!({"symbol": "AAPL"}));
    assert_eq!(body["tool_calls"][0]["is_error"], false);
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 200, "output_tokens": 40})
    );
    assert_eq!(body["model"], "claude-sonnet-4-6");
    assert!(
        body["timings"]["total_ms"].as_f64().expect("number")
            >= body["timings"]["upstream_ms"].as_f64().expect("n")
    );

    let sent = claude.received_requests().await.expect("recorded");
    let first: Value = serde_json::from_slice(&sent[0].body).expect("json");
    assert_eq!(first["model"], "claude-sonnet-4-6");
    assert!(first["max_tokens"].as_u64().expect("max_tokens") > 0);
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        tools,
        ["get_quote", "get_price_history", "get_market_status"]
    );
    assert!(first["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .all(|t| t["input_schema"]["type"] == "object"));
    assert_eq!(
        first["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Should I buy AAPL?"}]}])
    );

    let second: Value = serde_json::from_slice(&sent[1].body).expect("json");
    let messages = second["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"][1]["type"], "tool_use");
    assert_eq!(messages[2]["role"], "user");
    assert_eq!(
        messages[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_01", "content": AAPL_QUOTE}),
        "tool_result comes first in the next user turn and echoes the tool_use id"
    );
}

#[tokio::test]
async fn a_failed_trading_call_is_sent_back_as_an_error_tool_result() {
    let trading = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&trading)
        .await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ScriptedClaude)
        .mount(&claude)
        .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;

    let body: Value = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["tool_calls"][0]["is_error"], true);
    let sent = claude.received_requests().await.expect("recorded");
    let second: Value = serde_json::from_slice(&sent[1].body).expect("json");
    let result = &second["messages"][2]["content"][0];
    assert_eq!(result["is_error"], true);
    assert!(
        result["content"]
            .as_str()
            .expect("text")
            .contains("HTTP 500"),
        "{result}"
    );
}

#[tokio::test]
async fn upstream_529_then_success_answers_200_after_one_retry() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(529)
                .insert_header("retry-after-ms", "10")
                .set_body_json(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&claude)
        .await;
    Mock::given(method("POST"))
        .respond_with(ScriptedClaude)
        .with_priority(2)
        .mount(&claude)
        .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;

    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        claude.received_requests().await.expect("recorded").len(),
        3,
        "529, retry, second turn"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("upstream_retries_total{api=\"claude\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("upstream_calls_total{api=\"claude\",outcome=\"overloaded\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn persistent_overload_ends_in_503_with_retry_guidance() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(529).insert_header("retry-after-ms", "30"))
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.claude.max_retries = 2;
    s.claude.circuit_failure_threshold = 100;
    let server = TestServer::start(s).await;
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_unavailable");
    assert_eq!(body["error"]["retry_after_s"], 1);
    assert_eq!(
        claude.received_requests().await.expect("recorded").len(),
        3,
        "first attempt + 2 retries"
    );
}

#[tokio::test]
async fn a_retry_hint_beyond_the_deadline_gives_up_at_once() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(529).insert_header("retry-after", "30"))
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.admission.request_timeout = Duration::from_secs(5);
    let server = TestServer::start(s).await;
    let started = std::time::Instant::now();
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["retry-after"],
        "30",
        "the upstream's own hint is passed on"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait out the deadline"
    );
    assert_eq!(claude.received_requests().await.expect("recorded").len(), 1);
}

#[tokio::test]
async fn persistent_upstream_failure_opens_the_circuit_then_a_probe_closes_it() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.claude.max_retries = 0;
    s.claude.circuit_failure_threshold = 3;
    s.claude.circuit_open = Duration::from_millis(300);
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();

    for _ in 0..3 {
        assert_eq!(
            server
                .analyze(&client, json!({"query": "AAPL?"}))
                .await
                .status(),
            502
        );
    }
    assert_eq!(server.health().await["upstream"]["circuit"], "open");
    let ready = reqwest::get(format!("{}/health/ready", server.url()))
        .await
        .expect("ready");
    assert_eq!(ready.status(), 503);
    let fast = server.analyze(&client, json!({"query": "AAPL?"})).await;
    assert_eq!(fast.status(), 503);
    assert!(fast.headers().contains_key("retry-after"));
    let body: Value = fast.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_unavailable");
    assert_eq!(
        claude.received_requests().await.expect("recorded").len(),
        3,
        "open circuit sends nothing upstream"
    );

    claude.reset().await;
    Mock::given(method("POST"))
        .respond_with(ScriptedClaude)
        .mount(&claude)
        .await;
    wait_until("circuit half-open", || async {
        server.health().await["upstream"]["circuit"] == "half_open"
    })
    .await;
    assert_eq!(
        server
            .analyze(&client, json!({"query": "AAPL?"}))
            .await
            .status(),
        200
    );
    assert_eq!(server.health().await["upstream"]["circuit"], "closed");
}

#[tokio::test]
async fn a_4xx_from_the_model_api_is_not_retried() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        ))
        .mount(&claude)
        .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_error");
    assert_eq!(
        body["error"]["message"],
        "The model API rejected the request with HTTP 401 after 1 attempt(s).",
        "what the provider said about our key is for the log, not the client"
    );
    assert_eq!(claude.received_requests().await.expect("recorded").len(), 1);
}

#[tokio::test]
async fn x_should_retry_false_stops_retries_but_still_reports_overload() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(529).insert_header("x-should-retry", "false"))
        .mount(&claude)
        .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_unavailable");
    assert_eq!(
        claude.received_requests().await.expect("recorded").len(),
        1,
        "no retry"
    );
}
