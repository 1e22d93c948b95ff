//! Error bodies tell a client what happened in stable terms and never where: for every upstream
//! failure (model API unreachable, timed out, 5xx, 529, past the deadline, circuit open; Trading
//! API unreachable, failing, past the deadline) the body holds neither `http` nor the upstream's
//! host or port, and the server's log line with the same request id holds that detail.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{settings, trading_with_aapl, CapturedLogs, ScriptedClaude, TestServer};

/// `http://127.0.0.1:PORT` of a port that was bound, then released: nothing listens there.
fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The port of an `http://host:port` URL.
fn port_of(url: &str) -> String {
    url.rsplit(':').next().expect("port").to_string()
}

/// POSTs an analysis with request id `id`; the status and the body as text.
async fn analyze(server: &TestServer, id: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/analyze", server.url()))
        .header("x-request-id", id)
        .json(&json!({"query": "Should I buy AAPL?"}))
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The body says nothing of where `upstream` (`http://host:port`) is.
fn assert_no_address(body: &str, upstream: &str) {
    let port = port_of(upstream);
    // A status ("HTTP 529") is fine; a scheme or URL is not (reqwest writes them lower-case).
    assert!(!body.contains("http") && !body.contains("://"), "{body}");
    assert!(!body.contains("127.0.0.1"), "{body}");
    assert!(
        !body.split(|c: char| !c.is_ascii_digit()).any(|n| n == port),
        "port {port} in {body}"
    );
}

/// The error's `type` and `message`, after checking the body has the one documented shape.
fn error_of(body: &str, id: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).expect("json");
    assert_eq!(v["error"]["request_id"], id, "{body}");
    let keys: Vec<&String> = v["error"]
        .as_object()
        .expect("error object")
        .keys()
        .collect();
    assert_eq!(
        keys,
        ["message", "request_id", "retry_after_s", "type"],
        "{body}"
    );
    (
        v["error"]["type"].as_str().expect("type").to_string(),
        v["error"]["message"].as_str().expect("message").to_string(),
    )
}

/// A log line under `id` holds every one of `details`.
fn assert_logged(logs: &CapturedLogs, id: &str, details: &[&str]) {
    let lines = logs.lines_with(id);
    assert!(
        lines
            .iter()
            .any(|line| details.iter().all(|d| line.contains(d))),
        "no log line under {id} holds all of {details:?}: {lines:#?}"
    );
}

/// Wiremock Claude answering every call with `template`.
async fn claude_answering(template: ResponseTemplate) -> MockServer {
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(template)
        .mount(&claude)
        .await;
    claude
}

/// Wiremock Claude that asks for `get_quote(AAPL)` and echoes the tool result in its analysis,
/// as a real model quotes a failed tool call.
async fn echoing_claude() -> MockServer {
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ScriptedClaude)
        .mount(&claude)
        .await;
    claude
}

#[tokio::test]
async fn an_unreachable_model_api_is_named_not_addressed() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = trading_with_aapl().await;
    let claude = unreachable_url();
    let server = TestServer::start(settings(&trading.uri(), &claude)).await;

    let (status, body) = analyze(&server, "leak-model-unreachable").await;

    assert_eq!(status, 502, "{body}");
    assert_no_address(&body, &claude);
    let (kind, message) = error_of(&body, "leak-model-unreachable");
    assert_eq!(kind, "upstream_error");
    assert_eq!(
        message,
        "The model API could not be reached after 4 attempt(s)."
    );
    assert_logged(
        &logs,
        "leak-model-unreachable",
        &[
            &format!("POST {claude}/v1/messages failed after 4 attempt(s)"),
            "Connection refused",
        ],
    );
}

#[tokio::test]
async fn a_model_api_attempt_timeout_says_timed_out() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = trading_with_aapl().await;
    let claude =
        claude_answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))).await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.claude.attempt_timeout = Duration::from_millis(50);
    s.claude.max_retries = 1;
    let server = TestServer::start(s).await;

    let (status, body) = analyze(&server, "leak-model-timeout").await;

    assert_eq!(status, 502, "{body}");
    assert_no_address(&body, &claude.uri());
    let (kind, message) = error_of(&body, "leak-model-timeout");
    assert_eq!(kind, "upstream_error");
    assert_eq!(message, "The model API timed out after 2 attempt(s).");
    assert_logged(
        &logs,
        "leak-model-timeout",
        &[
            &format!(
                "POST {}/v1/messages failed after 2 attempt(s)",
                claude.uri()
            ),
            "did not answer within 50 ms",
        ],
    );
}

#[tokio::test]
async fn the_request_deadline_on_a_model_call_names_the_model_api() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = trading_with_aapl().await;
    let claude =
        claude_answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))).await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.admission.request_timeout = Duration::from_millis(300);
    let server = TestServer::start(s).await;

    let (status, body) = analyze(&server, "leak-model-deadline").await;

    assert_eq!(status, 504, "{body}");
    assert_no_address(&body, &claude.uri());
    let (kind, message) = error_of(&body, "leak-model-deadline");
    assert_eq!(kind, "upstream_timeout");
    assert_eq!(
        message,
        "The model API did not answer within the request deadline of 300 ms."
    );
    assert_logged(
        &logs,
        "leak-model-deadline",
        &[&format!(
            "POST {}/v1/messages: the request's deadline passed at attempt 1",
            claude.uri()
        )],
    );
}

