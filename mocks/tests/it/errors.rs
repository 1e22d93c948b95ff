//! Every official error: status, `error.type`, message, `request_id` in the body equal to the
//! `request-id` header, and the retry headers.

use serde_json::{json, Value};

use crate::support::*;

/// Sends `body` with `headers` and returns (status, headers, body).
async fn send(
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

const OK_HEADERS: &[(&str, &str)] = &[
    ("x-api-key", "sk-test"),
    ("anthropic-version", "2023-06-01"),
];

fn assert_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    want_status: u16,
    want_type: &str,
    want_message: &str,
) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], want_type);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(want_message),
        "{message:?} should contain {want_message:?}"
    );
    assert_eq!(
        body["request_id"].as_str().unwrap(),
        headers["request-id"].to_str().unwrap()
    );
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let c = claude(|_| {}).await;
    let body = first_turn("AAPL");
    let (s, h, b) = send(&c.url(), &[("anthropic-version", "2023-06-01")], &body).await;
    assert_error(
        s,
        &h,
        &b,
        401,
        "authentication_error",
        "x-api-key header is required",
    );
    let (s, h, b) = send(
        &c.url(),
        &[
            ("x-api-key", "sk-invalid"),
            ("anthropic-version", "2023-06-01"),
        ],
        &body,
    )
    .await;
    assert_error(s, &h, &b, 401, "authentication_error", "invalid x-api-key");
    let (s, h, b) = send(
        &c.url(),
        &[
            ("x-api-key", "sk-forbidden"),
            ("anthropic-version", "2023-06-01"),
        ],
        &body,
    )
    .await;
    assert_error(
        s,
        &h,
        &b,
        403,
        "permission_error",
        "does not have permission",
    );
    let (s, _, _) = send(
        &c.url(),
        &[
            ("authorization", "Bearer sk-x"),
            ("anthropic-version", "2023-06-01"),
        ],
        &body,
    )
    .await;
    assert_eq!(s, 200, "Authorization: Bearer is accepted");
}

#[tokio::test]
async fn anthropic_version_is_required() {
    let c = claude(|_| {}).await;
    let (s, h, b) = send(&c.url(), &[("x-api-key", "k")], &first_turn("AAPL")).await;
    assert_error(
        s,
        &h,
        &b,
        400,
        "invalid_request_error",
        "anthropic-version: header is required",
    );
    let (s, h, b) = send(
        &c.url(),
        &[("x-api-key", "k"), ("anthropic-version", "latest")],
        &first_turn("AAPL"),
    )
    .await;
    assert_error(s, &h, &b, 400, "invalid_request_error", "invalid version");
}

#[tokio::test]
async fn invalid_bodies_get_precise_messages() {
    let c = claude(|_| {}).await;
    let tool_use = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_quote", "input": {"symbol": "AAPL"}}]});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
            "model: Field required",
        ),
        (
            json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens: Field required",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens: Input should be greater than or equal to 1",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "messages": []}),
            "messages: at least one message is required",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "messages": [{"role": "bot", "content": "a"}]}),
            "messages.0.role",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "temperature": 3, "messages": [{"role": "user", "content": "a"}]}),
            "temperature: Input should be less than or equal to 1",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "bogus": 1, "messages": [{"role": "user", "content": "a"}]}),
            "bogus: Extra inputs are not permitted",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "tools": tools(), "messages": [{"role": "user", "content": "a"}, tool_use.clone(),
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_other", "content": "x"}]}]}),
            "unexpected `tool_use_id` found in `tool_result` blocks: toolu_other",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "tools": tools(), "messages": [{"role": "user", "content": "a"}, tool_use.clone(),
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}]}),
            "tool_result blocks must come first",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "tools": tools(), "messages": [{"role": "user", "content": "a"}, tool_use.clone(),
            {"role": "user", "content": "no results"}]}),
            "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "a"}, tool_use.clone(), {"role": "user", "content": "b"}]}),
            "must define tools",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "tools": tools(), "tool_choice": {"type": "tool", "name": "nope"}, "messages": [{"role": "user", "content": "a"}]}),
            "Tool 'nope' not found",
        ),
        (
            json!({"model": "claude-x", "max_tokens": 10, "tools": [{"name": "get_quote", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "launch", "input": {}}]}]}),
            "tool 'launch' is not among the provided tools",
        ),
    ];
    for (body, want) in cases {
        let (s, h, b) = send(&c.url(), OK_HEADERS, &body).await;
        assert_error(s, &h, &b, 400, "invalid_request_error", want);
    }
    let r = reqwest::Client::new()
        .post(format!("{}/v1/messages", c.url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    let b: Value = r.json().await.unwrap();
    assert_error(
        400,
        &h,
        &b,
        400,
        "invalid_request_error",
        "error parsing the body",
    );
}

#[tokio::test]
async fn unknown_paths_and_models_are_not_found() {
    let c = claude(|_| {}).await;
    let r = reqwest::Client::new()
        .get(format!("{}/v1/complete", c.url()))
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    assert_error(
        404,
        &h,
        &r.json().await.unwrap(),
        404,
        "not_found_error",
        "Not found: GET /v1/complete",
    );
    let r = reqwest::Client::new()
        .get(format!("{}/v1/messages", c.url()))
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    assert_error(
        405,
        &h,
        &r.json().await.unwrap(),
        405,
        "invalid_request_error",
        "Method GET is not allowed",
    );
    let mut body = first_turn("AAPL");
    body["model"] = json!("gpt-4");
    let (s, h, b) = send(&c.url(), OK_HEADERS, &body).await;
    assert_error(s, &h, &b, 404, "not_found_error", "model: gpt-4");
}

#[tokio::test]
async fn bodies_over_the_cap_get_413() {
    let c = claude(|s| s.max_body_bytes = 1000).await;
    let body = first_turn(&"x".repeat(2000));
    let (s, h, b) = send(&c.url(), OK_HEADERS, &body).await;
    assert_error(
        s,
        &h,
        &b,
        413,
        "request_too_large",
        "maximum allowed number of bytes",
    );
}

#[tokio::test]
async fn injected_errors_overload_and_timeouts_carry_x_should_retry() {
    let c = claude(|s| {
        s.faults.error_rate = 1.0;
        s.should_retry = Some(true);
    })
    .await;
    let (s, h, b) = send(&c.url(), OK_HEADERS, &first_turn("AAPL")).await;
    assert_error(s, &h, &b, 500, "api_error", "Internal server error");
    assert_eq!(h["x-should-retry"], "true");

    let c = claude(|s| s.overload_rate = 1.0).await;
    let (s, h, b) = send(&c.url(), OK_HEADERS, &first_turn("AAPL")).await;
    assert_error(s, &h, &b, 529, "overloaded_error", "Overloaded");
    assert!(
        h.get("x-should-retry").is_none(),
        "absent unless configured"
    );

    let c = claude(|s| {
        s.ttft_ms = 10_000;
        s.request_timeout_ms = 50;
        s.should_retry = Some(false);
    })
    .await;
    let (s, h, b) = send(&c.url(), OK_HEADERS, &first_turn("AAPL")).await;
    assert_error(s, &h, &b, 504, "timeout_error", "timed out");
    assert_eq!(h["x-should-retry"], "false");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_ratelimit_headers() {
    let c = claude(|s| {
        s.rpm = 1;
        s.otpm = 100_000;
        s.itpm = 100_000;
    })
    .await;
    let (s, h, _) = send(&c.url(), OK_HEADERS, &first_turn("AAPL")).await;
    assert_eq!(s, 200);
    assert_eq!(h["anthropic-ratelimit-requests-limit"], "1");
    assert_eq!(h["anthropic-ratelimit-requests-remaining"], "0");
    for kind in ["tokens", "input-tokens", "output-tokens"] {
        for suffix in ["limit", "remaining", "reset"] {
            assert!(
                h.contains_key(format!("anthropic-ratelimit-{kind}-{suffix}").as_str()),
                "{kind}-{suffix}"
            );
        }
    }
    let (s, h, b) = send(&c.url(), OK_HEADERS, &first_turn("AAPL")).await;
    assert_error(
        s,
        &h,
        &b,
        429,
        "rate_limit_error",
        "rate limit of 1 requests per minute",
    );
    let retry_after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let reset = h["anthropic-ratelimit-requests-reset"].to_str().unwrap();
    assert!(humantime::parse_rfc3339(reset).is_ok(), "RFC 3339: {reset}");
}

#[tokio::test]
async fn reset_faults_drop_the_connection_without_a_response() {
    let c = claude(|s| s.faults.reset_rate = 1.0).await;
    let err = reqwest::Client::new()
        .post(format!("{}/v1/messages", c.url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&first_turn("AAPL"))
        .send()
        .await
        .expect_err("no response");
    assert!(!err.is_status(), "{err}");
    let stats = c.stats();
    assert_eq!(stats.requests_total, 1);
    assert!(stats.responses_by_status.is_empty(), "{stats:?}");
}

#[tokio::test]
async fn odd_bodies_get_400_json_never_a_crash() {
    let c = claude(|_| {}).await;
    let odd = [
        json!(null),
        json!([1, 2]),
        json!("text"),
        json!(42),
        json!({"model": 5, "max_tokens": 1, "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": -1, "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": 1e300, "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": 1, "messages": "hi"}),
        json!({"model": "claude-x", "max_tokens": 1, "messages": [null]}),
        json!({"model": "claude-x", "max_tokens": 1, "messages": [{"role": "user", "content": 7}]}),
        json!({"model": "claude-x", "max_tokens": 1, "messages": [{"role": "user", "content": [null, {"type": 3}]}]}),
        json!({"model": "claude-x", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}),
        json!({"model": "claude-x", "max_tokens": 1, "tools": [null], "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": 1, "tools": [{"name": "x".repeat(65), "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": 1, "tool_choice": "auto", "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": 1, "system": [1], "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": 1, "metadata": {"user_id": 3}, "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "claude-x", "max_tokens": 1, "stream": "yes", "messages": [{"role": "user", "content": "a"}]}),
    ];
    for body in odd {
        let (s, h, b) = send(&c.url(), OK_HEADERS, &body).await;
        assert_eq!(s, 400, "{body} → {b}");
        assert_eq!(b["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(
            b["request_id"].as_str().unwrap(),
            h["request-id"].to_str().unwrap()
        );
    }
    assert_eq!(c.stats().responses_by_status.get("500"), None);
}