#[tokio::test]
async fn a_model_api_5xx_gives_its_status_and_keeps_its_text_for_the_log() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = trading_with_aapl().await;
    let claude = claude_answering(ResponseTemplate::new(500).set_body_json(json!({
        "type": "error",
        "error": {"type": "api_error", "message": "backend pool-7 at 10.20.30.40 failed"}
    })))
    .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;

    let (status, body) = analyze(&server, "leak-model-500").await;

    assert_eq!(status, 502, "{body}");
    assert_no_address(&body, &claude.uri());
    assert!(!body.contains("10.20.30.40"), "{body}");
    let (kind, message) = error_of(&body, "leak-model-500");
    assert_eq!(kind, "upstream_error");
    assert_eq!(
        message,
        "The model API failed with HTTP 500 after 4 attempt(s)."
    );
    assert_logged(
        &logs,
        "leak-model-500",
        &[
            &format!(
                "POST {}/v1/messages failed after 4 attempt(s)",
                claude.uri()
            ),
            "HTTP 500 api_error: backend pool-7 at 10.20.30.40 failed",
        ],
    );
}

#[tokio::test]
async fn a_model_api_529_is_overload_without_its_address() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = trading_with_aapl().await;
    let claude = claude_answering(ResponseTemplate::new(529).set_body_json(json!({
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"}
    })))
    .await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;

    let (status, body) = analyze(&server, "leak-model-529").await;

    assert_eq!(status, 503, "{body}");
    assert_no_address(&body, &claude.uri());
    let (kind, message) = error_of(&body, "leak-model-529");
    assert_eq!(kind, "upstream_unavailable");
    assert_eq!(
        message,
        "The model API is overloaded (HTTP 529) after 4 attempt(s); retry later."
    );
    assert_logged(
        &logs,
        "leak-model-529",
        &[
            &format!(
                "POST {}/v1/messages failed after 4 attempt(s)",
                claude.uri()
            ),
            "HTTP 529 overloaded_error: Overloaded",
        ],
    );
}

#[tokio::test]
async fn an_open_circuit_says_paused_and_logs_which_upstream() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = trading_with_aapl().await;
    let claude = unreachable_url();
    let mut s = settings(&trading.uri(), &claude);
    s.claude.circuit_failure_threshold = 1;
    s.claude.max_retries = 0;
    let server = TestServer::start(s).await;
    let (status, _) = analyze(&server, "leak-circuit-opens").await;
    assert_eq!(status, 502, "the failure that opens the circuit");

    let (status, body) = analyze(&server, "leak-circuit-open").await;

    assert_eq!(status, 503, "{body}");
    assert_no_address(&body, &claude);
    let (kind, message) = error_of(&body, "leak-circuit-open");
    assert_eq!(kind, "upstream_unavailable");
    assert_eq!(
        message,
        "The model API is failing; requests are paused for a moment to let it recover."
    );
    assert_logged(
        &logs,
        "leak-circuit-open",
        &[&format!(
            "POST {claude}/v1/messages: the circuit breaker is open"
        )],
    );
}

#[tokio::test]
async fn an_unreachable_trading_api_reaches_the_model_and_the_client_unaddressed() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = unreachable_url();
    let claude = echoing_claude().await;
    let server = TestServer::start(settings(&trading, &claude.uri())).await;

    let (status, body) = analyze(&server, "leak-trading-unreachable").await;

    assert_eq!(status, 200, "{body}");
    assert_no_address(&body, &trading);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["analysis"],
        "Data: the trading data service could not be reached"
    );
    assert_eq!(v["tool_calls"][0]["is_error"], true);
    assert_logged(
        &logs,
        "leak-trading-unreachable",
        &[
            "trading data call failed",
            &format!("GET {trading}/v1/quotes/AAPL: "),
            "Connection refused",
        ],
    );
}

#[tokio::test]
async fn a_failing_trading_api_is_reported_by_status_not_by_body() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string("Traceback: /srv/trading/app.py line 12, db at 10.1.1.9:5432"),
        )
        .mount(&trading)
        .await;
    let claude = echoing_claude().await;
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;

    let (status, body) = analyze(&server, "leak-trading-500").await;

    assert_eq!(status, 200, "{body}");
    assert_no_address(&body, &trading.uri());
    assert!(!body.contains("/srv/trading"), "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["analysis"],
        "Data: the trading data service failed (HTTP 500)"
    );
    assert_logged(
        &logs,
        "leak-trading-500",
        &[
            &format!("GET {}/v1/quotes/AAPL: HTTP 500", trading.uri()),
            "/srv/trading/app.py",
        ],
    );
}

#[tokio::test]
async fn the_request_deadline_on_tool_calls_names_the_trading_data_service() {
    let (logs, _guard) = CapturedLogs::start();
    let trading = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&trading)
        .await;
    let claude = echoing_claude().await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.admission.request_timeout = Duration::from_millis(400);
    let server = TestServer::start(s).await;

    let (status, body) = analyze(&server, "leak-trading-deadline").await;

    assert_eq!(status, 504, "{body}");
    assert_no_address(&body, &trading.uri());
    let (kind, message) = error_of(&body, "leak-trading-deadline");
    assert_eq!(kind, "upstream_timeout");
    assert_eq!(
        message,
        "The trading data service did not answer within the request deadline of 400 ms."
    );
    assert_logged(
        &logs,
        "leak-trading-deadline",
        &[&format!(
            "GET {}: the request's deadline passed during turn 1's tool calls",
            trading.uri()
        )],
    );
}
